"""Webhooks: the signature contract, and delivery from the outbox (at least once, one delivery
id per event, backoff with jitter, bounded attempts) against the in-memory outbox on a fake clock.

The receiver is a local HTTP server on 127.0.0.1 standing in for Kairo's web app, an internet
host that cannot exist here. WEBHOOK_URL is the operator's setting and goes through no address
filter, so no escape hatch is needed for loopback.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from kairo_ray.app.webhook import (
    DELIVERY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    WebhookDeliverer,
    backoff_seconds,
    lease_seconds,
    sign,
    verify,
    webhook_client,
)
from kairo_ray.db.memory import MemoryDatabase, MemoryDelivery, MemoryOutbox, MemoryQueue
from kairo_ray.settings import Settings, load_settings

SECRET = "s3cret"


def test_signature_round_trip_and_tampering() -> None:
    body = b'{"document_id":"x"}'
    timestamp = str(int(time.time()))
    signature = sign(SECRET, timestamp, body)
    assert signature.startswith("sha256=") and len(signature) == 7 + 64
    assert verify(SECRET, timestamp, body, signature)
    assert not verify(SECRET, timestamp, body + b" ", signature)
    assert not verify("other", timestamp, body, signature)
    stale = str(int(time.time()) - 3600)
    assert not verify(SECRET, stale, body, sign(SECRET, stale, body))


def test_backoff_doubles_is_capped_and_jittered_in_its_upper_half() -> None:
    settings = _settings("http://127.0.0.1:9/hook")  # base 30 s, cap 3600 s
    assert backoff_seconds(1, settings, lambda: 1.0) == 30
    assert backoff_seconds(1, settings, lambda: 0.0) == 15
    assert backoff_seconds(3, settings, lambda: 1.0) == 120
    assert backoff_seconds(20, settings, lambda: 1.0) == 3600
    assert backoff_seconds(20, settings, lambda: 0.0) == 1800


class Receiver:
    """Answers POSTs with ``statuses`` in turn (204 once they run out) and keeps each request."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = statuses
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.url = ""

    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(body) for _, body in self.requests]


@pytest.fixture
def receiver(request: pytest.FixtureRequest) -> Iterator[Receiver]:
    state = Receiver(list(getattr(request, "param", [])))

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            state.requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
            self.send_response(state.statuses.pop(0) if state.statuses else 204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    state.url = f"http://127.0.0.1:{server.server_port}/hook"
    yield state
    server.shutdown()


def _settings(url: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "webhook_enabled": True,
        "webhook_url": url,
        "webhook_secret": SECRET,
        "webhook_timeout_seconds": 5,
        "webhook_max_attempts": 3,
        "webhook_retry_base_seconds": 30,
        "poll_interval_seconds": 0.05,
    }
    return load_settings(_env_file=None, **{**values, **overrides})


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def _failed_job(db: MemoryDatabase) -> MemoryDelivery:
    """A job that failed for good, its webhook in the outbox as the failing write left it."""
    row = db.add("broken.pdf")
    claimed = await MemoryQueue(db).claim()
    assert claimed is not None
    status = await MemoryQueue(db).fail(
        claimed, "corrupt PDF", permanent=True, webhook={"event": "document.ocr_failed"}
    )
    assert status == "failed"
    (delivery,) = (d for d in db.outbox.values() if d.queue_id == row.queue_id)
    return delivery


def _deliverer(db: MemoryDatabase, settings: Settings) -> WebhookDeliverer:
    outbox = MemoryOutbox(db)
    return WebhookDeliverer(lambda: outbox, settings, draw=lambda: 1.0)


async def _round(deliverer: WebhookDeliverer, settings: Settings) -> int:
    async with webhook_client(settings) as client:
        return await deliverer.deliver_due(client)


async def test_a_due_delivery_is_sent_once_signed_with_its_delivery_id(
    receiver: Receiver,
) -> None:
    db = MemoryDatabase(clock=Clock())
    delivery = await _failed_job(db)
    settings = _settings(receiver.url)
    deliverer = _deliverer(db, settings)

    assert await _round(deliverer, settings) == 1
    assert await _round(deliverer, settings) == 0, "delivered: never sent again"
    [(headers, body)] = receiver.requests
    assert verify(
        SECRET, headers[TIMESTAMP_HEADER.lower()], body, headers[SIGNATURE_HEADER.lower()]
    )
    assert headers[DELIVERY_HEADER.lower()] == str(delivery.delivery_id)
    assert json.loads(body) == {
        "event": "document.ocr_failed",
        "error": "corrupt PDF",
        "delivery_id": str(delivery.delivery_id),
    }
    assert delivery.delivered_at == db.clock() and delivery.attempts == 1
    assert deliverer.counts == {"delivered": 1}


@pytest.mark.parametrize("receiver", [[500, 503]], indirect=True)
async def test_a_server_error_is_retried_with_backoff_under_the_same_delivery_id(
    receiver: Receiver,
) -> None:
    clock = Clock()
    db = MemoryDatabase(clock=clock)
    delivery = await _failed_job(db)
    settings = _settings(receiver.url)
    deliverer = _deliverer(db, settings)

    assert await _round(deliverer, settings) == 1
    assert delivery.pending and delivery.last_error == "HTTP 500"
    assert delivery.next_attempt_at == clock.now + 30, "base wait, jitter drawn at its top"
    clock.now += 29
    assert await _round(deliverer, settings) == 0, "not due yet"
    clock.now += 1
    assert await _round(deliverer, settings) == 1
    assert delivery.last_error == "HTTP 503" and delivery.next_attempt_at == clock.now + 60
    clock.now += 60
    assert await _round(deliverer, settings) == 1
    assert delivery.delivered_at is not None and delivery.attempts == 3

    ids = {headers[DELIVERY_HEADER.lower()] for headers, _ in receiver.requests}
    assert ids == {str(delivery.delivery_id)}
    assert {body["delivery_id"] for body in receiver.bodies()} == ids
    assert deliverer.counts == {"retried": 2, "delivered": 1}


@pytest.mark.parametrize("receiver", [[500, 500, 500, 500]], indirect=True)
async def test_it_gives_up_after_max_attempts_keeping_the_reason(receiver: Receiver) -> None:
    clock = Clock()
    db = MemoryDatabase(clock=clock)
    delivery = await _failed_job(db)
    settings = _settings(receiver.url, webhook_max_attempts=3)
    deliverer = _deliverer(db, settings)
    for _ in range(5):
        await _round(deliverer, settings)
        clock.now += 10_000
    assert len(receiver.requests) == 3
    assert delivery.gave_up_at is not None and delivery.delivered_at is None
    assert delivery.last_error == "HTTP 500 (3 attempts made)"


@pytest.mark.parametrize(
    ("receiver", "given_up", "error"),
    [([400], True, "HTTP 400 (refused, not retried)"), ([429], False, "HTTP 429")],
    indirect=["receiver"],
)
async def test_a_refusal_is_not_retried_but_a_rate_limit_is(
    receiver: Receiver, given_up: bool, error: str
) -> None:
    db = MemoryDatabase(clock=Clock())
    delivery = await _failed_job(db)
    settings = _settings(receiver.url)
    await _round(_deliverer(db, settings), settings)
    assert (delivery.gave_up_at is not None, delivery.last_error) == (given_up, error)


async def test_an_unreachable_receiver_is_retried() -> None:
    db = MemoryDatabase(clock=Clock())
    delivery = await _failed_job(db)
    settings = _settings("http://127.0.0.1:9/hook")
    await _round(_deliverer(db, settings), settings)
    assert delivery.pending and delivery.last_error.startswith("ConnectError")


async def test_a_deliverer_that_died_mid_send_leaves_the_row_to_the_next(
    receiver: Receiver,
) -> None:
    """Claimed, never reported back: the lease runs out and another deliverer sends it, under
    the same delivery id; the last attempt's lapse gives it up instead."""
    clock = Clock()
    db = MemoryDatabase(clock=clock)
    delivery = await _failed_job(db)
    settings = _settings(receiver.url, webhook_max_attempts=2)
    (claimed,) = await MemoryOutbox(db).claim(16, lease_seconds(settings), 2)
    assert claimed.delivery_id == delivery.delivery_id
    assert await _round(_deliverer(db, settings), settings) == 0, "held by the lease"
    clock.now += lease_seconds(settings)
    await MemoryOutbox(db).claim(16, lease_seconds(settings), 2)  # died again
    clock.now += lease_seconds(settings)
    assert await _round(_deliverer(db, settings), settings) == 0
    assert not receiver.requests and delivery.gave_up_at is not None
    assert "2 attempts made, the last without an outcome" in str(delivery.last_error)


async def test_a_stale_claim_cannot_reschedule_what_another_holds() -> None:
    clock = Clock()
    db = MemoryDatabase(clock=clock)
    await _failed_job(db)
    outbox = MemoryOutbox(db)
    (first,) = await outbox.claim(1, 40, 5)
    clock.now += 40
    (second,) = await outbox.claim(1, 40, 5)
    assert first.delivery_id == second.delivery_id and first.claim_token != second.claim_token
    assert not await outbox.retry(first, 30, "late")
    assert not await outbox.give_up(first, "late")
    await outbox.delivered(first)  # a late success still counts
    assert db.outbox[first.delivery_id].delivered_at is not None


async def test_the_loop_wakes_when_told_and_survives_a_missing_connection(
    receiver: Receiver,
) -> None:
    db = MemoryDatabase(clock=Clock())
    outbox: list[MemoryOutbox] = []
    settings = _settings(receiver.url, poll_interval_seconds=60)
    deliverer = WebhookDeliverer(lambda: outbox[0] if outbox else None, settings)
    task = asyncio.create_task(deliverer.run())
    try:
        await asyncio.sleep(0.05)  # a round without a connection
        delivery = await _failed_job(db)
        outbox.append(MemoryOutbox(db))
        deliverer.wake.set()  # a job finished: no waiting for the 60 s poll
        for _ in range(100):
            if delivery.delivered_at is not None:
                break
            await asyncio.sleep(0.02)
        assert delivery.delivered_at is not None and len(receiver.requests) == 1
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
