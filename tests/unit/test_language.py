"""Language detection on the ground-truth texts of the real eval scans, and edge cases."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kairo_ray.processing.language import detect_language


def _items(eval_dir: Path) -> list[dict]:
    return [item for item in json.loads((eval_dir / "index.json").read_text()) if item.get("gt")]


def test_eval_ground_truth_languages(eval_dir: Path) -> None:
    checked = 0
    for item in _items(eval_dir):
        if item["lang"] not in ("es", "en"):
            continue
        text = (eval_dir / item["gt"]).read_text(encoding="utf-8")
        assert detect_language(text) == item["lang"], item["file"]
        checked += 1
    assert checked >= 30


def test_first_lines_are_enough(eval_dir: Path) -> None:
    for item in _items(eval_dir):
        if item["lang"] in ("es", "en"):
            lines = (eval_dir / item["gt"]).read_text(encoding="utf-8").split("\n")
            head = " ".join(line for line in lines if line.strip())[:300]
            assert detect_language(head) == item["lang"], (item["file"], head)


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("El niño pidió a su madre que le contara la historia de la ciudad.", "es"),
        ("The children asked their mother to tell them the story of the city.", "en"),
        ("Der Hund läuft über die Straße und die Kinder spielen mit dem Ball.", "de"),
    ],
)
def test_sentences(text: str, lang: str) -> None:
    assert detect_language(text) == lang


def test_too_little_evidence() -> None:
    assert detect_language("") is None
    assert detect_language("12 34 56 ---") is None
    assert detect_language("Total 1.234,56") is None
    assert detect_language("xqz brrt kvv plmn zzt") is None
