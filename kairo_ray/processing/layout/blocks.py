"""From an OCR'd page and the regions a layout engine found to typed blocks in reading order.

Engine-independent and pure geometry (no model beyond the engine's regions):

* the geometry is done in the text's level frame (:mod:`.skew`), block boxes turned back after;
* tables come from three sources, most certain first: ruled grids on the page (:mod:`.ruling`),
  runs of lines whose cells share column gutters (:func:`~.tables.find_tables`), and the
  engine's table regions; the engine's titles are checked against the body's line height;
* regions are cleaned up: a running head or foot away from the page's top or bottom band is body
  text, and a region mostly inside one of higher priority (table, then title, figure, caption,
  head/foot, text) is dropped;
* every OCR line goes to the region that holds most of it, preferring the higher priority; a
  table then takes the lines its region cut off (header, totals); lines no region holds are
  grouped into text blocks by gaps;
* a table's lines become rows and columns (:func:`~.ruling.grid_rows` for a ruled one,
  :func:`~.tables.table_rows` otherwise); a "table" of fewer than two rows or columns is text;
* blocks are read in the order of their first line in the OCR engine's reading order
  (:func:`~kairo_ray.processing.reading_order.reading_order`: recursive XY-cut over the lines,
  columns one after the other), so a block never moves text against it; within a block, lines
  by the same function;
* the page text is the blocks' texts separated by blank lines: a title as a Markdown heading, a
  table as Markdown rows.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from statistics import median

import numpy as np

from kairo_ray.models import Block, BlockType, OcrLine, PageResult
from kairo_ray.processing.chunk import BLOCK_SEPARATOR, block_markup
from kairo_ray.processing.layout.base import Region
from kairo_ray.processing.layout.ruling import Grid, find_grids, grid_rows
from kairo_ray.processing.layout.skew import MIN_SKEW, Deskew
from kairo_ray.processing.layout.tables import (
    cell_units,
    column_separators,
    find_tables,
    markdown_table,
    table_rows,
)
from kairo_ray.processing.reading_order import _gaps, reading_order

Box = tuple[float, float, float, float]

PRIORITY: dict[str, int] = {
    "table": 0,
    "title": 1,
    "figure": 2,
    "caption": 3,
    "header": 4,
    "footer": 4,
    "equation": 5,
    "list": 5,
    "text": 5,
}
EDGE_BAND = 0.12
"""Running heads live in the top, feet in the bottom this share of the page."""
MIN_SHARE = 0.5
"""A line belongs to a region holding at least this share of its area; a region mostly (this
share) inside a kept region of higher priority is dropped."""
GRID_SCORE = 1.1
"""Ruled tables are more certain than tables guessed from the text (1.0) or a model's (< 1)."""
TITLE_SCALE = 1.2
"""A title's lines are at least this many times the page's median line height..."""
LARGEST_SCALE = 1.15
"""... and a page without a title region takes its largest line, when this much larger than the
median and in the top third (TITLE_BAND) of the text, as its title."""
TITLE_BAND = 1 / 3
OVERHANG = 0.75
"""A cell of a line joining a table must lie this share of its width inside its column."""
GROUP_GAP = 1.2
"""Lines outside every region start a new text block after a gap of this many line heights..."""
COLUMN_GAP = 2.0
"""... and split into blocks side by side at a horizontal gap of this many (a sender's address
beside the invoice number)."""


def _area(box: Box) -> float:
    return max(0.0, box[2] - box[0]) * max(0.0, box[3] - box[1])


def _overlap(a: Box, b: Box) -> float:
    return _area((max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])))


def clean_regions(regions: Sequence[Region], width: int, height: int) -> list[Region]:
    """Regions with heads/feet checked against the page edges and overlaps resolved, by
    priority then confidence."""
    fixed = []
    for region in regions:
        kind: BlockType = region.type
        middle = (region.box[1] + region.box[3]) / 2
        misplaced_head = kind == "header" and middle > height * EDGE_BAND
        misplaced_foot = kind == "footer" and middle < height * (1 - EDGE_BAND)
        if misplaced_head or misplaced_foot:
            kind = "text"
        x0, y0, x1, y1 = region.box
        box = (max(0.0, x0), max(0.0, y0), min(float(width), x1), min(float(height), y1))
        if _area(box) > 0:
            fixed.append(Region(kind, box, region.score))
    fixed.sort(key=lambda r: (PRIORITY[r.type], -r.score))
    kept: list[Region] = []
    for region in fixed:
        if not any(_overlap(region.box, k.box) > MIN_SHARE * _area(region.box) for k in kept):
            kept.append(region)
    return kept


def _geometric_tables(lines: Sequence[OcrLine]) -> list[Region]:
    """Tables found from the line geometry (:func:`~.tables.find_tables`), as regions more
    certain than any model's, so they win over a model's figure or text on the same place."""
    return [Region("table", box, 1.0) for box in find_tables(lines)]


def _checked_titles(regions: list[Region], lines: Sequence[OcrLine]) -> list[Region]:
    """A heading is set larger than the body: a title region whose lines are not is text (a
    bold totals line, a table's header cell); with no title left, the page's clearly largest
    line in its top third is its title."""
    if not lines:
        return regions
    body = median(line.box[3] - line.box[1] for line in lines)

    def held(region: Region) -> list[OcrLine]:
        return [ln for ln in lines if _overlap(ln.box, region.box) >= MIN_SHARE * _area(ln.box)]

    checked = []
    for region in regions:
        if region.type == "title":
            inside = held(region)
            tall = inside and median(ln.box[3] - ln.box[1] for ln in inside) >= TITLE_SCALE * body
            if not tall:
                region = Region("text", region.box, region.score)
        checked.append(region)
    if not any(r.type == "title" for r in checked):
        top = max(lines[: len(lines)], key=lambda ln: ln.box[3] - ln.box[1])
        if top.box[3] - top.box[1] >= LARGEST_SCALE * body and top.box[1] < TITLE_BAND * max(
            ln.box[3] for ln in lines
        ):
            checked.append(Region("title", top.box, 1.0))
    return checked


def _assign(lines: Sequence[OcrLine], regions: Sequence[Region]) -> list[int | None]:
    owners: list[int | None] = []
    for line in lines:
        area = max(_area(line.box), 1e-6)
        best, best_key = None, None
        for r, region in enumerate(regions):
            share = _overlap(line.box, region.box) / area
            if share < MIN_SHARE:
                continue
            key = (PRIORITY[region.type], -share)
            if best_key is None or key < best_key:
                best, best_key = r, key
        owners.append(best)
    return owners


def _grid_of(region: Region, grids: Sequence[Grid]) -> Grid | None:
    """The ruled grid a table region is (most of the region inside the grid's box)."""
    if region.type != "table":
        return None
    best = max(grids, key=lambda g: _overlap(g.box, region.box), default=None)
    if best is None or _overlap(best.box, region.box) < MIN_SHARE * _area(region.box):
        return None
    return best


def _grow_tables(
    lines: Sequence[OcrLine],
    regions: Sequence[Region],
    owners: list[int | None],
    skip: set[int],
) -> None:
    """Give a table the lines the model's box cut off: layout models often crop a table's
    header or totals row. A line joins a table when it lies within the table's width and either
    shares a visual line with one of the table's lines, or is a line of two or more cells just
    above or below the table (within two line heights) that reads as one of its rows
    (:func:`_fits_columns`)."""
    for t, region in enumerate(regions):
        if region.type != "table" or t in skip:  # a ruled table ends at its rules
            continue
        while True:
            held = [i for i, owner in enumerate(owners) if owner == t]
            if not held:
                break
            left = min(region.box[0], *(lines[i].box[0] for i in held))
            right = max(region.box[2], *(lines[i].box[2] for i in held))
            top = min(lines[i].box[1] for i in held)
            bottom = max(lines[i].box[3] for i in held)
            height = median(lines[i].box[3] - lines[i].box[1] for i in held)
            slack = 0.02 * (right - left)
            free = [
                i
                for i, owner in enumerate(owners)
                if (owner is None or regions[owner].type != "table")
                and lines[i].box[0] >= left - slack
                and lines[i].box[2] <= right + slack
            ]
            joining = {i for i in free if any(_same_line(lines[i].box, lines[j].box) for j in held)}
            above = [i for i in free if 0 <= top - lines[i].box[3] + height * 0.2 < 2 * height]
            below = [i for i in free if 0 <= lines[i].box[1] - bottom + height * 0.2 < 2 * height]
            gutters = column_separators([u.box for u in cell_units([lines[j] for j in held])])
            for side in (above, below):
                nearest = _nearest_line(lines, side, above=side is above)
                if _fits_columns([lines[i] for i in nearest], gutters):
                    joining |= set(nearest)
            if not joining:
                break
            for i in joining:
                owners[i] = t


def _fits_columns(line: Sequence[OcrLine], gutters: list[float]) -> bool:
    """Whether a visual line reads as a row of the table: two or more cells, each mostly inside
    one column (a right-aligned totals label may overhang its gutter), in different columns,
    not all in the first."""
    units = cell_units(line)
    bounds = [float("-inf"), *gutters, float("inf")]
    columns = set()
    for unit in units:
        x0, _, x1, _ = unit.box
        column = bisect.bisect_right(gutters, (x0 + x1) / 2)
        inside = min(x1, bounds[column + 1]) - max(x0, bounds[column])
        if inside < OVERHANG * (x1 - x0):
            return False
        columns.add(column)
    return len(units) >= 2 and len(columns) == len(units) and max(columns) > 0


def _nearest_line(lines: Sequence[OcrLine], indices: list[int], above: bool) -> list[int]:
    """Of ``indices``, the lines on the visual line nearest the table."""
    if not indices:
        return []
    key = (lambda i: -lines[i].box[3]) if above else (lambda i: lines[i].box[1])
    first = min(indices, key=key)
    return [i for i in indices if _same_line(lines[i].box, lines[first].box)]


def _same_line(a: Box, b: Box) -> bool:
    overlap = min(a[3], b[3]) - max(a[1], b[1])
    return overlap >= 0.5 * min(a[3] - a[1], b[3] - b[1])


def _place(lines: Sequence[OcrLine], box: Box) -> int:
    """Where a block without lines (a figure) reads: before the first line below its top."""
    below = [i for i, line in enumerate(lines) if (line.box[1] + line.box[3]) / 2 > box[1]]
    return min(below, default=len(lines))


def _interrupted(held: list[int]) -> list[list[int]]:
    """A region's lines (indices in the OCR's reading order), split where a line of another
    block, or of none, reads between two of them: a model's text region drawn round a title, or
    a running head sharing its line with the page number, reads in its place."""
    ordered = sorted(held)
    parts = [[ordered[0]]]
    for i in ordered[1:]:
        if i == parts[-1][-1] + 1:
            parts[-1].append(i)
        else:
            parts.append([i])
    return parts


def _loose_groups(lines: Sequence[OcrLine], indices: list[int]) -> list[list[int]]:
    """Lines outside every region, split into text blocks at vertical gaps."""
    if not indices:
        return []
    height = median(max(1.0, lines[i].box[3] - lines[i].box[1]) for i in indices)
    bands: list[list[int]] = []
    reach = float("-inf")
    for i in sorted(indices, key=lambda i: lines[i].box[1]):
        if not bands or lines[i].box[1] - reach > GROUP_GAP * height:
            bands.append([i])
        else:
            bands[-1].append(i)
        reach = max(reach, lines[i].box[3])
    groups: list[list[int]] = []
    for band in bands:
        spans = [(lines[i].box[0], lines[i].box[2], i) for i in band]
        groups.extend(_gaps(spans, COLUMN_GAP * height))
    return groups


def _text(lines: Sequence[OcrLine]) -> str:
    ordered = reading_order([line.box for line in lines])
    return "\n".join(" ".join(lines[i].text for i in visual) for visual in ordered)


def _union(boxes: Sequence[Box]) -> Box:
    return (
        min(b[0] for b in boxes),
        min(b[1] for b in boxes),
        max(b[2] for b in boxes),
        max(b[3] for b in boxes),
    )


def build_blocks(
    page: PageResult, regions: Sequence[Region], image: np.ndarray | None = None
) -> PageResult:
    """``page`` with its blocks in reading order and the page text they make. ``image`` (the
    page as read) is searched for ruled tables."""
    grids = find_grids(image) if image is not None else []
    level = Deskew(page.skew, page.width, page.height) if abs(page.skew) >= MIN_SKEW else None
    original = page
    if level is not None:
        page = page.model_copy(update={"lines": [level.line(line) for line in page.lines]})
        regions = level.regions(list(regions))
        grids = [level.grid(grid) for grid in grids]
    found = [Region("table", grid.box, GRID_SCORE) for grid in grids]
    regions = clean_regions(
        [*regions, *found, *_geometric_tables(page.lines)], page.width, page.height
    )
    regions = _checked_titles(regions, page.lines)
    owners = _assign(page.lines, regions)
    ruled = {r: _grid_of(region, grids) for r, region in enumerate(regions)}
    _grow_tables(page.lines, regions, owners, skip={r for r, g in ruled.items() if g})
    members: dict[int, list[int]] = {}
    for i, owner in enumerate(owners):
        if owner is not None:
            members.setdefault(owner, []).append(i)
    drafts: list[tuple[BlockType, Box, list[int], Grid | None]] = []
    for r, held in members.items():
        if regions[r].type == "table":
            box = _union([regions[r].box, *(page.lines[i].box for i in held)])
            drafts.append(("table", box, held, ruled[r]))
            continue
        for part in _interrupted(held):
            drafts.append((regions[r].type, _union([page.lines[i].box for i in part]), part, None))
    drafts += [
        ("figure", region.box, [], None)
        for r, region in enumerate(regions)
        if region.type == "figure" and r not in members
    ]
    loose = [i for i, owner in enumerate(owners) if owner is None]
    for group in _loose_groups(page.lines, loose):
        for part in _interrupted(group):
            drafts.append(("text", _union([page.lines[i].box for i in part]), part, None))

    built: list[Block] = []
    places: list[int] = []
    for kind, box, held, grid in drafts:
        places.append(min(held) if held else _place(page.lines, box))
        lines = [page.lines[i] for i in held]
        rows = None
        if kind == "table":
            rows = grid_rows(lines, grid) if grid is not None else table_rows(lines)
        if kind == "table" and (not rows or len(rows) < 2 or len(rows[0]) < 2):
            kind, rows = "text", None
        text = markdown_table(rows) if rows else _text(lines)
        built.append(Block(type=kind, box=box, text=text, order=0, rows=rows, lines=held))

    order = sorted(range(len(built)), key=places.__getitem__)
    ordered = [built[k].model_copy(update={"order": n}) for n, k in enumerate(order)]
    text = BLOCK_SEPARATOR.join(block_markup(b) for b in ordered if b.text)
    if level is not None:
        ordered = [b.model_copy(update={"box": level.back(b.box)}) for b in ordered]
    return original.model_copy(update={"blocks": ordered, "text": text})
