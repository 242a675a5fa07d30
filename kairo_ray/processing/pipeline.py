"""All stages in one process: file → render → OCR per page → language → chunk → embed.

Used by ``kairo-ray ocr`` and as the engine-alone baseline the Ray application is measured
against. The Ray application runs the same functions (:func:`process_page` per page task,
:func:`finish_document` after the pages) spread over workers.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from kairo_ray.models import Chunk, EmbeddedChunk, PageResult
from kairo_ray.processing.chunk import chunk_pages, document_text
from kairo_ray.processing.embed import Embedder, embed_chunks
from kairo_ray.processing.language import detect_language
from kairo_ray.processing.ocr import OcrEngine
from kairo_ray.processing.render import Document, open_document
from kairo_ray.settings import Settings


def process_page(document: Document, page_number: int, engine: OcrEngine) -> PageResult:
    """One page: its PDF text layer when that passes the quality rule, otherwise OCR."""
    started = time.perf_counter()
    text = document.text_layer(page_number)
    if text is not None:
        return PageResult(
            page_number=page_number,
            text=text,
            source="text_layer",
            seconds=time.perf_counter() - started,
        )
    image = document.render_page(page_number)
    result = engine.recognize(image, page_number)
    return result.model_copy(update={"seconds": time.perf_counter() - started})


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


def finish_document(
    pages: list[PageResult], settings: Settings, embedder: Embedder | None
) -> tuple[str | None, list[Chunk] | list[EmbeddedChunk], dict[str, float]]:
    """Language, chunks and (with an embedder) their vectors for a document's pages."""
    timings: dict[str, float] = {}
    started = time.perf_counter()
    text = document_text(pages)
    language = detect_language(text)
    timings["language"] = time.perf_counter() - started
    if embedder is None:
        return language, [], timings
    started = time.perf_counter()
    chunks = chunk_pages(
        pages,
        settings.embeddings_chunk_size,
        settings.embeddings_chunk_overlap,
        embedder.count_tokens,
        embedder.max_tokens,
    )
    timings["chunk"] = time.perf_counter() - started
    started = time.perf_counter()
    embedded = embed_chunks(embedder, chunks)
    timings["embed"] = time.perf_counter() - started
    return language, embedded, timings


def process_document(
    source: bytes | str | Path,
    settings: Settings,
    engine: OcrEngine,
    embedder: Embedder | None = None,
    name: str | None = None,
) -> ProcessedDocument:
    """Run every stage on one document in this process; bad input raises PermanentError."""
    timings: dict[str, float] = {}
    started = time.perf_counter()
    with open_document(source, settings) as document:
        timings["open"] = time.perf_counter() - started
        started = time.perf_counter()
        pages = [process_page(document, n, engine) for n in range(1, document.page_count + 1)]
        timings["pages"] = time.perf_counter() - started
        kind = document.kind
    language, chunks, more = finish_document(pages, settings, embedder)
    timings.update(more)
    label = name if name is not None else (str(source) if not isinstance(source, bytes) else "")
    return ProcessedDocument(label, kind, pages, document_text(pages), language, chunks, timings)
