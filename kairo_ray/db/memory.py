"""An in-memory queue and store with the same contract as :class:`~kairo_ray.db.queue.JobQueue`
and :class:`~kairo_ray.db.store.DocumentStore`, as procrastinate's ``InMemoryConnector`` stands
in for PostgreSQL: the driver's job runner is unit-tested against it, every outcome in seconds.

It keeps the rules the stored procedures enforce: a claim gets a new token; heartbeat, fail,
release and complete take effect only with the current token of a processing job (else
LeaseLostError, nothing written); a failure retries while attempts remain unless permanent; a
release gives the attempt back; cancel ends a job whatever its holder. It is not a database:
one process, no leases expiring on their own, no priorities beyond claim order.

:class:`MemoryOutbox` is the webhook outbox (:class:`~kairo_ray.db.outbox.WebhookOutbox`) on a
clock the tests may move: a completion or final failure given a payload adds its row, and
claims, leases, retries and give-ups follow the rules of ``queries.sql``.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from kairo_ray.db.outbox import Delivery, Event
from kairo_ray.errors import LeaseLostError
from kairo_ray.models import DocumentResult, Job


@dataclass
class MemoryJob:
    queue_id: UUID
    document_id: UUID
    file_url: str
    max_attempts: int
    status: str = "queued"
    attempts: int = 0
    claim_token: UUID | None = None
    error_message: str | None = None
    result: DocumentResult | None = None
    results_stored: int = 0
    vectors: dict[str, list[float]] = field(default_factory=dict)


@dataclass
class MemoryDelivery:
    """A row of the webhook outbox; ``next_attempt_at`` on :attr:`MemoryDatabase.clock`."""

    delivery_id: UUID
    document_id: UUID
    queue_id: UUID
    event: Event
    payload: dict[str, Any]
    next_attempt_at: float
    attempts: int = 0
    claim_token: UUID | None = None
    delivered_at: float | None = None
    gave_up_at: float | None = None
    last_error: str | None = None

    @property
    def pending(self) -> bool:
        return self.delivered_at is None and self.gave_up_at is None


class MemoryDatabase:
    """The shared state behind :class:`MemoryQueue`, :class:`MemoryStore` and
    :class:`MemoryOutbox`; ``clock`` gives the outbox's times (seconds)."""

    def __init__(self, max_attempts: int = 4, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_attempts = max_attempts
        self.clock = clock
        self.jobs: dict[UUID, MemoryJob] = {}
        self.outbox: dict[UUID, MemoryDelivery] = {}

    def add(self, file_url: str) -> MemoryJob:
        job = MemoryJob(uuid.uuid4(), uuid.uuid4(), file_url, self.max_attempts)
        self.jobs[job.queue_id] = job
        return job

    def held(self, job: Job) -> MemoryJob:
        row = self.jobs.get(job.queue_id)
        if row is None or row.status != "processing" or row.claim_token != job.claim_token:
            raise LeaseLostError(f"job {job.queue_id} is no longer held")
        return row

    def add_delivery(self, row: MemoryJob, event: Event, payload: dict[str, Any]) -> None:
        """The job's webhook, as the completing or failing transaction writes it."""
        if event == "failed":
            payload = {**payload, "error": row.error_message}
        delivery = MemoryDelivery(
            uuid.uuid4(), row.document_id, row.queue_id, event, payload, self.clock()
        )
        self.outbox[delivery.delivery_id] = delivery


class MemoryQueue:
    """The queue side: claim, heartbeat, fail, release, cancel, end_own_leases."""

    def __init__(self, db: MemoryDatabase) -> None:
        self.db = db

    async def claim(self) -> Job | None:
        for row in self.db.jobs.values():
            if row.status == "queued":
                row.status, row.attempts = "processing", row.attempts + 1
                row.claim_token = uuid.uuid4()
                return Job(
                    queue_id=row.queue_id,
                    document_id=row.document_id,
                    file_url=row.file_url,
                    attempts=row.attempts,
                    claim_token=row.claim_token,
                )
        return None

    async def heartbeat(self, job: Job) -> None:
        self.db.held(job)

    async def fail(
        self, job: Job, error: str, *, permanent: bool, webhook: dict[str, Any] | None = None
    ) -> str:
        row = self.db.held(job)
        row.error_message = error
        row.status = "failed" if permanent or row.attempts >= row.max_attempts else "queued"
        if row.status == "failed" and webhook is not None:
            self.db.add_delivery(row, "failed", webhook)
        return row.status

    async def release(self, job: Job, reason: str) -> None:
        row = self.db.held(job)
        row.status, row.attempts, row.error_message = "queued", row.attempts - 1, reason

    async def cancel(self, queue_id: UUID, reason: str | None = None) -> bool:
        row = self.db.jobs.get(queue_id)
        if row is None or row.status not in ("queued", "processing"):
            return False
        row.status, row.error_message, row.claim_token = "cancelled", reason, None
        return True

    async def end_own_leases(self) -> int:
        ended = [row for row in self.db.jobs.values() if row.status == "processing"]
        for row in ended:
            row.status, row.claim_token = "queued", None
        return len(ended)

    async def queue_size(self) -> int:
        return sum(1 for row in self.db.jobs.values() if row.status == "queued")


class MemoryStore:
    """The results side: complete (fenced by the claim token) and the vectors stored so far."""

    def __init__(self, db: MemoryDatabase) -> None:
        self.db = db

    async def complete(
        self, job: Job, result: DocumentResult, webhook: dict[str, Any] | None = None
    ) -> None:
        row = self.db.held(job)
        row.status, row.result = "completed", result
        row.results_stored += 1
        row.vectors = {chunk.content_hash: chunk.embedding for chunk in result.chunks}
        if webhook is not None:
            self.db.add_delivery(row, "completed", webhook)

    async def existing_embeddings(self, document_id: UUID, space: str) -> dict[str, list[float]]:
        for row in self.db.jobs.values():
            if row.document_id == document_id:
                return dict(row.vectors)
        return {}


class MemoryOutbox:
    """The deliverers' side of the outbox, as :class:`~kairo_ray.db.outbox.WebhookOutbox`."""

    def __init__(self, db: MemoryDatabase) -> None:
        self.db = db

    async def claim(self, limit: int, lease_seconds: float, max_attempts: int) -> list[Delivery]:
        now = self.db.clock()
        due = sorted(
            (d for d in self.db.outbox.values() if d.pending and d.next_attempt_at <= now),
            key=lambda d: d.next_attempt_at,
        )
        claimed: list[Delivery] = []
        for row in due:
            if row.attempts >= max_attempts:
                row.gave_up_at, row.claim_token = now, None
                row.last_error = f"{row.attempts} attempts made, the last without an outcome"
            elif len(claimed) < limit:
                row.attempts += 1
                row.next_attempt_at = now + lease_seconds
                row.claim_token = uuid.uuid4()
                claimed.append(
                    Delivery(
                        row.delivery_id,
                        row.document_id,
                        row.queue_id,
                        row.event,
                        dict(row.payload),
                        row.attempts,
                        row.claim_token,
                    )
                )
        return claimed

    def _held(self, delivery: Delivery) -> MemoryDelivery | None:
        row = self.db.outbox.get(delivery.delivery_id)
        if row is None or not row.pending or row.claim_token != delivery.claim_token:
            return None
        return row

    async def delivered(self, delivery: Delivery) -> None:
        row = self.db.outbox.get(delivery.delivery_id)
        if row is not None and row.delivered_at is None:
            row.delivered_at, row.claim_token = self.db.clock(), None

    async def retry(self, delivery: Delivery, delay_seconds: float, error: str) -> bool:
        row = self._held(delivery)
        if row is None:
            return False
        row.next_attempt_at = self.db.clock() + delay_seconds
        row.last_error, row.claim_token = error, None
        return True

    async def give_up(self, delivery: Delivery, reason: str) -> bool:
        row = self._held(delivery)
        if row is None:
            return False
        row.gave_up_at, row.last_error, row.claim_token = self.db.clock(), reason, None
        return True
