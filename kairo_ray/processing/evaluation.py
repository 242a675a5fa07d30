"""Character error rate the way ../shared/eval/README.md defines it, shared by tests and benchmark.

Both sides are NFC-normalised, typographic quotes and dashes become ASCII, whitespace collapses to
single spaces; CER = Levenshtein distance / reference length.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import numpy as np

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
