"""Data passed between the stages: one vocabulary for queue, processing, store and API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, Field

PRIORITY_MIN, PRIORITY_DEFAULT, PRIORITY_MAX = 1, 5, 10
"""A job's priority, as the seed's queue defines it: 1-10, higher first."""

Priority = Annotated[int, Field(ge=PRIORITY_MIN, le=PRIORITY_MAX)]


def check_priority(priority: int) -> int:
    """``priority`` if it is one (1-10), else ValueError; the one place the rule is written."""
    if not PRIORITY_MIN <= priority <= PRIORITY_MAX:
        raise ValueError(
            f"priority must be between {PRIORITY_MIN} and {PRIORITY_MAX}, got {priority}"
        )
    return priority


class Job(BaseModel):
    """A claimed row of ``ocr_queue``; ``claim_token`` fences every later write of this claim."""

    queue_id: UUID
    document_id: UUID
    file_url: str
    file_type: str | None = None
    priority: int = 5
    attempts: int = 1
    claim_token: UUID
    locked_until: datetime | None = None


class OcrWord(BaseModel):
    text: str
    box: tuple[float, float, float, float]


class OcrLine(BaseModel):
    """One recognised text line; ``box`` is [x0, y0, x1, y1] in page pixels at render DPI.

    ``words`` (from engines that give word boxes) lets the layout stage split a line that the
    detector drew across two table cells; it is not stored or returned."""

    text: str
    box: tuple[float, float, float, float]
    confidence: float = Field(ge=0.0, le=1.0)
    words: list[OcrWord] | None = Field(default=None, exclude=True, repr=False)


BlockType = Literal[
    "title", "text", "list", "table", "figure", "caption", "header", "footer", "equation"
]
"""What a block of a page is. ``header``/``footer`` are running heads and feet (page numbers
included): kept in the page text, left out of the chunks."""


class Block(BaseModel):
    """One region of a page as the layout stage found it, in reading order (``order``, from 0).

    ``text`` is the block's lines in reading order; a table's is its Markdown rows, and ``rows``
    holds its cells, the first row being the header row as printed.
    """

    type: BlockType
    box: tuple[float, float, float, float]
    text: str
    order: int = Field(ge=0)
    rows: list[list[str]] | None = Field(default=None, exclude_if=lambda rows: rows is None)
    lines: list[int] | None = Field(default=None, exclude=True, repr=False)
    """The page's OCR lines the block holds, in its reading order (for evaluation; not stored
    or returned)."""


class PageResult(BaseModel):
    """The text of one page (1-based ``page_number``) and how it was obtained.

    ``blocks`` is empty when no layout stage ran (LAYOUT_ENGINE=none, a text-layer page, a blank
    page); otherwise ``text`` is the blocks' texts in reading order, separated by blank lines."""

    page_number: int = Field(ge=1)
    text: str
    lines: list[OcrLine] = Field(default_factory=list)
    mean_confidence: float | None = None
    source: Literal["ocr", "text_layer"] = "ocr"
    rotation: int = 0
    width: int = 0
    height: int = 0
    seconds: float = 0.0
    skew: float = Field(
        default=0.0,
        description="The text's slant in degrees (clockwise positive), from the line boxes' "
        "own angles; boxes stay in the image's frame.",
    )
    blocks: list[Block] = Field(default_factory=list)


class Chunk(BaseModel):
    """A piece of document text small enough for the embedding model, with where it came from."""

    index: int = Field(ge=0)
    text: str
    page_start: int = Field(ge=1)
    page_end: int = Field(ge=1)
    char_start: int = Field(ge=0)
    char_end: int = Field(ge=0)
    content_hash: str


class EmbeddedChunk(Chunk):
    embedding: list[float]


class DocumentResult(BaseModel):
    """Everything one job writes back, replaced atomically on completion."""

    document_id: UUID
    text: str
    language: str | None
    pages: list[PageResult]
    chunks: list[EmbeddedChunk]
    embedding_space: str | None = None


class QueueStats(BaseModel):
    queued: int
    processing: int
    completed_today: int
    failed: int
    cancelled: int = 0
    oldest_queued_age_seconds: float | None = None


SearchMode = Literal["hybrid", "vector", "text"]


class ChunkHit(BaseModel):
    """One matching chunk of a found document."""

    chunk_index: int
    chunk_text: str
    page_start: int | None
    page_end: int | None
    score: float = Field(description="Cosine similarity of the chunk to the query.")


class SearchHit(BaseModel):
    """A found document: its best chunk's fields at the top, up to three chunks in ``chunks``."""

    document_id: UUID
    file_url: str
    page_start: int | None
    page_end: int | None
    chunk_index: int
    chunk_text: str
    score: float = Field(description="Cosine similarity of the best chunk to the query.")
    rank_score: float = Field(
        default=0.0, description="What the documents are ordered by: the fused ranks."
    )
    pages: list[int] = Field(default_factory=list)
    chunks: list[ChunkHit] = Field(default_factory=list)
