"""The driver's page slots: a bounded window, granted by key rather than arrival order."""

from __future__ import annotations

import asyncio

from kairo_ray.app.page_slots import PageSlots


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_waiting_pages_get_slots_by_key_not_by_arrival() -> None:
    """Pages that arrived later but wait with smaller keys get the slots first as they free up.
    (The driver waits with the page number alone: its claim rule never lets two jobs' pages
    wait at once. The tuple keys here only exercise the ordering.)"""
    slots = PageSlots(lambda: 2)
    started: list[tuple[int, int, int]] = []

    async def page(key: tuple[int, int, int]) -> None:
        await slots.acquire(key)
        started.append(key)

    later_job = [asyncio.create_task(page((-5, 2, n))) for n in (1, 2, 3, 4)]
    await _settle()
    first_job = [asyncio.create_task(page((-5, 1, n))) for n in (1, 2, 3)]
    await _settle()
    assert started == [(-5, 2, 1), (-5, 2, 2)] and slots.running == 2
    assert slots.waiting == 5
    for _ in range(5):
        slots.release()
        await _settle()
    assert started[2:] == [(-5, 1, 1), (-5, 1, 2), (-5, 1, 3), (-5, 2, 3), (-5, 2, 4)]
    assert slots.running == 2 and slots.waiting == 0
    await asyncio.gather(*later_job, *first_job)


async def test_higher_priority_job_goes_first() -> None:
    slots = PageSlots(lambda: 1)
    await slots.acquire((-5, 1, 1))
    order: list[tuple[int, int, int]] = []

    async def page(key: tuple[int, int, int]) -> None:
        await slots.acquire(key)
        order.append(key)
        slots.release()

    tasks = [asyncio.create_task(page(k)) for k in [(-5, 1, 2), (-10, 2, 1), (-5, 3, 1)]]
    await _settle()
    slots.release()
    await asyncio.gather(*tasks)
    assert order == [(-10, 2, 1), (-5, 1, 2), (-5, 3, 1)]


async def test_cancelled_waiters_neither_hold_nor_leak_slots() -> None:
    slots = PageSlots(lambda: 1)
    await slots.acquire((0, 0, 1))
    waiting = asyncio.create_task(slots.acquire((0, 0, 2)))
    after = asyncio.create_task(slots.acquire((0, 0, 3)))
    await _settle()
    waiting.cancel()  # cancelled while waiting: skipped
    await _settle()
    slots.release()
    await _settle()
    assert after.done() and slots.running == 1

    granted = asyncio.create_task(slots.acquire((0, 0, 4)))
    await _settle()
    slots.release()  # grants the slot to `granted`...
    granted.cancel()  # ...which is cancelled before it runs: the slot comes back
    await asyncio.gather(granted, return_exceptions=True)
    assert slots.running == 0 and slots.waiting == 0


async def test_a_wider_window_takes_effect_at_the_next_grant() -> None:
    limit = 1
    slots = PageSlots(lambda: limit)
    await slots.acquire(1)
    second, third = (asyncio.create_task(slots.acquire(k)) for k in (2, 3))
    await _settle()
    assert not second.done()
    limit = 3  # a node joined
    slots.release()
    await _settle()
    assert second.done() and third.done() and slots.running == 2
