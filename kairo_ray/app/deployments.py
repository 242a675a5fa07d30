"""The two model-holding Serve deployments: OCR and embedding.

Each replica loads its model once in ``__init__`` and keeps it; nothing else in kairo-ray holds a
model. Replica counts, CPUs/GPUs and autoscaling come from the Serve config
(``deployments/serve.yaml``) or :func:`kairo_ray.app.builder.build_app`.
"""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from ray import serve

from kairo_ray.app.metrics import Metrics
from kairo_ray.logs import configure_logging
from kairo_ray.models import Chunk, PageResult
from kairo_ray.processing.chunk import chunk_pages
from kairo_ray.processing.embed import Embedder
from kairo_ray.processing.ocr import OcrOptions, get_engine
from kairo_ray.settings import load_settings


@serve.deployment(
    name="ocr",
    ray_actor_options={"num_cpus": 2},
    max_ongoing_requests=2,
    max_queued_requests=1000,
)
class OcrDeployment:
    """One PaddleOCR engine per replica, owned by one thread.

    Paddle's predictors (oneDNN on CPU) must be built and called on the same thread: called from
    Serve's request thread pool they failed intermittently with ``RuntimeError: std::exception``
    in text detection. So a single-thread executor builds the engine and runs every call, which
    also serialises the engine. ``max_ongoing_requests=2`` keeps the next page waiting in the
    replica while one runs, so the engine never idles between pages.
    """

    def __init__(self) -> None:
        settings = load_settings()
        configure_logging(settings)
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ocr-engine")
        options = OcrOptions.from_settings(settings)
        self._engine = self._thread.submit(get_engine, settings.ocr_engine, options).result()

    async def recognize(self, image: np.ndarray, page_number: int) -> PageResult:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._thread, self._engine.recognize, image, page_number)

    def check_health(self) -> None:
        """Serve calls this periodically; a replica without an engine gets replaced."""
        if self._engine is None:
            raise RuntimeError("OCR engine not loaded")


@serve.deployment(
    name="embedder",
    ray_actor_options={"num_cpus": 0},
    max_ongoing_requests=256,
    max_queued_requests=10_000,
)
class EmbedDeployment:
    """sentence-transformers behind ``@serve.batch``: concurrent callers share one forward pass.

    Chunking lives here too because it needs this model's tokenizer to respect its token limit.
    """

    def __init__(self) -> None:
        settings = load_settings()
        configure_logging(settings)
        self._settings = settings
        self._embedder = Embedder.from_settings(settings)
        self._metrics = Metrics()
        self.embed.set_max_batch_size(settings.embeddings_batch_size)

    def info(self) -> dict[str, object]:
        return {
            "model": self._settings.embeddings_model,
            "dimension": self._embedder.dimension,
            "max_tokens": self._embedder.max_tokens,
        }

    def chunk(self, pages: list[PageResult]) -> list[Chunk]:
        return chunk_pages(
            pages,
            chunk_size=self._settings.embeddings_chunk_size,
            overlap=self._settings.embeddings_chunk_overlap,
            count_tokens=self._embedder.count_tokens,
            max_tokens=self._embedder.max_tokens,
        )

    @serve.batch(max_batch_size=32, batch_wait_timeout_s=0.02)
    async def embed(self, texts: list[str]) -> list[list[float]]:
        started = time.perf_counter()
        vectors = await asyncio.to_thread(self._embedder.encode, texts)
        self._metrics.embedding_seconds.observe(time.perf_counter() - started)
        return [vector.tolist() for vector in vectors]
