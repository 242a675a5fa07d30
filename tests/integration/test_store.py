"""Results storage: atomic replacement, fencing by claim_token, pages, embeddings, search."""

from __future__ import annotations

import asyncio
import hashlib
import math
from collections.abc import Callable
from uuid import UUID, uuid4

import asyncpg
import pytest

from kairo_ray.db.queue import JobQueue
from kairo_ray.db.store import DocumentStore
from kairo_ray.errors import LeaseLostError
from kairo_ray.models import DocumentResult, EmbeddedChunk, Job, OcrLine, PageResult
from kairo_ray.settings import EMBEDDING_DIMENSION, Settings


def unit_vector(*hot: tuple[int, float]) -> list[float]:
    """A normalised 384-d vector with the given (index, weight) components."""
    values = [0.0] * EMBEDDING_DIMENSION
    for index, weight in hot:
        values[index] = weight
    norm = math.sqrt(sum(v * v for v in values))
    return [v / norm for v in values]


def make_result(job: Job, texts: list[str], *, pages: int = 2) -> DocumentResult:
    page_results = [
        PageResult(
            page_number=n,
            text=f"página {n}",
            lines=[OcrLine(text=f"página {n}", box=(10.0, 20.0, 300.5, 48.0), confidence=0.97)],
            mean_confidence=0.97,
            source="ocr" if n % 2 else "text_layer",
            rotation=90 if n == 2 else 0,
            width=1654,
            height=2339,
        )
        for n in range(1, pages + 1)
    ]
    chunks = [
        EmbeddedChunk(
            index=i,
            text=text,
            page_start=1 + i % pages,
            page_end=1 + i % pages,
            char_start=i * 100,
            char_end=i * 100 + len(text),
            content_hash=hashlib.sha256(text.encode()).hexdigest()[:16],
            embedding=unit_vector((i, 1.0)),
        )
        for i, text in enumerate(texts)
    ]
    return DocumentResult(
        document_id=job.document_id,
        text="\n\n".join(p.text for p in page_results),
        language="es",
        pages=page_results,
        chunks=chunks,
    )


async def _claim(queue: JobQueue) -> Job:
    job = await queue.claim()
    assert job is not None
    return job


async def _chunks(pool: asyncpg.Pool, document_id: UUID) -> list[asyncpg.Record]:
    return await pool.fetch(
        "SELECT chunk_index, chunk_text, chunk_length, page_start, char_end "
        "FROM document_embeddings WHERE document_id = $1 ORDER BY chunk_index",
        document_id,
    )


async def test_complete_stores_everything(
    queue: JobQueue, store: DocumentStore, pool: asyncpg.Pool
) -> None:
    document_id = await store.insert_document("file:///scan.pdf", "application/pdf")
    job = await _claim(queue)
    result = make_result(job, ["uno", "dos", "tres"])
    await store.complete(job, result)

    doc = await store.get_document(document_id)
    assert doc is not None
    assert (doc["status"], doc["page_count"], doc["language"], doc["text"]) == (
        "completed",
        2,
        "es",
        "página 1\n\npágina 2",
    )
    assert (doc["job_id"], doc["job_status"], doc["error"]) == (
        job.queue_id,
        "completed",
        None,
    )
    assert (await queue.get_job(job.queue_id))["locked_until"] is None  # type: ignore[index]
    assert await store.get_pages(document_id) == [
        p.model_copy(update={"seconds": 0.0}) for p in result.pages
    ]
    rows = await _chunks(pool, document_id)
    assert [(r["chunk_text"], r["chunk_length"], r["page_start"]) for r in rows] == [
        ("uno", 3, 1),
        ("dos", 3, 2),
        ("tres", 4, 1),
    ]
    existing = await store.existing_embeddings(document_id)
    assert set(existing) == {c.content_hash for c in result.chunks}
    assert existing[result.chunks[1].content_hash] == pytest.approx(result.chunks[1].embedding)
    assert await store.get_document(uuid4()) is None


async def test_rerun_replaces_pages_and_chunks(
    queue: JobQueue, store: DocumentStore, pool: asyncpg.Pool
) -> None:
    document_id = await store.insert_document("file:///scan.pdf")
    first = await _claim(queue)
    await store.complete(first, make_result(first, ["a", "b", "c", "d", "e"], pages=3))
    assert len(await _chunks(pool, document_id)) == 5

    assert await queue.requeue(first.queue_id)
    second = await _claim(queue)
    await store.complete(second, make_result(second, ["x", "y"], pages=1))

    rows = await _chunks(pool, document_id)
    assert [r["chunk_text"] for r in rows] == ["x", "y"]
    assert [p.page_number for p in await store.get_pages(document_id)] == [1]
    doc = await store.get_document(document_id)
    assert doc is not None and doc["page_count"] == 1


async def test_stale_worker_writes_nothing(
    pool: asyncpg.Pool, store: DocumentStore, make_settings: Callable[..., Settings]
) -> None:
    fast = {"job_timeout_minutes": 1 / 60}
    stale = JobQueue(pool, make_settings(vps_instance_id="stale", **fast))
    fresh = JobQueue(pool, make_settings(vps_instance_id="fresh", **fast))
    document_id = await store.insert_document("file:///scan.pdf")
    old_job = await _claim(stale)
    await asyncio.sleep(1.1)
    new_job = await _claim(fresh)

    with pytest.raises(LeaseLostError):
        await store.complete(old_job, make_result(old_job, ["stale text"]))
    with pytest.raises(LeaseLostError):
        await stale.heartbeat(old_job)
    assert await _chunks(pool, document_id) == []
    assert await store.get_pages(document_id) == []
    doc = await store.get_document(document_id)
    assert doc is not None and (doc["status"], doc["text"]) == ("processing", None)

    await store.complete(new_job, make_result(new_job, ["fresh text"]))
    assert [r["chunk_text"] for r in await _chunks(pool, document_id)] == ["fresh text"]


async def test_failed_write_keeps_the_previous_result(
    queue: JobQueue, store: DocumentStore, pool: asyncpg.Pool
) -> None:
    document_id = await store.insert_document("file:///scan.pdf")
    first = await _claim(queue)
    await store.complete(first, make_result(first, ["kept"]))
    assert await queue.requeue(first.queue_id)
    second = await _claim(queue)

    broken = make_result(second, ["new one", "new two"])
    broken.pages[0].page_number = 0  # violates document_pages' CHECK, after the deletes ran
    with pytest.raises(asyncpg.CheckViolationError):
        await store.complete(second, broken)

    assert [r["chunk_text"] for r in await _chunks(pool, document_id)] == ["kept"]
    assert len(await store.get_pages(document_id)) == 2
    assert (await queue.get_job(second.queue_id))["status"] == "processing"  # type: ignore[index]


async def test_complete_rejects_wrong_dimensions_and_documents(
    queue: JobQueue, store: DocumentStore
) -> None:
    await store.insert_document("file:///scan.pdf")
    job = await _claim(queue)
    result = make_result(job, ["a"])
    result.chunks[0].embedding = [0.1] * 1536
    with pytest.raises(ValueError, match="1536-dimensional"):
        await store.complete(job, result)
    other = make_result(job, ["a"]).model_copy(update={"document_id": uuid4()})
    with pytest.raises(ValueError, match="result is for document"):
        await store.complete(job, other)


async def test_search_returns_the_nearest_chunk_first(
    queue: JobQueue, store: DocumentStore
) -> None:
    doc_a = await store.insert_document("file:///a.pdf")
    doc_b = await store.insert_document("file:///b.pdf")
    for _ in range(2):
        job = await _claim(queue)
        texts = ["contrato de alquiler", "factura de luz", "receta médica"]
        if job.document_id == doc_b:
            texts = ["informe anual", "acta de reunión"]
        await store.complete(job, make_result(job, texts))

    # Chunk i of every document points along axis i; lean towards axis 1 ("factura de luz").
    query = unit_vector((1, 1.0), (0, 0.3))
    hits = await store.search(query, k=3)
    assert len(hits) == 3
    assert hits[0].chunk_text in ("factura de luz", "acta de reunión")
    assert hits[0].chunk_index == 1
    assert hits[0].score == pytest.approx(1 / math.sqrt(1.09), abs=1e-4)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert hits[2].chunk_index == 0
    assert {h.file_url for h in hits} <= {"file:///a.pdf", "file:///b.pdf"}

    only_a = unit_vector((2, 1.0))
    best = (await store.search(only_a, k=1))[0]
    assert (best.document_id, best.chunk_text, best.page_start) == (doc_a, "receta médica", 1)
    assert best.score == pytest.approx(1.0, abs=1e-5)

    assert len(await store.search(query, k=100)) == 5
    with pytest.raises(ValueError, match="384"):
        await store.search([0.1, 0.2], k=3)


async def test_insert_document_with_priority(store: DocumentStore, queue: JobQueue) -> None:
    await store.insert_document("file:///normal.pdf")
    urgent = await store.insert_document("file:///urgent.pdf", "image/png", priority=10)
    job = await _claim(queue)
    assert (job.document_id, job.priority) == (urgent, 10)
    with pytest.raises(ValueError, match="priority"):
        await store.insert_document("file:///x.pdf", priority=0)
