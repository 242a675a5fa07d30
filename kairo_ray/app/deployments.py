"""The two model-holding Serve deployments: OCR and embedding.

Each replica loads its model once in ``__init__`` and keeps it; nothing else in kairo-ray holds a
model. Replica counts, CPUs/GPUs and autoscaling come from the Serve config
(``deployments/serve.yaml``) or :func:`kairo_ray.app.builder.build_app`.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from ray import serve

from kairo_ray.app.metrics import Metrics
from kairo_ray.logs import configure_logging
from kairo_ray.models import Chunk, PageResult
from kairo_ray.processing.chunk import chunk_pages
from kairo_ray.processing.embed import Embedder, embedder_for_space
from kairo_ray.processing.layout import page_reader
from kairo_ray.settings import Settings, load_settings

log = logging.getLogger("kairo_ray.embedder")

OCR_MALLOC_TUNABLE = "glibc.malloc.hugetlb=1"
"""Transparent huge pages for malloc's mappings in every OCR replica. Each page's activation
buffers are tens of MB, above glibc's largest mmap threshold, so every page maps them afresh and
faults them in 4 KiB at a time; huge pages cut that cost (ONNX Runtime's own arena would too,
at much more memory). Figures: benchmarks/reports/e2e*.md."""


OCR_PROCESS_ENV = {"GLIBC_TUNABLES": OCR_MALLOC_TUNABLE + ":${GLIBC_TUNABLES}"}
"""Environment of every OCR replica process. Ray puts the node's own GLIBC_TUNABLES where
``${GLIBC_TUNABLES}`` stands before it starts the process (nothing when unset: glibc skips the
empty entry), so an operator's tunables, an arena limit say, still apply there, and come last,
where glibc lets them override ours."""


def as_ray_expands(env: dict[str, str], environ: Mapping[str, str]) -> dict[str, str]:
    """``env`` with each ``${NAME}`` replaced by ``environ``'s value, empty when unset, as Ray does
    for a runtime env on a node: for a process started outside Ray with a replica's env."""
    return {
        key: re.sub(r"\$\{(\w+)\}", lambda name: environ.get(name.group(1), ""), value)
        for key, value in env.items()
    }


class _EngineSlot:
    """One page reader (an OCR engine and a layout engine) and the one thread that builds it and
    runs every call on it.

    Paddle's predictors (oneDNN on CPU) must be built and called on the same thread: called from
    Serve's request thread pool they failed intermittently with ``RuntimeError: std::exception``
    in text detection. A thread per engine also serialises each engine, which no engine here is
    safe to run concurrently with itself.
    """

    def __init__(self, settings: Settings, number: int) -> None:
        self.thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"ocr-engine-{number}")
        self.engine = self.thread.submit(
            page_reader, settings, settings.ocr_engine_threads
        ).result()


@serve.deployment(
    name="ocr",
    ray_actor_options={"num_cpus": 2},
    max_ongoing_requests=3,  # the builder sets it from the engines per replica
    max_queued_requests=1000,
)
class OcrDeployment:
    """OCR engines, each on its own thread, a request taking whichever is free.

    By default (onnx on CPU) an engine per core: 1-thread engines need no synchronisation inside
    an operator and do not stall when Ray or embedding preempt a thread, as a 2-thread engine
    waits for both (benchmarks/reports/e2e*.md). ``max_ongoing_requests`` exceeds the engines,
    so the next page waits here, already rendered, and no engine idles between pages.
    """

    def __init__(self) -> None:
        settings = load_settings()
        configure_logging(settings)
        self._slots = [
            _EngineSlot(settings, number) for number in range(settings.ocr_engines_per_replica)
        ]
        self._idle: asyncio.Queue[_EngineSlot] = asyncio.Queue()
        for slot in self._slots:
            self._idle.put_nowait(slot)

    async def recognize(self, image: np.ndarray, page_number: int) -> PageResult:
        slot = await self._idle.get()
        loop = asyncio.get_running_loop()
        running = loop.run_in_executor(slot.thread, slot.engine.recognize, image, page_number)
        # The engine is free again when its page is done, even if this request was cancelled.
        running.add_done_callback(lambda _: self._idle.put_nowait(slot))
        return await asyncio.shield(running)

    def check_health(self) -> None:
        """Serve calls this periodically; a replica without engines gets replaced."""
        if not self._slots:
            raise RuntimeError("OCR engines not loaded")


@serve.deployment(
    name="embedder",
    ray_actor_options={"num_cpus": 0},
    max_ongoing_requests=256,
    max_queued_requests=10_000,
)
class EmbedDeployment:
    """The embedding model behind ``@serve.batch``: concurrent callers share forward passes.

    Chunking lives here too because it needs this model's tokenizer to respect its token limit.

    While a model change is re-embedded, search still answers from the previous model's
    vectors, so queries of that space are embedded with the previous model, loaded here on the
    first such query and dropped at the first query of the new space (once the re-embed is
    complete).
    """

    def __init__(self) -> None:
        settings = load_settings()
        configure_logging(settings)
        self._settings = settings
        self._embedder = Embedder.from_settings(settings)
        self._previous: Embedder | None = None
        self._previous_refused: set[str] = set()
        self._previous_lock = asyncio.Lock()
        self._metrics = Metrics()
        # Concurrent chunks are gathered in batches of up to 32 and sorted by length by the
        # encoder, which runs them EMBEDDINGS_BATCH_SIZE at a time.
        self.embed.set_max_batch_size(max(32, settings.embeddings_batch_size))

    def info(self) -> dict[str, object]:
        return {
            "model": self._settings.embeddings_model,
            "space": self._embedder.space,
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
        """Chunks to store (e5: passages)."""
        started = time.perf_counter()
        vectors = await asyncio.to_thread(self._embedder.encode, texts)
        self._metrics.embedding_seconds.observe(time.perf_counter() - started)
        return [vector.tolist() for vector in vectors]

    async def embed_query(self, text: str) -> list[float]:
        """A search query (e5: a query, embedded unlike the passages it looks for)."""
        vectors = await asyncio.to_thread(self._embedder.encode, [text], query=True)
        return vectors[0].tolist()

    async def embed_query_in(self, text: str, space: str) -> tuple[list[float], str]:
        """A search query embedded into ``space`` (this model's, or the previous model's while
        a re-embed runs), and the space it was embedded into: this model's when the previous
        one cannot be loaded here (search then answers from the chunks re-embedded so far)."""
        embedder = self._embedder
        if space != self._embedder.space:
            embedder = await self._previous_model(space) or self._embedder
        elif self._previous is not None:
            self._previous = None  # the re-embed is complete: the memory goes back
        vectors = await asyncio.to_thread(embedder.encode, [text], query=True)
        return vectors[0].tolist(), embedder.space

    async def _previous_model(self, space: str) -> Embedder | None:
        async with self._previous_lock:
            if self._previous is not None and self._previous.space == space:
                return self._previous
            if space in self._previous_refused:
                return None
            try:
                self._previous = await asyncio.to_thread(embedder_for_space, space, self._settings)
            except Exception as exc:
                self._previous_refused.add(space)
                log.warning(
                    "cannot load the model of %s for queries while re-embedding (%s): search "
                    "answers from %s meanwhile",
                    space,
                    exc,
                    self._embedder.space,
                )
                return None
            return self._previous
