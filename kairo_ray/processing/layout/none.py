"""The ``none`` layout engine: no regions, no blocks; the page keeps the OCR engine's text in its
geometric reading order, as before the layout stage existed."""

from __future__ import annotations

import numpy as np

from kairo_ray.models import PageResult
from kairo_ray.processing.layout.base import LayoutEngine, Region


class NoLayout(LayoutEngine):
    name = "none"

    def detect(self, image: np.ndarray) -> list[Region]:
        return []

    def analyze(self, page: PageResult, image: np.ndarray) -> PageResult:
        return page
