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

The store also keeps chunk rows per vector space and re-embedding runs (``kairo_reembed``) on
that clock: what :class:`~kairo_ray.app.reembed.Reembedder` reads and writes, with the same
leases, progress, fencing and completion rules as the SQL.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime
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


@dataclass
class MemoryChunk:
    """A row of document_embeddings: one chunk's text and its vector in one space."""

    document_id: UUID
    space: str | None
    chunk_index: int
    chunk_text: str
    embedding: list[float]
    content_hash: str | None = None
    page_start: int | None = None
    page_end: int | None = None
    char_start: int | None = None
    char_end: int | None = None
    id: UUID = field(default_factory=uuid.uuid4)

    def source(self) -> dict[str, Any]:
        """As ``chunks_to_reembed`` returns it."""
        return {
            "id": self.id,
            "document_id": self.document_id,
            "chunk_index": self.chunk_index,
            "chunk_text": self.chunk_text,
            "chunk_length": len(self.chunk_text),
            "content_hash": self.content_hash,
            "page_start": self.page_start,
            "page_end": self.page_end,
            "char_start": self.char_start,
            "char_end": self.char_end,
        }


class MemoryDatabase:
    """The shared state behind :class:`MemoryQueue`, :class:`MemoryStore` and
    :class:`MemoryOutbox`; ``clock`` gives the outbox's and re-embedding runs' times
    (seconds)."""

    def __init__(self, max_attempts: int = 4, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_attempts = max_attempts
        self.clock = clock
        self.jobs: dict[UUID, MemoryJob] = {}
        self.outbox: dict[UUID, MemoryDelivery] = {}
        self.chunks: list[MemoryChunk] = []
        self.reembed: dict[str, dict[str, Any]] = {}

    def add_chunks(self, document_id: UUID, space: str | None, texts: list[str]) -> None:
        """A stored document's chunks in ``space`` (None: the seed service's), vectors zero."""
        for index, text in enumerate(texts):
            self.chunks.append(MemoryChunk(document_id, space, index, text, [0.0] * 384))

    def missing(self, space: str) -> list[MemoryChunk]:
        """Chunks without a vector of ``space`` (``count_to_reembed``)."""
        covered = {(c.document_id, c.chunk_index) for c in self.chunks if c.space == space}
        return [
            c
            for c in self.chunks
            if c.space != space and (c.document_id, c.chunk_index) not in covered
        ]

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
        self.db.chunks = [c for c in self.db.chunks if c.document_id != job.document_id]
        self.db.chunks.extend(
            MemoryChunk(
                job.document_id,
                result.embedding_space,
                c.index,
                c.text,
                list(c.embedding),
                c.content_hash,
                c.page_start,
                c.page_end,
                c.char_start,
                c.char_end,
            )
            for c in result.chunks
        )
        if webhook is not None:
            self.db.add_delivery(row, "completed", webhook)

    async def existing_embeddings(self, document_id: UUID, space: str) -> dict[str, list[float]]:
        for row in self.db.jobs.values():
            if row.document_id == document_id:
                return dict(row.vectors)
        return {}

    # --- re-embedding (the SQL's rules: queries.sql, chunks_to_reembed ... reembed_runs) -----

    async def chunks_to_reembed(
        self, space: str, exclude: Collection[UUID] = ()
    ) -> list[dict[str, Any]]:
        document = next(
            (c.document_id for c in self.db.missing(space) if c.document_id not in exclude), None
        )
        if document is None:
            return []
        by_index: dict[int, MemoryChunk] = {}
        for chunk in self.db.chunks:
            if chunk.document_id == document and chunk.space != space:
                by_index.setdefault(chunk.chunk_index, chunk)
        return [by_index[i].source() for i in sorted(by_index)]

    async def count_to_reembed(self, space: str) -> tuple[int, int]:
        missing = self.db.missing(space)
        return len(missing), len({c.document_id for c in missing})

    def _run(self, space: str, holder: str) -> dict[str, Any] | None:
        run = self.db.reembed.get(space)
        return run if run is not None and run["holder"] == holder else None

    async def store_reembedded(
        self,
        document_id: UUID,
        space: str,
        chunks: list[dict[str, Any]],
        vectors: list[list[float]],
        *,
        holder: str | None = None,
        lease_seconds: float = 0.0,
    ) -> bool:
        ids = {c["id"] for c in chunks if c.get("id") is not None}
        if ids - {c.id for c in self.db.chunks}:
            return False
        if holder is not None:
            run = self._run(space, holder)
            if run is None:
                raise LeaseLostError(f"the re-embedding into {space} is no longer held")
            run["chunks_done"] += len(chunks)
            run["documents_done"] += 1
            run["chunks_total"] = max(run["chunks_total"], run["chunks_done"])
            run["locked_until"] = self.db.clock() + lease_seconds
            run["updated_at"] = self.db.clock()
        self.db.chunks = [
            c for c in self.db.chunks if not (c.document_id == document_id and c.space == space)
        ]
        for chunk, vector in zip(chunks, vectors, strict=True):
            self.db.chunks.append(
                MemoryChunk(
                    document_id,
                    space,
                    chunk["chunk_index"],
                    chunk["chunk_text"],
                    list(vector),
                    chunk["content_hash"],
                    chunk["page_start"],
                    chunk["page_end"],
                    chunk["char_start"],
                    chunk["char_end"],
                )
            )
        return True

    async def prune_other_spaces(self, space: str) -> int:
        chunks, documents = await self.count_to_reembed(space)
        if chunks:
            raise ValueError(f"{chunks} chunks of {documents} documents have no {space} vector")
        if space in self.db.reembed:
            run = self.db.reembed[space]
            run["completed_at"] = run["completed_at"] or self.db.clock()
        pruned = [c for c in self.db.chunks if c.space != space]
        self.db.chunks = [c for c in self.db.chunks if c.space == space]
        return len(pruned)

    async def embedding_spaces(self) -> dict[str | None, int]:
        counts: dict[str | None, int] = {}
        for chunk in self.db.chunks:
            counts[chunk.space] = counts.get(chunk.space, 0) + 1
        return dict(sorted(counts.items(), key=lambda item: -item[1]))

    async def claim_reembed(
        self,
        space: str,
        holder: str,
        lease_seconds: float,
        previous_space: str | None,
        remaining: int,
    ) -> bool:
        now = self.db.clock()
        run = self.db.reembed.get(space)
        if run is None:
            run = self.db.reembed[space] = {
                "space": space,
                "previous_space": previous_space,
                "chunks_done": 0,
                "documents_done": 0,
                "started_at": now,
                "completed_at": None,
            }
        elif run["holder"] not in (None, holder) and run["locked_until"] >= now:
            return False
        elif run["state"] == "done" and run["previous_space"] != previous_space:
            run.update(  # a change back to this model: a new run
                previous_space=previous_space,
                completed_at=None,
                started_at=now,
                chunks_done=0,
                documents_done=0,
            )
        run.update(
            holder=holder,
            locked_until=now + lease_seconds,
            state="running",
            chunks_total=run["chunks_done"] + remaining,
            errors=0,
            last_error=None,
            resumed_at=now,
            resumed_chunks_done=run["chunks_done"],
            updated_at=now,
        )
        return True

    async def renew_reembed(self, space: str, holder: str, lease_seconds: float) -> bool:
        run = self._run(space, holder)
        if run is not None:
            run["locked_until"] = self.db.clock() + lease_seconds
        return run is not None

    async def reembed_error(self, space: str, holder: str, error: str) -> None:
        run = self._run(space, holder)
        if run is not None:
            run["errors"] += 1
            run["last_error"] = error
            run["updated_at"] = self.db.clock()

    async def finish_reembed(self, space: str, holder: str, state: str) -> str | None:
        run = self._run(space, holder)
        if run is None:
            return None
        if state == "done" and self.db.missing(space):
            state = "running"
        now = self.db.clock()
        run.update(state=state, holder=None, locked_until=None, updated_at=now)
        if state == "done":
            run["chunks_total"] = run["chunks_done"]
            run["completed_at"] = run["completed_at"] or now
        return state

    async def reembed_runs(self, space: str | None = None) -> list[dict[str, Any]]:
        now = self.db.clock()

        def stamp(seconds: float | None) -> datetime | None:
            return None if seconds is None else datetime.fromtimestamp(seconds, UTC)

        runs = []
        for run in self.db.reembed.values():
            if space is not None and run["space"] != space:
                continue
            runs.append(
                {
                    **{key: value for key, value in run.items() if key != "locked_until"},
                    "held": run["locked_until"] is not None and run["locked_until"] > now,
                    "started_at": stamp(run["started_at"]),
                    "resumed_at": stamp(run["resumed_at"]),
                    "updated_at": stamp(run["updated_at"]),
                    "completed_at": stamp(run["completed_at"]),
                    "resumed_seconds": run["updated_at"] - run["resumed_at"],
                    "idle_seconds": now - run["updated_at"],
                }
            )
        return sorted(runs, key=lambda r: r["updated_at"], reverse=True)


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
