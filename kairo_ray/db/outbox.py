"""The webhook outbox (``kairo_webhook_outbox``, migration 0007): rows to send, and their fate.

A row is written by :func:`add_delivery` inside the transaction that completes or fails a job,
so the webhook exists exactly when that outcome is committed. Deliverers then claim due rows for
a lease (``FOR UPDATE SKIP LOCKED``: two never send the same row at once), POST them and record
the outcome: delivered, retried later, or given up with the reason kept. The state lives in the
table, so a restarted driver (or another cluster) finishes what a stopped one left.

Every statement is one short query from ``queries.sql``: it works through pgbouncer in
transaction mode.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal
from uuid import UUID

import asyncpg

from kairo_ray.db.queries import Q

Event = Literal["completed", "failed"]

MAX_ERROR_CHARS = 2000


@dataclass(frozen=True)
class Delivery:
    """A claimed outbox row; ``claim_token`` fences this claim's retry or give-up."""

    delivery_id: UUID
    document_id: UUID
    queue_id: UUID
    event: str
    payload: dict[str, Any]
    attempts: int
    claim_token: UUID


async def add_delivery(
    conn: asyncpg.Connection, queue_id: UUID, event: Event, payload: dict[str, Any]
) -> UUID:
    """Write job ``queue_id``'s webhook on ``conn``, in the caller's transaction."""
    delivery_id: UUID = await conn.fetchval(
        Q.insert_webhook_delivery, queue_id, event, json.dumps(payload, default=str)
    )
    return delivery_id


class WebhookOutbox:
    """The deliverers' side of the outbox."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def claim(self, limit: int, lease_seconds: float, max_attempts: int) -> list[Delivery]:
        """Up to ``limit`` due rows, each held for ``lease_seconds`` with its attempt counted;
        due rows whose last attempt never reported back are given up meanwhile."""
        rows = await self.pool.fetch(
            Q.claim_webhook_deliveries, limit, float(lease_seconds), max_attempts
        )
        return [Delivery(**{**dict(r), "payload": json.loads(r["payload"])}) for r in rows]

    async def delivered(self, delivery: Delivery) -> None:
        await self.pool.execute(Q.webhook_delivered, delivery.delivery_id)

    async def retry(self, delivery: Delivery, delay_seconds: float, error: str) -> bool:
        """Send again in ``delay_seconds``; False when this claim no longer holds the row."""
        next_attempt = await self.pool.fetchval(
            Q.webhook_retry,
            delivery.delivery_id,
            delivery.claim_token,
            float(delay_seconds),
            error[:MAX_ERROR_CHARS],
        )
        return next_attempt is not None

    async def give_up(self, delivery: Delivery, reason: str) -> bool:
        """No more attempts, ``reason`` kept; False when this claim no longer holds the row."""
        return (
            await self.pool.fetchval(
                Q.webhook_give_up,
                delivery.delivery_id,
                delivery.claim_token,
                reason[:MAX_ERROR_CHARS],
            )
            is not None
        )

    async def of_job(self, queue_id: UUID) -> list[dict[str, Any]]:
        """Job ``queue_id``'s webhook rows, oldest first."""
        rows = await self.pool.fetch(Q.webhook_deliveries_of_job, queue_id)
        return [{**dict(r), "payload": json.loads(r["payload"])} for r in rows]
