"""Render the synthetic search-eval corpus to pages that look like office scans.

The search evaluation must go through the same OCR path as a user's upload, so each document
becomes an A4 page image at 200 dpi (1654x2339 px) with DejaVu fonts, a bold heading, item
tables in columns and the defects of a flatbed scan: slight skew, blur, sensor noise and JPEG
compression. Everything is seeded from the document id, so the same files come out every time.
Only Pillow and numpy are used, and a page takes well under a second.

    python -m benchmarks.search_eval.render /tmp/search_eval      # from the repository root
"""

from __future__ import annotations

import io
import re
import sys
import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

if __package__:
    from .corpus import DOCUMENTS, Document
else:  # run as a script: python benchmarks/search_eval/render.py OUT_DIR
    from corpus import DOCUMENTS, Document  # type: ignore[no-redef]

DPI = 200
PAGE_W, PAGE_H = 1654, 2339  # A4 at 200 dpi
MARGIN_X = 150
MARGIN_TOP = 150
MARGIN_BOTTOM = 190
CONTENT_W = PAGE_W - 2 * MARGIN_X

FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
FONT_FILES = {
    ("sans", False): "DejaVuSans.ttf",
    ("sans", True): "DejaVuSans-Bold.ttf",
    ("serif", False): "DejaVuSerif.ttf",
    ("serif", True): "DejaVuSerif-Bold.ttf",
}

# Cells printed flush right: amounts, quantities and counts ("931,00 €", "38 m²", "6,200 words").
_NUMERIC_CELL = re.compile(r"[-£€]?\s*\d[\d.,]*\s*\S{0,6}")
_PDF_DATE = time.strptime("2025-06-01", "%Y-%m-%d")  # fixed, so the PDFs are byte-identical


@lru_cache(maxsize=64)
def font(family: str, bold: bool, size: int) -> ImageFont.FreeTypeFont:
    """Load a DejaVu face once per (family, weight, size): loading dominates small renders."""
    return ImageFont.truetype(str(FONT_DIR / FONT_FILES[(family, bold)]), size)


@dataclass(frozen=True)
class Style:
    """Per-document look, drawn from the document's seed so similar documents still differ."""

    family: str
    size: int
    ink: int
    heading_align: str  # "left", "center" or "right"


@dataclass
class _Op:
    x: float
    y: float
    text: str
    font: ImageFont.FreeTypeFont


@dataclass
class _Page:
    ops: list[_Op]
    rules: list[tuple[float, float, float]]  # (x0, y, x1)
    bottom: float


def doc_seed(doc: Document) -> int:
    """Stable seed from the id (crc32, not hash(): that is salted per process)."""
    return zlib.crc32(doc.id.encode("utf-8"))


def choose_style(doc: Document) -> Style:
    """Serif for letters and contracts, sans for the rest, with one in four flipped."""
    rng = np.random.default_rng(doc_seed(doc))
    family = "serif" if doc.kind in ("carta", "contrato_arrendamiento") else "sans"
    if rng.random() < 0.25:
        family = "sans" if family == "serif" else "serif"
    align = {"carta": "center", "contrato_arrendamiento": "center", "memo": "left"}
    return Style(
        family=family,
        size=int(rng.integers(29, 33)),
        ink=int(rng.integers(10, 45)),
        heading_align=align.get(doc.kind, "right"),
    )


def _wrap(text: str, face: ImageFont.FreeTypeFont, width: float) -> list[str]:
    """Greedy word wrap by measured width; a single over-long word stays on its own line."""
    lines: list[str] = []
    current = ""
    for word in text.split():
        candidate = f"{current} {word}" if current else word
        if current and face.getlength(candidate) > width:
            lines.append(current)
            current = word
        else:
            current = candidate
    return [*lines, current] if current else lines or [""]


def _column_widths(rows: Sequence[tuple[bool, list[str]]], family: str, size: int) -> list[float]:
    """Fit columns to their content; the widest column takes the slack or wraps to fit."""
    n = len(rows[0][1])
    gap = size * 1.3
    natural = [0.0] * n
    for bold, cells in rows:
        face = font(family, bold, size)
        for j, cell in enumerate(cells):
            natural[j] = max(natural[j], face.getlength(cell))
    available = CONTENT_W - gap * (n - 1)
    widest = max(range(n), key=natural.__getitem__)
    widths = list(natural)
    others = sum(natural) - natural[widest]
    if sum(natural) <= available:
        widths[widest] += available - sum(natural)
    elif others <= available * 0.7:
        widths[widest] = available - others
    else:
        widths = [w * available / sum(natural) for w in natural]
    return widths


def _right_aligned(rows: Sequence[tuple[bool, list[str]]]) -> list[bool]:
    """Columns printed flush right: those whose regular cells are mostly numbers (never the
    first one), so headers and total labels line up with the amounts below or beside them."""
    n = len(rows[0][1])
    flags = [False] * n
    if n < 3:
        return flags
    for j in range(1, n):
        cells = [cells[j] for bold, cells in rows if not bold and cells[j]]
        numeric = sum(1 for cell in cells if _NUMERIC_CELL.fullmatch(cell))
        flags[j] = bool(cells) and numeric * 2 >= len(cells)
    return flags


def _layout(
    lines: Sequence[str], style: Style, size: int, title: str | None, page_label: str | None
) -> _Page:
    """Place every line of one page; the caller checks ``bottom`` against the page height."""
    family = style.family
    regular, bold_face = font(family, False, size), font(family, True, size)
    line_h = round(size * 1.42)
    ops: list[_Op] = []
    rules: list[tuple[float, float, float]] = []
    y = float(MARGIN_TOP)

    if title:
        heading_size = round(size * 1.75)
        face = font(family, True, heading_size)
        while face.getlength(title) > CONTENT_W and heading_size > size:
            heading_size -= 2
            face = font(family, True, heading_size)
        width = face.getlength(title)
        x = {
            "left": MARGIN_X,
            "center": (PAGE_W - width) / 2,
            "right": PAGE_W - MARGIN_X - width,
        }[style.heading_align]
        ops.append(_Op(x, y, title, face))
        y += round(heading_size * 1.6)

    i = 0
    while i < len(lines):
        raw = lines[i]
        if not raw:
            y += line_h * 0.6
            i += 1
            continue
        if "|" not in raw:
            bold = raw.startswith("## ")
            text = raw[3:] if bold else raw
            parts = _wrap(text, bold_face if bold else regular, CONTENT_W)
            for part in parts:
                ops.append(_Op(MARGIN_X, y, part, bold_face if bold else regular))
                y += line_h
            if bold or len(parts) > 1:  # set headings and multi-line paragraphs apart
                y += line_h * 0.35
            i += 1
            continue
        # A run of table rows with the same number of cells shares one column layout; blank
        # lines inside the run (before the totals) only add space.
        rows: list[tuple[bool, list[str]] | None] = []
        ncells = len(raw.split("|"))
        while i < len(lines):
            line = lines[i]
            if not line and i + 1 < len(lines) and len(lines[i + 1].split("|")) == ncells:
                rows.append(None)
            elif "|" in line and len(line.split("|")) == ncells:
                bold = line.startswith("## ")
                rows.append((bold, [c.strip() for c in (line[3:] if bold else line).split("|")]))
            else:
                break
            i += 1
        cell_rows = [row for row in rows if row is not None]
        widths = _column_widths(cell_rows, family, size)
        right = _right_aligned(cell_rows)
        gap = size * 1.3
        for r, row in enumerate(rows):
            if row is None:
                y += line_h * 0.5
                continue
            bold, cells = row
            face = bold_face if bold else regular
            if bold and r > 0:
                rules.append((MARGIN_X, y - line_h * 0.2, PAGE_W - MARGIN_X))
            height = 1
            x = float(MARGIN_X)
            for j, (cell, width) in enumerate(zip(cells, widths, strict=True)):
                wrapped = _wrap(cell, face, width) if cell else []
                for k, part in enumerate(wrapped):
                    px = x + width - face.getlength(part) if right[j] else x
                    ops.append(_Op(px, y + k * line_h, part, face))
                height = max(height, len(wrapped))
                x += width + gap
            y += height * line_h + (line_h * 0.25 if ncells > 2 else 0)
            if bold and r == 0:
                rules.append((MARGIN_X, y - line_h * 0.3, PAGE_W - MARGIN_X))
                y += line_h * 0.1
    if page_label:
        small = font(family, False, round(size * 0.8))
        label_x = (PAGE_W - small.getlength(page_label)) / 2
        ops.append(_Op(label_x, PAGE_H - MARGIN_BOTTOM + size, page_label, small))
    return _Page(ops, rules, y)


def layout_document(doc: Document) -> tuple[Style, list[_Page]]:
    """Lay out all pages, shrinking the font until every page fits inside its margins."""
    style = choose_style(doc)
    groups = doc.pages
    labels: list[str | None] = [None] * len(groups)
    if len(groups) > 1:
        template = "Página {} de {}" if doc.language == "es" else "Page {} of {}"
        labels = [template.format(n + 1, len(groups)) for n in range(len(groups))]
    for size in range(style.size, 19, -1):
        pages = [
            _layout(lines, style, size, doc.title if n == 0 else None, labels[n])
            for n, lines in enumerate(groups)
        ]
        if all(page.bottom <= PAGE_H - MARGIN_BOTTOM for page in pages):
            return style, pages
    raise ValueError(f"{doc.id}: does not fit on {len(groups)} page(s) even at 20 px")


def draw_page(page: _Page, ink: int) -> Image.Image:
    """Rasterise one laid-out page onto clean white paper (8-bit grayscale)."""
    image = Image.new("L", (PAGE_W, PAGE_H), 255)
    draw = ImageDraw.Draw(image)
    for op in page.ops:
        draw.text((op.x, op.y), op.text, font=op.font, fill=ink)
    for x0, y, x1 in page.rules:
        draw.line([(x0, y), (x1, y)], fill=ink, width=2)
    return image


def scan_effects(clean: Image.Image, rng: np.random.Generator) -> bytes:
    """Make a clean page look scanned; returns JPEG bytes (quality about 70).

    Order follows a real scanner: the sheet lies slightly skewed, the optics blur, the sensor
    adds noise and uneven lighting, the firmware compresses.
    """
    angle = float(rng.uniform(-1.5, 1.5))
    image = clean.rotate(angle, resample=Image.Resampling.BICUBIC, fillcolor=255)
    image = image.filter(ImageFilter.GaussianBlur(radius=float(rng.uniform(0.5, 0.85))))
    gray = np.asarray(image, dtype=np.float32)
    # Paper a touch below pure white, with a faint lighting gradient across the sheet.
    ys = np.linspace(-1.0, 1.0, PAGE_H, dtype=np.float32)[:, None]
    xs = np.linspace(-1.0, 1.0, PAGE_W, dtype=np.float32)[None, :]
    gx, gy = (float(v) for v in rng.uniform(-4.0, 4.0, size=2))
    gray = gray * float(rng.uniform(0.955, 0.985)) + gx * xs + gy * ys
    gray += rng.standard_normal(gray.shape, dtype=np.float32) * float(rng.uniform(4.0, 8.0))
    tint = np.asarray([1.0, 0.0, -3.0], dtype=np.float32)  # slightly warm paper
    rgb = np.clip(gray[:, :, None] + tint, 0, 255).astype(np.uint8)
    out = io.BytesIO()
    Image.fromarray(rgb, "RGB").save(out, "JPEG", quality=int(rng.integers(66, 75)))
    return out.getvalue()


def render_document(doc: Document) -> list[bytes]:
    """Scanned JPEG bytes, one per page, deterministic for a given document."""
    style, pages = layout_document(doc)
    seed = doc_seed(doc)
    return [
        scan_effects(draw_page(page, style.ink), np.random.default_rng([seed, number]))
        for number, page in enumerate(pages)
    ]


def write_document(doc: Document, index: int, out_dir: Path) -> Path:
    """Write one document: 2-page documents as PDF, single pages as JPEG (even ``index``) or
    PNG (odd), so the OCR path sees every input format Kairo accepts from a scanner."""
    scans = render_document(doc)
    if len(scans) > 1:
        path = out_dir / f"{doc.id}.pdf"
        images = [Image.open(io.BytesIO(scan)) for scan in scans]
        images[0].save(
            path,
            "PDF",
            save_all=True,
            append_images=images[1:],
            resolution=float(DPI),
            quality=80,
            title=doc.title,
            creationDate=_PDF_DATE,
            modDate=_PDF_DATE,
        )
    elif index % 2 == 0:
        path = out_dir / f"{doc.id}.jpg"
        path.write_bytes(scans[0])
    else:
        # A grayscale PNG, as many scanners save: smaller, and another input mode for the OCR.
        path = out_dir / f"{doc.id}.png"
        Image.open(io.BytesIO(scans[0])).convert("L").save(path, "PNG", compress_level=3)
    return path


def write_corpus(out_dir: Path) -> list[tuple[str, Path]]:
    """Write every document of the corpus under ``out_dir``; returns (doc id, path) in order."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[tuple[str, Path]] = []
    single_pages = 0
    for doc in DOCUMENTS:
        written.append((doc.id, write_document(doc, single_pages, out_dir)))
        single_pages += len(doc.pages) == 1
    return written


def main(argv: Sequence[str]) -> int:
    """CLI: write the corpus to the given folder and print one line per file."""
    if len(argv) != 1:
        print("usage: python -m benchmarks.search_eval.render OUT_DIR", file=sys.stderr)
        return 2
    started = time.perf_counter()
    written = write_corpus(Path(argv[0]))
    for doc_id, path in written:
        print(f"{doc_id}\t{path}")
    print(f"{len(written)} files in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
