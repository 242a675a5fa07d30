"""An in-memory queue and store with the same contract as :class:`~kairo_ray.db.queue.JobQueue`
and :class:`~kairo_ray.db.store.DocumentStore`, as procrastinate's ``InMemoryConnector`` stands
in for PostgreSQL: the driver's job runner is unit-tested against it, every outcome in seconds.

It keeps the rules the stored procedures enforce: a claim gets a new token; heartbeat, fail,
release and complete take effect only with the current token of a processing job (else
LeaseLostError, nothing written); a failure retries while attempts remain unless permanent; a
release gives the attempt back; cancel ends a job whatever its holder. It is not a database:
one process, no leases expiring on their own, no priorities beyond claim order.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from uuid import UUID

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


class MemoryDatabase:
    """The shared state behind :class:`MemoryQueue` and :class:`MemoryStore`."""

    def __init__(self, max_attempts: int = 4) -> None:
        self.max_attempts = max_attempts
        self.jobs: dict[UUID, MemoryJob] = {}

    def add(self, file_url: str) -> MemoryJob:
        job = MemoryJob(uuid.uuid4(), uuid.uuid4(), file_url, self.max_attempts)
        self.jobs[job.queue_id] = job
        return job

    def held(self, job: Job) -> MemoryJob:
        row = self.jobs.get(job.queue_id)
        if row is None or row.status != "processing" or row.claim_token != job.claim_token:
            raise LeaseLostError(f"job {job.queue_id} is no longer held")
        return row


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

    async def fail(self, job: Job, error: str, *, permanent: bool) -> str:
        row = self.db.held(job)
        row.error_message = error
        row.status = "failed" if permanent or row.attempts >= row.max_attempts else "queued"
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

    async def complete(self, job: Job, result: DocumentResult) -> None:
        row = self.db.held(job)
        row.status, row.result = "completed", result
        row.results_stored += 1
        row.vectors = {chunk.content_hash: chunk.embedding for chunk in result.chunks}

    async def existing_embeddings(self, document_id: UUID, space: str) -> dict[str, list[float]]:
        for row in self.db.jobs.values():
            if row.document_id == document_id:
                return dict(row.vectors)
        return {}
