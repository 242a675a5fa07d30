"""End-to-end throughput and memory of the whole system, against the OCR engine alone.

Starts what ``kairo-ray up`` starts on this machine (a one-node Ray head, the embedded PostgreSQL
with pgvector in a temporary data directory, the Serve application and the driver), queues a batch
of real multi-page documents from ../shared/eval the way Kairo does (rows in ``documents``), and
measures: pages/s end to end, time to first result, and the peak memory of every Ray process plus
PostgreSQL. Then it runs the same pages through the engine alone in one process (render + OCR,
same threads) as the upper bound, and prints and writes the table to benchmarks/reports/e2e.md.

    python benchmarks/e2e_benchmark.py [--copies 2] [--report benchmarks/reports/e2e.md]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]
EVAL = Path(os.environ.get("KAIRO_EVAL_DIR", REPO.parent / "shared" / "eval")).resolve()
DOCUMENTS = [
    "multipage_pdfs/fondue_galdos_luchana_5p.pdf",
    "multipage_pdfs/ocrmypdf_cardinal.pdf",
    "es_fondue_print19/pardo_bazan_de_mi_tierra__pardo_bazan_de_mi_tierra_12.jpg",
    "es_fondue_print19/eduardo_l_holmberg_horacio__HoracioKalibangoLosautomatas_p6.png",
]


def machine() -> str:
    cpu = "unknown CPU"
    with open("/proc/cpuinfo") as info:
        for line in info:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = psutil.virtual_memory().total / 2**30
    return f"{cpu}, {os.cpu_count()} cores, {memory:.0f} GiB RAM, {platform.platform()}"


class MemorySampler:
    """Peak of the summed memory of Ray's and PostgreSQL's processes, sampled every 0.5 s.

    PSS (proportional set size) counts shared pages once across processes, which is what the
    machine really spends; RSS double-counts shared libraries and is reported for comparison.
    """

    def __init__(self) -> None:
        self.peak_pss = 0
        self.peak_rss = 0
        self.breakdown: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def _ours(process: psutil.Process) -> bool:
        try:
            name = " ".join(process.cmdline()[:3])
        except (psutil.Error, OSError):
            return False
        markers = ("ray", "raylet", "gcs_server", "postgres", "Serve", "kairo", "dashboard")
        return any(marker in name for marker in markers) and process.pid != os.getpid()

    def _run(self) -> None:
        while not self._stop.is_set():
            pss = rss = 0
            breakdown: dict[str, int] = {}
            for process in psutil.process_iter():
                if not self._ours(process):
                    continue
                try:
                    full = process.memory_full_info()
                    name = process.cmdline()[0].split("/")[-1][:48]
                except (psutil.Error, OSError, IndexError):
                    continue
                pss += full.pss
                rss += full.rss
                breakdown[name] = breakdown.get(name, 0) + full.pss
            if pss > self.peak_pss:
                self.peak_pss, self.breakdown = pss, breakdown
            self.peak_rss = max(self.peak_rss, rss)
            self._stop.wait(0.5)

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


async def queue_and_wait(url: str, files: list[Path]) -> tuple[float, float, int]:
    """Insert the documents, wait for all; returns (first result s, all done s, pages)."""
    from kairo_ray.db.connector import connect

    conn = await connect(url)
    try:
        started = time.monotonic()
        ids = [
            await conn.fetchval(
                "INSERT INTO documents (file_url) VALUES ($1) RETURNING id", str(path)
            )
            for path in files
        ]
        first = None
        while True:
            rows = await conn.fetch(
                "SELECT status, page_count FROM documents WHERE id = ANY($1::uuid[])", ids
            )
            done = [row for row in rows if row["status"] in ("completed", "failed")]
            if done and first is None:
                first = time.monotonic() - started
            if len(done) == len(ids):
                failed = [row for row in done if row["status"] == "failed"]
                if failed:
                    raise RuntimeError(f"{len(failed)} documents failed")
                return first or 0.0, time.monotonic() - started, sum(r["page_count"] for r in rows)
            await asyncio.sleep(0.2)
    finally:
        await conn.close()


def engine_alone(files: list[Path]) -> tuple[float, int, float]:
    """Render + OCR of the same pages in this one process: (seconds, pages, peak RSS GiB)."""
    from kairo_ray.processing.ocr import OcrOptions, get_engine
    from kairo_ray.processing.render import open_document
    from kairo_ray.settings import load_settings

    settings = load_settings()
    engine = get_engine(settings.ocr_engine, OcrOptions.from_settings(settings))
    warm = open_document(files[0], settings)
    engine.recognize(warm.render_page(1), 1)
    pages = 0
    started = time.monotonic()
    for path in files:
        with open_document(path, settings) as document:
            for number in range(1, document.page_count + 1):
                if document.text_layer(number) is None:
                    engine.recognize(document.render_page(number), number)
                pages += 1
    seconds = time.monotonic() - started
    peak = psutil.Process().memory_info().rss / 2**30
    engine.close()
    return seconds, pages, peak


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=2, help="times each document is queued")
    parser.add_argument("--report", default=str(REPO / "benchmarks" / "reports" / "e2e.md"))
    args = parser.parse_args()
    files = [EVAL / name for name in DOCUMENTS] * args.copies
    missing = [str(path) for path in files if not path.exists()]
    if missing:
        print(f"missing evaluation files: {missing}", file=sys.stderr)
        return 2

    data_dir = Path(tempfile.mkdtemp(prefix="kairo-bench-"))
    os.environ.update(
        {"DATA_DIR": str(data_dir), "POLL_INTERVAL_SECONDS": "1", "API_HOST": "127.0.0.1"}
    )
    os.environ.pop("DATABASE_URL", None)
    from kairo_ray.control import down, up
    from kairo_ray.settings import load_settings

    settings = load_settings()
    subprocess.run(["ray", "stop", "--force"], capture_output=True, check=False)
    with MemorySampler() as memory:
        up_started = time.monotonic()
        info = up(settings)
        startup = time.monotonic() - up_started
        first, total, pages = asyncio.run(queue_and_wait(info["database_url"], files))
    down(settings)
    alone_seconds, alone_pages, alone_rss = engine_alone(files)

    e2e_rate = pages / total
    alone_rate = alone_pages / alone_seconds
    rows = [
        (
            "documents queued",
            f"{len(files)} ({', '.join(Path(d).name for d in DOCUMENTS)} × {args.copies})",
        ),
        ("pages", f"{pages}"),
        ("start-up (`up`: Ray head, DB, models, driver)", f"{startup:.1f} s"),
        ("time to first completed document", f"{first:.1f} s"),
        ("all documents completed", f"{total:.1f} s"),
        ("end-to-end pages/s", f"{e2e_rate:.3f}"),
        ("engine alone pages/s (one process, render + OCR)", f"{alone_rate:.3f}"),
        ("end-to-end / engine alone", f"{100 * e2e_rate / alone_rate:.0f} %"),
        ("peak memory, Ray + PostgreSQL, PSS", f"{memory.peak_pss / 2**30:.2f} GiB"),
        (
            "peak memory, Ray + PostgreSQL, RSS (double-counts shared pages)",
            f"{memory.peak_rss / 2**30:.2f} GiB",
        ),
        ("engine alone peak RSS", f"{alone_rss:.2f} GiB"),
    ]
    width = max(len(name) for name, _ in rows)
    table = "\n".join(f"| {name.ljust(width)} | {value} |" for name, value in rows)
    header = f"| {'measure'.ljust(width)} | value |\n|{'-' * (width + 2)}|-------|"
    biggest = sorted(memory.breakdown.items(), key=lambda item: -item[1])[:8]
    breakdown = "\n".join(f"| {name} | {pss / 2**20:.0f} MiB |" for name, pss in biggest)
    command = "python benchmarks/e2e_benchmark.py " + " ".join(sys.argv[1:])
    report = (
        "# End-to-end benchmark\n\n"
        f"- machine: {machine()}\n"
        f"- command: `{command.strip()}`\n"
        f"- date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}\n"
        f"- WORKER_THREADS={settings.worker_threads}, RENDER_DPI={settings.render_dpi}\n\n"
        f"{header}\n{table}\n\n"
        "PSS at the peak, by process (Ray names its workers after what they run):\n\n"
        f"| process | PSS |\n|---|---|\n{breakdown}\n"
    )
    print(report)
    Path(args.report).parent.mkdir(parents=True, exist_ok=True)
    Path(args.report).write_text(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
