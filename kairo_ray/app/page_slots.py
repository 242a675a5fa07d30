"""Slots in the driver's page window: how many page tasks run at once, which waiting page is next.

A bounded window with a synchronous release, a waiter cancelled at any point neither holding
nor leaking a slot, and a limit read again at every grant. Waiting pages are granted by the
key they wait with; the driver uses (claim order, page number), so among pages waiting at once
the earliest claimed document's go first, in order.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Callable
from typing import Any


class PageSlots:
    """At most ``limit()`` pages running; waiting pages ordered by the key they wait with.

    ``limit`` is read again whenever a slot may be granted, so a node joining the cluster widens
    the window at the next release.
    """

    def __init__(self, limit: Callable[[], int]) -> None:
        self._limit = limit
        self._waiting: list[tuple[Any, int, asyncio.Future[None]]] = []
        self._arrival = itertools.count()
        self.running = 0

    @property
    def waiting(self) -> int:
        return sum(1 for *_, future in self._waiting if not future.done())

    async def acquire(self, key: Any) -> None:
        """Wait for a slot; among waiting pages the smallest ``key`` gets the next one."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiting, (key, next(self._arrival), future))
        try:
            self._grant()
            await future
        except BaseException:
            if future.done() and not future.cancelled():
                self.release()  # granted, then cancelled before it could run: give it back
            else:
                future.cancel()  # no longer waited for: skipped when its turn comes
            raise

    def release(self) -> None:
        self.running -= 1
        self._grant()

    def _grant(self) -> None:
        limit = self._limit()
        while self._waiting and self.running < limit:
            *_, future = heapq.heappop(self._waiting)
            if future.done():  # its waiter was cancelled
                continue
            future.set_result(None)
            self.running += 1
