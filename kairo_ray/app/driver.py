"""The queue driver: one named, detached actor per cluster that turns queued jobs into results.

It wakes on NOTIFY (or every POLL_INTERVAL_SECONDS), claims jobs only while the cluster has room
for their pages, keeps each claim's lease alive, fans each document's pages out as Ray tasks that
call the OCR deployment, then chunks and embeds through the embedding deployment and completes the
job in one transaction. Claimed-but-waiting jobs are leases other VPSes could have used, so
claiming is bounded by the cluster's CPUs, read again on every round so a joining node counts.

It also re-embeds stored chunks after a model change (:mod:`kairo_ray.app.reembed`), in the
background through the same embedding deployment: when it starts and finds chunks without a
vector of the deployment's space (unless REEMBED_ENABLED=false), and whenever `kairo-ray
reembed` asks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from typing import Any

import asyncpg
import ray
from ray import serve

from kairo_ray.app.admission import Admission
from kairo_ray.app.engines import RemoteEmbedder
from kairo_ray.app.jobs import Database, JobRunner, Report
from kairo_ray.app.metrics import Metrics
from kairo_ray.app.names import APP_NAME, DRIVER_NAME, NAMESPACE
from kairo_ray.app.reembed import Reembedder
from kairo_ray.app.tasks import open_remotely, page_window, prepare_page_worker, run_page
from kairo_ray.app.webhook import WebhookDeliverer
from kairo_ray.db.connector import create_pool
from kairo_ray.db.outbox import WebhookOutbox
from kairo_ray.db.queue import JobQueue
from kairo_ray.db.store import DocumentStore
from kairo_ray.errors import InstanceInUseError, LeaseLostError, describe
from kairo_ray.logs import configure_logging, job_context
from kairo_ray.models import Job
from kairo_ray.processing.fetch import fetch
from kairo_ray.settings import Settings, load_settings

log = logging.getLogger("kairo_ray.driver")

STOP_SECONDS = 40
"""How long a stop may spend giving jobs back: ``kairo-ray down`` waits a minute for it."""


class RaySteps:
    """The cluster's part of a job (:class:`~kairo_ray.app.jobs.JobSteps`): the file's bytes
    go to the object store once, are opened by the bounded document opener, and each page is a
    bounded task that renders where it runs and calls the OCR deployment."""

    def __init__(self, settings: Settings, app_name: str, ready: asyncio.Event) -> None:
        self._settings = settings
        self._app_name = app_name
        self._ready = ready

    async def load(self, job: Job) -> tuple[ray.ObjectRef, int]:
        async with await fetch(job.file_url, self._settings, job.file_type) as fetched:
            data = ray.put(fetched.read_bytes())
        seconds = self._settings.open_timeout_seconds
        return data, await open_remotely(data, job.file_type, seconds)

    async def page(self, data: ray.ObjectRef, page_number: int) -> dict[str, Any]:
        # Page tasks sent before the prepared page workers are up would each start another.
        await self._ready.wait()
        seconds = self._settings.page_timeout_seconds
        return await run_page(data, page_number, self._app_name, seconds)


@ray.remote(num_cpus=0, max_restarts=-1, max_task_retries=-1)
class QueueDriver:
    """The cluster's one queue driver: a thin composition of :class:`Admission` (may it claim,
    which page next), :class:`JobRunner` (one job to its outcome, leases included),
    :class:`Report` (progress, traces, outcomes) and :class:`RaySteps`; this class owns the
    connection, the claim loop, page workers and the stop."""

    def __init__(self, app_name: str = APP_NAME) -> None:
        self._settings = load_settings()
        configure_logging(self._settings)
        self._app_name = app_name
        self._metrics = Metrics()
        self._cluster_cpus = (0.0, 1)
        self._admission = Admission(self._capacity)
        self._report = Report(self._metrics)
        self._db = Database(queue=None, store=None)
        self._page_workers: list[int] | None = None
        self._page_workers_ready = asyncio.Event()
        self._embedder: RemoteEmbedder | None = None
        self._runner = JobRunner(
            self._db,
            self._admission,
            RaySteps(self._settings, app_name, self._page_workers_ready),
            self._remote_embedder,
            self._settings,
            self._report,
        )
        # Webhooks come from the outbox table, so what a stopped driver left is sent by the
        # next one (or another cluster's).
        self._deliverer: WebhookDeliverer | None = None
        if self._settings.webhook_enabled:
            self._deliverer = WebhookDeliverer(lambda: self._db.outbox, self._settings)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._reembed_wake = asyncio.Event()
        self._reembed: dict[str, Any] = {
            "state": "idle",
            "finished": 0,
            "last": None,
            "last_error": None,
        }
        self._adhoc_pages_done = 0
        self._stopping = False
        self._stopped: asyncio.Future[None] | None = None
        self._pool: asyncpg.Pool | None = None
        self._retiring: set[asyncpg.Pool] = set()
        self._last_error: str | None = None
        self._listening = False
        self._recovered = False
        self._started_at = time.time()
        # The Ray cluster this driver belongs to: a restarted driver is the same holder of the
        # instance id, a driver of another cluster is not.
        self._session = ray.get_runtime_context().get_session_name()
        self._refused: str | None = None
        self._instance_held = False
        self._main = asyncio.get_running_loop().create_task(self._run())
        self._spawn(self._prepare_page_workers())
        self._spawn(self._reembed_loop())
        if self._deliverer is not None:
            self._spawn(self._deliverer.run())

    # --- public methods ---------------------------------------------------------------------

    async def status(self) -> dict[str, Any]:
        max_jobs, window = self._capacity()
        admission = self._admission
        return {
            "instance_id": self._settings.vps_instance_id,
            "running": not self._main.done(),
            "listening": self._listening,
            "active_jobs": [str(job.document_id) for job in admission.active.values()],
            "pages_running": admission.slots.running,
            "adhoc_pages_running": admission.adhoc_slots.running,
            "adhoc_pages_done": self._adhoc_pages_done,
            "pages_waiting": admission.pages_waiting,
            "page_workers": self._page_workers,
            "max_jobs": max_jobs,
            "page_window": window,
            "outcomes": dict(self._report.outcomes),
            "last_error": self._last_error,
            "refused": self._refused,
            "instance_held": self._instance_held,
            "webhooks": None if self._deliverer is None else dict(self._deliverer.counts),
            "reembed": dict(self._reembed),
            "uptime_seconds": time.time() - self._started_at,
        }

    async def reembed_status(self) -> dict[str, Any]:
        """The re-embedding here: ``state`` (idle, running, waiting to try again), runs
        ``finished`` since the driver started, the ``last`` one's outcome, and the embedding
        deployment's ``space`` (the target). Progress itself is in the database
        (``kairo_reembed``), which ``kairo-ray reembed --status`` and /stats read."""
        return {**self._reembed, "space": await self._remote_embedder().space()}

    async def reembed(self) -> dict[str, Any]:
        """Re-embed now: start a run, or resume one that stopped or failed, without waiting
        for REEMBED_RETRY_SECONDS. A run in progress goes on (and another follows it, which
        finds nothing left)."""
        self._reembed_wake.set()
        return await self.reembed_status()

    async def trace(self, document_id: str) -> list[dict[str, Any]]:
        """Where and when each page of a recent document ran (node, pid, start, end)."""
        return self._report.traces.get(str(document_id), [])

    async def progress(self, document_ids: list[str]) -> dict[str, dict[str, Any]]:
        """Stage and pages done of documents this driver is working on or finished recently."""
        known = self._report.progress
        return {doc: dict(known[doc]) for doc in document_ids if doc in known}

    async def ocr_pages(self, data: list[ray.ObjectRef], page_count: int) -> list[dict[str, Any]]:
        """Pages of an ad-hoc upload (POST /api/ocr), run in the same page window as queued
        documents and ordered with them by when they came, at most half the window at once.
        ``data`` is the file's object ref in a list (a bare ref would arrive dereferenced).
        Cancelling the call (the client went away) cancels its pages."""
        outcomes = await self._runner.adhoc_pages(data[0], page_count, time.monotonic())
        self._adhoc_pages_done += len(outcomes)
        return outcomes

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
        pool, self._pool = self._pool, None
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
        queue = self._db.queue
        for job in list(self._admission.active.values()):
            try:
                await queue.release(job, "driver stopped before finishing; queued again")
            except LeaseLostError:
                pass
            except Exception:  # the database is gone: end_own_leases or the lease expiry
                log.warning("could not give back a job", extra=job_context(job), exc_info=True)
            self._admission.finished(job)
        ended = await queue.end_own_leases()
        if ended:
            log.warning("ended %d leases of claims that never reached a run", ended)
        if self._refused is None:  # a clean stop frees the id for the next start at once
            await queue.release_instance(self._session)

    # --- the loop ---------------------------------------------------------------------------

    async def _run(self) -> None:
        backoff = 1.0
        while not self._stopping:
            try:
                previous = self._pool
                self._pool = await create_pool(self._settings, role="driver")
                if previous is not None:
                    self._retire(previous)
                # Running jobs use the new connection from their next query.
                self._db.queue = JobQueue(self._pool, self._settings)
                self._db.store = DocumentStore(self._pool, self._settings.documents_owner_column)
                self._db.outbox = WebhookOutbox(self._pool)
                # Before anything else: a second cluster under this id would otherwise end the
                # first one's leases below, taking them for a dead predecessor's.
                await self._hold_instance()
                if not self._recovered:
                    # Once per driver process, before it holds anything itself.
                    ended = await self._db.queue.end_own_leases()
                    self._recovered = True
                    if ended:
                        log.warning("took back %d jobs a previous driver held", ended)
                log.info("driver started", extra={"instance_id": self._settings.vps_instance_id})
                async with self._db.queue.listener() as wake:
                    self._listening = getattr(wake, "listening", False)
                    backoff = 1.0
                    await self._poll(wake)
            except asyncio.CancelledError:
                raise
            except InstanceInUseError as exc:
                # Refused, not failed: say so in the status (`kairo-ray up` reports it) and look
                # again later, in case the other cluster has gone.
                self._refused = self._last_error = str(exc)
                log.error("%s", exc)
                await asyncio.sleep(self._instance_stale_seconds() / 2)
            except Exception as exc:
                self._last_error = describe(exc)
                log.exception("driver loop failed, retrying in %.0fs", backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 60.0)
            finally:
                pool = self._pool
                # None when stopping: stop() took the pool to give back what is still held.
                if pool is not None and not self._admission.active:
                    await pool.close()
                    self._pool = None

    def _instance_stale_seconds(self) -> float:
        """How long an instance row may go unrenewed before another cluster may take the id:
        a few polls (the driver renews it every round) and at least half a minute."""
        return max(30.0, 3 * self._settings.poll_interval_seconds + 10)

    async def _hold_instance(self) -> None:
        await self._db.queue.register_instance(
            self._session, socket.gethostname(), self._instance_stale_seconds()
        )
        self._refused = None
        self._instance_held = True

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
        admission = self._admission
        while not self._stopping:
            await self._hold_instance()
            while admission.may_claim():
                job = await self._db.queue.claim()
                if job is None:
                    break
                admission.claimed(job)
                self._spawn(self._run_job(job))
            self._metrics.queue_depth.set(await self._db.queue.queue_size())
            self._metrics.jobs_in_flight.set(len(admission.active))
            await self._sleep(wake)

    async def _sleep(self, wake: Any) -> None:
        """Until NOTIFY, a job of ours finishing (room to claim again), a slow download no longer
        holding back claims, or the poll interval."""
        timeout = self._settings.poll_interval_seconds
        if held_back := self._admission.held_back_for():
            timeout = min(timeout, held_back)
        room = self._admission.room
        waiters = {asyncio.ensure_future(wake.wait(timeout)), asyncio.ensure_future(room.wait())}
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
            room.clear()

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

        self._spawn(close())

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

    # --- helpers ----------------------------------------------------------------------------

    def _spawn(self, work: Any) -> asyncio.Task[Any]:
        """A task the stop cancels and waits for."""
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _remote_embedder(self) -> RemoteEmbedder:
        """One for the driver's life, made at the first job (the deployment exists by then):
        a new handle per job would set up a router with the Serve controller each time, and
        ask the replica for its vector space again."""
        if self._embedder is None:
            handle = serve.get_deployment_handle("embedder", self._app_name)
            self._embedder = RemoteEmbedder(handle)
        return self._embedder

    async def _reembed_loop(self) -> None:
        """Re-embed when the driver starts (REEMBED_ENABLED) and whenever asked; a run that
        failed for some documents or found another holder is tried again after
        REEMBED_RETRY_SECONDS. After the page workers: they are what `up` waits for."""
        await self._page_workers_ready.wait()
        due = self._settings.reembed_enabled
        while not self._stopping:
            if not due:
                await self._reembed_wake.wait()
            self._reembed_wake.clear()
            self._reembed["state"] = "running"
            again = True
            try:
                while self._db.store is None:  # not connected yet
                    await asyncio.sleep(1)
                result = await Reembedder(
                    lambda: self._db.store,
                    self._remote_embedder(),
                    f"driver:{self._settings.vps_instance_id}",
                    lease_seconds=self._settings.lease_seconds,
                    texts_in_flight=self._settings.reembed_texts_in_flight,
                    busy=lambda: bool(self._admission.active),
                ).run()
                self._reembed["last"] = {
                    "outcome": result.outcome,
                    "space": result.space,
                    "documents": result.documents,
                    "chunks": result.chunks,
                    "failed_documents": result.failed_documents,
                    "ended_at": time.time(),
                }
                again = result.outcome in ("failed", "held", "lost")
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._reembed["last"] = {"outcome": "error", "ended_at": time.time()}
                self._reembed["last_error"] = describe(exc)
                log.exception("re-embedding failed")
            self._reembed["finished"] += 1
            self._reembed["state"] = "waiting" if again else "idle"
            due = False
            if again:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._settings.reembed_retry_seconds):
                        await self._reembed_wake.wait()
                due = True

    async def _run_job(self, job: Job) -> None:
        """Run a claimed job; a finished one's webhook is due at once, so wake the deliverer."""
        outcome = await self._runner.run(job)
        if self._deliverer is not None and outcome in ("completed", "failed"):
            self._deliverer.wake.set()


def get_or_create_driver(app_name: str = APP_NAME) -> ray.actor.ActorHandle:
    """The cluster's one driver: created on first call, found by name afterwards."""
    return QueueDriver.options(
        name=DRIVER_NAME, namespace=NAMESPACE, lifetime="detached", get_if_exists=True
    ).remote(app_name)
