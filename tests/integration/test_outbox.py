"""The webhook outbox against a real PostgreSQL, directly and through pgbouncer in transaction
mode: rows written in the transaction that completes or fails a job, claims that never overlap,
delivery to a real HTTP receiver, and a new deliverer finishing what a stopped one left.

The receiver is a local HTTP server on 127.0.0.1 standing in for Kairo's web app (an internet
host that cannot exist here). WEBHOOK_URL is the operator's own setting and passes no address
filter (only documents' file_url does), so loopback needs no escape hatch.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from uuid import UUID

import asyncpg
import pytest

import kairo_ray.db.store
from kairo_ray.app import webhook
from kairo_ray.app.webhook import (
    DELIVERY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    WebhookDeliverer,
    completed_payload,
    failed_payload,
    verify,
    webhook_client,
)
from kairo_ray.db.connector import create_pool
from kairo_ray.db.outbox import WebhookOutbox
from kairo_ray.db.queue import JobQueue
from kairo_ray.db.store import DocumentStore
from kairo_ray.errors import LeaseLostError
from kairo_ray.models import Job
from kairo_ray.settings import Settings
from tests.integration.test_store import make_result

SECRET = "s3cret"


async def _claimed(queue: JobQueue, store: DocumentStore, name: str = "scan.pdf") -> Job:
    await store.insert_document(f"file:///{name}", "application/pdf")
    job = await queue.claim()
    assert job is not None
    return job


async def _failed_jobs(queue: JobQueue, store: DocumentStore, settings: Settings, n: int) -> None:
    for i in range(n):
        job = await _claimed(queue, store, f"broken-{i}.pdf")
        payload = failed_payload(settings, job)
        assert await queue.fail(job, "corrupt", permanent=True, webhook=payload) == "failed"


async def test_the_outbox_is_closed_to_supabase_clients(pool: asyncpg.Pool) -> None:
    """As migration 0003's tables: RLS on, one policy, for kairo-ray's own role (the grants to
    anon and authenticated are checked in test_supabase_security.py)."""
    assert await pool.fetchval(
        "SELECT relrowsecurity FROM pg_class WHERE oid = 'kairo_webhook_outbox'::regclass"
    )
    policies = await pool.fetch(
        "SELECT policyname, roles::text[] AS roles FROM pg_policies "
        "WHERE tablename = 'kairo_webhook_outbox'"
    )
    assert [(p["policyname"], p["roles"]) for p in policies] == [
        ("kairo_ray_service", [await pool.fetchval("SELECT current_user")])
    ]


async def test_a_completion_writes_its_webhook_in_the_same_transaction(
    queue: JobQueue, store: DocumentStore, pool: asyncpg.Pool, db_settings: Settings
) -> None:
    outbox = WebhookOutbox(pool)
    job = await _claimed(queue, store)
    result = make_result(job, ["uno", "dos"])
    await store.complete(job, result, webhook=completed_payload(db_settings, job, result))
    (row,) = await outbox.of_job(job.queue_id)
    assert (row["document_id"], row["event"], row["attempts"]) == (job.document_id, "completed", 0)
    assert row["payload"]["chunks"] == 2 and "error" not in row["payload"]
    assert row["delivered_at"] is None and row["gave_up_at"] is None

    # Completing again with the same claim: the job is no longer held, nothing is added.
    with pytest.raises(LeaseLostError):
        await store.complete(job, result, webhook={"event": "again"})
    assert len(await outbox.of_job(job.queue_id)) == 1


async def test_a_completion_that_rolls_back_leaves_no_webhook(
    queue: JobQueue,
    store: DocumentStore,
    pool: asyncpg.Pool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The outbox row is written, then the transaction fails: the row goes with the rest."""
    real = kairo_ray.db.store.add_delivery

    async def then_fail(*args: Any) -> Any:
        await real(*args)
        raise RuntimeError("connection lost before COMMIT")

    monkeypatch.setattr(kairo_ray.db.store, "add_delivery", then_fail)
    job = await _claimed(queue, store)
    with pytest.raises(RuntimeError):
        await store.complete(job, make_result(job, ["uno"]), webhook={"event": "x"})
    assert await WebhookOutbox(pool).of_job(job.queue_id) == []
    assert (await queue.get_job(job.queue_id))["status"] == "processing"  # type: ignore[index]


async def test_only_a_final_failure_writes_a_webhook_with_the_stored_error(
    queue: JobQueue, store: DocumentStore, pool: asyncpg.Pool, db_settings: Settings
) -> None:
    outbox = WebhookOutbox(pool)
    job = await _claimed(queue, store)
    payload = failed_payload(db_settings, job)
    assert await queue.fail(job, "node lost", permanent=False, webhook=payload) == "queued"
    assert await outbox.of_job(job.queue_id) == []
    await asyncio.sleep(0.15)  # the retry's backoff (RETRY_BACKOFF_SECONDS=0.1)
    job = await queue.claim()
    assert job is not None
    assert await queue.fail(job, "corrupt PDF", permanent=True, webhook=payload) == "failed"
    (row,) = await outbox.of_job(job.queue_id)
    assert row["event"] == "failed"
    assert row["payload"] == {**payload, "error": "corrupt PDF"}


async def test_concurrent_claimers_never_take_the_same_row(
    queue: JobQueue, store: DocumentStore, pool: asyncpg.Pool, db_settings: Settings
) -> None:
    await _failed_jobs(queue, store, db_settings, 24)
    outbox = WebhookOutbox(pool)
    taken: list[Any] = []
    while True:
        rounds = await asyncio.gather(*(outbox.claim(3, 60, 5) for _ in range(6)))
        claimed = [d for batch in rounds for d in batch]
        if not claimed:
            break
        taken += claimed
    ids = [d.delivery_id for d in taken]
    assert len(ids) == len(set(ids)) == 24
    assert all(d.attempts == 1 for d in taken)


async def test_a_lease_fences_the_claim_and_lapses(
    queue: JobQueue, store: DocumentStore, pool: asyncpg.Pool, db_settings: Settings
) -> None:
    await _failed_jobs(queue, store, db_settings, 1)
    outbox = WebhookOutbox(pool)
    (first,) = await outbox.claim(10, 0.5, 2)
    assert await outbox.claim(10, 0.5, 2) == [], "held by the lease"
    await asyncio.sleep(0.6)
    (second,) = await outbox.claim(10, 0.5, 2)
    assert second.delivery_id == first.delivery_id and second.attempts == 2
    assert not await outbox.retry(first, 1, "late"), "a stale claim reschedules nothing"
    assert await outbox.retry(second, 0, "HTTP 500")
    (row,) = await outbox.of_job(second.queue_id)
    assert row["last_error"] == "HTTP 500" and row["claim_token"] is None
    # Its last attempt was made: the next claim gives it up instead of sending it a third time.
    assert await outbox.claim(10, 0.5, 2) == []
    (row,) = await outbox.of_job(second.queue_id)
    assert row["gave_up_at"] is not None and "HTTP 500" in row["last_error"]


class Receiver:
    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.hang_first = threading.Event()  # set: the first request gets no answer (for now)
        self.release = threading.Event()
        self.url = ""


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            state.requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
            if state.hang_first.is_set() and len(state.requests) == 1:
                state.release.wait(10)
                return  # the sender has gone: nothing to answer
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    state.url = f"http://127.0.0.1:{server.server_port}/hook"
    yield state
    state.release.set()
    server.shutdown()


def _webhook_settings(make_settings: Callable[..., Settings], url: str) -> Settings:
    return make_settings(
        webhook_enabled=True,
        webhook_url=url,
        webhook_secret=SECRET,
        webhook_timeout_seconds=2,
        webhook_max_attempts=3,
    )


async def _wait_for(condition: Callable[[], Any], seconds: float = 10) -> None:
    async with asyncio.timeout(seconds):
        while not await condition():
            await asyncio.sleep(0.05)


async def test_the_receiver_gets_the_signed_delivery_once(
    queue: JobQueue,
    store: DocumentStore,
    pool: asyncpg.Pool,
    make_settings: Callable[..., Settings],
    receiver: Receiver,
) -> None:
    settings = _webhook_settings(make_settings, receiver.url)
    job = await _claimed(queue, store)
    result = make_result(job, ["uno"])
    await store.complete(job, result, webhook=completed_payload(settings, job, result))
    outbox = WebhookOutbox(pool)
    deliverer = WebhookDeliverer(lambda: outbox, settings)
    async with webhook_client(settings) as client:
        assert await deliverer.deliver_due(client) == 1
        assert await deliverer.deliver_due(client) == 0

    (row,) = await outbox.of_job(job.queue_id)
    [(headers, body)] = receiver.requests
    assert headers[DELIVERY_HEADER.lower()] == str(row["delivery_id"])
    timestamp, signature = headers[TIMESTAMP_HEADER.lower()], headers[SIGNATURE_HEADER.lower()]
    assert verify(SECRET, timestamp, body, signature)
    sent = json.loads(body)
    assert sent["delivery_id"] == str(row["delivery_id"])
    assert sent["event"] == "document.ocr_completed" and sent["job_id"] == str(job.queue_id)
    assert row["delivered_at"] is not None and row["attempts"] == 1


async def test_a_new_deliverer_sends_what_a_stopped_one_left(
    queue: JobQueue,
    store: DocumentStore,
    pool: asyncpg.Pool,
    make_settings: Callable[..., Settings],
    receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The first deliverer is stopped mid-POST (its driver went down): its claim lapses and a
    deliverer of a new driver, with its own connections, delivers the row under the same id."""
    monkeypatch.setattr(webhook, "LEASE_MARGIN_SECONDS", 0.5)
    settings = _webhook_settings(make_settings, receiver.url)
    receiver.hang_first.set()
    await _failed_jobs(queue, store, settings, 1)
    first = WebhookDeliverer(lambda: WebhookOutbox(pool), settings)
    running = asyncio.create_task(first.run())

    async def sent(n: int) -> bool:
        return len(receiver.requests) >= n

    await _wait_for(lambda: sent(1))
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running

    new_pool = await create_pool(settings, min_size=1, max_size=2)
    try:
        outbox = WebhookOutbox(new_pool)
        second = WebhookDeliverer(lambda: outbox, settings)
        task = asyncio.create_task(second.run())
        try:
            await _wait_for(lambda: sent(2))
        finally:
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
        (headers_1, _), (headers_2, body_2) = receiver.requests
        assert headers_1[DELIVERY_HEADER.lower()] == headers_2[DELIVERY_HEADER.lower()]
        queue_id = UUID(json.loads(body_2)["job_id"])
        (row,) = await outbox.of_job(queue_id)
        assert row["delivered_at"] is not None and row["attempts"] == 2
        assert second.counts == {"delivered": 1}
    finally:
        await new_pool.close()
