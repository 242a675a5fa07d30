"""``kairo-ray ocr`` as a person runs it: a subprocess with real models on real files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

PHOTOTEST = "en_tesseract_testing/phototest.tif"


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    return subprocess.run(
        [sys.executable, "-m", "kairo_ray.cli", *args],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=cwd,
        env=env,
    )


def test_json_output_and_bad_files(eval_dir: Path, tmp_path: Path) -> None:
    bad = tmp_path / "notes.txt"
    bad.write_text("just text")
    truncated = tmp_path / "truncated.pdf"
    truncated.write_bytes(
        (eval_dir / "multipage_pdfs/fondue_galdos_luchana_5p.pdf").read_bytes()[:2000]
    )
    run = _run(
        "ocr",
        str(bad),
        str(eval_dir / PHOTOTEST),
        str(truncated),
        "--json",
        "--embed",
        cwd=tmp_path,
    )
    assert run.returncode == 1, run.stderr[-2000:]
    assert f"{bad}: unsupported file type" in run.stderr
    assert f"{truncated}: truncated PDF" in run.stderr
    documents = json.loads(run.stdout)["documents"]
    assert [d["file"] for d in documents] == [str(bad), str(eval_dir / PHOTOTEST), str(truncated)]
    assert "unsupported file type" in documents[0]["error"]
    good = documents[1]
    assert good["kind"] == "tiff" and good["language"] == "en" and good["page_count"] == 1
    page = good["pages"][0]
    assert page["text"].startswith("This is a lot of 12 point text")
    assert page["lines"][0]["box"] and 0 < page["lines"][0]["confidence"] <= 1
    assert page["seconds"] > 0 and {"open", "pages", "embed"} <= good["timings"].keys()
    assert good["chunks"] and "embedding" not in good["chunks"][0]


def test_plain_text_output(eval_dir: Path, tmp_path: Path) -> None:
    run = _run("ocr", str(eval_dir / PHOTOTEST), cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "language en" in run.stdout
    assert "--- page 1 (ocr" in run.stdout
    assert "The quick brown dog jumped over the" in run.stdout


def test_usage_errors(tmp_path: Path) -> None:
    assert _run("ocr", cwd=tmp_path).returncode == 2
    missing = _run("ocr", str(tmp_path / "nope.pdf"), "--engine", "tesseract", cwd=tmp_path)
    assert missing.returncode == 1 and "no such file" in missing.stderr
