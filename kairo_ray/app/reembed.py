"""Re-embedding after a model change: every stored chunk gets a vector of the new model's space
from its stored text (no OCR), while search goes on answering from the old space.

:class:`Reembedder` does one run: it takes the run's lease (a row of ``kairo_reembed``, so one
holder at a time across every cluster on the database), then document by document embeds the
chunks that lack a vector of the target space and stores them in one transaction that also
counts the progress; so a run stopped anywhere resumes with what is left, counts intact. Texts
go to the embedder in slices of REEMBED_TEXTS_IN_FLIGHT, and while ``busy()`` (the driver holds
OCR jobs) it pauses after each slice as long as the slice took: queued documents come first,
and a busy cluster still gets its re-embed done. A document whose embedding fails is passed
over, counted and named in the run; the run then ends ``failed`` and is tried again later.
When nothing is left the run is ``done``: from then on search answers from the new space
(:func:`search_space`).

No Ray here: the driver hands it the embedding deployment (:class:`~kairo_ray.app.engines.
RemoteEmbedder`), ``kairo-ray reembed --local`` a model in its own process
(:class:`LocalTextEmbedder`); unit tests the in-memory store (``kairo_ray.db.memory``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol
from uuid import UUID

from kairo_ray.errors import LeaseLostError, describe

if TYPE_CHECKING:
    from kairo_ray.processing.embed import Embedder

log = logging.getLogger("kairo_ray.reembed")

Outcome = Literal["nothing", "done", "failed", "held", "lost"]
"""How a run ended: nothing to do; every chunk has a vector of the space (search switches);
some documents failed (tried again later); another holder has the run; the lease was lost."""


class TextEmbedder(Protocol):
    """The model the chunks are embedded with; ``space`` names its vector space."""

    async def space(self) -> str: ...

    async def embed(self, texts: list[str]) -> list[list[float]]: ...


class LocalTextEmbedder:
    """A model loaded in this process, run off the event loop."""

    def __init__(self, embedder: Embedder) -> None:
        self._embedder = embedder

    async def space(self) -> str:
        return self._embedder.space

    async def embed(self, texts: list[str]) -> list[list[float]]:
        vectors = await asyncio.to_thread(self._embedder.encode, texts)
        return [vector.tolist() for vector in vectors]


@dataclass
class RunResult:
    """What one :meth:`Reembedder.run` did."""

    outcome: Outcome
    space: str
    documents: int = 0
    chunks: int = 0
    failed_documents: int = 0


class Reembedder:
    """One holder's re-embedding into the embedder's space.

    ``store`` returns the store in use now (the driver swaps it when it reconnects);
    ``on_chunks`` hears of every document's chunks stored (the CLI's progress bar).
    """

    def __init__(
        self,
        store: Callable[[], Any],
        embedder: TextEmbedder,
        holder: str,
        *,
        lease_seconds: float,
        texts_in_flight: int = 8,
        busy: Callable[[], bool] = lambda: False,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
        on_chunks: Callable[[int], None] | None = None,
    ) -> None:
        self._store = store
        self._embedder = embedder
        self._holder = holder
        self._lease = lease_seconds
        self._slice = texts_in_flight
        self._busy = busy
        self._sleep = sleep
        self._clock = clock
        self._on_chunks = on_chunks
        self._renewed = 0.0

    async def run(self) -> RunResult:
        """Re-embed until no chunk lacks a vector of the space (or every one left failed).
        Cancelled, it gives the run back at once (another holder may resume it) and re-raises."""
        space = await self._embedder.space()
        claimed = await self._claim(space)
        if claimed != "claimed":
            return RunResult(claimed, space)
        result = RunResult("done", space)
        try:
            await self._work(space, result)
        except LeaseLostError:
            log.warning("re-embedding into %s: another holder took the run over", space)
            result.outcome = "lost"
        except BaseException:
            with contextlib.suppress(Exception):  # the lease expiry is the fallback
                async with asyncio.timeout(5):
                    await self._store().finish_reembed(space, self._holder, "running")
            raise
        return result

    async def _claim(self, space: str) -> Literal["claimed", "nothing", "held"]:
        """Take the run when there is work: chunks without a vector of ``space``, or a run not
        yet marked done (its last holder stopped just before the end)."""
        store = self._store()
        remaining, _ = await store.count_to_reembed(space)
        runs = await store.reembed_runs(space)
        if not remaining and (not runs or runs[0]["state"] == "done"):
            return "nothing"
        previous = await self._previous_space(space)
        if not await store.claim_reembed(space, self._holder, self._lease, previous, remaining):
            return "held"
        self._renewed = self._clock()
        log.info(
            "re-embedding %d chunks into %s (search: %s meanwhile)", remaining, space, previous
        )
        return "claimed"

    async def _previous_space(self, space: str) -> str | None:
        """The space search answers from meanwhile: the other recorded space with most
        chunks (vectors that record none are never compared)."""
        spaces = await self._store().embedding_spaces()
        others = {name: n for name, n in spaces.items() if name is not None and name != space}
        return max(others, key=lambda name: others[name]) if others else None

    async def _work(self, space: str, result: RunResult) -> None:
        failed: set[UUID] = set()
        while True:
            skipped: set[UUID] = set()
            while rows := await self._store().chunks_to_reembed(space, failed | skipped):
                document: UUID = rows[0]["document_id"]
                try:
                    vectors = await self._embed(space, [row["chunk_text"] for row in rows])
                    stored = await self._store().store_reembedded(
                        document,
                        space,
                        rows,
                        vectors,
                        holder=self._holder,
                        lease_seconds=self._lease,
                    )
                except (LeaseLostError, asyncio.CancelledError):
                    raise
                except Exception as exc:
                    failed.add(document)
                    reason = f"document {document}: {describe(exc)}"
                    log.warning("re-embedding into %s: %s", space, reason)
                    await self._store().reembed_error(space, self._holder, reason)
                    continue
                self._renewed = self._clock()
                if not stored:  # processed again meanwhile: its chunks are read afresh later
                    skipped.add(document)
                    continue
                result.documents += 1
                result.chunks += len(rows)
                if self._on_chunks is not None:
                    self._on_chunks(len(rows))
            state = await self._store().finish_reembed(
                space, self._holder, "failed" if failed else "done"
            )
            if state is None:
                raise LeaseLostError(f"the re-embedding into {space} was taken over")
            if state != "running":
                result.outcome = "done" if state == "done" else "failed"
                result.failed_documents = len(failed)
                log.info(
                    "re-embedding into %s %s: %d documents, %d chunks, %d failed",
                    space,
                    state,
                    result.documents,
                    result.chunks,
                    len(failed),
                )
                return
            # Chunks without a vector of the space appeared meanwhile: take the run again.
            claimed = await self._claim(space)
            if claimed != "claimed":
                result.outcome = claimed
                return

    async def _embed(self, space: str, texts: list[str]) -> list[list[float]]:
        """In slices of ``texts_in_flight``; after each, the lease is renewed when a third of
        it has passed, and while the driver is busy the pause is as long as the slice took."""
        vectors: list[list[float]] = []
        for start in range(0, len(texts), self._slice):
            began = self._clock()
            vectors.extend(await self._embedder.embed(texts[start : start + self._slice]))
            now = self._clock()
            if now - self._renewed > self._lease / 3:
                if not await self._store().renew_reembed(space, self._holder, self._lease):
                    raise LeaseLostError(f"the re-embedding into {space} was taken over")
                self._renewed = now
            if self._busy():
                await self._sleep(now - began)
        return vectors


def search_space(run: dict[str, Any] | None, current: str) -> str:
    """The vector space search answers from while the model's space is ``current``: the
    previous one until the run into ``current`` has completed once, then ``current``."""
    if run is None or run.get("completed_at") is not None or not run.get("previous_space"):
        return current
    return str(run["previous_space"])


def progress(run: dict[str, Any]) -> dict[str, Any]:
    """A run as the API and the CLI show it: chunks done of total, rate, time left, errors."""
    done, total = int(run["chunks_done"]), int(run["chunks_total"])
    active = run["state"] == "running" and bool(run["held"])
    seconds = float(run.get("resumed_seconds") or 0)
    since = done - int(run.get("resumed_chunks_done") or 0)
    rate = since / seconds if seconds > 0 and since > 0 else None
    eta = (total - done) / rate if active and rate else None

    def iso(value: Any) -> str | None:
        return value.isoformat() if isinstance(value, datetime) else value

    return {
        "space": run["space"],
        "previous_space": run["previous_space"],
        "search_space": search_space(run, run["space"]),
        "state": run["state"],
        "active": active,
        "holder": run["holder"] if active else None,
        "chunks_done": done,
        "chunks_total": total,
        "documents_done": int(run["documents_done"]),
        "percent": round(100 * done / total, 1) if total else 100.0,
        "chunks_per_second": round(rate, 2) if rate else None,
        "eta_seconds": round(eta) if eta is not None else None,
        "errors": int(run["errors"]),
        "last_error": run["last_error"],
        "started_at": iso(run["started_at"]),
        "updated_at": iso(run["updated_at"]),
        "completed_at": iso(run["completed_at"]),
    }


def describe_progress(view: dict[str, Any]) -> str:
    """One line for ``kairo-ray status`` and ``kairo-ray reembed --status``."""
    state = view["state"]
    if state == "running" and not view["active"]:
        state = "interrupted (resumes when a driver or `kairo-ray reembed` takes it)"
    line = (
        f"re-embed into {view['space']}: {state}, {view['chunks_done']}/{view['chunks_total']} "
        f"chunks ({view['percent']:g} %), {view['documents_done']} documents"
    )
    if view["chunks_per_second"]:
        line += f", {view['chunks_per_second']:g} chunks/s"
    if view["eta_seconds"] is not None:
        line += f", about {view['eta_seconds']} s left"
    if view["errors"]:
        line += f", {view['errors']} errors (last: {view['last_error']})"
    line += f"; started {view['started_at']}; search answers from {view['search_space']}"
    return line
