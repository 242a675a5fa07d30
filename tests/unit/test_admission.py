"""Admission: when the driver may claim, and which waiting page runs next (a fake clock)."""

from __future__ import annotations

import asyncio
import uuid

from kairo_ray.app.admission import Admission
from kairo_ray.models import Job


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _job() -> Job:
    return Job(
        queue_id=uuid.uuid4(), document_id=uuid.uuid4(), file_url="x", claim_token=uuid.uuid4()
    )


def test_claims_stop_at_the_job_limit() -> None:
    clock = Clock()
    admission = Admission(lambda: (2, 3), clock=clock, grace=2.0)
    first, second = _job(), _job()
    assert admission.may_claim()
    admission.claimed(first)
    assert not admission.may_claim(), "a job being fetched holds back the next claim"
    clock.now += 2.0
    assert admission.may_claim(), "for the grace only: a slow download does not idle the cluster"
    admission.claimed(second)
    clock.now += 5
    assert not admission.may_claim(), "two jobs held, the limit"
    admission.finished(first)
    assert admission.may_claim() and admission.room.is_set()


def test_waiting_pages_hold_back_claims_until_they_start() -> None:
    clock = Clock()
    admission = Admission(lambda: (4, 3), clock=clock)
    job = _job()
    admission.claimed(job)
    clock.now += 0.5
    assert admission.held_back_for() == 1.5
    assert admission.pages_known(job, 2) == 100.0, "the pages are ordered by claim time"
    assert admission.held_back_for() == 0, "its page count is known: no longer preparing"
    assert not admission.may_claim(), "its pages wait for slots"
    admission.pages_not_waiting(1)
    assert not admission.may_claim()
    admission.pages_not_waiting(1)
    assert admission.may_claim() and admission.room.is_set()


def test_a_rerun_of_the_same_job_keeps_its_new_claim() -> None:
    admission = Admission(lambda: (2, 3), clock=Clock())
    old = _job()
    admission.claimed(old)
    again = old.model_copy(update={"claim_token": uuid.uuid4()})
    admission.claimed(again)  # cancelled and requeued, claimed again before the old run ended
    admission.finished(old)
    assert admission.active[old.queue_id] is again


async def test_pages_run_in_claim_then_page_order_and_adhoc_takes_half() -> None:
    admission = Admission(lambda: (4, 2), clock=Clock())
    order: list[tuple[float, int]] = []
    gate = asyncio.Event()
    running = {"adhoc": 0, "max_adhoc": 0}

    async def page(key: tuple[float, int], adhoc: bool = False) -> None:
        async with admission.page_slot(key, adhoc=adhoc):
            order.append(key)
            if adhoc:
                running["adhoc"] += 1
                running["max_adhoc"] = max(running["max_adhoc"], running["adhoc"])
            await gate.wait()
            if adhoc:
                running["adhoc"] -= 1

    blockers = [asyncio.create_task(page((0.0, n))) for n in (1, 2)]
    await asyncio.sleep(0)
    waiting = [
        asyncio.create_task(page((5.0, 1))),
        asyncio.create_task(page((3.0, 2), adhoc=True)),
        asyncio.create_task(page((3.0, 1), adhoc=True)),
        asyncio.create_task(page((1.0, 1))),
    ]
    await asyncio.sleep(0)
    gate.set()
    await asyncio.gather(*blockers, *waiting)
    assert order[:2] == [(0.0, 1), (0.0, 2)]
    assert order[2] == (1.0, 1), "the earliest claimed document's page goes first"
    assert running["max_adhoc"] == 1, "ad-hoc pages hold at most half the window (2 // 2)"
    assert admission.slots.running == 0 and admission.adhoc_slots.running == 0
