"""Webhooks to Kairo (WEBHOOK_URL), signed, sent at least once from the outbox.

A job's webhook is a row of ``kairo_webhook_outbox`` written in the transaction that completes
or finally fails it (:mod:`kairo_ray.db.outbox`); :class:`WebhookDeliverer`, run by the driver,
sends the due rows. The body is JSON with ``delivery_id`` added. Headers:

- ``X-Kairo-Delivery``: the delivery id, the same on every attempt of one event: a receiver that
  sees it again has a retry of something it may already have handled.
- ``X-Kairo-Timestamp``: Unix seconds when this attempt was signed.
- ``X-Kairo-Signature``: ``sha256=`` + hex HMAC-SHA256 of ``"{timestamp}.{body}"`` keyed with
  WEBHOOK_SECRET. Receivers recompute it and reject stale timestamps to stop replays.

A 2xx answer delivers it. Other answers and network errors are retried with exponential backoff
and jitter until WEBHOOK_MAX_ATTEMPTS; a 4xx other than 408 and 429 is the receiver refusing it
and is not retried. Either way the reason stays in the row. A webhook never fails a job.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from kairo_ray.db.outbox import Delivery
from kairo_ray.models import DocumentResult, Job
from kairo_ray.settings import Settings

log = logging.getLogger(__name__)

TIMESTAMP_HEADER = "X-Kairo-Timestamp"
SIGNATURE_HEADER = "X-Kairo-Signature"
DELIVERY_HEADER = "X-Kairo-Delivery"

BATCH = 16
"""Deliveries one round claims and sends side by side: its lease covers one POST's limit."""

LEASE_MARGIN_SECONDS = 30.0
"""A claim lasts one POST's limit plus this, then another deliverer may send the row (the
claimer died mid-send): room for recording the outcome on a slow database."""

RETRIED_CLIENT_ERRORS = frozenset({408, 429})
"""4xx answers that mean "later" (timeout, rate limit) rather than "never"."""


def sign(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(
    secret: str, timestamp: str, body: bytes, signature: str, max_age_s: float = 300
) -> bool:
    """What a receiver does; kept here so the tests check the documented contract."""
    if abs(time.time() - float(timestamp)) > max_age_s:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), signature)


def completed_payload(settings: Settings, job: Job, result: DocumentResult) -> dict[str, Any]:
    """The webhook of a completed job, as Kairo has received it since the seed."""
    return {
        "event": "document.ocr_completed",
        "document_id": str(job.document_id),
        "job_id": str(job.queue_id),
        "page_count": len(result.pages),
        "language": result.language,
        "chunks": len(result.chunks),
        "instance_id": settings.vps_instance_id,
    }


def failed_payload(settings: Settings, job: Job) -> dict[str, Any]:
    """The webhook of a job that failed for good; the outbox adds its stored ``error``."""
    return {
        "event": "document.ocr_failed",
        "document_id": str(job.document_id),
        "job_id": str(job.queue_id),
        "attempts": job.attempts,
        "instance_id": settings.vps_instance_id,
    }


def backoff_seconds(
    attempts: int, settings: Settings, draw: Callable[[], float] = random.random
) -> float:
    """Wait after failed attempt number ``attempts``: base × 2^(attempts-1), capped, then drawn
    from its upper half, so receivers coming back are not hit by every sender at once."""
    ceiling = min(
        settings.webhook_retry_max_seconds,
        settings.webhook_retry_base_seconds * 2.0 ** max(attempts - 1, 0),
    )
    return ceiling * (0.5 + draw() / 2)


@dataclass(frozen=True)
class Failure:
    """Why one attempt did not deliver; ``final``: the receiver refused it, do not retry."""

    reason: str
    final: bool = False


class Outbox(Protocol):
    """:class:`~kairo_ray.db.outbox.WebhookOutbox` or the in-memory one."""

    async def claim(
        self, limit: int, lease_seconds: float, max_attempts: int
    ) -> list[Delivery]: ...

    async def delivered(self, delivery: Delivery) -> None: ...

    async def retry(self, delivery: Delivery, delay_seconds: float, error: str) -> bool: ...

    async def give_up(self, delivery: Delivery, reason: str) -> bool: ...


def lease_seconds(settings: Settings) -> float:
    """How long a deliverer holds a claimed webhook: see :data:`LEASE_MARGIN_SECONDS`."""
    return settings.webhook_timeout_seconds + LEASE_MARGIN_SECONDS


def webhook_client(settings: Settings) -> httpx.AsyncClient:
    """One client for a deliverer's life (kept-alive connections to the receiver); redirects are
    not followed: the signed request goes to WEBHOOK_URL and nowhere else."""
    return httpx.AsyncClient(timeout=settings.webhook_timeout_seconds, follow_redirects=False)


async def post(client: httpx.AsyncClient, settings: Settings, delivery: Delivery) -> Failure | None:
    """One attempt: POST the signed delivery; None when the receiver took it."""
    body = json.dumps(
        {**delivery.payload, "delivery_id": str(delivery.delivery_id)},
        separators=(",", ":"),
        default=str,
    ).encode()
    secret = settings.webhook_secret.get_secret_value() if settings.webhook_secret else ""
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        DELIVERY_HEADER: str(delivery.delivery_id),
        TIMESTAMP_HEADER: timestamp,
        SIGNATURE_HEADER: sign(secret, timestamp, body),
    }
    limit = settings.webhook_timeout_seconds
    try:
        # httpx's timeout is per read; this bounds the whole exchange within the claim's lease.
        async with asyncio.timeout(limit):
            response = await client.post(str(settings.webhook_url), content=body, headers=headers)
    except TimeoutError:
        return Failure(f"no answer within WEBHOOK_TIMEOUT_SECONDS={limit:g}")
    except httpx.HTTPError as exc:
        return Failure(f"{type(exc).__name__}: {exc}")
    status = response.status_code
    if 200 <= status < 300:
        return None
    refused = 400 <= status < 500 and status not in RETRIED_CLIENT_ERRORS
    return Failure(f"HTTP {status}", final=refused)


class WebhookDeliverer:
    """Sends the outbox's due rows; any number may run (one per driver), the claims keep them
    apart. ``outbox()`` is the current outbox, None while the driver has no connection."""

    def __init__(
        self,
        outbox: Callable[[], Outbox | None],
        settings: Settings,
        *,
        draw: Callable[[], float] = random.random,
        batch: int = BATCH,
    ) -> None:
        self._outbox = outbox
        self._settings = settings
        self._draw = draw
        self._batch = batch
        self.wake = asyncio.Event()
        """Set it when a job has finished: its webhook is due now, not at the next poll."""
        self.counts: Counter[str] = Counter()
        """Attempts by outcome: delivered, retried, given_up, unrecorded."""

    async def run(self) -> None:
        """Deliver until cancelled: a full batch goes straight on to the next, otherwise wait
        for :attr:`wake` or POLL_INTERVAL_SECONDS. Database errors wait a round."""
        async with webhook_client(self._settings) as client:
            while True:
                sent = 0
                try:
                    sent = await self.deliver_due(client)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.warning("webhook outbox unreachable; trying again", exc_info=True)
                if sent < self._batch:
                    await self._sleep()

    async def deliver_due(self, client: httpx.AsyncClient) -> int:
        """Claim a batch of due deliveries, send them side by side, record each outcome;
        return how many were claimed."""
        outbox = self._outbox()
        if outbox is None:
            return 0
        settings = self._settings
        batch = await outbox.claim(
            self._batch, lease_seconds(settings), settings.webhook_max_attempts
        )
        await asyncio.gather(*(self._deliver(outbox, client, d) for d in batch))
        return len(batch)

    async def _deliver(self, outbox: Outbox, client: httpx.AsyncClient, item: Delivery) -> None:
        settings = self._settings
        failure = await post(client, settings, item)
        where = {"delivery_id": str(item.delivery_id), "document_id": str(item.document_id)}
        try:
            if failure is None:
                await outbox.delivered(item)
                outcome = "delivered"
            elif failure.final or item.attempts >= settings.webhook_max_attempts:
                why = "refused, not retried" if failure.final else f"{item.attempts} attempts made"
                reason = f"{failure.reason} ({why})"
                await outbox.give_up(item, reason)
                outcome = "given_up"
                log.error("webhook %s given up: %s", item.delivery_id, reason, extra=where)
            else:
                delay = backoff_seconds(item.attempts, settings, self._draw)
                await outbox.retry(item, delay, failure.reason)
                outcome = "retried"
                log.warning(
                    "webhook %s attempt %d/%d failed (%s); next in %.0f s",
                    item.delivery_id,
                    item.attempts,
                    settings.webhook_max_attempts,
                    failure.reason,
                    delay,
                    extra=where,
                )
        except asyncio.CancelledError:
            raise
        except Exception:  # the lease runs out and the row is sent again: at least once
            outcome = "unrecorded"
            log.warning("could not record a webhook's outcome", extra=where, exc_info=True)
        self.counts[outcome] += 1

    async def _sleep(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.wake.wait(), self._settings.poll_interval_seconds)
        self.wake.clear()
