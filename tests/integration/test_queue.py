"""The job queue against a real PostgreSQL, directly and through pgbouncer in transaction mode."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from uuid import UUID, uuid4

import asyncpg
import pytest

from kairo_ray.db.connector import create_pool
from kairo_ray.db.queue import JobQueue
from kairo_ray.db.store import DocumentStore
from kairo_ray.errors import LeaseLostError
from kairo_ray.models import DocumentResult, Job
from kairo_ray.settings import Settings, load_settings
from tests.fixtures.database import DbTarget, free_port


async def _insert_documents(pool: asyncpg.Pool, count: int) -> list[UUID]:
    rows = await pool.fetch(
        "INSERT INTO documents (file_url, file_type) "
        "SELECT 'file:///doc-' || i || '.pdf', 'application/pdf' FROM generate_series(1, $1) i "
        "RETURNING id",
        count,
    )
    return [r["id"] for r in rows]


async def _job_row(pool: asyncpg.Pool, queue_id: UUID) -> asyncpg.Record:
    return await pool.fetchrow("SELECT * FROM ocr_queue WHERE id = $1", queue_id)


def _empty_result(job: Job) -> DocumentResult:
    return DocumentResult(document_id=job.document_id, text="", language=None, pages=[], chunks=[])


async def test_trigger_queues_inserted_document(
    queue: JobQueue, store: DocumentStore, pool: asyncpg.Pool
) -> None:
    document_id = await store.insert_document("file:///a.pdf", "application/pdf")
    job = await queue.claim()
    assert job is not None
    assert job.document_id == document_id
    assert (job.file_url, job.file_type, job.priority, job.attempts) == (
        "file:///a.pdf",
        "application/pdf",
        5,
        1,
    )
    assert await pool.fetchval("SELECT status FROM documents WHERE id = $1", document_id) == (
        "processing"
    )
    assert await queue.claim() is None


async def test_seed_one_argument_call_still_works(store: DocumentStore, pool: asyncpg.Pool) -> None:
    document_id = await store.insert_document("file:///seed.png", "image/png")
    row = await pool.fetchrow("SELECT * FROM get_next_ocr_job('vps-01')")
    assert row["document_id"] == document_id
    job = await _job_row(pool, row["queue_id"])
    assert job["locked_by"] == "vps-01"
    assert job["status"] == "processing"
    assert (job["locked_until"] - job["started_at"]).total_seconds() == pytest.approx(900)


async def test_claim_order_is_priority_then_age(queue: JobQueue, store: DocumentStore) -> None:
    low = await store.insert_document("file:///low", priority=2)
    old_normal = await store.insert_document("file:///old")
    new_normal = await store.insert_document("file:///new")
    urgent = await store.insert_document("file:///urgent", priority=9)
    claimed = [(await queue.claim()).document_id for _ in range(4)]  # type: ignore[union-attr]
    assert claimed == [urgent, old_normal, new_normal, low]


async def test_concurrent_claimers_take_every_job_exactly_once(
    pool: asyncpg.Pool, make_settings: Callable[..., Settings]
) -> None:
    documents = set(await _insert_documents(pool, 200))
    claims: list[tuple[str, Job]] = []

    async def claimer(queue: JobQueue) -> None:
        while (job := await queue.claim()) is not None:
            claims.append((queue.instance_id, job))

    # Each claimer has its own connection; all are connected before the first claim.
    settings = [make_settings(vps_instance_id=f"claimer-{i}") for i in range(8)]
    pools = await asyncio.gather(*(create_pool(s, min_size=1, max_size=1) for s in settings))
    try:
        await asyncio.gather(
            *(claimer(JobQueue(p, s)) for p, s in zip(pools, settings, strict=True))
        )
    finally:
        await asyncio.gather(*(p.close() for p in pools))

    assert len(claims) == 200
    assert {job.document_id for _, job in claims} == documents
    assert len({job.queue_id for _, job in claims}) == 200
    assert all(job.attempts == 1 for _, job in claims)
    held = {
        r["id"]: r["locked_by"] for r in await pool.fetch("SELECT id, locked_by FROM ocr_queue")
    }
    assert all(held[job.queue_id] == name for name, job in claims)
    assert len(Counter(name for name, _ in claims)) > 1, "one claimer took everything"


async def test_lapsed_lease_goes_to_another_worker(
    pool: asyncpg.Pool, store: DocumentStore, make_settings: Callable[..., Settings]
) -> None:
    settings_a = make_settings(vps_instance_id="worker-a", job_timeout_minutes=1 / 60)
    settings_b = make_settings(vps_instance_id="worker-b", job_timeout_minutes=1 / 60)
    worker_a, worker_b = JobQueue(pool, settings_a), JobQueue(pool, settings_b)
    await store.insert_document("file:///slow.pdf")

    first = await worker_a.claim()
    assert first is not None
    assert await worker_b.claim() is None, "the lease still runs"
    await worker_a.heartbeat(first)  # a live worker keeps its job
    await asyncio.sleep(1.2)  # worker A stops heart-beating

    second = await worker_b.claim()
    assert second is not None
    assert second.queue_id == first.queue_id
    assert second.attempts == 2
    assert second.claim_token != first.claim_token
    row = await _job_row(pool, first.queue_id)
    assert row["locked_by"] == "worker-b"
    assert "lease of worker-a expired" in row["error_message"]

    with pytest.raises(LeaseLostError):
        await worker_a.heartbeat(first)
    with pytest.raises(LeaseLostError):
        await worker_a.fail(first, "too late", permanent=False)
    with pytest.raises(LeaseLostError):
        await store.complete(first, _empty_result(first))
    new_until = await worker_b.heartbeat(second)
    assert new_until > row["locked_until"]
    assert second.locked_until == new_until


async def test_lapsed_lease_after_last_attempt_fails_the_job(
    pool: asyncpg.Pool, store: DocumentStore, make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings(job_timeout_minutes=1 / 60, max_retries=1)
    queue = JobQueue(pool, settings)
    document_id = await store.insert_document("file:///crashes-the-worker.pdf")
    for attempt in (1, 2):
        job = await queue.claim()
        assert job is not None and job.attempts == attempt
        await asyncio.sleep(1.1)
    assert await queue.claim() is None
    row = await _job_row(pool, job.queue_id)
    assert row["status"] == "failed"
    assert "lease expired" in row["error_message"]
    assert "after 2 attempts" in row["error_message"]
    assert await pool.fetchval("SELECT status FROM documents WHERE id = $1", document_id) == (
        "failed"
    )


async def test_transient_failures_back_off_then_fail(
    pool: asyncpg.Pool, store: DocumentStore, make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings(max_retries=3, retry_backoff_seconds=5)
    queue = JobQueue(pool, settings)
    document_id = await store.insert_document("file:///flaky.pdf")
    delays = []
    for attempt in range(1, 5):
        job = await queue.claim()
        assert job is not None and job.attempts == attempt
        status = await queue.fail(job, f"timeout fetching file (try {attempt})", permanent=False)
        row = await _job_row(pool, job.queue_id)
        assert row["error_message"].startswith(f"timeout fetching file (try {attempt})")
        if attempt < 4:
            assert status == "queued"
            delays.append((row["run_after"] - row["updated_at"]).total_seconds())
            assert await queue.claim() is None, "claimable before its backoff ran out"
            # Let the backoff pass without sleeping through it.
            await pool.execute("UPDATE ocr_queue SET run_after = now() WHERE id = $1", job.queue_id)
        else:
            assert status == "failed"
            assert "gave up after 4 attempts" in row["error_message"]
    assert delays == pytest.approx([5, 10, 20])
    assert await queue.claim() is None
    assert await pool.fetchval("SELECT status FROM documents WHERE id = $1", document_id) == (
        "failed"
    )


async def test_release_gives_the_job_back_without_spending_an_attempt(
    pool: asyncpg.Pool, store: DocumentStore, make_settings: Callable[..., Settings]
) -> None:
    """A stopping driver releases its jobs: even on the last attempt the document is not failed,
    and the job can be claimed again at once."""
    queue = JobQueue(pool, make_settings(max_retries=0, retry_backoff_seconds=600))
    document_id = await store.insert_document("file:///long.pdf")
    job = await queue.claim()
    assert job is not None and job.attempts == 1
    await queue.release(job, "driver stopped before finishing; queued again")
    row = await _job_row(pool, job.queue_id)
    assert (row["status"], row["attempts"], row["locked_by"], row["claim_token"]) == (
        "queued",
        0,
        None,
        None,
    )
    assert row["error_message"] == "driver stopped before finishing; queued again"
    assert await pool.fetchval("SELECT status FROM documents WHERE id = $1", document_id) != (
        "failed"
    )
    again = await queue.claim()
    assert again is not None and (again.queue_id, again.attempts) == (job.queue_id, 1)
    with pytest.raises(LeaseLostError):
        await queue.release(job, "a stale claim")  # the first claim's token no longer holds it
    assert (await _job_row(pool, job.queue_id))["status"] == "processing"


async def test_a_new_driver_ends_the_leases_of_its_dead_predecessor(
    pool: asyncpg.Pool, store: DocumentStore, make_settings: Callable[..., Settings]
) -> None:
    crashed = JobQueue(pool, make_settings(vps_instance_id="vps-a"))
    other = JobQueue(pool, make_settings(vps_instance_id="vps-b"))
    await store.insert_document("file:///a.pdf")
    await store.insert_document("file:///b.pdf")
    held, others = await crashed.claim(), await other.claim()
    assert held is not None and others is not None
    restarted = JobQueue(pool, make_settings(vps_instance_id="vps-a"))
    assert await restarted.end_own_leases() == 1
    again = await restarted.claim()
    assert again is not None and (again.queue_id, again.attempts) == (held.queue_id, 2)
    assert (
        "lease of vps-a expired during attempt 1"
        in (await _job_row(pool, held.queue_id))["error_message"]
    )
    with pytest.raises(LeaseLostError):
        await crashed.heartbeat(held)
    await other.heartbeat(others)  # another instance's lease is untouched
    assert await restarted.end_own_leases() == 1  # the job it now holds itself
    assert await other.end_own_leases() == 1


async def test_permanent_failure_fails_at_once(
    queue: JobQueue, store: DocumentStore, pool: asyncpg.Pool
) -> None:
    document_id = await store.insert_document("file:///corrupt.pdf")
    job = await queue.claim()
    assert job is not None
    assert await queue.fail(job, "not a PDF: bad header", permanent=True) == "failed"
    row = await _job_row(pool, job.queue_id)
    assert (row["status"], row["attempts"], row["error_message"]) == (
        "failed",
        1,
        "not a PDF: bad header",
    )
    assert await queue.claim() is None
    doc = await store.get_document(document_id)
    assert doc is not None
    assert (doc["status"], doc["error"]) == ("failed", "not a PDF: bad header")


async def test_cancel_and_requeue(
    queue: JobQueue, store: DocumentStore, pool: asyncpg.Pool
) -> None:
    await store.insert_document("file:///a.pdf")
    job = await queue.claim()
    assert job is not None

    assert await queue.requeue(job.queue_id) is False, "an active job cannot be re-queued"
    assert await queue.cancel(job.queue_id, "user deleted it") is True
    assert await queue.cancel(job.queue_id) is False
    with pytest.raises(LeaseLostError):
        await queue.heartbeat(job)
    with pytest.raises(LeaseLostError):
        await store.complete(job, _empty_result(job))
    row = await _job_row(pool, job.queue_id)
    assert (row["status"], row["error_message"]) == ("cancelled", "user deleted it")

    assert await queue.requeue(job.queue_id, priority=9) is True
    row = await _job_row(pool, job.queue_id)
    assert (row["status"], row["attempts"], row["priority"], row["error_message"]) == (
        "queued",
        0,
        9,
        None,
    )
    again = await queue.claim()
    assert again is not None and again.queue_id == job.queue_id and again.attempts == 1

    assert await queue.cancel(uuid4()) is False
    assert await queue.requeue(uuid4()) is False
    with pytest.raises(ValueError, match="priority"):
        await queue.requeue(job.queue_id, priority=11)


async def test_cancel_a_queued_job_then_requeue_after_completion(
    queue: JobQueue, store: DocumentStore
) -> None:
    await store.insert_document("file:///b.pdf")
    stats = await queue.stats()
    assert stats.queued == 1
    job_id = await _only_job_id(queue)
    assert await queue.cancel(job_id) is True
    assert await queue.claim() is None
    assert await queue.requeue(job_id) is True
    job = await queue.claim()
    assert job is not None
    await store.complete(job, _empty_result(job))
    assert await queue.requeue(job_id) is True
    assert (await queue.get_job(job_id))["status"] == "queued"  # type: ignore[index]


async def _only_job_id(queue: JobQueue) -> UUID:
    rows = await queue.pool.fetch("SELECT id FROM ocr_queue")
    assert len(rows) == 1
    return rows[0]["id"]


async def test_enqueue_returns_the_active_job_and_raises_priority(
    queue: JobQueue, store: DocumentStore
) -> None:
    document_id = await store.insert_document("file:///c.pdf")
    first_id, status = await queue.enqueue(document_id, priority=3)
    assert status == "queued"
    assert (await queue.get_job(first_id))["priority"] == 5  # type: ignore[index]
    same_id, _ = await queue.enqueue(document_id, priority=8)
    assert same_id == first_id
    assert (await queue.get_job(first_id))["priority"] == 8  # type: ignore[index]

    job = await queue.claim()
    assert job is not None
    await store.complete(job, _empty_result(job))
    new_id, status = await queue.enqueue(document_id)
    assert (new_id != first_id, status) == (True, "queued")

    with pytest.raises(LookupError):
        await queue.enqueue(uuid4())
    with pytest.raises(ValueError, match="priority"):
        await queue.enqueue(document_id, priority=0)


async def test_stats_and_queue_size(
    queue: JobQueue, store: DocumentStore, pool: asyncpg.Pool
) -> None:
    empty = await queue.stats()
    assert (empty.queued, empty.processing, empty.completed_today, empty.failed) == (0, 0, 0, 0)
    assert empty.oldest_queued_age_seconds is None

    for i in range(6):
        await store.insert_document(f"file:///{i}.pdf")
    await pool.execute("UPDATE ocr_queue SET created_at = now() - interval '90 seconds'")
    done = await queue.claim()
    failed = await queue.claim()
    cancelled = await queue.claim()
    running = await queue.claim()
    assert done and failed and cancelled and running
    await store.complete(done, _empty_result(done))
    await queue.fail(failed, "bad scan", permanent=True)
    await queue.cancel(cancelled.queue_id)

    stats = await queue.stats()
    assert (stats.queued, stats.processing, stats.completed_today) == (2, 1, 1)
    assert (stats.failed, stats.cancelled) == (1, 1)
    assert stats.oldest_queued_age_seconds == pytest.approx(90, abs=5)
    assert await queue.queue_size() == 2


async def test_notify_wakes_a_listener(
    queue: JobQueue, store: DocumentStore, db_target: DbTarget
) -> None:
    async with queue.listener() as wake:
        if db_target.name == "pgbouncer":
            # Transaction pooling: LISTEN would be bound to a shared server connection.
            assert not queue.can_listen and not wake.listening
            started = time.monotonic()
            assert await wake.wait(0.3) is False
            assert time.monotonic() - started >= 0.29
            return
        assert wake.listening
        assert await wake.wait(0.05) is False
        waiter = asyncio.create_task(wake.wait(10))
        await asyncio.sleep(0.05)
        started = time.monotonic()
        await store.insert_document("file:///wake-up.pdf")
        assert await waiter is True
        assert time.monotonic() - started < 2
        # A notification that arrives between claim and wait is kept, not lost.
        job = await queue.claim()
        assert job is not None
        assert await queue.fail(job, "connection reset", permanent=False) == "queued"
        assert await wake.wait(5) is True


async def test_listen_url_makes_pgbouncer_deployments_listen(
    store: DocumentStore, pool: asyncpg.Pool, db_target: DbTarget, make_settings
) -> None:
    settings = make_settings(database_listen_url=db_target.direct_url)
    queue = JobQueue(pool, settings)
    async with queue.listener() as wake:
        assert wake.listening
        waiter = asyncio.create_task(wake.wait(10))
        await asyncio.sleep(0.05)
        await store.insert_document("file:///through-the-pooler.pdf")
        assert await waiter is True


async def test_listener_survives_a_dropped_connection(
    clean_db: None, database_url: str, tmp_path: Path
) -> None:
    """Direct connection only: through a transaction pooler there is no LISTEN to lose."""
    settings = load_settings(
        database_url=database_url, data_dir=tmp_path, vps_instance_id="test-node"
    )
    pool = await create_pool(settings, min_size=1, max_size=2)
    try:
        store = DocumentStore(pool)
        async with JobQueue(pool, settings).listener() as wake:
            assert wake.listening
            await pool.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE query LIKE 'LISTEN%' AND pid <> pg_backend_pid()"
            )
            # Losing the connection wakes the poller (work may have come meanwhile), and the
            # next wait listens on a new connection.
            assert await wake.wait(5) is True
            await wake.wait(0.05)
            assert wake.listening
            waiter = asyncio.create_task(wake.wait(10))
            await asyncio.sleep(0.05)
            await store.insert_document("file:///after-reconnect.pdf")
            assert await waiter is True
    finally:
        await pool.close()


async def test_unreachable_listen_url_falls_back_to_polling(
    pool: asyncpg.Pool, make_settings: Callable[..., Settings]
) -> None:
    closed_port = free_port()
    settings = make_settings(database_listen_url=f"postgresql://postgres@127.0.0.1:{closed_port}/x")
    queue = JobQueue(pool, settings)
    assert queue.can_listen
    async with queue.listener() as wake:
        assert not wake.listening
        started = time.monotonic()
        assert await wake.wait(0.2) is False
        assert time.monotonic() - started >= 0.19
        assert await queue.claim() is None
