"""Embedding speed, memory and agreement of the two backends (onnx, torch) on real text.

Chunks the ground-truth text of ../shared/eval with kairo-ray's own chunker (EMBEDDINGS_CHUNK_SIZE
characters, under the model's token limit) and encodes every chunk, each configuration in a fresh
process with the embedding replica's threads (Ray gives it OMP_NUM_THREADS=1): chunks/s, load
seconds, RSS after encoding and peak RSS, and the lowest cosine between its vectors and those of
sentence-transformers (torch) at its default batch of 32. Prints the table and writes it to
benchmarks/reports/embed.md.

    python benchmarks/embed_benchmark.py [--threads 1] [--report benchmarks/reports/embed.md]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from reporting import header, publish

REPO = Path(__file__).resolve().parents[1]
EVAL = Path(os.environ.get("KAIRO_EVAL_DIR", REPO.parent / "shared" / "eval")).resolve()
REFERENCE = ("torch", 32)
CONFIGS = [REFERENCE, ("torch", 8), ("onnx", 32), ("onnx", 8), ("onnx", 4)]


def eval_texts(count_tokens: object, max_tokens: int) -> list[str]:
    """The chunks kairo-ray would embed for the ground truth of every evaluation item."""
    from kairo_ray.models import PageResult
    from kairo_ray.processing.chunk import chunk_pages
    from kairo_ray.processing.evaluation import eval_items
    from kairo_ray.settings import Settings

    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    texts: list[str] = []
    for item in eval_items(EVAL):
        gt_files = item.get("page_gt") or ([item["gt"]] if item.get("gt") else [])
        pages = [
            PageResult(page_number=n, text=(EVAL / name).read_text(encoding="utf-8"))
            for n, name in enumerate(gt_files, start=1)
        ]
        chunks = chunk_pages(
            pages,
            settings.embeddings_chunk_size,
            settings.embeddings_chunk_overlap,
            count_tokens,  # type: ignore[arg-type]
            max_tokens,
        )
        texts += [chunk.text for chunk in chunks]
    return texts


def _rss_mib() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def worker(backend: str, batch: int, vectors_out: Path) -> dict[str, float]:
    import numpy as np

    from kairo_ray.processing.embed import Embedder

    started = time.perf_counter()
    embedder = Embedder(batch_size=batch, backend=backend)
    load = time.perf_counter() - started
    texts = eval_texts(embedder.count_tokens, embedder.max_tokens)
    embedder.encode(texts[:batch])
    started = time.perf_counter()
    vectors = embedder.encode(texts)
    seconds = time.perf_counter() - started
    np.save(vectors_out, vectors)
    return {
        "chunks": len(texts),
        "seconds": seconds,
        "load": load,
        "rss": _rss_mib(),
        "peak": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "torch_loaded": "torch" in sys.modules,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--report", default=str(REPO / "benchmarks" / "reports" / "embed.md"))
    parser.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        backend, batch, out = args.worker
        print(json.dumps(worker(backend, int(batch), Path(out))))
        return 0

    import numpy as np

    from kairo_ray.processing.embed import onnx_model, resolve_model
    from kairo_ray.settings import Settings

    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    onnx_model(Path(resolve_model(settings.embeddings_model)), settings.model_cache_dir)
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
    results = {}
    with tempfile.TemporaryDirectory() as scratch:
        for backend, batch in CONFIGS:
            out = Path(scratch) / f"{backend}-{batch}.npy"
            done = subprocess.run(
                [sys.executable, __file__, "--worker", backend, str(batch), str(out)],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            )
            results[backend, batch] = json.loads(done.stdout.strip().splitlines()[-1])
            results[backend, batch]["vectors"] = np.load(out)
    reference = results[REFERENCE]["vectors"]
    rows = []
    for (backend, batch), result in results.items():
        cosine = float((result["vectors"] * reference).sum(axis=1).min())
        rows.append(
            f"| {backend} | {batch} | {result['chunks'] / result['seconds']:.1f} | "
            f"{result['load']:.1f} | {result['rss']:.0f} | {result['peak']:.0f} | "
            f"{cosine:.6f} | {'yes' if result['torch_loaded'] else 'no'} |"
        )
    chunks = results[REFERENCE]["chunks"]
    report = (
        header("Embedding benchmark")
        + f"- model: {settings.embeddings_model}; {chunks} chunks of the evaluation set's ground "
        f"truth (EMBEDDINGS_CHUNK_SIZE={settings.embeddings_chunk_size}); "
        f"OMP_NUM_THREADS={args.threads} (the embedding replica's)\n"
        f"- lowest cosine: against torch at batch {REFERENCE[1]} "
        "(sentence-transformers' default)\n\n"
        "| backend | batch | chunks/s | load s | RSS after MiB | peak RSS MiB | lowest cosine "
        "| torch imported |\n|---|---|---|---|---|---|---|---|\n" + "\n".join(rows) + "\n"
    )
    publish(report, args.report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
