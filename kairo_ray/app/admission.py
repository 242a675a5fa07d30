"""Admission: may the driver claim another job now, and which waiting page runs next.

Its own state, no Ray and no database, so it is unit-tested with a fake clock. The driver tells it
what happens (a job claimed, its pages known, a page started, the job finished) and asks it:

* :meth:`may_claim`: a new claim only while fewer jobs than the cluster's limit are held, no
  claimed page waits for a slot, and no job claimed in the last PREPARE_GRACE_SECONDS is still
  being fetched and opened. A job held but not worked on is a lease another cluster could have
  used; a slow file host holds back the next claim for the grace only, so the cluster does not
  idle behind one download.
* :meth:`page_slot`: one page window (:class:`PageSlots`) for queued and ad-hoc pages; among
  pages waiting at once, the earliest claimed document's (or uploaded file's) go first, in page
  order. Ad-hoc pages take at most half the window, so queued work keeps the rest.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from uuid import UUID

from kairo_ray.app.page_slots import PageSlots
from kairo_ray.models import Job

PREPARE_GRACE_SECONDS = 2.0
"""How long a claimed job being fetched and opened holds back the next claim."""

PageKey = tuple[float, int]
"""(claim or upload time, page number): the order waiting pages get slots in."""


class Admission:
    """Claim gating and the page window; ``limits()`` → (jobs held at most, page window)."""

    def __init__(
        self,
        limits: Callable[[], tuple[int, int]],
        clock: Callable[[], float] = time.monotonic,
        grace: float = PREPARE_GRACE_SECONDS,
    ) -> None:
        self._limits = limits
        self._clock = clock
        self._grace = grace
        self.active: dict[UUID, Job] = {}
        # Claim tokens of jobs not yet split into pages, with when they were claimed.
        self._preparing: dict[UUID, float] = {}
        self.pages_waiting = 0
        self.slots = PageSlots(lambda: self._limits()[1])
        self.adhoc_slots = PageSlots(lambda: max(1, self._limits()[1] // 2))
        self.room = asyncio.Event()
        """Set when a claim may have become possible (a job ended, the last waiting page
        started); the driver's loop waits on it."""

    def may_claim(self) -> bool:
        max_jobs, _ = self._limits()
        return len(self.active) < max_jobs and self.pages_waiting == 0 and self.held_back_for() == 0

    def held_back_for(self) -> float:
        """Seconds until no job being fetched and opened holds back the next claim (0: none)."""
        if not self._preparing:
            return 0.0
        latest = max(self._preparing.values())
        return max(0.0, latest + self._grace - self._clock())

    def claimed(self, job: Job) -> None:
        self.active[job.queue_id] = job
        self._preparing[job.claim_token] = self._clock()

    def pages_known(self, job: Job, count: int) -> float:
        """The job's ``count`` pages wait from now; returns its claim time, their order key."""
        self.pages_waiting += count
        return self._preparing.pop(job.claim_token, self._clock())

    def pages_not_waiting(self, count: int) -> None:
        """``count`` pages no longer wait: started, or their job ended before they could."""
        self.pages_waiting -= count
        if self.pages_waiting == 0:
            self.room.set()

    def finished(self, job: Job) -> None:
        """The job's run is over. The same job may already be claimed again (cancelled and
        requeued, or its lease expired) before this run noticed: then the entry is the new
        claim's and stays."""
        if self.active.get(job.queue_id) is job:
            del self.active[job.queue_id]
        self._preparing.pop(job.claim_token, None)
        self.room.set()

    @asynccontextmanager
    async def page_slot(self, key: PageKey, *, adhoc: bool = False) -> AsyncIterator[None]:
        """A place in the page window for one page, in ``key`` order; ad-hoc pages also need
        one of the half window they may use."""
        if adhoc:
            await self.adhoc_slots.acquire(key)
        try:
            await self.slots.acquire(key)
            try:
                yield
            finally:
                self.slots.release()
        finally:
            if adhoc:
                self.adhoc_slots.release()
