"""Rows and columns of a table from its OCR line boxes: pure geometry, no model.

Invoices print their item tables borderless or ruled, but in both the cells are separate OCR line
boxes set in columns. So:

1. **Columns** are the gutters of the boxes' horizontal coverage: the x-ranges that no box (or,
   in a long table, only a few boxes spanning columns) covers, at least half a line high wide.
   A box goes to the column its centre falls in.
2. **Rows** are the visual lines (boxes overlapping vertically). A line that fills a strict
   subset of the row's columns, none of them a numeric column (amounts, quantities), and
   follows the cell above it within a line height is the continuation of multi-line cells (a
   wrapped description, a two-line header) and joins the row. Gaps alone cannot tell: on a
   skewed scan a wrapped line and the next row follow their cells equally closely, while a new
   item or a totals line always carries an amount.

The first row is the header row as printed.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from itertools import pairwise
from statistics import median

import numpy as np

from kairo_ray.models import OcrLine
from kairo_ray.processing.reading_order import group_lines

SPANNING_SHARE = 4
"""In a table of n visual lines, up to n // this boxes may cross a gutter (a spanning title or
note row, two cells the recogniser read as one word) without closing it. Within one column the
coverage of left-, right-aligned or centred cells rises or falls monotonically towards its
edges, so a tolerated crossing widens a real gutter but opens no false one."""

CONTINUATION_GAP = 1.0
"""A continuation line follows the cell above it within this many median box heights."""

NUMERIC_SHARE = 0.6
"""A column is numeric when this share of its cells are numbers (digits and their marks)."""

_NUMBER_MARKS = set("0123456789.,;:%€$£-+/()ºª")


def _is_numeric(text: str) -> bool:
    """Mostly digits and the marks around them: "1.785,78 €", "21 %", "38 m²", "6"."""
    chars = [c for c in text if not c.isspace()]
    if not chars:
        return False
    return sum(c in _NUMBER_MARKS for c in chars) >= 0.6 * len(chars) and any(
        c.isdigit() for c in chars
    )


def _numeric_columns(lines: Sequence[OcrLine], columns_of: list[int], columns: int) -> set[int]:
    counts = [[0, 0] for _ in range(columns)]
    for line, column in zip(lines, columns_of, strict=True):
        counts[column][0] += _is_numeric(line.text)
        counts[column][1] += 1
    return {c for c, (hits, total) in enumerate(counts) if total and hits >= NUMERIC_SHARE * total}


def column_separators(
    boxes: Sequence[tuple[float, float, float, float]], rows: int | None = None
) -> list[float]:
    """x positions between columns: the centres of the gutters in the boxes' coverage
    (``rows``: the table's visual lines, counted when not given)."""
    if not boxes:
        return []
    if rows is None:
        rows = len(group_lines(boxes))
    left = min(b[0] for b in boxes)
    right = max(b[2] for b in boxes)
    width = int(right - left) + 2
    cover = np.zeros(width, dtype=np.int32)
    for x0, _, x1, _ in boxes:
        cover[int(x0 - left) : int(x1 - left) + 1] += 1
    tolerance = rows // SPANNING_SHARE if rows >= SPANNING_SHARE else 0
    min_gap = 0.5 * median(max(1.0, b[3] - b[1]) for b in boxes)
    free = cover <= tolerance
    separators: list[float] = []
    start = None
    for x in range(width):
        if free[x] and start is None:
            start = x
        elif not free[x] and start is not None:
            if start > 0 and x - start >= min_gap:
                separators.append(left + (start + x) / 2)
            start = None
    return separators


WORD_GAP = 0.5
"""A line whose words stand this many line heights apart holds two cells (the detector drew one
box across a narrow gutter: "£0.11 £682.00")."""


def cell_units(lines: Sequence[OcrLine]) -> list[OcrLine]:
    """The lines, each split where its words stand a gutter apart and narrowed to its words
    (lines without word boxes stay as they are)."""
    units: list[OcrLine] = []
    for line in lines:
        words = line.words or []
        height = line.box[3] - line.box[1]
        if len(words) < 2:
            units.append(line)
            continue
        groups = [[words[0]]]
        for word in words[1:]:
            if word.box[0] - groups[-1][-1].box[2] >= WORD_GAP * height:
                groups.append([word])
            else:
                groups[-1].append(word)
        for group in groups:  # word bounds: tighter than the detector's padded line box
            x0, x1 = group[0].box[0], group[-1].box[2]
            text = " ".join(word.text for word in group)
            units.append(
                OcrLine(
                    text=text, box=(x0, line.box[1], x1, line.box[3]), confidence=line.confidence
                )
            )
    return units


def table_rows(lines: Sequence[OcrLine]) -> list[list[str]]:
    """The table's cells, row by row, every row as wide as the table (empty cells are "")."""
    lines = cell_units(lines)
    if not lines:
        return []
    boxes = [line.box for line in lines]
    visual = group_lines(boxes)
    separators = column_separators(boxes, len(visual))
    columns = len(separators) + 1

    def column(i: int) -> int:
        return bisect.bisect_right(separators, (boxes[i][0] + boxes[i][2]) / 2)

    numeric = _numeric_columns(lines, [column(i) for i in range(len(lines))], columns)
    height = median(max(1.0, b[3] - b[1]) for b in boxes)
    centred = _centred_rows(visual, boxes, [{column(i) for i in line} for line in visual], numeric)
    if centred is not None:
        rows = [[[i for i in part if column(i) == c] for c in range(columns)] for part in centred]
        return [[_cell_text(lines, boxes, cell) for cell in row] for row in rows if any(row)]
    rows: list[list[list[int]]] = []
    filled: set[int] = set()
    bottom: dict[int, float] = {}
    for line in visual:
        occupied = {column(i) for i in line}
        gap = max((boxes[i][1] - bottom.get(column(i), boxes[i][1]) for i in line), default=0.0)
        joins = (
            rows
            and occupied < filled
            and not occupied & numeric
            and gap < CONTINUATION_GAP * height
        )
        if not joins:
            rows.append([[] for _ in range(columns)])
            filled = set()
        filled |= occupied
        for i in line:
            rows[-1][column(i)].append(i)
            bottom[column(i)] = boxes[i][3]
    return [[_cell_text(lines, boxes, cell) for cell in row] for row in rows if any(row)]


def _centred_rows(
    visual: list[list[int]],
    boxes: Sequence[tuple[float, float, float, float]],
    occupied: list[set[int]],
    numeric: set[int],
) -> list[list[int]] | None:
    """Rows of a table whose amounts sit at the middle of their rows (a word processor's
    vertically centred cells): the wrapped text of a row is then above its amounts as well as
    below. Told by a text-only line between the header and the first line with an amount; each
    text-only line then goes to the row of the nearer amount line. None for other tables."""
    anchors = [k for k in range(1, len(visual)) if occupied[k] & numeric]
    if not anchors or anchors[0] == 1:
        return None
    if any(occupied[k] & numeric for k in range(1, anchors[0])):
        return None

    def centre(k: int) -> float:
        return (min(boxes[i][1] for i in visual[k]) + max(boxes[i][3] for i in visual[k])) / 2

    rows: dict[int, list[int]] = {0: list(visual[0])}
    for k in range(1, len(visual)):
        if k in anchors:
            owner = k
        else:
            before = max((a for a in anchors if a < k), default=None)
            after = min((a for a in anchors if a > k), default=None)
            candidates = [a for a in (before, after) if a is not None]
            owner = min(candidates, key=lambda a: abs(centre(a) - centre(k)))
        rows.setdefault(owner, []).extend(visual[k])
    return [rows[k] for k in sorted(rows)]


def _cell_text(
    lines: Sequence[OcrLine], boxes: Sequence[tuple[float, float, float, float]], cell: list[int]
) -> str:
    return " ".join(lines[i].text for visual in group_lines(boxes, cell) for i in visual)


def markdown_table(rows: Sequence[Sequence[str]]) -> str:
    """The rows as a Markdown table, the first row as its header row."""

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"

    if not rows:
        return ""
    head, *body = rows
    return "\n".join([line(head), line(["---"] * len(head)), *(line(row) for row in body)])


MIN_TABLE_COLUMNS = 3
"""A table found from the geometry alone has this many columns at least: two side-by-side
blocks (a sender beside the invoice's number and date) must not read as a table."""

MAX_ROW_GAP = 4.0
"""Rows of one table follow each other within this many line heights (wrapped cells between)."""


def find_tables(lines: Sequence[OcrLine]) -> list[tuple[float, float, float, float]]:
    """Boxes of the tables on a page, found from its line boxes: runs of visual lines of two or
    more cells that share column gutters (three or more columns across the run), two of those
    lines with three cells or more (a header and a row: a sparse column leaves some rows with
    two).

    A layout model trained on other documents misses many invoice tables (it calls a ruled
    table a figure, a borderless one text); the cells' geometry does not."""
    units = cell_units(lines)
    if not units:
        return []
    boxes = [u.box for u in units]
    height = median(max(1.0, b[3] - b[1]) for b in boxes)
    visual = group_lines(boxes)

    def cells(line: list[int]) -> int:
        """Cells of a visual line: its units, those that nearly touch counted as one."""
        return 1 + sum(boxes[b][0] - boxes[a][2] >= WORD_GAP * height for a, b in pairwise(line))

    runs: list[list[int]] = []
    for k, line in enumerate(visual):
        if cells(line) < (2 if runs else MIN_TABLE_COLUMNS):
            continue
        top = min(boxes[i][1] for i in line)
        if runs:
            bottom = max(boxes[i][3] for i in visual[runs[-1][-1]])
            if top - bottom <= MAX_ROW_GAP * height and _same_columns(boxes, visual, runs[-1], k):
                runs[-1].append(k)
                continue
        if cells(line) >= MIN_TABLE_COLUMNS:  # a table starts with a full row (its header)
            runs.append([k])
    runs = [run for run in runs if sum(cells(visual[k]) >= MIN_TABLE_COLUMNS for k in run) >= 2]
    found = []
    for run in runs:
        if len(run) < 2:
            continue
        members = [i for k in range(run[0], run[-1] + 1) for i in visual[k]]
        found.append(
            (
                min(boxes[i][0] for i in members),
                min(boxes[i][1] for i in members),
                max(boxes[i][2] for i in members),
                max(boxes[i][3] for i in members),
            )
        )
    return found


def _same_columns(
    boxes: Sequence[tuple[float, float, float, float]],
    visual: list[list[int]],
    run: list[int],
    k: int,
) -> bool:
    """Whether line ``k`` keeps the run's gutters (three columns or more across them all)."""
    members = [boxes[i] for j in (*run, k) for i in visual[j]]
    return len(column_separators(members, len(run) + 1)) + 1 >= MIN_TABLE_COLUMNS
