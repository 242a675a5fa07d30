"""One cluster per VPS_INSTANCE_ID: a second cluster started with the same id is refused, naming
the first one's host, until the first one stops cleanly or stops renewing its hold."""

from __future__ import annotations

import asyncio

import pytest

from kairo_ray.db.queue import JobQueue
from kairo_ray.errors import InstanceInUseError


async def test_a_second_cluster_with_the_same_id_is_refused(queue: JobQueue) -> None:
    await queue.register_instance("session-a", "vps-a", stale_seconds=30)
    await queue.register_instance("session-a", "vps-a", stale_seconds=30)  # renewing
    with pytest.raises(InstanceInUseError, match=r"held by another running cluster on vps-a"):
        await queue.register_instance("session-b", "vps-b", stale_seconds=30)
    await queue.release_instance("session-b")  # not its hold: nothing happens
    with pytest.raises(InstanceInUseError):
        await queue.register_instance("session-b", "vps-b", stale_seconds=30)
    await queue.release_instance("session-a")  # a clean stop
    await queue.register_instance("session-b", "vps-b", stale_seconds=30)


async def test_a_hold_nobody_renews_lapses(queue: JobQueue) -> None:
    await queue.register_instance("session-a", "vps-a", stale_seconds=30)
    await asyncio.sleep(1.2)
    await queue.register_instance("session-b", "vps-b", stale_seconds=1)  # the first one died
    with pytest.raises(InstanceInUseError, match="vps-b"):
        await queue.register_instance("session-a", "vps-a", stale_seconds=30)
