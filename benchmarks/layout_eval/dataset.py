"""Reading a written layout-eval set back: what a benchmark runner needs, nothing else."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

Box = tuple[float, float, float, float]
PAGE_SIZE = (1654, 2339)  # A4 at 200 dpi, as benchmarks.search_eval.render draws it


@dataclass(frozen=True)
class TruthTable:
    """One printed table: its cells (first row: the header as printed), grid or not, and its
    box in pixels of the saved image (of the unskewed page, see ``EvalPage.skew_deg``)."""

    rows: list[list[str]]
    ruled: bool
    box: Box


@dataclass(frozen=True)
class EvalPage:
    """One page of the eval set: the scanned image and its ground truth."""

    id: str
    image: Path
    title: str
    tables: list[TruthTable]
    text: str  # every printed line in reading order, one per line
    text_table_rows: str  # the same, but each table row on one line (whole cells, in order)
    lang: str  # "es" or "en"
    kind: str  # factura, presupuesto, albaran, invoice, carta, letter...
    skew_deg: float = 0.0


def load_eval_set(directory: str | Path) -> list[EvalPage]:
    """The pages listed in ``directory/index.json`` (as written by ``generate``), in order."""
    directory = Path(directory)
    pages = []
    for entry in json.loads((directory / "index.json").read_text(encoding="utf-8")):
        truth = json.loads((directory / entry["truth"]).read_text(encoding="utf-8"))
        tables = [
            TruthTable(rows=t["rows"], ruled=t["ruled"], box=tuple(t["box"]))  # type: ignore[arg-type]
            for t in truth["tables"]
        ]
        pages.append(
            EvalPage(
                id=truth["id"],
                image=directory / truth["image"],
                title=truth["title"],
                tables=tables,
                text=truth["text"],
                text_table_rows=truth["text_table_rows"],
                lang=truth["lang"],
                kind=truth["kind"],
                skew_deg=truth.get("skew_deg", 0.0),
            )
        )
    return pages


def scanned_box(box: Box, skew_deg: float, size: tuple[int, int] = PAGE_SIZE) -> Box:
    """Where an unskewed ground-truth box lies in the saved (skewed) image: the bounding box of
    the box rotated by ``skew_deg`` counter-clockwise about the page centre, as the scan was."""
    cx, cy = size[0] / 2, size[1] / 2
    cos, sin = math.cos(math.radians(skew_deg)), math.sin(math.radians(skew_deg))
    xs, ys = [], []
    for x in (box[0], box[2]):
        for y in (box[1], box[3]):
            xs.append(cx + (x - cx) * cos + (y - cy) * sin)
            ys.append(cy - (x - cx) * sin + (y - cy) * cos)
    return (min(xs), min(ys), max(xs), max(ys))
