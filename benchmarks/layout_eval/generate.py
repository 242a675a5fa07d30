"""Draw the layout-eval pages as scanned JPEGs and write their ground truth.

Each page of ``content.PAGE_SPECS`` is laid out on A4 at 200 dpi (1654x2339 px, the geometry,
DejaVu fonts and scan defects of ``benchmarks.search_eval.render``), drawn while recording where
every table and its cells go, then passed through ``scan_effects`` (skew up to ±1.5°, blur,
noise, lighting, JPEG). Ground truth boxes are those of the clean, unskewed page; the skew the
scan applied is recorded as ``skew_deg`` (counter-clockwise, about the page centre).

    python -m benchmarks.layout_eval.generate OUT_DIR     # from the repository root
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from benchmarks.layout_eval.content import (
    PAGE_SPECS,
    Columns,
    Footer,
    Heading,
    Lines,
    PageContent,
    PageSpec,
    Paragraph,
    Space,
    Table,
    build_page,
    page_seed,
)
from benchmarks.search_eval.render import (
    CONTENT_W,
    DPI,
    MARGIN_BOTTOM,
    MARGIN_TOP,
    MARGIN_X,
    PAGE_H,
    PAGE_W,
    _wrap,
    font,
    scan_effects,
)

Box = tuple[float, float, float, float]
MIN_SIZE = 20
MAX_CELL_LINES = 3
RIGHT_COLUMN_X = MARGIN_X + CONTENT_W * 0.55  # the right block of side-by-side party blocks


@dataclass
class _Text:
    x: float
    y: float
    text: str
    face: ImageFont.FreeTypeFont


@dataclass
class _Canvas:
    """Everything placed on one page, and its ground truth as it is placed."""

    family: str
    size: int
    texts: list[_Text] = field(default_factory=list)
    rules: list[tuple[float, float, float, float]] = field(default_factory=list)  # lines
    fills: list[Box] = field(default_factory=list)  # grey header rows
    lines: list[str] = field(default_factory=list)  # printed lines in reading order
    row_lines: list[str] = field(default_factory=list)  # the same, a table row per line
    tables: list[dict] = field(default_factory=list)
    title_box: Box | None = None
    y: float = float(MARGIN_TOP)

    @property
    def line_h(self) -> int:
        return round(self.size * 1.42)

    def face(self, bold: bool = False, scale: float = 1.0) -> ImageFont.FreeTypeFont:
        return font(self.family, bold, round(self.size * scale))

    def put(self, x: float, y: float, text: str, face: ImageFont.FreeTypeFont) -> Box:
        """Place one run of text (top-left at x, y); returns its ink box."""
        self.texts.append(_Text(x, y, text, face))
        left, top, right, bottom = face.getbbox(text)
        return (x + left, y + top, x + right, y + bottom)

    def line(self, text: str) -> None:
        """Record one printed line outside tables, in reading order."""
        self.lines.append(text)
        self.row_lines.append(text)


def _union(boxes: Sequence[Box]) -> Box:
    return (
        min(b[0] for b in boxes),
        min(b[1] for b in boxes),
        max(b[2] for b in boxes),
        max(b[3] for b in boxes),
    )


def _pixel_box(box: Box) -> list[int]:
    return [math.floor(box[0]), math.floor(box[1]), math.ceil(box[2]), math.ceil(box[3])]


def _heading(canvas: _Canvas, element: Heading) -> None:
    size = round(canvas.size * 1.75)
    face = font(canvas.family, True, size)
    while face.getlength(element.text) > CONTENT_W and size > canvas.size:
        size -= 2
        face = font(canvas.family, True, size)
    width = face.getlength(element.text)
    x = {
        "left": MARGIN_X,
        "center": (PAGE_W - width) / 2,
        "right": PAGE_W - MARGIN_X - width,
    }[element.align]
    canvas.title_box = canvas.put(x, canvas.y, element.text, face)
    canvas.line(element.text)
    canvas.y += round(size * 1.6)


def _lines(canvas: _Canvas, element: Lines, x: float | None = None) -> float:
    """Place lines from the current y; returns the y below them (the caller advances)."""
    y = canvas.y
    for text, bold in zip(element.lines, element.bold, strict=True):
        face = canvas.face(bold)
        if element.align == "right":
            canvas.put(PAGE_W - MARGIN_X - face.getlength(text), y, text, face)
        else:
            canvas.put(MARGIN_X if x is None else x, y, text, face)
        canvas.line(text)
        y += canvas.line_h
    return y


def _paragraph(canvas: _Canvas, element: Paragraph) -> None:
    face = canvas.face()
    for part in _wrap(element.text, face, CONTENT_W):
        canvas.put(MARGIN_X, canvas.y, part, face)
        canvas.line(part)
        canvas.y += canvas.line_h


def _column_widths(canvas: _Canvas, table: Table, available: float) -> list[float]:
    """Natural widths; the wrap column takes the slack (or gives it up, wrapping)."""
    n = len(table.rows[0])
    natural = [0.0] * n
    for r, row in enumerate(table.rows):
        face = canvas.face(bold=r == 0 or _is_total_row(table, r))
        for j, cell in enumerate(row):
            natural[j] = max(natural[j], face.getlength(cell))
    if table.wrap_column is None:
        return natural  # a small table (the VAT breakdown): as wide as its content
    flex = table.wrap_column
    others = sum(natural) - natural[flex]
    widths = list(natural)
    widths[flex] = available - others
    if table.narrow:  # long wording: a column about half the page wide, 2-3 lines a cell
        widths[flex] = min(widths[flex], CONTENT_W * 0.5)
    if widths[flex] < canvas.size * 6:
        raise ValueError("table too wide for the page")
    return widths


def _is_total_row(table: Table, r: int) -> bool:
    """The last in-table totals row is bold (the amount due)."""
    return table.totals_from is not None and r == len(table.rows) - 1


def _table(canvas: _Canvas, table: Table) -> None:
    """Lay out one table row by row, recording its cells, box and printed lines."""
    n = len(table.rows[0])
    pad = canvas.size * 0.45 if table.ruled else 0.0  # ruled: inner cell padding, each side
    gap = 0.0 if table.ruled else canvas.size * 1.3  # borderless: space between columns
    available = CONTENT_W - (2 * pad * n if table.ruled else gap * (n - 1))
    widths = _column_widths(canvas, table, available)
    x0 = float(MARGIN_X)
    lefts = []
    x = x0
    for width in widths:
        lefts.append(x + pad)
        x += width + 2 * pad + gap
    x1 = x - gap
    line_h = canvas.line_h
    pad_y = canvas.size * 0.35 if table.ruled else 0.0
    row_gap = 0.0 if table.ruled else line_h * 0.25
    y0 = canvas.y
    y = y0
    ink: list[Box] = []
    row_edges = [y]
    multiline = 0
    for r, row in enumerate(table.rows):
        bold = r == 0 or _is_total_row(table, r)
        face = canvas.face(bold)
        if r == table.totals_from and not table.ruled:  # a rule above the totals
            rule_y = y + line_h * 0.05
            canvas.rules.append((lefts[-2], rule_y, x1, rule_y))
            ink.append((lefts[-2], rule_y - 1, x1, rule_y + 1))
            y += line_h * 0.2
        wrapped = [_wrap(cell, face, widths[j]) if cell else [] for j, cell in enumerate(row)]
        height = max(1, *(len(parts) for parts in wrapped))
        if height > MAX_CELL_LINES:
            raise ValueError(f"a cell wraps over {height} lines: {row}")
        multiline += sum(len(parts) > 1 for parts in wrapped)
        if r == 0 and table.header_shade:
            canvas.fills.append((x0, y, x1, y + height * line_h + 2 * pad_y))
        canvas.row_lines.append(" ".join(" ".join(cell.split()) for cell in row if cell))
        for k in range(height):
            printed = []
            for j, parts in enumerate(wrapped):
                if k >= len(parts):
                    continue
                part = parts[k]
                px = lefts[j] + widths[j] - face.getlength(part) if table.right[j] else lefts[j]
                ink.append(canvas.put(px, y + pad_y + k * line_h, part, face))
                printed.append(part)
            canvas.lines.append(" ".join(printed))
        y += height * line_h + 2 * pad_y + row_gap
        if r == 0 and table.header_rule and not table.ruled:
            rule_y = y - line_h * 0.15
            canvas.rules.append((x0, rule_y, x1, rule_y))
            ink.append((x0, rule_y - 1, x1, rule_y + 1))
            y += line_h * 0.15
        row_edges.append(y)
    if table.ruled:
        for edge in row_edges:
            canvas.rules.append((x0, edge, x1, edge))
        x = x0
        for width in widths:
            canvas.rules.append((x, y0, x, y))
            x += width + 2 * pad
        canvas.rules.append((x1, y0, x1, y))
        box = (x0 - 1, y0 - 1, x1 + 1, y + 1)
    else:
        box = _union(ink)
    canvas.tables.append(
        {
            "rows": [[" ".join(cell.split()) for cell in row] for row in table.rows],
            "ruled": table.ruled,
            "header_rule": table.header_rule and not table.ruled,
            "box": _pixel_box(box),
            "multiline_cells": multiline,
            "totals_rows": 0 if table.totals_from is None else len(table.rows) - table.totals_from,
        }
    )
    canvas.y = y + (0 if table.ruled else -row_gap)


def layout(content: PageContent, size: int) -> _Canvas:
    """Place every element of a page at one font size."""
    canvas = _Canvas(content.spec.family, size)
    footer: Footer | None = None
    for element in content.elements:
        if isinstance(element, Heading):
            _heading(canvas, element)
        elif isinstance(element, Lines):
            canvas.y = _lines(canvas, element)
        elif isinstance(element, Columns):
            bottom_left = _lines(canvas, element.left)
            bottom_right = _lines(canvas, element.right, RIGHT_COLUMN_X)
            canvas.y = max(bottom_left, bottom_right)
        elif isinstance(element, Paragraph):
            _paragraph(canvas, element)
        elif isinstance(element, Space):
            canvas.y += canvas.line_h * element.lines
        elif isinstance(element, Table):
            _table(canvas, element)
        else:
            footer = element
    if footer is not None:
        face = canvas.face(scale=0.72)
        x = (PAGE_W - face.getlength(footer.text)) / 2
        canvas.put(x, PAGE_H - MARGIN_BOTTOM + canvas.size, footer.text, face)
        canvas.line(footer.text)
    return canvas


def fit(content: PageContent) -> _Canvas:
    """Lay out at the spec's font size, shrinking until the page fits inside its margins."""
    for size in range(content.spec.size, MIN_SIZE - 1, -1):
        try:
            canvas = layout(content, size)
        except ValueError:
            continue
        if canvas.y <= PAGE_H - MARGIN_BOTTOM:
            return canvas
    raise ValueError(f"{content.spec.id} does not fit on one page even at {MIN_SIZE} px")


def draw(canvas: _Canvas, ink: int) -> Image.Image:
    """Rasterise a laid-out page onto clean white paper (8-bit grayscale)."""
    image = Image.new("L", (PAGE_W, PAGE_H), 255)
    pen = ImageDraw.Draw(image)
    for box in canvas.fills:
        pen.rectangle(box, fill=222)
    for text in canvas.texts:
        pen.text((text.x, text.y), text.text, font=text.face, fill=ink)
    for x0, y0, x1, y1 in canvas.rules:
        pen.line([(x0, y0), (x1, y1)], fill=ink, width=2)
    return image


def render_page(spec: PageSpec) -> tuple[bytes, dict]:
    """The scanned JPEG of one page and its ground truth (deterministic for the spec)."""
    content = build_page(spec)
    canvas = fit(content)
    seed = page_seed(spec.id)
    ink = int(np.random.default_rng([seed, 1]).integers(10, 45))
    scan_seed = [seed, 2]
    # scan_effects draws the skew angle first: the same draw from the same seed.
    skew = float(np.random.default_rng(scan_seed).uniform(-1.5, 1.5))
    jpeg = scan_effects(draw(canvas, ink), np.random.default_rng(scan_seed))
    truth = {
        "id": spec.id,
        "image": f"{spec.id}.jpg",
        "lang": spec.lang,
        "kind": spec.kind,
        "width": PAGE_W,
        "height": PAGE_H,
        "dpi": DPI,
        "font": f"DejaVu {spec.family.title()} {canvas.size} px",
        "skew_deg": round(skew, 3),
        "title": spec.title,
        "title_box": _pixel_box(canvas.title_box) if canvas.title_box else None,
        "tables": canvas.tables,
        "text": "\n".join(canvas.lines),
        "text_table_rows": "\n".join(canvas.row_lines),
    }
    return jpeg, truth


def _dumps(value: object, indent: str = "") -> str:
    """JSON with one table row, box or line list per line: readable ground truth to check by eye."""
    inner = indent + " "
    if isinstance(value, dict) and value:
        items = [f"{inner}{json.dumps(k)}: {_dumps(v, inner)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + f"\n{indent}}}"
    if isinstance(value, list) and any(isinstance(v, list | dict) for v in value):
        return "[\n" + ",\n".join(inner + _dumps(v, inner) for v in value) + f"\n{indent}]"
    return json.dumps(value, ensure_ascii=False)


def write_eval_set(out_dir: Path, specs: Sequence[PageSpec] = PAGE_SPECS) -> list[dict]:
    """Write ``page-XX.jpg`` + ``page-XX.json`` per page and ``index.json``; returns the index."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    index = []
    for spec in specs:
        jpeg, truth = render_page(spec)
        (out_dir / truth["image"]).write_bytes(jpeg)
        (out_dir / f"{spec.id}.json").write_text(_dumps(truth) + "\n", encoding="utf-8")
        index.append(
            {
                "id": spec.id,
                "image": truth["image"],
                "truth": f"{spec.id}.json",
                "lang": spec.lang,
                "kind": spec.kind,
                "tables": len(truth["tables"]),
            }
        )
    (out_dir / "index.json").write_text(json.dumps(index, indent=1) + "\n", encoding="utf-8")
    return index


def main(argv: Sequence[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m benchmarks.layout_eval.generate OUT_DIR", file=sys.stderr)
        return 2
    started = time.perf_counter()
    index = write_eval_set(Path(argv[0]))
    for entry in index:
        print(f"{entry['id']}\t{entry['kind']}\t{entry['tables']} table(s)")
    print(f"{len(index)} pages in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
