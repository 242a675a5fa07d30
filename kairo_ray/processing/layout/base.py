"""The layout engine interface and its options.

A layout engine finds the regions of a page image (:meth:`LayoutEngine.detect`): titles,
paragraphs, tables, running heads and feet, figures. :meth:`LayoutEngine.analyze` then turns an
OCR'd page into blocks with :func:`kairo_ray.processing.layout.blocks.build_blocks`, which is pure
geometry and engine-independent: which OCR line belongs to which region, the rows and columns of
a table, the reading order of the blocks and the page text they make.

Options follow the OCR engines' shape: :class:`LayoutOptions` holds what every engine reads, an
engine's own class adds its fields and fixes ``kind``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar, Self

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from kairo_ray.models import BlockType, PageResult
from kairo_ray.settings import Settings


class LayoutOptions(BaseModel):
    """Options of any layout engine."""

    model_config = ConfigDict(extra="ignore")

    kind: str = ""
    cpu_threads: int = Field(default=1, ge=1)
    min_confidence: float = Field(
        default=0.5, ge=0, le=1, description="Regions detected with less are ignored."
    )

    @classmethod
    def from_settings(cls, settings: Settings, threads: int | None = None) -> LayoutOptions:
        return cls(
            kind=settings.layout_engine,
            cpu_threads=threads or settings.worker_threads,
            min_confidence=settings.layout_min_confidence,
        )

    @classmethod
    def of(cls, options: LayoutOptions) -> Self:
        """``options`` in this class (the fields it has; the others are dropped)."""
        if isinstance(options, cls):
            return options
        values: dict[str, Any] = options.model_dump(exclude={"kind"})
        return cls(**{k: v for k, v in values.items() if k in cls.model_fields})


@dataclass(frozen=True)
class Region:
    """A region an engine found: its block type, box in page pixels and confidence."""

    type: BlockType
    box: tuple[float, float, float, float]
    score: float


class LayoutEngine(ABC):
    """Finds the regions of a page image (H×W×3 RGB uint8)."""

    name: str
    options_class: ClassVar[type[LayoutOptions]] = LayoutOptions

    def __init__(self, options: LayoutOptions) -> None:
        self.options = self.options_class.of(options)

    @abstractmethod
    def detect(self, image: np.ndarray) -> list[Region]:
        """The regions of an upright page."""

    def analyze(self, page: PageResult, image: np.ndarray) -> PageResult:
        """``page`` with its blocks and the text they make; ``image`` is the page as it was read
        (turned upright by ``page.rotation``)."""
        from kairo_ray.processing.layout.blocks import build_blocks

        if not page.lines:
            return page
        return build_blocks(page, self.detect(image), image)

    def close(self) -> None:  # noqa: B027 - engines without native resources need nothing
        """Release the engine's resources."""
