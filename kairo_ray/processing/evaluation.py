"""Character error rate the way ../shared/eval/README.md defines it, shared by tests and benchmark,
and the scoring of eval items (real scans with ground truth) through any OCR engine.

Both sides are NFC-normalised, typographic quotes and dashes become ASCII, whitespace collapses to
single spaces; CER = Levenshtein distance / reference length.
"""

from __future__ import annotations

import json
import re
import time
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kairo_ray.processing.ocr import OcrEngine
from kairo_ray.processing.render import open_document
from kairo_ray.settings import Settings

_TYPOGRAPHIC = str.maketrans(
    {
        "‘": "'",
        "’": "'",
        "‚": "'",
        "‛": "'",
        "′": "'",
        "“": '"',
        "”": '"',
        "„": '"',
        "‟": '"',
        "″": '"',
        "«": '"',
        "»": '"',
        "‐": "-",
        "‑": "-",
        "‒": "-",
        "–": "-",
        "—": "-",
        "―": "-",
        "−": "-",
    }
)


def normalize_for_cer(text: str) -> str:
    """NFC, typographic quotes/dashes → ASCII, whitespace collapsed."""
    text = unicodedata.normalize("NFC", text).translate(_TYPOGRAPHIC)
    return re.sub(r"\s+", " ", text).strip()


def levenshtein(a: str, b: str) -> int:
    """Edit distance, one row at a time with numpy (pages are a few thousand characters)."""
    if len(a) < len(b):
        a, b = b, a
    if not b:
        return len(a)
    codes_b = np.frombuffer(b.encode("utf-32-le"), dtype=np.uint32)
    columns = np.arange(len(b) + 1, dtype=np.int64)
    previous = columns.copy()
    for i, char in enumerate(a, start=1):
        cost = (codes_b != ord(char)).astype(np.int64)
        candidate = np.empty_like(previous)
        candidate[0] = i
        candidate[1:] = np.minimum(previous[1:] + 1, previous[:-1] + cost)
        # Insertions propagate left to right: cur[j] = min_k<=j (candidate[k] + j - k).
        previous = np.minimum.accumulate(candidate - columns) + columns
    return int(previous[-1])


def cer(hypothesis: str, reference: str) -> float:
    """Character error rate of ``hypothesis`` against ``reference`` after normalisation."""
    hyp, ref = normalize_for_cer(hypothesis), normalize_for_cer(reference)
    if not ref:
        return 0.0 if not hyp else 1.0
    return levenshtein(hyp, ref) / len(ref)


def read_zones(path: Path) -> list[tuple[int, int, int, int]]:
    """Zones of a UNLV ``.uzn`` file as (x0, y0, x1, y1); its ground truth covers only these."""
    zones = []
    for row in path.read_text().splitlines():
        parts = row.split()
        if len(parts) >= 4 and all(p.lstrip("-").isdigit() for p in parts[:4]):
            x, y, w, h = (int(p) for p in parts[:4])
            zones.append((x, y, x + w, y + h))
    return zones


@dataclass
class PageScore:
    """One scored page (or zone-cropped page) of the eval set."""

    set: str
    file: str
    page: int
    seconds: float
    cer: float | None
    reference_chars: int
    rotation: int
    mean_confidence: float | None
    text: str


def eval_items(eval_dir: Path, sets: Sequence[str] | None = None) -> list[dict]:
    """Items of ``index.json``, optionally only those of some sets."""
    items = json.loads((eval_dir / "index.json").read_text())
    return [item for item in items if sets is None or item["set"] in sets]


def score_item(
    engine: OcrEngine,
    item: dict,
    eval_dir: Path,
    settings: Settings,
    pages: Sequence[int] | None = None,
) -> list[PageScore]:
    """OCR one eval item and score each page against its ground truth.

    Items with a ``.uzn`` zone file (the UNLV magazine pages) have ground truth only for those
    zones, in zone order: each zone is cropped and read on its own, and the texts are joined.
    Multi-page PDFs are scored per page against ``page_gt``; items without ground truth get
    ``cer=None`` (timing only). ``pages`` limits the pages read (1-based).
    """
    scores = []
    with open_document(eval_dir / item["file"], settings) as document:
        references: list[str | None]
        if item.get("page_gt"):
            references = [(eval_dir / p).read_text(encoding="utf-8") for p in item["page_gt"]]
        elif item.get("gt") and document.page_count == 1:
            references = [(eval_dir / item["gt"]).read_text(encoding="utf-8")]
        else:
            references = [None] * document.page_count
        for number in pages or range(1, document.page_count + 1):
            image = document.render_page(number)
            reference = references[number - 1]
            if item.get("zones"):
                started = time.perf_counter()
                results = [
                    engine.recognize(np.ascontiguousarray(image[y0:y1, x0:x1]), number)
                    for x0, y0, x1, y1 in read_zones(eval_dir / item["zones"])
                ]
                text = "\n".join(r.text for r in results)
                seconds = time.perf_counter() - started
                rotation = 0
                confidences = [r.mean_confidence for r in results if r.mean_confidence]
                confidence = float(np.mean(confidences)) if confidences else None
            else:
                result = engine.recognize(image, number)
                text, seconds = result.text, result.seconds
                rotation, confidence = result.rotation, result.mean_confidence
            scores.append(
                PageScore(
                    set=item["set"],
                    file=item["file"],
                    page=number,
                    seconds=seconds,
                    cer=cer(text, reference) if reference is not None else None,
                    reference_chars=len(normalize_for_cer(reference or "")),
                    rotation=rotation,
                    mean_confidence=confidence,
                    text=text,
                )
            )
    return scores


def set_cer(scores: Sequence[PageScore]) -> float | None:
    """Character-weighted CER over scored pages (total edits / total reference characters)."""
    scored = [s for s in scores if s.cer is not None]
    total = sum(s.reference_chars for s in scored)
    if not total:
        return None
    return sum((s.cer or 0.0) * s.reference_chars for s in scored) / total
