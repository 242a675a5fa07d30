"""Every outcome of a job, driven through the real job runner, admission and leases against the
in-memory queue and store (``kairo_ray.db.memory``) with fake cluster steps: no Ray, no database.
"""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

import pytest

from kairo_ray.app.admission import Admission
from kairo_ray.app.jobs import Database, JobRunner, Report
from kairo_ray.db.memory import MemoryDatabase, MemoryQueue, MemoryStore
from kairo_ray.errors import PermanentError, TransientError
from kairo_ray.models import Chunk, PageResult
from kairo_ray.settings import load_settings


class Steps:
    """The cluster's part, faked: ``pages`` pages, each taking ``delay`` seconds, or a failure."""

    def __init__(self, pages: int = 3, delay: float = 0.0, error: Exception | None = None):
        self.pages, self.delay, self.error = pages, delay, error
        self.read: list[int] = []

    async def load(self, job: Any) -> tuple[bytes, int]:
        if isinstance(self.error, PermanentError):
            raise self.error
        return b"file", self.pages

    async def page(self, data: bytes, page_number: int) -> dict[str, Any]:
        await asyncio.sleep(self.delay)
        if self.error is not None:
            raise self.error
        self.read.append(page_number)
        text = f"Esta es la página {page_number} del contrato de arrendamiento de la vivienda."
        return {"page": PageResult(page_number=page_number, text=text)}


class Embedder:
    def __init__(self) -> None:
        self.embedded: list[str] = []

    async def space(self) -> str:
        return "test-space"

    async def chunk(self, pages: list[PageResult]) -> list[Chunk]:
        return [
            Chunk(
                index=i,
                text=p.text,
                page_start=p.page_number,
                page_end=p.page_number,
                char_start=0,
                char_end=len(p.text),
                content_hash=hashlib.sha256(p.text.encode()).hexdigest(),
            )
            for i, p in enumerate(pages)
        ]

    async def embed(self, texts: list[str]) -> list[list[float]]:
        self.embedded += texts
        return [[float(len(t))] * 384 for t in texts]


def _runner(db: MemoryDatabase, steps: Steps, embedder: Embedder | None = None, **settings):
    config = load_settings(_env_file=None, job_timeout_minutes=0.01, **settings)
    admission = Admission(lambda: (2, 3))
    report = Report()
    runner = JobRunner(
        Database(MemoryQueue(db), MemoryStore(db)),
        admission,
        steps,
        lambda: embedder or Embedder(),
        config,
        report,
    )
    return runner, admission, report


async def _claim(db: MemoryDatabase, admission: Admission):
    job = await MemoryQueue(db).claim()
    admission.claimed(job)
    return job


async def test_a_job_completes_with_its_pages_chunks_and_vectors() -> None:
    db = MemoryDatabase()
    row = db.add("scan.pdf")
    runner, admission, report = _runner(db, Steps(pages=3))
    assert await runner.run(await _claim(db, admission)) == "completed"
    assert row.status == "completed" and row.results_stored == 1
    assert [p.page_number for p in row.result.pages] == [1, 2, 3]
    assert row.result.language == "es" and len(row.result.chunks) == 3
    assert report.outcomes == {"completed": 1} and not admission.active
    assert admission.pages_waiting == 0 and admission.slots.running == 0


async def test_a_rerun_embeds_only_new_texts() -> None:
    db = MemoryDatabase()
    row = db.add("scan.pdf")
    embedder = Embedder()
    runner, admission, _ = _runner(db, Steps(pages=2), embedder)
    await runner.run(await _claim(db, admission))
    row.status = "queued"  # requeued
    runner, admission, _ = _runner(db, Steps(pages=3), embedder)
    assert await runner.run(await _claim(db, admission)) == "completed"
    assert [text.split()[4] for text in embedder.embedded] == ["1", "2", "3"]


async def test_bad_input_fails_at_once_with_its_reason() -> None:
    db = MemoryDatabase()
    row = db.add("broken.pdf")
    runner, admission, _ = _runner(db, Steps(error=PermanentError("corrupt PDF: no pages")))
    assert await runner.run(await _claim(db, admission)) == "failed"
    assert row.status == "failed" and row.attempts == 1
    assert row.error_message == "corrupt PDF: no pages"


async def test_a_transient_failure_retries_until_attempts_run_out() -> None:
    db = MemoryDatabase(max_attempts=2)
    row = db.add("scan.pdf")
    steps = Steps(error=TransientError("node lost"))
    runner, admission, _ = _runner(db, steps)
    assert await runner.run(await _claim(db, admission)) == "retry"
    assert row.status == "queued" and "TransientError: node lost" in row.error_message
    assert await runner.run(await _claim(db, admission)) == "failed"
    assert row.status == "failed" and row.attempts == 2


async def test_a_cancelled_job_is_dropped_at_the_next_heartbeat() -> None:
    db = MemoryDatabase()
    row = db.add("long.pdf")
    steps = Steps(pages=2, delay=3.0)
    runner, admission, _ = _runner(db, steps)
    run = asyncio.create_task(runner.run(await _claim(db, admission)))
    await asyncio.sleep(0.1)
    assert await MemoryQueue(db).cancel(row.queue_id, "cancelled through the API")
    assert await asyncio.wait_for(run, timeout=5) == "lost", "the heartbeat noticed within 0.5 s"
    assert row.status == "cancelled" and row.results_stored == 0 and not steps.read
    assert admission.slots.running == 0 and admission.pages_waiting == 0


async def test_a_lease_lost_before_completion_writes_nothing() -> None:
    db = MemoryDatabase()
    row = db.add("scan.pdf")
    runner, admission, _ = _runner(db, Steps(pages=1))
    job = await _claim(db, admission)
    row.claim_token = None  # expired and claimed elsewhere meanwhile
    row.status = "processing"
    assert await runner.run(job) == "lost"
    assert row.results_stored == 0


async def test_a_stopping_driver_gives_the_job_back_without_spending_an_attempt() -> None:
    db = MemoryDatabase()
    row = db.add("long.pdf")
    runner, admission, report = _runner(db, Steps(pages=3, delay=5.0))
    run = asyncio.create_task(runner.run(await _claim(db, admission)))
    await asyncio.sleep(0.1)
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run
    assert row.status == "queued" and row.attempts == 0
    assert report.outcomes == {"released": 1} and not admission.active
    assert admission.slots.running == 0 and admission.pages_waiting == 0


async def test_one_failing_page_fails_the_document_and_stops_its_other_pages() -> None:
    db = MemoryDatabase()
    row = db.add("scan.pdf")

    class OnePageBad(Steps):
        async def page(self, data: bytes, page_number: int) -> dict[str, Any]:
            if page_number == 2:
                raise PermanentError("corrupt PDF page 2")
            await asyncio.sleep(5)
            return await super().page(data, page_number)

    steps = OnePageBad(pages=4)
    runner, admission, _ = _runner(db, steps)
    assert await asyncio.wait_for(runner.run(await _claim(db, admission)), 3) == "failed"
    assert row.error_message == "corrupt PDF page 2" and not steps.read
    assert admission.slots.running == 0 and admission.pages_waiting == 0


async def test_adhoc_pages_share_the_window() -> None:
    db = MemoryDatabase()
    runner, admission, _ = _runner(db, Steps(pages=0, delay=0.05))
    outcomes = await runner.adhoc_pages(b"file", 4, key=1.0)
    assert [o["page"].page_number for o in outcomes] == [1, 2, 3, 4]
    assert admission.adhoc_slots.running == 0


class FlakyStore(MemoryStore):
    """The database restarting during completion: the first ``blips`` writes fail to connect."""

    def __init__(self, db: MemoryDatabase, blips: int) -> None:
        super().__init__(db)
        self.blips = blips

    async def complete(self, job: Any, result: Any, webhook: Any = None) -> None:
        if self.blips:
            self.blips -= 1
            raise ConnectionRefusedError("the database is restarting")
        await super().complete(job, result, webhook)


class FlakyReads(MemoryStore):
    """The database restarting after the pages are read, as the job looks up stored vectors."""

    def __init__(self, db: MemoryDatabase, blips: int) -> None:
        super().__init__(db)
        self.blips = blips

    async def existing_embeddings(self, document_id: Any, space: str) -> dict[str, list[float]]:
        if self.blips:
            self.blips -= 1
            raise ConnectionRefusedError("the database is restarting")
        return await super().existing_embeddings(document_id, space)


class FlakyQueue(MemoryQueue):
    def __init__(self, db: MemoryDatabase, blips: int) -> None:
        super().__init__(db)
        self.blips = blips
        self.heartbeats = 0

    async def heartbeat(self, job: Any) -> None:
        self.heartbeats += 1
        if self.blips:
            self.blips -= 1
            raise OSError("server closed the connection unexpectedly")
        await super().heartbeat(job)


async def test_finished_work_survives_a_database_restart(monkeypatch) -> None:
    monkeypatch.setattr("kairo_ray.app.jobs.DATABASE_RETRY_DELAYS", (0.01, 0.01, 0.01))
    db = MemoryDatabase()
    row = db.add("scan.pdf")
    runner, admission, _ = _runner(db, Steps(pages=2))
    runner._db.store = FlakyStore(db, blips=2)
    assert await runner.run(await _claim(db, admission)) == "completed"
    assert row.status == "completed" and row.results_stored == 1 and row.attempts == 1


async def test_read_pages_survive_a_database_restart_before_embedding(monkeypatch) -> None:
    """Found by the chaos suite: a PostgreSQL or pgbouncer restart as a job looked up its stored
    vectors threw its OCR away and spent an attempt."""
    monkeypatch.setattr("kairo_ray.app.jobs.DATABASE_RETRY_DELAYS", (0.01, 0.01, 0.01))
    db = MemoryDatabase()
    row = db.add("scan.pdf")
    steps = Steps(pages=2)
    runner, admission, _ = _runner(db, steps)
    runner._db.store = FlakyReads(db, blips=2)
    assert await runner.run(await _claim(db, admission)) == "completed"
    assert row.status == "completed" and row.attempts == 1 and steps.read == [1, 2]


async def test_a_database_that_stays_away_spends_the_attempt(monkeypatch) -> None:
    monkeypatch.setattr("kairo_ray.app.jobs.DATABASE_RETRY_DELAYS", (0.01,))
    db = MemoryDatabase()
    row = db.add("scan.pdf")
    runner, admission, _ = _runner(db, Steps(pages=1))
    runner._db.store = FlakyStore(db, blips=5)
    assert await runner.run(await _claim(db, admission)) == "retry"
    assert "ConnectionRefusedError" in row.error_message and row.results_stored == 0


async def test_heartbeat_blips_do_not_lose_the_lease(monkeypatch) -> None:
    """Failed heartbeats are repeated within seconds, not a third of the lease later."""
    monkeypatch.setattr("kairo_ray.app.leases.HEARTBEAT_RETRY_SECONDS", 0.05)
    db = MemoryDatabase()
    row = db.add("long.pdf")
    runner, admission, _ = _runner(db, Steps(pages=1, delay=1.6))
    queue = runner._db.queue = FlakyQueue(db, blips=3)
    assert await runner.run(await _claim(db, admission)) == "completed"
    assert queue.heartbeats >= 4 and queue.blips == 0, "three failed, then one went through"
    assert row.results_stored == 1


async def test_a_stuck_job_ends_at_its_deadline() -> None:
    db = MemoryDatabase(max_attempts=1)
    row = db.add("stuck.pdf")
    runner, admission, _ = _runner(db, Steps(pages=1, delay=60), job_deadline_minutes=0.005)
    outcome = await asyncio.wait_for(runner.run(await _claim(db, admission)), timeout=5)
    assert outcome == "failed" and row.status == "failed"
    assert "JOB_DEADLINE_MINUTES=0.005" in row.error_message
    assert admission.slots.running == 0 and admission.pages_waiting == 0


WEBHOOKS = {
    "webhook_enabled": True,
    "webhook_url": "https://kairo.example/api/webhooks/ocr",
    "webhook_secret": "s3cret",
}


async def test_a_completion_writes_its_webhook_with_it() -> None:
    db = MemoryDatabase()
    row = db.add("scan.pdf")
    runner, admission, _ = _runner(db, Steps(pages=2), vps_instance_id="vps-07", **WEBHOOKS)
    assert await runner.run(await _claim(db, admission)) == "completed"
    (delivery,) = db.outbox.values()
    assert (delivery.queue_id, delivery.event) == (row.queue_id, "completed")
    assert delivery.payload == {
        "event": "document.ocr_completed",
        "document_id": str(row.document_id),
        "job_id": str(row.queue_id),
        "page_count": 2,
        "language": "es",
        "chunks": 2,
        "instance_id": "vps-07",
    }


async def test_only_a_final_failure_writes_a_webhook_with_its_reason() -> None:
    db = MemoryDatabase(max_attempts=2)
    row = db.add("scan.pdf")
    runner, admission, _ = _runner(db, Steps(error=TransientError("node lost")), **WEBHOOKS)
    assert await runner.run(await _claim(db, admission)) == "retry"
    assert not db.outbox, "a retry is not an outcome"
    assert await runner.run(await _claim(db, admission)) == "failed"
    (delivery,) = db.outbox.values()
    assert delivery.event == "failed" and delivery.payload["event"] == "document.ocr_failed"
    assert delivery.payload["error"] == row.error_message and delivery.payload["attempts"] == 2


async def test_no_webhook_without_an_outcome_or_when_disabled() -> None:
    db = MemoryDatabase()
    row = db.add("scan.pdf")
    runner, admission, _ = _runner(db, Steps(pages=1), **WEBHOOKS)
    job = await _claim(db, admission)
    row.claim_token = None  # lease lost: the completion writes nothing, its webhook neither
    assert await runner.run(job) == "lost"
    runner, admission, _ = _runner(db, Steps(pages=1))
    row.status = "queued"
    assert await runner.run(await _claim(db, admission)) == "completed"
    assert not db.outbox
