"""Keeping a claimed job's lease alive while its run works, and telling the run when it is gone.

A claim is a lease (JOB_TIMEOUT_MINUTES) renewed by heartbeats fenced by the claim token. When a
heartbeat finds the lease lost (expired, cancelled, claimed elsewhere), the run is cancelled and
:attr:`Lease.lost` set, so the run drops the job instead of giving it back.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Protocol

from kairo_ray.errors import LeaseLostError
from kairo_ray.logs import job_context
from kairo_ray.models import Job

log = logging.getLogger("kairo_ray.leases")

HEARTBEAT_RETRY_SECONDS = 2.0
"""Wait before repeating a failed heartbeat (the lease itself lasts JOB_TIMEOUT_MINUTES)."""


class Heartbeats(Protocol):
    async def heartbeat(self, job: Job) -> Any: ...


class Lease:
    """Heartbeats for one job every ``interval`` seconds until :meth:`stop`."""

    def __init__(self, queue: Heartbeats, job: Job, interval: float) -> None:
        self._queue = queue
        self._job = job
        self._interval = interval
        self.lost = asyncio.Event()
        self._work = asyncio.current_task()
        self._keeper = asyncio.create_task(self._keep())

    def stop(self) -> None:
        """No more heartbeats: the run completes or fails the job itself now (a heartbeat must
        not race the completion for the job's row lock)."""
        self._keeper.cancel()

    async def _keep(self) -> None:
        """A heartbeat every interval; one that fails (the database restarting, pgbouncer
        dropping the connection) is retried within seconds, not an interval later, so a few
        blips in a row cannot let the lease lapse and the job be taken twice."""
        wait = self._interval
        while True:
            await asyncio.sleep(wait)
            try:
                await self._queue.heartbeat(self._job)
                wait = self._interval
            except LeaseLostError:
                self.lost.set()
                if self._work is not None:
                    self._work.cancel()
                return
            except Exception:
                wait = min(self._interval, HEARTBEAT_RETRY_SECONDS)
                log.warning(
                    "heartbeat failed, retrying in %.0f s",
                    wait,
                    extra=job_context(self._job),
                    exc_info=True,
                )
