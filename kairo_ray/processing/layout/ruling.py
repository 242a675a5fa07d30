"""Ruled tables: the grid lines printed on the page, found with OpenCV's morphology.

A ruled table says where its columns and rows are; reading that from the lines beats guessing
from the text, which on a ruled invoice sits close to the rules and often reads as one OCR box
across two cells. Lines are found by opening the ink mask with long thin kernels (a horizontal
and a vertical one), so text, which has no long straight strokes, drops out. A scan's skew makes
a long rule a slanted staircase, so each rule is fitted as a straight line, and a word's row and
column are read against the rule at the word's own position.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from kairo_ray.models import OcrLine

INK_CONTRAST = 60
"""Ink is this much darker than the paper (as in :func:`~kairo_ray.processing.render.has_ink`);
a light grey header fill is not ink."""

MIN_RULE = 0.06
"""A rule is at least this share of the page's width (horizontal) or of its height (vertical)
... """
MIN_VERTICAL = 0.04
"""... or, vertical, this share of the page's height (one table row of a short grid)."""

TOUCH = 12.0
"""A horizontal and a vertical rule within this many pixels of each other meet."""


@dataclass(frozen=True)
class Rule:
    """A straight rule: horizontal ``y = a + b·x`` over x in [start, end], or vertical
    ``x = a + b·y`` over y in [start, end]."""

    vertical: bool
    start: float
    end: float
    a: float
    b: float

    def at(self, t: float) -> float:
        return self.a + self.b * t


@dataclass
class Grid:
    """The rules of one ruled table and the box they span."""

    horizontals: list[Rule] = field(default_factory=list)
    verticals: list[Rule] = field(default_factory=list)

    @property
    def box(self) -> tuple[float, float, float, float]:
        xs = [v.at(v.start) for v in self.verticals] + [v.at(v.end) for v in self.verticals]
        ys = [h.at(h.start) for h in self.horizontals] + [h.at(h.end) for h in self.horizontals]
        xs += [h.start for h in self.horizontals] + [h.end for h in self.horizontals]
        ys += [v.start for v in self.verticals] + [v.end for v in self.verticals]
        return (min(xs), min(ys), max(xs), max(ys))


def _rules(mask: np.ndarray, vertical: bool, minimum: float) -> list[Rule]:
    import cv2

    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    rules = []
    for k in range(1, count):
        x, y, w, h, _ = stats[k]
        if (h if vertical else w) < minimum:
            continue
        ys, xs = np.nonzero(labels[y : y + h, x : x + w] == k)
        along, across = (ys + y, xs + x) if vertical else (xs + x, ys + y)
        b, a = np.polyfit(along.astype(np.float64), across.astype(np.float64), 1)
        rules.append(Rule(vertical, float(along.min()), float(along.max()), float(a), float(b)))
    return rules


def find_grids(image: np.ndarray) -> list[Grid]:
    """The ruled tables of a page: sets of at least two horizontal and two vertical rules that
    meet each other."""
    import cv2

    gray = image[:, :, 1] if image.ndim == 3 else image
    height, width = gray.shape
    paper = float(np.percentile(gray[::4, ::4], 90))
    ink = (gray < paper - INK_CONTRAST).astype(np.uint8) * 255
    unit = max(20, width // 30)
    horizontal = cv2.morphologyEx(
        ink, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (unit, 1))
    )
    vertical = cv2.morphologyEx(
        ink, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (1, max(15, unit * 2 // 3)))
    )
    kernel = np.ones((3, 3), np.uint8)
    rows = _rules(cv2.dilate(horizontal, kernel), False, MIN_RULE * width)
    columns = _rules(cv2.dilate(vertical, kernel), True, MIN_VERTICAL * height)
    return _grids(rows, columns)


def _meet(h: Rule, v: Rule) -> bool:
    x = v.at(h.at((h.start + h.end) / 2))
    y = h.at(x)
    return h.start - TOUCH <= x <= h.end + TOUCH and v.start - TOUCH <= y <= v.end + TOUCH


def _grids(rows: list[Rule], columns: list[Rule]) -> list[Grid]:
    rules = rows + columns
    parent = list(range(len(rules)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, h in enumerate(rows):
        for j, v in enumerate(columns, start=len(rows)):
            if _meet(h, v):
                parent[root(i)] = root(j)
    groups: dict[int, Grid] = {}
    for i, rule in enumerate(rules):
        grid = groups.setdefault(root(i), Grid())
        (grid.verticals if rule.vertical else grid.horizontals).append(rule)
    return [g for g in groups.values() if len(g.horizontals) >= 2 and len(g.verticals) >= 2]


def grid_rows(lines: Sequence[OcrLine], grid: Grid) -> list[list[str]]:
    """The cells of a ruled table: each word goes to the row and column the rules put its
    centre in (lines without word boxes go whole, by their centre). Rows and columns that hold
    no text (the space outside the outer border) are dropped."""
    verticals = sorted(grid.verticals, key=lambda v: v.at((v.start + v.end) / 2))
    horizontals = sorted(grid.horizontals, key=lambda h: h.at((h.start + h.end) / 2))
    cells: dict[tuple[int, int], list[tuple[float, float, float, str]]] = {}
    for line in lines:
        pieces = [(w.text, w.box) for w in line.words] if line.words else [(line.text, line.box)]
        for text, (x0, y0, x1, y1) in pieces:
            cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
            column = sum(v.at(cy) < cx for v in verticals)
            row = sum(h.at(cx) < cy for h in horizontals)
            cells.setdefault((row, column), []).append((cy, cx, y1 - y0, text))
    if not cells:
        return []
    row_ids = sorted({r for r, _ in cells})
    column_ids = sorted({c for _, c in cells})
    return [[_cell(cells.get((r, c), [])) for c in column_ids] for r in row_ids]


def _cell(words: list[tuple[float, float, float, str]]) -> str:
    """A cell's words in reading order: lines top to bottom (words of one line have their
    centres within half a word's height), each left to right."""
    if not words:
        return ""
    words = sorted(words)
    lines: list[list[tuple[float, float, float, str]]] = [[words[0]]]
    for word in words[1:]:
        if word[0] - lines[-1][0][0] > word[2] / 2:
            lines.append([word])
        else:
            lines[-1].append(word)
    return " ".join(w[3] for line in lines for w in sorted(line, key=lambda w: w[1]))
