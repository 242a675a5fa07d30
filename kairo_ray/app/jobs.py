"""One job from claim to outcome: load the file, read its pages through the page window, finish
the document, store it in one transaction; or fail, retry, give back or drop it.

No Ray here: the cluster supplies :class:`JobSteps` (fetch and open as a bounded task, one page
as a task) and a :class:`~kairo_ray.processing.pipeline.DocumentEmbedder`; the queue and store
come from :class:`Database`, whose members the driver replaces when it reconnects. With the
in-memory queue (``kairo_ray.db.memory``) and fake steps, unit tests drive every outcome.

Outcomes: ``completed``; ``failed`` (bad input, or attempts used up) and ``retry`` (transient,
attempts left); ``lost`` (the lease is gone: expired, cancelled, claimed elsewhere; nothing is
written); ``released`` (the driver is stopping: the job goes back without spending its attempt).
With WEBHOOK_ENABLED, ``completed`` and ``failed`` write their webhook to the outbox in the
transaction that records them (:mod:`kairo_ray.db.outbox`); the driver's deliverer sends it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter, OrderedDict
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import asyncpg

from kairo_ray.app.admission import Admission, PageKey
from kairo_ray.app.leases import Lease
from kairo_ray.app.webhook import completed_payload, failed_payload
from kairo_ray.errors import (
    LeaseLostError,
    PermanentError,
    TransientError,
    describe,
    root_cause,
)
from kairo_ray.logs import job_context
from kairo_ray.models import DocumentResult, Job, PageResult
from kairo_ray.processing.pipeline import DocumentEmbedder, finish_document
from kairo_ray.settings import Settings

log = logging.getLogger("kairo_ray.driver")
T = TypeVar("T")

KEPT = 200
"""Recent documents whose progress and page traces the driver keeps for the CLI and tests."""


class JobSteps(Protocol):
    """The cluster's part of a job."""

    async def load(self, job: Job) -> tuple[Any, int]:
        """Fetch and open the job's file: a handle on its bytes and its page count."""
        ...

    async def page(self, data: Any, page_number: int) -> dict[str, Any]:
        """Read one page: ``{"page": PageResult, ...where and when it ran}``."""
        ...


@dataclass
class Database:
    """The queue, store and webhook outbox in use now; the driver swaps them when it
    reconnects."""

    queue: Any
    store: Any
    outbox: Any = None


class Report:
    """What the driver tells about its jobs: stage and pages done per document, where each page
    ran, outcome counts, and Ray metrics when it has them."""

    def __init__(self, metrics: Any | None = None) -> None:
        self.metrics = metrics
        self.outcomes: Counter[str] = Counter()
        self.progress: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self.traces: OrderedDict[str, list[dict[str, Any]]] = OrderedDict()

    def of(self, job: Job) -> dict[str, Any]:
        key = str(job.document_id)
        if key not in self.progress:
            self.progress[key] = {"stage": "claimed", "pages": None, "pages_done": 0}
            while len(self.progress) > KEPT:
                self.progress.popitem(last=False)
        return self.progress[key]

    def pages_done(self, job: Job, outcomes: list[dict[str, Any]]) -> None:
        trace = []
        for outcome in outcomes:
            page: PageResult = outcome["page"]
            if self.metrics is not None:
                self.metrics.pages_processed.inc(tags={"source": page.source})
                self.metrics.page_seconds.observe(page.seconds)
            trace.append({k: v for k, v in outcome.items() if k != "page"})
            trace[-1]["page"] = page.page_number
        self.traces[str(job.document_id)] = trace
        while len(self.traces) > KEPT:
            self.traces.popitem(last=False)

    def finished(self, job: Job, outcome: str, seconds: float) -> None:
        self.of(job)["stage"] = outcome
        self.outcomes[outcome] += 1
        if self.metrics is not None:
            self.metrics.jobs_finished.inc(tags={"outcome": outcome})
            self.metrics.job_seconds.observe(seconds)


class JobRunner:
    """Runs claimed jobs; one per driver."""

    def __init__(
        self,
        db: Database,
        admission: Admission,
        steps: JobSteps,
        embedder: Callable[[], DocumentEmbedder],
        settings: Settings,
        report: Report,
    ) -> None:
        self._db = db
        self._admission = admission
        self._steps = steps
        self._embedder = embedder
        self._settings = settings
        self._report = report

    async def run(self, job: Job) -> str:
        """Work ``job`` to its outcome and return it; cancelling the run (a stopping driver)
        gives the job back, unless its lease was lost meanwhile."""
        ctx = job_context(job, instance_id=self._settings.vps_instance_id)
        started = time.monotonic()
        lease = Lease(self._db.queue, job, max(0.5, self._settings.lease_seconds / 3))
        outcome = "completed"
        log.info("job claimed", extra=ctx)
        try:
            result = await self._within_deadline(job)
            self._report.of(job)["stage"] = "storing"
            lease.stop()
            # Finished work is kept across a database restart: completion is fenced by the
            # claim token, so repeating it is safe, and a lease lost meanwhile ends it. The
            # webhook is written in the same transaction (the outbox), never after it.
            webhook = (
                completed_payload(self._settings, job, result)
                if self._settings.webhook_enabled
                else None
            )
            await persist(
                lambda: self._db.store.complete(job, result, webhook=webhook),
                "completing the job",
            )
            log.info("job completed", extra={**ctx, "seconds": time.monotonic() - started})
        except LeaseLostError:
            outcome = "lost"
            log.warning("lease lost, dropping job", extra=ctx)
        except asyncio.CancelledError:
            if not lease.lost.is_set():
                outcome = "released"
                with contextlib.suppress(LeaseLostError):  # already someone else's
                    await self._db.queue.release(
                        job, "driver stopped before finishing; queued again"
                    )  # no retries: a stop is bounded, and the lease expiry is the fallback
                raise
            outcome = "lost"
            log.warning("lease lost (cancelled, expired or re-claimed), dropping job", extra=ctx)
        except Exception as exc:
            lease.stop()
            outcome = await self._fail(job, root_cause(exc))
            log.warning("job %s: %s", outcome, describe(root_cause(exc)), extra=ctx)
        finally:
            lease.stop()
            self._admission.finished(job)
            self._report.finished(job, outcome, time.monotonic() - started)
        return outcome

    async def _fail(self, job: Job, cause: BaseException) -> str:
        permanent = isinstance(cause, PermanentError)
        # Written only if this failure is final, in the transaction that records it.
        webhook = failed_payload(self._settings, job) if self._settings.webhook_enabled else None
        try:
            status = await persist(
                lambda: self._db.queue.fail(
                    job, describe(cause), permanent=permanent, webhook=webhook
                ),
                "recording the failure",
            )
        except LeaseLostError:
            return "lost"
        return "failed" if status == "failed" else "retry"

    async def _within_deadline(self, job: Job) -> DocumentResult:
        """:meth:`process` within JOB_DEADLINE_MINUTES: a job alive but stuck (a page that
        never ends, an embedding that hangs) spends its attempt and says why."""
        minutes = self._settings.job_deadline_minutes
        try:
            async with asyncio.timeout(minutes * 60):
                return await self.process(job)
        except TimeoutError:
            raise TransientError(
                f"the job took longer than JOB_DEADLINE_MINUTES={minutes:g}"
            ) from None

    async def process(self, job: Job) -> DocumentResult:
        """The document flow for one job: load → pages → finish (text, language, chunks, only
        new texts embedded)."""
        progress = self._report.of(job)
        progress["stage"] = "fetching"
        data, page_count = await self._steps.load(job)
        pages = await self.pages(job, data, page_count)
        progress["stage"] = "embedding"
        embedder = self._embedder()
        space = await embedder.space()
        # A read, safe to repeat: a database blip here would otherwise throw the OCR away.
        known = await persist(
            lambda: self._db.store.existing_embeddings(job.document_id, space),
            "reading the stored embeddings",
        )
        finished = await finish_document(pages, embedder, known)
        return DocumentResult(
            document_id=job.document_id,
            text=finished.text,
            language=finished.language,
            pages=pages,
            chunks=finished.chunks,
            embedding_space=finished.space,
        )

    async def pages(self, job: Job, data: Any, page_count: int) -> list[PageResult]:
        """Each page through the page window, in claim then page order. They count as waiting
        from now, so no job is claimed while they wait for a slot."""
        progress = self._report.of(job)
        progress.update(stage="ocr", pages=page_count, pages_done=0)
        claimed_at = self._admission.pages_known(job, page_count)
        waiting = page_count

        async def one(page_number: int) -> dict[str, Any]:
            nonlocal waiting
            async with self._admission.page_slot((claimed_at, page_number)):
                waiting -= 1
                self._admission.pages_not_waiting(1)
                outcome = await self._steps.page(data, page_number)
            progress["pages_done"] += 1
            return outcome

        try:
            outcomes = await all_or_first_error([one(n) for n in range(1, page_count + 1)])
        finally:
            if waiting:
                self._admission.pages_not_waiting(waiting)
        self._report.pages_done(job, outcomes)
        return [outcome["page"] for outcome in outcomes]

    async def adhoc_pages(self, data: Any, page_count: int, key: float) -> list[dict[str, Any]]:
        """Pages of an upload (POST /api/ocr) in the same window, at most half of it."""

        async def one(page_number: int) -> dict[str, Any]:
            page_key: PageKey = (key, page_number)
            async with self._admission.page_slot(page_key, adhoc=True):
                return await self._steps.page(data, page_number)

        return await all_or_first_error([one(n) for n in range(1, page_count + 1)])


DATABASE_RETRY_DELAYS = (0.5, 1, 2, 4, 8, 15, 30)
"""Waits between tries of a write that is safe to repeat: about a minute in all, long enough
for PostgreSQL or pgbouncer to restart or a Supabase pooler to fail over."""

CONNECTION_ERRORS = (
    OSError,
    TimeoutError,
    ConnectionError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
    asyncpg.AdminShutdownError,
)


async def persist(write: Callable[[], Awaitable[T]], what: str) -> T:
    """Run ``write`` (complete, fail: fenced by the claim token, so repeating it is safe; or a
    read), trying again on connection errors; other errors, LeaseLostError among them, at once."""
    for delay in (*DATABASE_RETRY_DELAYS, None):
        try:
            return await write()
        except CONNECTION_ERRORS:
            if delay is None:
                raise
            log.warning("%s: database unreachable, trying again in %s s", what, delay)
            await asyncio.sleep(delay)
    raise AssertionError("unreachable")


async def all_or_first_error(steps: list[Coroutine[Any, Any, Any]]) -> list[Any]:
    """Every step's result in order; on the first error the others are cancelled and that error
    is raised as it is (not wrapped in an exception group)."""
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(step) for step in steps]
    except BaseExceptionGroup as failed:
        raise failed.exceptions[0] from None
    return [task.result() for task in tasks]
