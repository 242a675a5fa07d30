"""Reading order of text boxes on a page, as a person reads: pure geometry, no models.

Recursive XY-cut. A region is split

1. into **columns** at a vertical gutter when both sides look like text columns (each side holds
   at least three lines, its boxes fill most of its width and are long lines, at least six times
   as wide as high — running text, not table cells);
2. otherwise into **bands** of consecutive rows (horizontal gaps) that share a vertical gutter,
   top to bottom — a heading above two columns, the columns, a footnote below them — and each
   band is ordered again; a region that is one band but not text columns (a table) is read
   row by row;
3. otherwise (no full-width horizontal gap, no column structure) the region's boxes are grouped
   into visual lines by vertical overlap, and each line is read left to right — so a table row
   reads across its cells.

Gaps are measured on boxes shrunk vertically by a fraction of their height, because detected line
boxes of tightly set text often touch or overlap by their ascenders and descenders.
"""

from __future__ import annotations

from collections.abc import Sequence
from statistics import median

Box = tuple[float, float, float, float]

MIN_COLUMN_LINES = 3
"""A column needs this many lines on each side of the gutter."""

COLUMN_FILL = 0.6
"""Median box width / column width at or above which a side counts as running text."""

COLUMN_LINE_ASPECT = 6.0
"""Median width / height of a column's boxes: lines of running text hold a dozen characters or
more, while table cells (a number, a word) are short."""

_SHRINK = 0.15
"""Share of a box's height ignored at its top and bottom when looking for horizontal gaps."""


def _gaps(intervals: list[tuple[float, float, int]], min_gap: float) -> list[list[int]]:
    """Split intervals (start, end, index) into groups separated by gaps wider than min_gap."""
    groups: list[list[int]] = []
    reach = float("-inf")
    for start, end, index in sorted(intervals):
        if not groups or start - reach > min_gap:
            groups.append([index])
        else:
            groups[-1].append(index)
        reach = max(reach, end)
    return groups


def _rows(boxes: Sequence[Box], indices: list[int]) -> list[list[int]]:
    spans = []
    for i in indices:
        _, y0, _, y1 = boxes[i]
        pad = (y1 - y0) * _SHRINK
        spans.append((y0 + pad, max(y0 + pad, y1 - pad), i))
    return _gaps(spans, 0.0)


def _columns(boxes: Sequence[Box], indices: list[int], min_gap: float) -> list[list[int]]:
    return _gaps([(boxes[i][0], boxes[i][2], i) for i in indices], min_gap)


def group_lines(boxes: Sequence[Box], indices: Sequence[int] | None = None) -> list[list[int]]:
    """Group boxes into visual lines (top to bottom), each line's boxes left to right.

    A box joins the current line when their vertical overlap is at least half the smaller height.
    """
    order = sorted(
        range(len(boxes)) if indices is None else indices,
        key=lambda i: (boxes[i][1] + boxes[i][3]) / 2,
    )
    lines: list[list[int]] = []
    top = bottom = 0.0
    for i in order:
        _, y0, _, y1 = boxes[i]
        if lines:
            overlap = min(bottom, y1) - max(top, y0)
            if overlap >= 0.5 * min(bottom - top, y1 - y0):
                lines[-1].append(i)
                top, bottom = min(top, y0), max(bottom, y1)
                continue
        lines.append([i])
        top, bottom = y0, y1
    return [sorted(line, key=lambda i: boxes[i][0]) for line in lines]


def _looks_like_columns(boxes: Sequence[Box], columns: list[list[int]]) -> bool:
    for column in columns:
        if len(group_lines(boxes, column)) < MIN_COLUMN_LINES:
            return False
        left = min(boxes[i][0] for i in column)
        right = max(boxes[i][2] for i in column)
        widths = [boxes[i][2] - boxes[i][0] for i in column]
        heights = [max(1.0, boxes[i][3] - boxes[i][1]) for i in column]
        if median(widths) < COLUMN_FILL * max(1.0, right - left):
            return False
        if median(widths) < COLUMN_LINE_ASPECT * median(heights):
            return False
    return True


def _bands(boxes: Sequence[Box], rows: list[list[int]], min_gap: float) -> list[list[int]]:
    """Merge consecutive rows into bands that share a vertical gutter (candidate columns)."""
    bands: list[list[int]] = []
    for row in rows:
        if bands and len(_columns(boxes, bands[-1] + row, min_gap)) > 1:
            bands[-1] = bands[-1] + row
        else:
            bands.append(list(row))
    return bands


def _order(boxes: Sequence[Box], indices: list[int], min_gap: float, depth: int) -> list[list[int]]:
    if len(indices) <= 1:
        return [indices] if indices else []
    if depth > 64:
        return group_lines(boxes, indices)
    columns = _columns(boxes, indices, min_gap)
    if len(columns) > 1 and _looks_like_columns(boxes, columns):
        return [line for col in columns for line in _order(boxes, col, min_gap, depth + 1)]
    rows = _rows(boxes, indices)
    if len(rows) == 1:
        return group_lines(boxes, indices)
    bands = _bands(boxes, rows, min_gap)
    parts = bands if len(bands) > 1 else rows
    return [line for part in parts for line in _order(boxes, part, min_gap, depth + 1)]


def reading_order(boxes: Sequence[Box]) -> list[list[int]]:
    """Visual lines in reading order; each is a list of indices into ``boxes``, left to right.

    Every index appears exactly once. Column gutters must be at least half the median line
    height wide, so word gaps inside a line never count as gutters.
    """
    if not boxes:
        return []
    heights = [max(1.0, y1 - y0) for _, y0, _, y1 in boxes]
    min_gap = 0.5 * median(heights)
    return _order(boxes, list(range(len(boxes))), min_gap, 0)
