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
from kairo_ray.models import Block, DocumentResult, EmbeddedChunk, Job, OcrLine, PageResult
from kairo_ray.settings import EMBEDDING_DIMENSION, Settings

SPACE = "test-space"


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
            blocks=[
                Block(type="title", box=(10.0, 20.0, 300.5, 48.0), text=f"página {n}", order=0),
                Block(
                    type="table",
                    box=(10.0, 60.0, 900.0, 200.0),
                    text="| Concepto | Importe |\n| --- | --- |\n| Tejas | 931,00 € |",
                    order=1,
                    rows=[["Concepto", "Importe"], ["Tejas", "931,00 €"]],
                ),
            ]
            if n == 1
            else [],
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
        embedding_space=SPACE,
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
    existing = await store.existing_embeddings(document_id, SPACE)
    assert await store.existing_embeddings(document_id, "another-model") == {}
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


async def test_search_returns_documents_with_their_nearest_chunks(
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
    hits = await store.search(query, k=3, space=SPACE)
    assert len(hits) == 2, "documents, not chunks: two documents hold the five chunks"
    for hit in hits:
        assert hit.chunk_index == 1 and hit.chunk_text in ("factura de luz", "acta de reunión")
        assert hit.score == pytest.approx(1 / math.sqrt(1.09), abs=1e-4)
        assert [c.chunk_index for c in hit.chunks][:2] == [1, 0], "best chunks first"
        assert [c.score for c in hit.chunks] == sorted((c.score for c in hit.chunks), reverse=True)
        assert hit.pages == sorted({p for c in hit.chunks for p in (c.page_start, c.page_end)})
    assert {h.file_url for h in hits} == {"file:///a.pdf", "file:///b.pdf"}

    only_a = unit_vector((2, 1.0))
    best = (await store.search(only_a, k=1, space=SPACE))[0]
    assert (best.document_id, best.chunk_text, best.page_start) == (doc_a, "receta médica", 1)
    assert best.score == pytest.approx(1.0, abs=1e-5)

    assert len(await store.search(query, k=100, space=SPACE)) == 2
    with pytest.raises(ValueError, match="384"):
        await store.search([0.1, 0.2], k=3, space=SPACE)


async def _store_texts(
    queue: JobQueue,
    store: DocumentStore,
    documents: dict[str, list[str]],
    vectors: dict[str, list[list[float]]] | None = None,
) -> dict[str, UUID]:
    """Documents of these chunk texts, completed; chunk i points along axis i unless
    ``vectors`` gives a document's own."""
    ids = {name: await store.insert_document(f"file:///{name}.pdf") for name in documents}
    names = {document_id: name for name, document_id in ids.items()}
    for _ in documents:
        job = await _claim(queue)
        name = names[job.document_id]
        result = make_result(job, documents[name])
        for chunk, vector in zip(result.chunks, (vectors or {}).get(name, []), strict=False):
            chunk.embedding = vector
        await store.complete(job, result)
    return ids


async def test_full_text_finds_words_folded_and_stemmed(
    queue: JobQueue, store: DocumentStore
) -> None:
    """Accents folded and Spanish/English stems: a user types without accents, in another
    inflection, or an amount; the vector of the query here points nowhere useful."""
    ids = await _store_texts(
        queue,
        store,
        {
            "tejados": ["Reparación de tejas rotas en cubierta", "Total 2.312,98 €"],
            "fontaneria": ["Sustitución de calentador de agua", "Total 845,10 €"],
            "memo": ["Quarterly budget review meeting", "Attendance is mandatory"],
        },
    )
    nowhere = unit_vector((300, 1.0))

    async def first(text: str) -> object:
        hits = await store.search(nowhere, k=3, space=SPACE, text=text, mode="text")
        return hits[0].document_id if hits else None

    assert await first("reparaciones de tejados rotos") == ids["tejados"], "stems, no accents"
    assert await first("REPARACION CUBIERTA") == ids["tejados"], "case and accents folded"
    assert await first("calentadores") == ids["fontaneria"]
    assert await first("2.312,98") == ids["tejados"], "an amount as written"
    assert await first("meetings reviewed") == ids["memo"], "English stems"
    assert await first("zzzz qqqq") is None, "no word in common: nothing, not everything"


async def test_hybrid_fuses_words_and_vectors(queue: JobQueue, store: DocumentStore) -> None:
    """Similarities b 1.0, a 0.9, c 0.8; the words match c best, a half as well, b not: with the
    text weight 1, c scores 0.8 + 1, a about 0.9 + 0.5, b 1.0."""
    ids = await _store_texts(
        queue,
        store,
        {
            "a": ["alquiler del local comercial", "fianza de dos meses"],
            "b": ["factura de electricidad", "consumo de marzo"],
            "c": ["contrato de alquiler de vivienda", "renta mensual"],
        },
        vectors={
            "a": [unit_vector((0, 0.9), (5, 0.436)), unit_vector((1, 1.0))],
            "b": [unit_vector((0, 1.0)), unit_vector((1, 1.0))],
            "c": [unit_vector((0, 0.8), (6, 0.6)), unit_vector((1, 1.0))],
        },
    )
    query = unit_vector((0, 1.0))

    async def order(mode: str) -> list[UUID]:
        hits = await store.search(
            query, k=3, space=SPACE, text="alquiler vivienda", mode=mode, text_weight=1.0
        )
        return [hit.document_id for hit in hits]

    assert await order("vector") == [ids["b"], ids["a"], ids["c"]]
    assert await order("text") == [ids["c"], ids["a"]]
    assert await order("hybrid") == [ids["c"], ids["a"], ids["b"]]


async def test_one_vector_space_at_a_time_and_a_reembed_leaves_no_chunk_behind(
    queue: JobQueue, store: DocumentStore
) -> None:
    ids = await _store_texts(queue, store, {"x": ["uno", "dos"], "y": ["tres"]})
    query = unit_vector((0, 1.0))
    assert await store.search(query, k=5, space="new-model") == [], "never another model's"
    assert await store.count_to_reembed("new-model") == (3, 2)
    seen = []
    while rows := await store.chunks_to_reembed("new-model"):
        seen.append(rows[0]["document_id"])
        vectors = [unit_vector((1 + r["chunk_index"], 1.0)) for r in rows]
        await store.store_reembedded(rows[0]["document_id"], "new-model", rows, vectors)
        if len(seen) == 1:  # a second run over the same document changes nothing
            await store.store_reembedded(rows[0]["document_id"], "new-model", rows, vectors)
            assert await store.count_to_reembed("new-model") == (
                3 - len(rows),
                1,
            )
    assert sorted(seen) == sorted(ids.values()) and len(seen) == 2
    assert await store.count_to_reembed("new-model") == (0, 0)
    assert await store.embedding_spaces() == {SPACE: 3, "new-model": 3}
    old = await store.search(query, k=5, space=SPACE)
    assert len(old) == 2, "the old space still answers until it is pruned"
    new = await store.search(unit_vector((1, 1.0)), k=5, space="new-model")
    assert {h.chunk_text for h in new} == {"uno", "tres"}
    assert await store.prune_other_spaces("new-model") == 3
    assert await store.embedding_spaces() == {"new-model": 3}
    assert await store.search(query, k=5, space=SPACE) == []


async def test_pruning_waits_for_every_chunk(queue: JobQueue, store: DocumentStore) -> None:
    await _store_texts(queue, store, {"x": ["uno"]})
    with pytest.raises(ValueError, match="1 chunks of 1 documents have no new-model vector"):
        await store.prune_other_spaces("new-model")
    assert await store.embedding_spaces() == {SPACE: 1}


async def test_insert_document_with_priority(store: DocumentStore, queue: JobQueue) -> None:
    await store.insert_document("file:///normal.pdf")
    urgent = await store.insert_document("file:///urgent.pdf", "image/png", priority=10)
    job = await _claim(queue)
    assert (job.document_id, job.priority) == (urgent, 10)
    with pytest.raises(ValueError, match="priority"):
        await store.insert_document("file:///x.pdf", priority=0)


async def test_a_document_of_max_pages_completes_in_one_transaction(
    queue: JobQueue, store: DocumentStore, pool: asyncpg.Pool
) -> None:
    """A born-digital document of MAX_PAGES (500) pages and 10 chunks a page: pages, chunks and
    vectors are copied in, not inserted row by row, so its completion stays far inside the
    client's command timeout (COMMAND_TIMEOUT_SECONDS) and the server's statement timeout."""
    import random
    import time

    from kairo_ray.db.connector import COMMAND_TIMEOUT_SECONDS

    document_id = await store.insert_document("file:///long.pdf", "application/pdf")
    job = await _claim(queue)
    base = make_result(job, [], pages=500)
    rng = random.Random(5)
    texts = [
        f"Cláusula {i}: "
        + " ".join(rng.choice(["arrendamiento", "renta", "fianza"]) for _ in range(60))
        for i in range(5000)
    ]
    result = base.model_copy(
        update={
            "chunks": [
                EmbeddedChunk(
                    index=i,
                    text=text,
                    page_start=1 + i // 10,
                    page_end=1 + i // 10,
                    char_start=0,
                    char_end=len(text),
                    content_hash=hashlib.sha256(text.encode()).hexdigest(),
                    embedding=unit_vector((i % EMBEDDING_DIMENSION, 1.0), ((i * 7) % 384, 0.5)),
                )
                for i, text in enumerate(texts)
            ]
        }
    )
    started = time.perf_counter()
    await store.complete(job, result)
    seconds = time.perf_counter() - started
    assert seconds < COMMAND_TIMEOUT_SECONDS / 4, f"completion took {seconds:.1f} s"
    assert (
        await pool.fetchval(
            "SELECT count(*) FROM document_embeddings WHERE document_id = $1", document_id
        )
        == 5000
    )
    assert len(await store.get_pages(document_id)) == 500
