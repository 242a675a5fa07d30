"""The layout stage's geometry in the frame of the text, not of the scan.

A sheet scanned 1.5° askew makes every axis-aligned line box taller by its width × tan 1.5°: a
900-pixel description line gains 24 pixels, enough for the two lines of a wrapped cell, or a
table's header and its first row, to overlap and read as one. The OCR engine reports the text's
slant (``PageResult.skew``, from its line quadrilaterals); the layout stage turns every box into
the frame where the text is level, works there, and turns the blocks' boxes back.
"""

from __future__ import annotations

import math

import numpy as np

from kairo_ray.models import OcrLine, OcrWord
from kairo_ray.processing.layout.base import Region
from kairo_ray.processing.layout.ruling import Grid, Rule

Box = tuple[float, float, float, float]

MIN_SKEW = 0.1
"""Slants below this many degrees are left alone."""


class Deskew:
    """Turns boxes by ``-angle`` degrees around the page centre, and back."""

    def __init__(self, angle: float, width: int, height: int) -> None:
        self.angle = angle
        self.cx, self.cy = width / 2, height / 2
        theta = math.radians(angle)
        self.cos, self.sin, self.tan = math.cos(theta), math.sin(theta), abs(math.tan(theta))

    def point(self, x: float, y: float, back: bool = False) -> tuple[float, float]:
        sin = -self.sin if back else self.sin
        dx, dy = x - self.cx, y - self.cy
        return self.cx + dx * self.cos + dy * sin, self.cy - dx * sin + dy * self.cos

    def box(self, box: Box) -> Box:
        """A slanted text box (axis-aligned in the scan) as the level box of its text."""
        x0, y0, x1, y1 = box
        width, height = x1 - x0, y1 - y0
        level = max(height - width * self.tan, 0.3 * height)
        cx, cy = self.point((x0 + x1) / 2, (y0 + y1) / 2)
        return (cx - width / 2, cy - level / 2, cx + width / 2, cy + level / 2)

    def region(self, box: Box) -> Box:
        """A region's box (a model's or a grid's) moved with its centre, its size kept."""
        x0, y0, x1, y1 = box
        cx, cy = self.point((x0 + x1) / 2, (y0 + y1) / 2)
        return (cx - (x1 - x0) / 2, cy - (y1 - y0) / 2, cx + (x1 - x0) / 2, cy + (y1 - y0) / 2)

    def back(self, box: Box) -> Box:
        """A box of the level frame as the scan's axis-aligned box around it."""
        x0, y0, x1, y1 = box
        corners = [self.point(x, y, back=True) for x, y in ((x0, y0), (x1, y0), (x1, y1), (x0, y1))]
        xs, ys = [c[0] for c in corners], [c[1] for c in corners]
        return (min(xs), min(ys), max(xs), max(ys))

    def line(self, line: OcrLine) -> OcrLine:
        words = None
        if line.words is not None:
            words = [OcrWord(text=w.text, box=self.box(w.box)) for w in line.words]
        return line.model_copy(update={"box": self.box(line.box), "words": words})

    def rule(self, rule: Rule) -> Rule:
        ends = [(t, rule.at(t)) for t in (rule.start, rule.end)]
        points = [self.point(*((a, t) if rule.vertical else (t, a))) for t, a in ends]
        if rule.vertical:
            (x0, y0), (x1, y1) = points
            along, across = (y0, y1), (x0, x1)
        else:
            (x0, y0), (x1, y1) = points
            along, across = (x0, x1), (y0, y1)
        b, a = np.polyfit(np.asarray(along), np.asarray(across), 1)
        return Rule(rule.vertical, min(along), max(along), float(a), float(b))

    def grid(self, grid: Grid) -> Grid:
        return Grid(
            [self.rule(h) for h in grid.horizontals], [self.rule(v) for v in grid.verticals]
        )

    def regions(self, regions: list[Region]) -> list[Region]:
        return [Region(r.type, self.region(r.box), r.score) for r in regions]
