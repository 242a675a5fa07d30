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
from dataclasses import dataclass

from kairo_ray.models import Block, Chunk, PageResult

PAGE_SEPARATOR = "\n\n"
BLOCK_SEPARATOR = "\n\n"
"""Between two blocks in a page's text (see :func:`block_markup`)."""

_BOUNDARIES = (
    re.compile(r"\n\s*\n"),
    re.compile(r"[.!?…;:][\"'”»)\]]*\s"),
    re.compile(r"\n"),
    re.compile(r"\s"),
)


def document_text(pages: Sequence[PageResult]) -> str:
    """The document text: page texts in order, joined with a blank line."""
    return PAGE_SEPARATOR.join(page.text for page in pages)


def block_markup(block: Block) -> str:
    """How a block reads in the page text: a title as a Markdown heading, the others as they
    are (a table's text is already its Markdown rows)."""
    if block.type == "title":
        return "# " + block.text.replace("\n", " ")
    return block.text


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


def _windows(
    text: str,
    begin: int,
    stop: int,
    chunk_size: int,
    overlap: int,
    count_tokens: Callable[[str], int] | None,
    max_tokens: int | None,
) -> list[tuple[int, int]]:
    """Overlapping windows of ``text[begin:stop]`` as stripped (start, end) spans."""
    spans: list[tuple[int, int]] = []
    start = _word_start(text, begin, stop)
    while start < stop:
        end = _break_at(text[:stop], start, start + chunk_size)
        if count_tokens is not None and max_tokens is not None:
            end = _fit_tokens(text[:stop], start, end, count_tokens, max_tokens)
        piece = text[start:end]
        lead = len(piece) - len(piece.lstrip())
        body = piece.strip()
        if body:
            spans.append((start + lead, start + lead + len(body)))
        if end >= stop:
            break
        shared = min(overlap, (end - start) // 2)
        following = _word_start(text, max(start + 1, end - shared), end)
        if following >= end:  # no word starts inside the overlap: go on from the cut
            following = end
            while following < stop and text[following].isspace():
                following += 1
        start = following
    return spans


def _chunk(starts: list[int], index: int, body: str, first: int, last: int) -> Chunk:
    return Chunk(
        index=index,
        text=body,
        page_start=bisect.bisect_right(starts, first),
        page_end=bisect.bisect_right(starts, last - 1),
        char_start=first,
        char_end=last,
        content_hash=content_hash(body),
    )


def chunk_pages(
    pages: Sequence[PageResult],
    chunk_size: int,
    overlap: int,
    count_tokens: Callable[[str], int] | None = None,
    max_tokens: int | None = None,
) -> list[Chunk]:
    """Chunks of about ``chunk_size`` characters, ``overlap`` characters shared with the previous
    one, each at most ``max_tokens`` tokens by ``count_tokens`` (the embedding model's tokenizer,
    special tokens included). Pages with layout blocks are chunked on their structure
    (:func:`_structured_chunks`)."""
    if chunk_size <= 0 or not 0 <= overlap < chunk_size:
        raise ValueError(f"need chunk_size > overlap >= 0, got {chunk_size}, {overlap}")
    text = document_text(pages)
    starts = _page_starts(pages)
    if any(page.blocks for page in pages):
        limits = _Limits(chunk_size, overlap, count_tokens, max_tokens)
        return _structured_chunks(pages, text, starts, limits)
    spans = _windows(text, 0, len(text), chunk_size, overlap, count_tokens, max_tokens)
    return [_chunk(starts, n, text[a:b], a, b) for n, (a, b) in enumerate(spans)]


@dataclass(frozen=True)
class _Limits:
    """A chunk's size, its overlap and its token limit (by ``count_tokens``)."""

    chunk_size: int
    overlap: int
    count_tokens: Callable[[str], int] | None
    max_tokens: int | None


@dataclass
class _Piece:
    """A unit the structured chunker never splits: a title, a window of a paragraph, a table's
    header (its first row and the Markdown rule) or one of its rows."""

    start: int
    end: int
    kind: str
    table: int | None = None
    head: str | None = None  # for a table row: the table's header, repeated in later chunks


def _pieces(
    pages: Sequence[PageResult], text: str, starts: list[int], limits: _Limits
) -> list[_Piece]:
    def windows(a: int, b: int) -> list[_Piece]:
        return [
            _Piece(x, y, "text")
            for x, y in _windows(
                text,
                a,
                b,
                limits.chunk_size,
                limits.overlap,
                limits.count_tokens,
                limits.max_tokens,
            )
        ]

    pieces: list[_Piece] = []
    tables = 0
    for page, page_start in zip(pages, starts, strict=True):
        offset = 0
        laid_out = bool(page.blocks)
        for block in page.blocks:
            if not block.text:
                continue
            markup = block_markup(block)
            if page.text[offset : offset + len(markup)] != markup:
                laid_out = False  # a page text that is not its blocks' (edited): plain text
                break
            a = page_start + offset
            offset += len(markup) + len(BLOCK_SEPARATOR)
            if block.type in ("header", "footer"):
                continue
            if block.type == "title":
                pieces.append(_Piece(a, a + len(markup), "title"))
            elif block.type == "table" and block.rows:
                lines = markup.split("\n")
                head = "\n".join(lines[:2])
                pieces.append(_Piece(a, a + len(head), "head", tables))
                cursor = a + len(head) + 1
                for line in lines[2:]:
                    pieces.append(_Piece(cursor, cursor + len(line), "row", tables, head))
                    cursor += len(line) + 1
                tables += 1
            else:
                pieces.extend(windows(a, a + len(markup)))
        if not laid_out:
            pieces = [p for p in pieces if p.start < page_start]
            pieces.extend(windows(page_start, page_start + len(page.text)))
    return pieces


def _structured_chunks(
    pages: Sequence[PageResult], text: str, starts: list[int], limits: _Limits
) -> list[Chunk]:
    """Chunks that follow the layout: a title starts a chunk; a table is split between rows, its
    header row repeated at the top of every chunk that continues it; running heads and feet
    (page numbers) stay out. A paragraph longer than a chunk is windowed as plain text is.

    ``char_start``/``char_end`` span the chunk's pieces in the document text; the chunk text is
    those pieces (a repeated header row first), so it equals that span only when no head or foot
    lies inside and no header is repeated."""
    pieces = _pieces(pages, text, starts, limits)
    chunk_size, count_tokens, max_tokens = limits.chunk_size, limits.count_tokens, limits.max_tokens
    chunks: list[Chunk] = []
    current: list[_Piece] = []
    repeated: str | None = None

    def render(parts: list[_Piece], head: str | None) -> str:
        out = head or ""
        for k, piece in enumerate(parts):
            joined = k > 0 and parts[k - 1].table is not None and parts[k - 1].table == piece.table
            glue = "\n" if joined or (k == 0 and head) else BLOCK_SEPARATOR
            out = (out + glue if out else "") + text[piece.start : piece.end]
        return out

    def fits(parts: list[_Piece], head: str | None) -> bool:
        body = render(parts, head)
        if len(body) > chunk_size:
            return False
        return count_tokens is None or max_tokens is None or count_tokens(body) <= max_tokens

    def flush() -> None:
        nonlocal current, repeated
        if current:
            body = render(current, repeated)
            chunks.append(_chunk(starts, len(chunks), body, current[0].start, current[-1].end))
        current, repeated = [], None

    for piece in pieces:
        if piece.kind == "title" and any(p.kind != "title" for p in current):
            flush()
        if current and not fits([*current, piece], repeated):
            carried = []  # a table's header moves on with its first row
            if piece.kind == "row" and current[-1].kind == "head":
                carried = [current.pop()]
            flush()
            if piece.kind == "row" and not carried:
                repeated = piece.head
            current.extend(carried)
        current.append(piece)
    flush()
    return chunks
