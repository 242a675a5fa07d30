"""Every job ends (issue 19): faults injected into a real cluster while documents run.

One Ray cluster with the real models and driver, on a PostgreSQL of its own reached through a
real pgbouncer in transaction mode (as on Supabase), serves every fault in turn; each fault
gets a fresh batch of small scans (``tests/fixtures/chaos.py``). For every fault: each job
ends, completed or failed with a reason naming the fault; no document is stored twice (one
job, one result, one webhook) or mixed with another's; the other jobs carry on. The time from
the fault to the last job's end is the row's recovery time.

    KAIRO_CHAOS_ROWS=rows.json pytest -m chaos     # python benchmarks/chaos_report.py
"""

from __future__ import annotations

import asyncio
import signal
import time
import uuid

import pytest

from tests.fixtures.chaos import (
    DRIVER,
    FETCH_DEADLINE_SECONDS,
    OCR_REPLICA,
    PAGE_TIMEOUT_SECONDS,
    ChaosCluster,
    ChaosDoc,
    Ended,
    TrickleHost,
    assert_every_job_ended_once,
    insert,
    one_done_and_pages_running,
    pages_running,
    ray_processes,
    retried,
    run_fault,
    short_reason,
    sigkill_one,
    terminate_backends,
)

pytestmark = [pytest.mark.slow, pytest.mark.chaos, pytest.mark.timeout(600)]


async def test_no_fault(chaos_cluster: ChaosCluster) -> None:
    """The baseline the recovery times compare with: a batch's time from its first pages."""

    async def inject() -> None:
        pass

    row, ended, problems, _ = await run_fault(
        chaos_cluster, "none (baseline)", pages_running, inject
    )
    row.notes = retried(ended)
    assert_every_job_ended_once(row, ended, problems, {})


async def test_sigkill_of_an_ocr_replica(chaos_cluster: ChaosCluster) -> None:
    """Serve starts a new replica; pages that were in the dead one are read again."""
    killed: list[int] = []

    async def inject() -> None:
        killed.append(sigkill_one(OCR_REPLICA))

    row, ended, problems, _ = await run_fault(
        chaos_cluster, "SIGKILL of the OCR replica", pages_running, inject
    )
    row.notes = retried(ended)
    assert_every_job_ended_once(row, ended, problems, {})
    assert killed[0] not in {p.pid for p in ray_processes(OCR_REPLICA)}


async def test_sigkill_of_the_driver(chaos_cluster: ChaosCluster) -> None:
    """Ray restarts the driver actor; it takes back the jobs its predecessor held at once."""
    killed_at: list[float] = []

    async def inject() -> None:
        sigkill_one(DRIVER)
        killed_at.append(time.time())

    row, ended, problems, _ = await run_fault(
        chaos_cluster, "SIGKILL of the driver", pages_running, inject
    )
    row.notes = retried(ended)
    assert_every_job_ended_once(row, ended, problems, {})
    status = chaos_cluster.driver_status()
    assert status["uptime_seconds"] < time.time() - killed_at[0] + 1, "not restarted"


async def test_postgresql_restart(chaos_cluster: ChaosCluster) -> None:
    """Down for 3 s while jobs complete: heartbeats and completions are repeated once it is
    back, finished work is kept."""

    async def inject() -> None:
        await asyncio.to_thread(chaos_cluster.database.restart_postgres, 3)

    row, ended, problems, _ = await run_fault(
        chaos_cluster, "PostgreSQL restart (3 s down)", one_done_and_pages_running, inject
    )
    row.notes = retried(ended)
    assert_every_job_ended_once(row, ended, problems, {})


async def test_pgbouncer_restart(chaos_cluster: ChaosCluster) -> None:
    """The pooler gone for 2 s cuts every client connection, the driver's included."""

    async def inject() -> None:
        await asyncio.to_thread(chaos_cluster.database.restart_pgbouncer, 2)

    row, ended, problems, _ = await run_fault(
        chaos_cluster, "pgbouncer restart (2 s down)", one_done_and_pages_running, inject
    )
    row.notes = retried(ended)
    assert_every_job_ended_once(row, ended, problems, {})


async def test_driver_connections_terminated(chaos_cluster: ChaosCluster) -> None:
    """``pg_terminate_backend`` on the pooler's server connections (the driver's among them:
    see :func:`terminate_backends`), three times a second apart: claims, heartbeats and
    completions lose their connection mid-way."""
    terminated: list[int] = []

    async def inject() -> None:
        url = chaos_cluster.database.direct_url
        terminated.append(await terminate_backends(url, rounds=3, every=1))

    row, ended, problems, _ = await run_fault(
        chaos_cluster, "driver's connections terminated", one_done_and_pages_running, inject
    )
    row.notes = f"{terminated[0]} server connections ended; " + retried(ended)
    assert terminated[0] > 0, "no server connection was found to terminate"
    assert_every_job_ended_once(row, ended, problems, {})


async def test_poison_page_that_kills_its_worker(chaos_cluster: ChaosCluster) -> None:
    """A page whose task kills its worker every time: Ray's retries are bounded, each attempt
    spends one of the job's, and the job fails saying so while the others complete."""
    poisoned: dict[uuid.UUID, ChaosDoc] = {}

    async def inject() -> dict[uuid.UUID, ChaosDoc]:
        doc = chaos_cluster.documents.one(extra=chaos_cluster.poison.encode())
        poisoned.update(await insert(chaos_cluster.database.direct_url, [doc]))
        return poisoned

    row, ended, problems, _ = await run_fault(
        chaos_cluster, "poison page (worker exits)", pages_running, inject
    )
    (bad,) = poisoned
    row.notes = _reason(ended, bad)
    assert_every_job_ended_once(row, ended, problems, {bad: "worker died"})
    assert "page 1" in ended.jobs[bad]["error_message"]
    _others_carried_on(ended, bad)


async def test_page_that_needs_more_memory_than_allowed(chaos_cluster: ChaosCluster) -> None:
    """A 192-megapixel page: refused as a decompression bomb when the document is opened,
    before a pixel is decoded, so the job fails at once naming the limit (no worker is lost to
    the memory monitor) while the others complete."""
    oversized: dict[uuid.UUID, ChaosDoc] = {}

    async def inject() -> dict[uuid.UUID, ChaosDoc]:
        doc = chaos_cluster.documents.oversized()
        oversized.update(await insert(chaos_cluster.database.direct_url, [doc]))
        return oversized

    row, ended, problems, _ = await run_fault(
        chaos_cluster, "page over the memory limit (192 MP)", pages_running, inject
    )
    (bad,) = oversized
    row.notes = _reason(ended, bad)
    assert_every_job_ended_once(row, ended, problems, {bad: "decompression bomb"})
    assert "MAX_PAGE_PIXELS" in ended.jobs[bad]["error_message"]
    assert ended.jobs[bad]["attempts"] == 1  # bad input: no retry
    _others_carried_on(ended, bad)


async def test_trickling_download(chaos_cluster: ChaosCluster) -> None:
    """A file host sending a byte a second: each attempt ends at FETCH_DEADLINE_SECONDS."""
    host = TrickleHost(chaos_cluster.documents.folder)
    slow: dict[uuid.UUID, ChaosDoc] = {}

    async def inject() -> dict[uuid.UUID, ChaosDoc]:
        documents = chaos_cluster.documents
        doc = documents.served(documents.one(), host.url)
        slow.update(await insert(chaos_cluster.database.direct_url, [doc]))
        return slow

    try:
        row, ended, problems, _ = await run_fault(
            chaos_cluster, "trickling download", pages_running, inject
        )
    finally:
        host.close()
    (bad,) = slow
    row.notes = _reason(ended, bad)
    reason = f"FETCH_DEADLINE_SECONDS={FETCH_DEADLINE_SECONDS}"
    assert_every_job_ended_once(row, ended, problems, {bad: reason})
    _others_carried_on(ended, bad)


async def test_stalled_ocr_call(chaos_cluster: ChaosCluster) -> None:
    """The OCR replica stopped (SIGSTOP) for longer than PAGE_TIMEOUT_SECONDS: the pages in it
    are given up and their jobs retried once it runs again (SIGCONT)."""
    stalled = PAGE_TIMEOUT_SECONDS + 4

    async def inject() -> None:
        replicas = ray_processes(OCR_REPLICA)
        for replica in replicas:
            replica.send_signal(signal.SIGSTOP)
        try:
            await asyncio.sleep(stalled)
        finally:
            for replica in replicas:
                replica.send_signal(signal.SIGCONT)

    row, ended, problems, _ = await run_fault(
        chaos_cluster, f"stalled OCR call ({stalled} s)", pages_running, inject
    )
    row.notes = retried(ended)
    timeout = f"PAGE_TIMEOUT_SECONDS={PAGE_TIMEOUT_SECONDS}"
    failing = {
        doc: timeout for doc, job in ended.jobs.items() if job["status"] == "failed"
    }  # a job may fail only by running out of attempts on stalled pages
    assert_every_job_ended_once(row, ended, problems, failing)
    assert any(timeout in reason for reason in ended.reasons), ended.reasons


def _reason(ended: Ended, bad: uuid.UUID) -> str:
    return f"failed: {short_reason(ended.jobs[bad]['error_message'])}"


def _others_carried_on(ended: Ended, bad: uuid.UUID) -> None:
    """Another job completed before the bad one ended."""
    others = [job["updated_at"] for doc, job in ended.jobs.items() if doc != bad]
    assert min(others) < ended.jobs[bad]["updated_at"], ended.jobs
