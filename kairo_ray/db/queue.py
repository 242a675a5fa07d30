"""The job queue on ``ocr_queue``: claim, heartbeat, fail, cancel, requeue, enqueue, stats.

The rules (which job is next, leases, fencing by claim_token, backoff) live in the stored
functions of migration 0001, so a seed-style worker calling ``get_next_ocr_job('vps-01')`` and
this class follow the same rules. Each call is one short statement: it works through pgbouncer in
transaction mode. Waiting for work uses LISTEN on a dedicated connection where that is possible
and falls back to sleeping POLL_INTERVAL_SECONDS, which always works.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from kairo_ray.db.connector import connect, listen_url
from kairo_ray.db.outbox import add_delivery
from kairo_ray.db.queries import Q
from kairo_ray.errors import InstanceInUseError, LeaseLostError
from kairo_ray.models import Job, QueueStats, check_priority
from kairo_ray.settings import Settings

logger = logging.getLogger(__name__)

NOTIFY_CHANNEL = "kairo_ocr_queue"
"""Channel the ocr_queue trigger notifies whenever a job becomes queued (payload: its id)."""

MAX_ERROR_CHARS = 8000
LISTEN_RETRY_SECONDS = 30.0
_CONNECTION_ERRORS = (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError)


class Wakeup:
    """Wait for new work: a NOTIFY on ``kairo_ocr_queue``, or else the poll interval passing.

    A notification that arrives while nobody waits is kept, so ``claim()`` then ``wait()`` never
    sleeps through work queued in between.
    """

    def __init__(self, url: str | None, poll_interval: float) -> None:
        self._url = url
        self._poll_interval = poll_interval
        self._event = asyncio.Event()
        self._conn: asyncpg.Connection | None = None
        self._next_attempt = 0.0

    @property
    def listening(self) -> bool:
        """True while notifications arrive; False means plain polling."""
        return self._conn is not None and not self._conn.is_closed()

    def _notified(self, *_: object) -> None:
        self._event.set()

    def _lost(self, conn: asyncpg.Connection) -> None:
        if conn is not self._conn:
            return
        logger.warning("LISTEN connection lost; reconnecting at the next wait")
        self._conn = None
        # Wake the waiter: work may have been queued while nobody listened.
        self._event.set()

    async def start(self) -> None:
        if self._url is None or self.listening or time.monotonic() < self._next_attempt:
            return
        conn: asyncpg.Connection | None = None
        try:
            conn = await connect(self._url, vector=False)
            await conn.add_listener(NOTIFY_CHANNEL, self._notified)
        except _CONNECTION_ERRORS as exc:
            if conn is not None:
                conn.terminate()
            self._next_attempt = time.monotonic() + LISTEN_RETRY_SECONDS
            logger.warning("cannot LISTEN (%s); polling every %ss", exc, self._poll_interval)
            return
        conn.add_termination_listener(self._lost)
        self._conn = conn

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and not conn.is_closed():
            conn.remove_termination_listener(self._lost)
            with contextlib.suppress(*_CONNECTION_ERRORS):
                await conn.close(timeout=5)

    async def wait(self, timeout: float | None = None) -> bool:
        """Sleep until a notification or ``timeout`` (default POLL_INTERVAL_SECONDS) passes.

        Returns True when woken by a notification, False when the time ran out.
        """
        await self.start()
        timeout = self._poll_interval if timeout is None else timeout
        try:
            await asyncio.wait_for(self._event.wait(), timeout)
        except TimeoutError:
            return False
        self._event.clear()
        return True


class JobQueue:
    """One process's handle on the queue; ``settings`` give instance id, lease and retry policy."""

    def __init__(
        self, pool: asyncpg.Pool, settings: Settings, *, database_url: str | None = None
    ) -> None:
        """``database_url``: the URL ``pool`` uses, when it is not DATABASE_URL (embedded)."""
        self.pool = pool
        self.settings = settings
        self.instance_id = settings.vps_instance_id
        self._listen_url = listen_url(settings, database_url)

    @property
    def can_listen(self) -> bool:
        """Whether :meth:`listener` will use LISTEN (False behind a transaction pooler)."""
        return self._listen_url is not None

    async def claim(self) -> Job | None:
        """Claim the next due job for this instance, or None when there is none."""
        row = await self.pool.fetchrow(
            Q.claim_job, self.instance_id, self.settings.lease_seconds, self.settings.max_attempts
        )
        return None if row is None else Job(**dict(row))

    async def _as_holder(self, query: str, job: Job, *args: object) -> Any:
        """Run a claim-holder procedure (queue id, instance id, claim token, ``args``) and return
        its value; NULL means this claim no longer holds the job and nothing was written."""
        value = await self.pool.fetchval(
            query, job.queue_id, self.instance_id, job.claim_token, *args
        )
        if value is None:
            raise self._lost(job)
        return value

    def _lost(self, job: Job) -> LeaseLostError:
        return LeaseLostError(f"job {job.queue_id} is no longer held by {self.instance_id}")

    async def heartbeat(self, job: Job) -> datetime:
        """Extend the lease; return (and set on ``job``) the new locked_until.

        Raises LeaseLostError when the job was cancelled, failed or re-claimed by someone else.
        """
        locked_until: datetime = await self._as_holder(
            Q.heartbeat_job, job, self.settings.lease_seconds
        )
        job.locked_until = locked_until
        return locked_until

    async def fail(
        self, job: Job, error: str, *, permanent: bool, webhook: dict[str, Any] | None = None
    ) -> str:
        """Record a failure; return the job's new status ('queued' for a retry, or 'failed').

        With ``webhook`` (a payload), a final failure writes its outbox row in the same
        transaction. Raises LeaseLostError when this claim no longer holds the job (nothing is
        written).
        """
        async with self.pool.acquire() as conn, conn.transaction():
            status: str | None = await conn.fetchval(
                Q.fail_job,
                job.queue_id,
                self.instance_id,
                job.claim_token,
                error[:MAX_ERROR_CHARS] or "unknown error",
                permanent,
                self.settings.retry_backoff_seconds,
            )
            if status is None:
                raise self._lost(job)
            if status == "failed" and webhook is not None:
                await add_delivery(conn, job.queue_id, "failed", webhook)
        return status

    async def release(self, job: Job, reason: str) -> None:
        """Give the job back to the queue at once without spending an attempt (this worker is
        stopping; the job did not fail). Raises LeaseLostError when the claim is no longer held.
        """
        await self._as_holder(Q.release_job, job, reason[:MAX_ERROR_CHARS])

    async def register_instance(self, session: str, host: str, stale_seconds: float) -> None:
        """Hold this instance id for ``session`` (renewing it); InstanceInUseError, naming the
        other cluster's host, when another session has renewed it within ``stale_seconds``."""
        taken = await self.pool.fetchval(
            Q.register_instance, self.instance_id, session, host, float(stale_seconds)
        )
        if not taken:
            holder = await self.pool.fetchrow(Q.instance_holder, self.instance_id)
            where = (
                f" on {holder['host']}, seen {holder['seconds_ago']:.0f} s ago" if holder else ""
            )
            raise InstanceInUseError(
                f"VPS_INSTANCE_ID={self.instance_id} is held by another running cluster{where}: "
                "give each cluster its own VPS_INSTANCE_ID (or stop the other one)"
            )

    async def release_instance(self, session: str) -> None:
        await self.pool.execute(Q.release_instance, self.instance_id, session)

    async def end_own_leases(self) -> int:
        """End the leases this instance holds, so the next claims take them at once (the attempt
        counts). Only for a driver starting afresh or one that has stopped its runs: any lease
        under its instance id is then a dead predecessor's, or a claim the stop cut off."""
        return int(await self.pool.fetchval(Q.end_leases, self.instance_id))

    async def cancel(self, queue_id: UUID, reason: str | None = None) -> bool:
        """Cancel a queued or running job; False when it had already finished (or is unknown)."""
        return bool(await self.pool.fetchval(Q.cancel_job, queue_id, reason))

    async def requeue(self, queue_id: UUID, priority: int | None = None) -> bool:
        """Run a failed, cancelled or completed job again with attempts reset.

        False when the job is still active, unknown, or its document already has an active job.
        """
        if priority is not None:
            check_priority(priority)
        return bool(await self.pool.fetchval(Q.requeue_job, queue_id, priority))

    async def enqueue(self, document_id: UUID, priority: int = 5) -> tuple[UUID, str]:
        """Queue a document; an active job is returned instead (its priority raised if lower).

        Raises LookupError when the document does not exist.
        """
        row = await self.pool.fetchrow(Q.enqueue_job, document_id, check_priority(priority))
        if row is None:
            raise LookupError(f"document {document_id} does not exist")
        return row["queue_id"], row["status"]

    async def get_job(self, queue_id: UUID) -> dict[str, Any] | None:
        """The job's row (status, attempts, error_message, lease...) or None."""
        row = await self.pool.fetchrow(Q.get_job, queue_id)
        return None if row is None else dict(row)

    async def stats(self) -> QueueStats:
        row = await self.pool.fetchrow(Q.queue_stats)
        return QueueStats(**dict(row))

    async def queue_size(self) -> int:
        """Jobs waiting to be claimed (status queued, due or backing off)."""
        return int(await self.pool.fetchval(Q.queue_size))

    @contextlib.asynccontextmanager
    async def listener(self) -> AsyncIterator[Wakeup]:
        """``async with queue.listener() as wake: await wake.wait()``; closes its connection."""
        wake = Wakeup(self._listen_url, self.settings.poll_interval_seconds)
        await wake.start()
        try:
            yield wake
        finally:
            await wake.close()
