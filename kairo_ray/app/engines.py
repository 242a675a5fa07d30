"""Serve handles behind the pipeline's engine interfaces (``kairo_ray.processing.pipeline``):
the Ray side supplies these and the fan-out, the pipeline the steps."""

from __future__ import annotations

import asyncio
import logging

import numpy as np
from ray.exceptions import RayActorError
from ray.serve.handle import DeploymentHandle

from kairo_ray.models import Chunk, PageResult

log = logging.getLogger("kairo_ray.engines")

OCR_REPLICA_RETRIES = 1
"""A page whose OCR replica died under it (killed, out of memory) is sent again this many
times, to the replica Serve starts in its place: the page is not at fault, and failing it spent
an attempt of every document with a page in that replica and read all their pages again. A page
that kills each replica it reaches still fails after this many."""

EMBED_SLICE = 64
"""Texts of one document in flight to the embedding replica at once (its batches are 32)."""


class RemoteOcr:
    """:class:`~kairo_ray.processing.pipeline.PageOcr` on the OCR deployment, called from a page
    task (a plain worker, so the call blocks). ``engine_seconds`` is the replica's own time for
    the last page, which tells engine time from the time spent around it."""

    def __init__(self, handle: DeploymentHandle) -> None:
        self._handle = handle
        self.engine_seconds = 0.0

    def recognize(self, image: np.ndarray, page_number: int) -> PageResult:
        for retries_left in range(OCR_REPLICA_RETRIES, -1, -1):
            try:
                page: PageResult = self._handle.recognize.remote(image, page_number).result()
                break
            except RayActorError as exc:
                if not retries_left:
                    raise
                log.warning(
                    "OCR replica died reading page %d (%s); sending it again",
                    page_number,
                    type(exc).__name__,
                )
        self.engine_seconds = page.seconds
        return page


class RemoteEmbedder:
    """:class:`~kairo_ray.processing.pipeline.DocumentEmbedder` on the embedding deployment.

    One call per text: the replica's ``@serve.batch`` gathers concurrent texts, of this and
    other documents, into shared forward passes."""

    def __init__(self, handle: DeploymentHandle) -> None:
        self._handle = handle
        self._space: str | None = None

    async def space(self) -> str:
        if self._space is None:
            self._space = (await self._handle.info.remote())["space"]
        return self._space

    async def chunk(self, pages: list[PageResult]) -> list[Chunk]:
        return await self._handle.chunk.remote(pages)

    async def embed(self, texts: list[str]) -> list[list[float]]:
        """In slices of EMBED_SLICE texts: a large born-digital document does not put thousands
        of calls in the replica's queue at once, ahead of every other document's."""
        vectors: list[list[float]] = []
        for start in range(0, len(texts), EMBED_SLICE):
            calls = (self._handle.embed.remote(t) for t in texts[start : start + EMBED_SLICE])
            vectors.extend(await asyncio.gather(*calls))
        return vectors
