"""The queue driver: one named, detached actor per cluster that turns queued jobs into results.

It wakes on NOTIFY (or every POLL_INTERVAL_SECONDS), claims jobs only while the cluster has room
for their pages, keeps each claim's lease alive, fans each document's pages out as Ray tasks that
call the OCR deployment, then chunks and embeds through the embedding deployment and completes the
job in one transaction. Claimed-but-waiting jobs are leases other VPSes could have used, so
claiming is bounded by the cluster's CPUs, read again on every round so a joining node counts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Coroutine
from typing import Any
from uuid import UUID

import asyncpg
import ray
from ray import serve

from kairo_ray.app.metrics import Metrics
from kairo_ray.app.page_slots import PageSlots
from kairo_ray.app.tasks import open_remotely, page_window, prepare_page_worker, run_page
from kairo_ray.app.webhook import send_webhook
from kairo_ray.db.connector import create_pool
from kairo_ray.db.queue import JobQueue
from kairo_ray.db.store import DocumentStore
from kairo_ray.app.names import APP_NAME, DRIVER_NAME, NAMESPACE
from kairo_ray.errors import LeaseLostError, PermanentError, describe, root_cause
from kairo_ray.logs import configure_logging, job_context
from kairo_ray.models import DocumentResult, EmbeddedChunk, Job, PageResult
from kairo_ray.processing.chunk import document_text
from kairo_ray.processing.fetch import fetch
from kairo_ray.processing.language import detect_language
from kairo_ray.settings import load_settings

log = logging.getLogger("kairo_ray.driver")

_TRACES_KEPT = 200
STOP_SECONDS = 40
"""How long a stop may spend giving jobs back: ``kairo-ray down`` waits a minute for it."""
PREPARE_GRACE_SECONDS = 2.0
"""How long a claimed job being fetched and opened holds back the next claim. Longer (a slow
file host) and the next job is claimed anyway, so the cluster does not idle behind a download."""


@ray.remote(num_cpus=0, max_restarts=-1, max_task_retries=-1)
class QueueDriver:
    def __init__(self, app_name: str = APP_NAME) -> None:
        self._settings = load_settings()
        configure_logging(self._settings)
        self._app_name = app_name
        self._metrics = Metrics()
        self._active: dict[UUID, Job] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._pages_waiting = 0
        # Claim tokens of jobs not yet split into pages, with when they were claimed: that
        # holds back the next claim for a while, then orders their pages for slots.
        self._preparing: dict[UUID, float] = {}
        self._page_slots = PageSlots(lambda: self._capacity()[1])
        # Ad-hoc pages (POST /api/ocr) take at most half the window: queued work keeps the rest.
        self._adhoc_slots = PageSlots(lambda: max(1, self._capacity()[1] // 2))
        self._cluster_cpus = (0.0, 1)
        self._traces: OrderedDict[str, list[dict[str, Any]]] = OrderedDict()
        self._outcomes: Counter[str] = Counter()
        self._adhoc_pages_done = 0
        self._progress: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._room = asyncio.Event()
        self._stopping = False
        self._stopped: asyncio.Future[None] | None = None
        self._retiring: set[asyncpg.Pool] = set()
        self._last_error: str | None = None
        self._listening = False
        self._recovered = False
        self._page_workers: list[int] | None = None
        self._page_workers_ready = asyncio.Event()
        self._started_at = time.time()
        loop = asyncio.get_running_loop()
        self._main = loop.create_task(self._run())
        warm = loop.create_task(self._prepare_page_workers())
        self._tasks.add(warm)
        warm.add_done_callback(self._tasks.discard)

    # --- public methods ---------------------------------------------------------------------

    async def status(self) -> dict[str, Any]:
        max_jobs, page_window = self._capacity()
        return {
            "instance_id": self._settings.vps_instance_id,
            "running": not self._main.done(),
            "listening": self._listening,
            "active_jobs": [str(job.document_id) for job in self._active.values()],
            "pages_running": self._page_slots.running,
            "adhoc_pages_running": self._adhoc_slots.running,
            "adhoc_pages_done": self._adhoc_pages_done,
            "pages_waiting": self._pages_waiting,
            "page_workers": self._page_workers,
            "max_jobs": max_jobs,
            "page_window": page_window,
            "outcomes": dict(self._outcomes),
            "last_error": self._last_error,
            "uptime_seconds": time.time() - self._started_at,
        }

    async def trace(self, document_id: str) -> list[dict[str, Any]]:
        """Where and when each page of a recent document ran (node, pid, start, end)."""
        return self._traces.get(str(document_id), [])

    async def progress(self, document_ids: list[str]) -> dict[str, dict[str, Any]]:
        """Stage and pages done of documents this driver is working on or finished recently."""
        return {doc: dict(self._progress[doc]) for doc in document_ids if doc in self._progress}

    async def ocr_pages(self, data: list[ray.ObjectRef], page_count: int) -> list[dict[str, Any]]:
        """Pages of an ad-hoc upload (POST /api/ocr), run in the same page window as queued
        documents and ordered with them by when they came, at most half the window at once.
        ``data`` is the file's object ref in a list (a bare ref would arrive dereferenced).
        Cancelling the call (the client went away) cancels its pages."""
        arrived = time.monotonic()

        async def one(page_number: int) -> dict[str, Any]:
            await self._adhoc_slots.acquire((arrived, page_number))
            try:
                outcome = await self._run_page(data[0], page_number, (arrived, page_number))
            finally:
                self._adhoc_slots.release()
            self._adhoc_pages_done += 1
            return outcome

        return await _all_or_first_error([one(n) for n in range(1, page_count + 1)])

    async def stop(self) -> None:
        """Stop claiming; jobs in hand go back to the queue at once, their attempt not spent.

        A job claimed just as the stop came may never have reached its run (cancelled before its
        first step) or this driver at all (the claim's reply lost to the cancel). The first kind
        is given back like the others. Then every lease still under this instance id is ended,
        so another VPS takes that job at once rather than after JOB_TIMEOUT_MINUTES (its
        attempt counts, as for a crash). A second call waits for the first.
        """
        if self._stopped is None:
            self._stopped = asyncio.ensure_future(self._stop())
        await asyncio.shield(self._stopped)

    async def _stop(self) -> None:
        self._stopping = True
        self._main.cancel()
        for task in self._tasks:
            task.cancel()
        pool, self._pool = getattr(self, "_pool", None), None
        try:
            # Within `down`'s minute even when the database drops packets: a job not given back
            # in time keeps its lease until JOB_TIMEOUT_MINUTES, or this instance's next start.
            async with asyncio.timeout(STOP_SECONDS):
                await asyncio.gather(self._main, *self._tasks, return_exceptions=True)
                if pool is not None:  # None: never connected, or between retries, nothing held
                    await self._give_back_the_rest()
                    await pool.close()
        except Exception:  # a stop must finish: `down` goes on to stop Serve and Ray
            log.warning("could not give back every job before stopping", exc_info=True)
        finally:
            # Whatever did not close in time (terminating a closed pool does nothing).
            if pool is not None:
                pool.terminate()
            for retired in self._retiring:
                retired.terminate()
            self._retiring.clear()

    async def _give_back_the_rest(self) -> None:
        """Jobs whose run never started, then leases under this instance nobody here knows."""
        for job in list(self._active.values()):
            try:
                await self._queue.release(job, "driver stopped before finishing; queued again")
            except LeaseLostError:
                pass
            except Exception:  # the database is gone: end_own_leases or the lease expiry
                log.warning("could not give back a job", extra=job_context(job), exc_info=True)
            del self._active[job.queue_id]
        ended = await self._queue.end_own_leases()
        if ended:
            log.warning("ended %d leases of claims that never reached a run", ended)

    # --- the loop ---------------------------------------------------------------------------

    async def _run(self) -> None:
        backoff = 1.0
        while not self._stopping:
            try:
                previous = getattr(self, "_pool", None)
                self._pool = await create_pool(self._settings, role="driver")
                if previous is not None:
                    self._retire(previous)
                self._queue = JobQueue(self._pool, self._settings)
                self._store = DocumentStore(self._pool)
                self._embed = serve.get_deployment_handle("embedder", self._app_name)
                if not self._recovered:
                    # Once per driver process, before it holds anything itself.
                    ended = await self._queue.end_own_leases()
                    self._recovered = True
                    if ended:
                        log.warning("took back %d jobs a previous driver held", ended)
                log.info("driver started", extra={"instance_id": self._settings.vps_instance_id})
                async with self._queue.listener() as wake:
                    self._listening = getattr(wake, "listening", False)
                    backoff = 1.0
                    await self._poll(wake)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._last_error = describe(exc)
                log.exception("driver loop failed, retrying in %.0fs", backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 60.0)
            finally:
                pool = getattr(self, "_pool", None)
                # None when stopping: stop() took the pool to give back what is still held.
                if pool is not None and not self._active:
                    await pool.close()
                    self._pool = None

    async def _prepare_page_workers(self) -> None:
        """Start a page window of workers now, so the first document does not wait for them.

        Alongside claiming and fetching, but pages wait for it (:meth:`_ocr_pages`): page tasks
        sent while these run would each start another worker, and a worker holding an OCR handle
        is never reclaimed, so a driver starting with a backlog kept twice the window of idle
        workers for good. A failure or a worker that cannot start within a minute costs only
        speed, so it is logged, not raised; ``page_workers`` is then empty.
        """
        _, window = self._capacity()
        refs: list[ray.ObjectRef] = []
        try:
            refs = [prepare_page_worker.remote(self._app_name) for _ in range(window)]
            pids = await asyncio.wait_for(asyncio.gather(*refs), timeout=60)
            self._page_workers = sorted(set(pids))
        except Exception:
            log.warning(
                "could not prepare page workers; they start with the first pages", exc_info=True
            )
            for ref in refs:  # a warm-up still starting would race the pages for workers
                ray.cancel(ref)
            self._page_workers = []
        finally:
            self._page_workers_ready.set()

    async def _poll(self, wake: Any) -> None:
        while not self._stopping:
            max_jobs, _ = self._capacity()
            # A new claim only when no claimed page is waiting for a slot, nor a claimed job for
            # its page count (unless its download is slow): a job held but not worked on is a
            # lease another cluster could have used. Pages get slots in claim order, so the
            # earliest claimed job's pages run first.
            while (
                len(self._active) < max_jobs
                and self._pages_waiting == 0
                and self._claims_held_back_for() == 0
            ):
                job = await self._queue.claim()
                if job is None:
                    break
                self._active[job.queue_id] = job
                self._preparing[job.claim_token] = time.monotonic()
                task = asyncio.create_task(self._run_job(job))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            self._metrics.queue_depth.set(await self._queue.queue_size())
            self._metrics.jobs_in_flight.set(len(self._active))
            await self._sleep(wake)

    def _claims_held_back_for(self) -> float:
        """Seconds until no job being fetched and opened holds back the next claim (0: none)."""
        if not self._preparing:
            return 0.0
        latest = max(self._preparing.values())
        return max(0.0, latest + PREPARE_GRACE_SECONDS - time.monotonic())

    async def _sleep(self, wake: Any) -> None:
        """Until NOTIFY, a job of ours finishing (room to claim again), a slow download no longer
        holding back claims, or the poll interval."""
        timeout = self._settings.poll_interval_seconds
        if held_back := self._claims_held_back_for():
            timeout = min(timeout, held_back)
        waiters = {
            asyncio.ensure_future(wake.wait(timeout)),
            asyncio.ensure_future(self._room.wait()),
        }
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
            self._room.clear()

    def _retire(self, pool: asyncpg.Pool) -> None:
        """Close a pool the loop has replaced after an error. It was kept because jobs were
        running; they use the new one from their next query, and this one closes once they give
        its connections back, however long a completion takes (behind pgbouncer each connection
        left open holds a client slot). A stop terminates it."""
        self._retiring.add(pool)

        async def close() -> None:
            try:
                await pool.close()
            except Exception:
                log.warning("could not close a replaced pool", exc_info=True)
                pool.terminate()
            self._retiring.discard(pool)

        task = asyncio.create_task(close())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _capacity(self) -> tuple[int, int]:
        """(jobs held at most, page tasks running at most), from the cluster's CPUs right now.

        The page window is :func:`page_window`. The CPU count is re-read every few seconds, so a
        joining node widens both limits and gets its OCR replica.
        """
        read_at, cpus = self._cluster_cpus
        if time.monotonic() - read_at > 5:
            try:
                cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
            except Exception:  # GCS briefly unreachable: keep the last count
                log.warning("could not read the cluster's CPUs", exc_info=True)
            self._cluster_cpus = (time.monotonic(), cpus)
        return self._settings.max_concurrent_jobs or max(2, cpus), page_window(cpus, self._settings)

    # --- one job ----------------------------------------------------------------------------

    async def _run_job(self, job: Job) -> None:
        ctx = job_context(job, instance_id=self._settings.vps_instance_id)
        started = time.monotonic()
        work = asyncio.current_task()
        lost = asyncio.Event()
        keeper = asyncio.create_task(self._keep_lease(job, work, lost))
        outcome = "completed"
        log.info("job claimed", extra=ctx)
        try:
            result = await self._process(job)
            self._progress_of(job)["stage"] = "storing"
            # No heartbeat may race the completion for the job's row lock: the commit settles it.
            keeper.cancel()
            await self._store.complete(job, result)
            log.info("job completed", extra={**ctx, "seconds": time.monotonic() - started})
            notify = asyncio.create_task(self._notify(job, result))
            self._tasks.add(notify)
            notify.add_done_callback(self._tasks.discard)
        except LeaseLostError:
            outcome = "lost"
            log.warning("lease lost, dropping job", extra=ctx)
        except asyncio.CancelledError:
            if not lost.is_set():
                outcome = "released"
                with contextlib.suppress(LeaseLostError):  # already someone else's: nothing to do
                    await self._queue.release(job, "driver stopped before finishing; queued again")
                raise
            outcome = "lost"
            log.warning("lease lost (cancelled, expired or re-claimed), dropping job", extra=ctx)
        except Exception as exc:
            keeper.cancel()
            cause = root_cause(exc)
            permanent = isinstance(cause, PermanentError)
            try:
                status = await self._queue.fail(job, describe(cause), permanent=permanent)
                outcome = "failed" if status == "failed" else "retry"
            except LeaseLostError:
                outcome = "lost"
            log.warning("job %s: %s", outcome, describe(cause), extra=ctx)
        finally:
            keeper.cancel()
            self._progress_of(job)["stage"] = outcome
            # The same job may be claimed again (cancelled and requeued, or its lease expired)
            # before this run notices it lost it: then the entry is the new claim's.
            if self._active.get(job.queue_id) is job:
                del self._active[job.queue_id]
            self._preparing.pop(job.claim_token, None)
            self._outcomes[outcome] += 1
            self._metrics.jobs_finished.inc(tags={"outcome": outcome})
            self._metrics.job_seconds.observe(time.monotonic() - started)
            self._room.set()

    async def _keep_lease(
        self, job: Job, work: asyncio.Task[Any] | None, lost: asyncio.Event
    ) -> None:
        interval = max(0.5, self._settings.lease_seconds / 3)
        while True:
            await asyncio.sleep(interval)
            try:
                await self._queue.heartbeat(job)
            except LeaseLostError:
                lost.set()
                if work is not None:
                    work.cancel()
                return
            except Exception:
                log.warning("heartbeat failed, retrying", extra=job_context(job), exc_info=True)

    def _progress_of(self, job: Job) -> dict[str, Any]:
        key = str(job.document_id)
        if key not in self._progress:
            self._progress[key] = {"stage": "claimed", "pages": None, "pages_done": 0}
            while len(self._progress) > _TRACES_KEPT:
                self._progress.popitem(last=False)
        return self._progress[key]

    async def _process(self, job: Job) -> DocumentResult:
        progress = self._progress_of(job)
        progress["stage"] = "fetching"
        async with await fetch(job.file_url, self._settings, job.file_type) as fetched:
            data = ray.put(fetched.read_bytes())
        progress["stage"] = "opening"
        page_count = await open_remotely(data, job.file_type, self._settings.open_timeout_seconds)
        pages = await self._ocr_pages(job, data, page_count)
        text = document_text(pages)
        progress["stage"] = "embedding"
        chunks = await self._embed.chunk.remote(pages)
        # Only texts new to this document are embedded, each once (as embed_chunks does in-process).
        vectors: dict[str, list[float]] = await self._store.existing_embeddings(job.document_id)
        fresh = {c.content_hash: c.text for c in chunks if c.content_hash not in vectors}
        computed = await asyncio.gather(*(self._embed.embed.remote(t) for t in fresh.values()))
        vectors.update(zip(fresh, computed, strict=True))
        embedded = [
            EmbeddedChunk(**chunk.model_dump(), embedding=vectors[chunk.content_hash])
            for chunk in chunks
        ]
        return DocumentResult(
            document_id=job.document_id,
            text=text,
            language=detect_language(text),
            pages=pages,
            chunks=embedded,
        )

    async def _ocr_pages(self, job: Job, data: ray.ObjectRef, page_count: int) -> list[PageResult]:
        """Each page as a Ray task in the page window, in claim then page order
        (:class:`PageSlots`), once the page workers the driver started with are ready. The
        pages count as waiting from the start, so no job is claimed while they wait for those
        workers either."""
        progress = self._progress_of(job)
        progress.update(stage="ocr", pages=page_count, pages_done=0)
        self._pages_waiting += page_count
        claimed_at = self._preparing.pop(job.claim_token, time.monotonic())
        waiting = page_count

        def started() -> None:
            nonlocal waiting
            waiting -= 1
            self._pages_waiting -= 1
            if self._pages_waiting == 0:
                self._room.set()

        async def one(page_number: int) -> dict[str, Any]:
            outcome = await self._run_page(data, page_number, (claimed_at, page_number), started)
            progress["pages_done"] += 1
            return outcome

        try:
            outcomes = await _all_or_first_error([one(n) for n in range(1, page_count + 1)])
        finally:
            self._pages_waiting -= waiting
            if self._pages_waiting == 0:
                self._room.set()
        trace = []
        for outcome in outcomes:
            page: PageResult = outcome["page"]
            self._metrics.pages_processed.inc(tags={"source": page.source})
            self._metrics.page_seconds.observe(page.seconds)
            trace.append({key: value for key, value in outcome.items() if key != "page"})
            trace[-1]["page"] = page.page_number
        self._traces[str(job.document_id)] = trace
        while len(self._traces) > _TRACES_KEPT:
            self._traces.popitem(last=False)
        return [outcome["page"] for outcome in outcomes]

    async def _run_page(
        self,
        data: ray.ObjectRef,
        page_number: int,
        key: tuple[float, int],
        on_start: Callable[[], None] | None = None,
    ) -> dict[str, Any]:
        """One page through the page window: a slot by ``key``, then the bounded page task."""
        await self._page_workers_ready.wait()
        await self._page_slots.acquire(key)
        try:
            if on_start is not None:
                on_start()
            return await run_page(
                data, page_number, self._app_name, self._settings.page_timeout_seconds
            )
        finally:
            self._page_slots.release()

    async def _notify(self, job: Job, result: DocumentResult) -> None:
        payload = {
            "event": "document.ocr_completed",
            "document_id": str(job.document_id),
            "job_id": str(job.queue_id),
            "page_count": len(result.pages),
            "language": result.language,
            "chunks": len(result.chunks),
            "instance_id": self._settings.vps_instance_id,
        }
        try:
            await send_webhook(self._settings, payload)
        except Exception:
            log.exception("webhook failed", extra=job_context(job))


async def _all_or_first_error(steps: list[Coroutine[Any, Any, Any]]) -> list[Any]:
    """Every step's result in order; on the first error the others are cancelled and that error
    is raised as it is (not wrapped in an exception group)."""
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(step) for step in steps]
    except BaseExceptionGroup as failed:
        raise failed.exceptions[0] from None
    return [task.result() for task in tasks]


def get_or_create_driver(app_name: str = APP_NAME) -> ray.actor.ActorHandle:
    """The cluster's one driver: created on first call, found by name afterwards."""
    return QueueDriver.options(
        name=DRIVER_NAME, namespace=NAMESPACE, lifetime="detached", get_if_exists=True
    ).remote(app_name)
