"""Split a document's text into overlapping chunks for the embedding model.

The document text is the pages' texts joined with a blank line (:func:`document_text`); every
chunk's ``char_start``/``char_end`` index that string (``text[char_start:char_end] == chunk.text``)
and its pages are the pages those offsets fall on. Sizes are in characters (EMBEDDINGS_CHUNK_SIZE
and EMBEDDINGS_CHUNK_OVERLAP, as in the seed service), but no chunk exceeds the model's token limit:
a chunk that tokenizes longer is cut back to an earlier boundary until it fits, because the model
silently truncates longer input and the tail would never be searchable.

Chunks end at the best boundary in the second half of the window, preferring a paragraph break,
then a sentence end, then a line break, then a space; only a single unbroken run of characters is
cut mid-word. The overlap restarts on a word boundary.
"""

from __future__ import annotations

import bisect
import hashlib
import re
from collections.abc import Callable, Sequence

from kairo_ray.models import Chunk, PageResult

PAGE_SEPARATOR = "\n\n"

_BOUNDARIES = (
    re.compile(r"\n\s*\n"),
    re.compile(r"[.!?…;:][\"'”»)\]]*\s"),
    re.compile(r"\n"),
    re.compile(r"\s"),
)


def document_text(pages: Sequence[PageResult]) -> str:
    """The document text: page texts in order, joined with a blank line."""
    return PAGE_SEPARATOR.join(page.text for page in pages)


def content_hash(text: str) -> str:
    """sha256 of the chunk text (hex): the key that lets unchanged chunks keep their vectors."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _page_starts(pages: Sequence[PageResult]) -> list[int]:
    starts, offset = [], 0
    for page in pages:
        starts.append(offset)
        offset += len(page.text) + len(PAGE_SEPARATOR)
    return starts


def _break_at(text: str, start: int, end: int) -> int:
    """The best end offset in (start + half window, end]; ``end`` itself if none is found."""
    if end >= len(text):
        return len(text)
    floor = start + max(1, (end - start) // 2)
    for pattern in _BOUNDARIES:
        best = -1
        for match in pattern.finditer(text, floor, end + 1):
            best = match.end() if pattern is _BOUNDARIES[1] else match.start()
        if best > floor:
            return min(best, end)
    return end


def _word_start(text: str, position: int, limit: int) -> int:
    """Move ``position`` forward to the start of a word (not past ``limit``)."""
    if position <= 0:
        return 0
    while position < limit and not text[position - 1].isspace():
        position += 1
    while position < limit and text[position].isspace():
        position += 1
    return position


def _fit_tokens(
    text: str, start: int, end: int, count_tokens: Callable[[str], int], max_tokens: int
) -> int:
    """Shrink [start, end) to a boundary where the chunk fits ``max_tokens``."""
    while end > start + 1 and count_tokens(text[start:end].strip()) > max_tokens:
        span = end - start
        target = start + max(1, int(span * 0.85))
        candidate = _break_at(text, start, target)
        end = candidate if start < candidate < end else target
    return end


def chunk_pages(
    pages: Sequence[PageResult],
    chunk_size: int,
    overlap: int,
    count_tokens: Callable[[str], int] | None = None,
    max_tokens: int | None = None,
) -> list[Chunk]:
    """Chunks of about ``chunk_size`` characters, ``overlap`` characters shared with the previous
    one, each at most ``max_tokens`` tokens by ``count_tokens`` (the embedding model's tokenizer,
    special tokens included)."""
    if chunk_size <= 0 or not 0 <= overlap < chunk_size:
        raise ValueError(f"need chunk_size > overlap >= 0, got {chunk_size}, {overlap}")
    text = document_text(pages)
    starts = _page_starts(pages)
    chunks: list[Chunk] = []
    start = _word_start(text, 0, len(text))
    while start < len(text):
        end = _break_at(text, start, start + chunk_size)
        if count_tokens is not None and max_tokens is not None:
            end = _fit_tokens(text, start, end, count_tokens, max_tokens)
        piece = text[start:end]
        lead = len(piece) - len(piece.lstrip())
        body = piece.strip()
        if body:
            char_start = start + lead
            char_end = char_start + len(body)
            chunks.append(
                Chunk(
                    index=len(chunks),
                    text=body,
                    page_start=bisect.bisect_right(starts, char_start),
                    page_end=bisect.bisect_right(starts, char_end - 1),
                    char_start=char_start,
                    char_end=char_end,
                    content_hash=content_hash(body),
                )
            )
        if end >= len(text):
            break
        shared = min(overlap, (end - start) // 2)
        following = _word_start(text, max(start + 1, end - shared), end)
        if following >= end:  # no word starts inside the overlap: go on from the cut
            following = end
            while following < len(text) and text[following].isspace():
                following += 1
        start = following
    return chunks
