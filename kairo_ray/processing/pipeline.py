"""The flow of a page and of a document, written once: fetch → render/text layer → OCR → layout →
text → chunk → embed.

Plain functions over small engine interfaces: :class:`PageOcr` reads one rendered page (an OCR
engine, or a :class:`~kairo_ray.processing.layout.PageReader`: OCR then layout),
:class:`DocumentEmbedder` chunks a document's pages and embeds texts. ``kairo-ray ocr`` hands them
local engines (the models in this process); the Ray application hands them remote ones (Serve
handles, ``kairo_ray.app.engines``) and fans pages out as tasks, each calling
:func:`read_page`; the driver and the ad-hoc endpoint finish a document with
:func:`finish_document`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from kairo_ray.models import Chunk, EmbeddedChunk, PageResult
from kairo_ray.processing.chunk import chunk_pages, document_text
from kairo_ray.processing.language import detect_language
from kairo_ray.processing.render import Document, has_ink, open_document
from kairo_ray.settings import Settings

if TYPE_CHECKING:
    from kairo_ray.processing.embed import Embedder


class PageOcr(Protocol):
    """Reads the text of one rendered page (an OCR engine, here or on a replica)."""

    def recognize(self, image: np.ndarray, page_number: int) -> PageResult: ...


class DocumentEmbedder(Protocol):
    """Splits pages into chunks its model can take whole, and embeds texts; ``space`` names
    its model's vector space, stored with every vector."""

    async def space(self) -> str: ...

    async def chunk(self, pages: list[PageResult]) -> list[Chunk]: ...

    async def embed(self, texts: list[str]) -> list[list[float]]: ...


def read_page(
    document: Document, page_number: int, ocr: PageOcr, layout: bool = True
) -> PageResult:
    """One page: its PDF text layer when that passes the quality rule (with ``layout``, its
    blocks from the text's own geometry: no render, no model), nothing for a page without ink,
    otherwise OCR (and layout, in the engine) of the rendered page. ``seconds`` is the whole
    step's time."""
    started = time.perf_counter()
    text = document.text_layer(page_number)
    if text is not None:
        result = PageResult(page_number=page_number, text=text, source="text_layer")
        if layout:
            result = _text_layer_blocks(document, result)
    else:
        image = document.render_page(page_number)
        if has_ink(image):
            result = ocr.recognize(image, page_number)
        else:
            height, width = image.shape[:2]
            result = PageResult(page_number=page_number, text="", width=width, height=height)
    return result.model_copy(update={"seconds": time.perf_counter() - started})


TEXT_KEPT = 0.98
"""The blocks' text replaces a text layer's only when it keeps this share of its characters."""


def _text_layer_blocks(document: Document, page: PageResult) -> PageResult:
    """A born-digital page's blocks from PDFium's text runs and their boxes: tables found from
    the cells' geometry, titles from their size (:func:`~kairo_ray.processing.layout.blocks.
    build_blocks` without a model or an image). PDFium's own text stays when the runs lose
    characters."""
    from kairo_ray.processing.layout.blocks import build_blocks

    lines = document.text_lines(page.page_number)
    if not lines:
        return page
    width = int(max(line.box[2] for line in lines)) + 1
    height = int(max(line.box[3] for line in lines)) + 1
    laid = build_blocks(
        page.model_copy(update={"lines": lines, "width": width, "height": height}), []
    )
    if _chars(laid.text) < TEXT_KEPT * _chars(page.text):
        return page
    return laid


def _chars(text: str) -> int:
    return sum(not ch.isspace() and ch not in "|#-" for ch in text)


@dataclass
class FinishedDocument:
    """What a document's pages become: its text, language and (embedded) chunks."""

    text: str
    language: str | None
    chunks: list[EmbeddedChunk] = field(default_factory=list)
    space: str | None = None
    timings: dict[str, float] = field(default_factory=dict)


async def finish_document(
    pages: list[PageResult],
    embedder: DocumentEmbedder | None,
    known: Mapping[str, Sequence[float]] | None = None,
) -> FinishedDocument:
    """Text and language of the pages; with an ``embedder`` their chunks and vectors, embedding
    only texts whose content hash is not ``known`` (vectors already stored for this document)
    and each new text once."""
    started = time.perf_counter()
    text = document_text(pages)
    finished = FinishedDocument(text=text, language=detect_language(text))
    finished.timings["language"] = time.perf_counter() - started
    if embedder is None:
        return finished
    started = time.perf_counter()
    finished.space = await embedder.space()
    chunks = await embedder.chunk(pages)
    finished.timings["chunk"] = time.perf_counter() - started
    started = time.perf_counter()
    vectors = {key: list(value) for key, value in (known or {}).items()}
    fresh = {c.content_hash: c.text for c in chunks if c.content_hash not in vectors}
    if fresh:
        computed = await embedder.embed(list(fresh.values()))
        vectors.update(zip(fresh, computed, strict=True))
    finished.chunks = [
        EmbeddedChunk(**chunk.model_dump(), embedding=vectors[chunk.content_hash])
        for chunk in chunks
    ]
    finished.timings["embed"] = time.perf_counter() - started
    return finished


class LocalEmbedder:
    """:class:`DocumentEmbedder` over a model loaded in this process."""

    def __init__(self, embedder: Embedder, settings: Settings) -> None:
        self._embedder = embedder
        self._settings = settings

    async def space(self) -> str:
        return self._embedder.space

    async def chunk(self, pages: list[PageResult]) -> list[Chunk]:
        return chunk_pages(
            pages,
            self._settings.embeddings_chunk_size,
            self._settings.embeddings_chunk_overlap,
            self._embedder.count_tokens,
            self._embedder.max_tokens,
        )

    async def embed(self, texts: list[str]) -> list[list[float]]:
        return [vector.tolist() for vector in self._embedder.encode(texts)]


@dataclass
class ProcessedDocument:
    """Everything the stages produced for one file, with per-stage timings in seconds."""

    source: str
    kind: str
    pages: list[PageResult]
    text: str
    language: str | None
    chunks: list[Chunk] | list[EmbeddedChunk] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)


def process_document(
    source: bytes | str | Path,
    settings: Settings,
    engine: PageOcr,
    embedder: Embedder | None = None,
    name: str | None = None,
) -> ProcessedDocument:
    """Every stage on one document in this process (``kairo-ray ocr``, the benchmarks' engine
    alone); bad input raises PermanentError."""
    timings: dict[str, float] = {}
    started = time.perf_counter()
    with open_document(source, settings) as document:
        timings["open"] = time.perf_counter() - started
        started = time.perf_counter()
        layout = settings.layout_engine != "none"
        pages = [read_page(document, n, engine, layout) for n in range(1, document.page_count + 1)]
        timings["pages"] = time.perf_counter() - started
        kind = document.kind
    local = LocalEmbedder(embedder, settings) if embedder is not None else None
    finished = asyncio.run(finish_document(pages, local))
    timings.update(finished.timings)
    label = name if name is not None else (str(source) if not isinstance(source, bytes) else "")
    return ProcessedDocument(
        label, kind, pages, finished.text, finished.language, finished.chunks, timings
    )
