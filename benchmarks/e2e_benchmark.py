"""End-to-end throughput and memory of the whole system, against the OCR engine alone.

Starts what ``kairo-ray up`` starts on this machine (a one-node Ray head, the embedded PostgreSQL
with pgvector in a temporary data directory, the Serve application and the driver), queues a batch
of real multi-page documents from ../shared/eval the way Kairo does (rows in ``documents``), and
measures: pages/s end to end, time to first result, and the peak memory of every Ray process plus
PostgreSQL. Right after, it runs the same pages through the engine alone in one process (render +
OCR, the replica's engines and threads) as the upper bound. This VM's speed drifts by several per
cent over minutes, so that pair is repeated (``--rounds``) and the median ratio reported; one
engine with all the threads, the other engine-alone layout, runs once at the end. Prints and
writes the tables to benchmarks/reports/e2e.md.

    python benchmarks/e2e_benchmark.py [--copies 4] [--rounds 3] [--report ...e2e.md]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

import psutil
from reporting import header, publish

REPO = Path(__file__).resolve().parents[1]
EVAL = Path(os.environ.get("KAIRO_EVAL_DIR", REPO.parent / "shared" / "eval")).resolve()
DOCUMENTS = [
    "multipage_pdfs/fondue_galdos_luchana_5p.pdf",
    "multipage_pdfs/ocrmypdf_cardinal.pdf",
    "es_fondue_print19/pardo_bazan_de_mi_tierra__pardo_bazan_de_mi_tierra_12.jpg",
    "es_fondue_print19/eduardo_l_holmberg_horacio__HoracioKalibangoLosautomatas_p6.png",
]


class MemorySampler:
    """Peak of the summed memory of Ray's and PostgreSQL's processes, sampled every second.

    PSS (proportional set size) counts shared pages once across processes, which is what the
    machine really spends; RSS double-counts shared libraries and is reported for comparison.
    RSS is cheap to read (``statm``); PSS makes the kernel walk every mapping (``smaps_rollup``),
    which summed over the cluster cost ~2 % of this 2-core machine when done every 2 s. So PSS is
    read only when the summed RSS passes the one at the last PSS reading by PSS_STEP, or the set
    of processes changes: shared pages barely change while the cluster runs, so PSS peaks where
    RSS does (an assumption: a PSS peak without a new RSS high would be missed), and the PSS
    peak reported is at most PSS_STEP below the true one.
    """

    PSS_STEP = 32 * 2**20

    def __init__(self) -> None:
        self.peak_pss = 0
        self.peak_rss = 0
        self.breakdown: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._known: dict[int, psutil.Process | None] = {}

    @staticmethod
    def _ours(process: psutil.Process) -> bool:
        try:
            name = " ".join(process.cmdline()[:3])
        except (psutil.Error, OSError):
            return False
        markers = ("ray", "raylet", "gcs_server", "postgres", "Serve", "kairo", "dashboard")
        return any(marker in name for marker in markers) and process.pid != os.getpid()

    def _processes(self) -> list[psutil.Process]:
        """Ours among the running processes; each new pid's command line is read once."""
        running = set(psutil.pids())
        self._known = {pid: p for pid, p in self._known.items() if pid in running}
        for pid in running - self._known.keys():
            try:
                process = psutil.Process(pid)
                self._known[pid] = process if self._ours(process) else None
            except psutil.Error:
                self._known[pid] = None
        return [process for process in self._known.values() if process is not None]

    def _run(self) -> None:
        seen: set[int] = set()
        read_at = 0
        while not self._stop.is_set():
            processes = self._processes()
            rss = 0
            for process in processes:
                try:
                    rss += process.memory_info().rss
                except (psutil.Error, OSError):
                    continue
            pids = {process.pid for process in processes}
            self.peak_rss = max(self.peak_rss, rss)
            if rss > read_at + self.PSS_STEP or pids != seen:
                read_at, seen = rss, pids
                self._read_pss(processes)
            self._stop.wait(1.0)

    def _read_pss(self, processes: list[psutil.Process]) -> None:
        pss = 0
        breakdown: dict[str, int] = {}
        for process in processes:
            try:
                full = process.memory_full_info()
                name = process.cmdline()[0].split("/")[-1][:48]
            except (psutil.Error, OSError, IndexError):
                continue
            pss += full.pss
            breakdown[name] = breakdown.get(name, 0) + full.pss
        if pss > self.peak_pss:
            self.peak_pss, self.breakdown = pss, breakdown

    @classmethod
    def cpu_seconds(cls) -> dict[int, tuple[str, float]]:
        """CPU seconds (user + system) used so far by each of Ray's and PostgreSQL's processes."""
        seen = {}
        for process in psutil.process_iter():
            if not cls._ours(process):
                continue
            try:
                times = process.cpu_times()
                name = process.cmdline()[0].split("/")[-1][:48]
            except (psutil.Error, OSError, IndexError):
                continue
            seen[process.pid] = (name, times.user + times.system)
        return seen

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


async def queue_and_wait(url: str, files: list[Path]) -> tuple[float, float, int, list[str], float]:
    """Insert the documents and wait for all.

    Times come from the database's clock (the insert, and each job's ``completed_at``), so polling
    once a second costs little and loses no precision. Returns (first result s, all done s,
    pages, document ids, wall-clock time of the insert).
    """
    from kairo_ray.db.connector import connect

    conn = await connect(url)
    try:
        inserted = time.time()
        started = await conn.fetchval("SELECT clock_timestamp()")
        ids = [
            await conn.fetchval(
                "INSERT INTO documents (file_url) VALUES ($1) RETURNING id", str(path)
            )
            for path in files
        ]
        while True:
            rows = await conn.fetch(
                "SELECT status, page_count FROM documents WHERE id = ANY($1::uuid[])", ids
            )
            done = [row for row in rows if row["status"] in ("completed", "failed")]
            if len(done) == len(ids):
                failed = [row for row in done if row["status"] == "failed"]
                if failed:
                    raise RuntimeError(f"{len(failed)} documents failed")
                first, last = await conn.fetchrow(
                    "SELECT min(completed_at), max(completed_at) FROM ocr_queue "
                    "WHERE document_id = ANY($1::uuid[]) AND status = 'completed'",
                    ids,
                )
                pages = sum(r["page_count"] for r in rows)
                return (
                    (first - started).total_seconds(),
                    (last - started).total_seconds(),
                    pages,
                    [str(i) for i in ids],
                    inserted,
                )
            await asyncio.sleep(1.0)
    finally:
        await conn.close()


def where_time_went(settings: Any, ids: list[str], inserted: float, total: float) -> dict:
    """From the driver's page traces: engine seconds, and the wall time around the pages."""
    import ray

    from kairo_ray.control import running_driver

    driver = running_driver(settings)
    spans = [span for doc in ids for span in ray.get(driver.trace.remote(doc))]
    first = min(span["started"] for span in spans)
    last = max(span["ended"] for span in spans)
    return {
        "ocr": sum(span.get("ocr_seconds", 0.0) for span in spans),
        "before": first - inserted,
        "pages": last - first,
        "after": inserted + total - last,
        "nodes": len({span["node_id"] for span in spans}),
        "workers": len({(span["node_id"], span["pid"]) for span in spans}),
    }


def engine_pool(files: list[Path]) -> tuple[float, int, float]:
    """The same pages through the OCR replica's own layout, with no Ray: one process holding
    WORKER_THREADS / OCR_THREADS_PER_ENGINE engines, each on its own thread, fed pages rendered
    in the main thread. Returns (seconds, pages, CPU seconds)."""
    from kairo_ray.processing.ocr import OcrOptions, get_engine
    from kairo_ray.processing.render import open_document
    from kairo_ray.settings import load_settings

    settings = load_settings()
    options = OcrOptions.from_settings(settings, threads=settings.ocr_engine_threads)
    count = settings.ocr_engines_per_replica
    threads = [ThreadPoolExecutor(max_workers=1) for _ in range(count)]
    engines = [t.submit(get_engine, settings.ocr_engine, options).result() for t in threads]
    with open_document(files[0], settings) as warm:
        image = warm.render_page(1)
    for thread, engine in zip(threads, engines, strict=True):
        thread.submit(engine.recognize, image, 1).result()
    free = list(zip(threads, engines, strict=True))
    running: dict[Future[Any], tuple[ThreadPoolExecutor, Any]] = {}
    pages = 0
    started, cpu = time.monotonic(), time.process_time()
    for path in files:
        with open_document(path, settings) as document:
            for number in range(1, document.page_count + 1):
                pages += 1
                if document.text_layer(number) is not None:
                    continue
                image = document.render_page(number)
                if not free:  # the next page waits for an engine, as in the replica's queue
                    done, _ = wait(running, return_when=FIRST_COMPLETED)
                    free += [running.pop(future) for future in done]
                thread, engine = free.pop()
                running[thread.submit(engine.recognize, image, number)] = (thread, engine)
    wait(running)
    seconds, cpu = time.monotonic() - started, time.process_time() - cpu
    for thread, engine in zip(threads, engines, strict=True):
        engine.close()
        thread.shutdown()
    return seconds, pages, cpu


def engine_alone(files: list[Path]) -> tuple[float, int, float]:
    """Render + OCR of the same pages in this one process, one engine of WORKER_THREADS threads.

    Returns (seconds, pages, seconds inside the engine).
    """
    from kairo_ray.processing.ocr import OcrOptions, get_engine
    from kairo_ray.processing.render import open_document
    from kairo_ray.settings import load_settings

    settings = load_settings()
    engine = get_engine(settings.ocr_engine, OcrOptions.from_settings(settings))
    warm = open_document(files[0], settings)
    engine.recognize(warm.render_page(1), 1)
    pages = 0
    in_engine = 0.0
    started = time.monotonic()
    for path in files:
        with open_document(path, settings) as document:
            for number in range(1, document.page_count + 1):
                if document.text_layer(number) is None:
                    in_engine += engine.recognize(document.render_page(number), number).seconds
                pages += 1
    seconds = time.monotonic() - started
    engine.close()
    return seconds, pages, in_engine


ALONE = {"single": engine_alone, "pool": engine_pool}


def alone_in_child(layout: str, copies: int) -> tuple[list[Any], float]:
    """An engine-alone run in a fresh process with the OCR replicas' process environment, so its
    peak RSS is its own. Returns (the run's results, peak RSS GiB)."""
    from kairo_ray.app.deployments import OCR_PROCESS_ENV, as_ray_expands

    completed = subprocess.run(
        [sys.executable, __file__, "--engine-alone", layout, "--copies", str(copies)],
        env={**os.environ, **as_ray_expands(OCR_PROCESS_ENV, os.environ)},
        capture_output=True,
        text=True,
        check=True,
    )
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    return result["run"], result["peak_kib"] / 2**20


def stolen_seconds() -> float:
    """CPU seconds the hypervisor has taken from this VM so far (``steal`` in /proc/stat)."""
    with open("/proc/stat") as stat:
        fields = stat.readline().split()
    return int(fields[8]) / os.sysconf("SC_CLK_TCK")


def end_to_end(settings: Any, files: list[Path]) -> dict[str, Any]:
    """One end-to-end run on a fresh cluster: ``up``, queue the files, wait, ``down``."""
    from kairo_ray.control import disconnect, down, up
    from kairo_ray.db.embedded import ensure_database_url

    subprocess.run(["ray", "stop", "--force"], capture_output=True, check=False)
    try:
        with MemorySampler() as memory:
            up_started = time.monotonic()
            up(settings)
            startup = time.monotonic() - up_started
            disconnect()  # a connected driver's own threads would count against the cluster
            cpu_before, own_before = MemorySampler.cpu_seconds(), time.process_time()
            steal_before = stolen_seconds()
            first, total, pages, ids, inserted = asyncio.run(
                queue_and_wait(ensure_database_url(settings), files)
            )
            steal = stolen_seconds() - steal_before
            cpu_after, own_cpu = MemorySampler.cpu_seconds(), time.process_time() - own_before
            spent = where_time_went(settings, ids, inserted, total)
    finally:
        down(settings)  # also after a failure: no Ray or PostgreSQL left running
    cpu: dict[str, float] = {"this benchmark (memory sampling, polling)": own_cpu}
    for pid, (name, used) in cpu_after.items():
        earlier = cpu_before.get(pid)
        start = earlier[1] if earlier and earlier[0] == name else 0.0
        cpu[name] = cpu.get(name, 0.0) + used - start
    return {
        "startup": startup,
        "first": first,
        "total": total,
        "pages": pages,
        "rate": pages / total,
        "spent": spent,
        "cpu": cpu,
        "steal": steal,
        "peak_pss": memory.peak_pss,
        "peak_rss": memory.peak_rss,
        "breakdown": memory.breakdown,
    }


def pool_alone(copies: int) -> dict[str, Any]:
    """The replica's layout alone, in its own process; with the CPU stolen meanwhile."""
    steal_before = stolen_seconds()
    (seconds, pages, cpu), rss = alone_in_child("pool", copies)
    return {
        "rate": pages / seconds,
        "cpu": cpu,
        "rss": rss,
        "steal": stolen_seconds() - steal_before,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=4, help="times each document is queued")
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="end-to-end runs, each followed at once by the engine alone in the replica's layout",
    )
    parser.add_argument("--report", default=str(REPO / "benchmarks" / "reports" / "e2e.md"))
    parser.add_argument("--engine-alone", choices=sorted(ALONE), help=argparse.SUPPRESS)
    args = parser.parse_args()
    files = [EVAL / name for name in DOCUMENTS] * args.copies
    missing = [str(path) for path in files if not path.exists()]
    if missing:
        print(f"missing evaluation files: {missing}", file=sys.stderr)
        return 2
    if args.engine_alone:
        run = ALONE[args.engine_alone](files)
        peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # Linux: KiB
        print(json.dumps({"run": run, "peak_kib": peak_kib}))
        return 0

    os.environ["API_HOST"] = "127.0.0.1"
    os.environ.pop("DATABASE_URL", None)
    from kairo_ray.settings import load_settings

    # This VM's speed drifts by several per cent over minutes, so each end-to-end run is
    # compared with an engine-alone run made right after it, and the rounds' median is reported.
    rounds = []
    for _ in range(args.rounds):
        # A fresh embedded database each round, as on a new machine.
        os.environ["DATA_DIR"] = tempfile.mkdtemp(prefix="kairo-bench-")
        settings = load_settings()
        e2e = end_to_end(settings, files)
        rounds.append((e2e, pool_alone(args.copies)))
    (single_seconds, single_pages, single_engine), single_rss = alone_in_child(
        "single", args.copies
    )
    single_rate = single_pages / single_seconds
    ratios = [e2e["rate"] / max(alone["rate"], single_rate) for e2e, alone in rounds]
    median = sorted(range(len(rounds)), key=lambda i: ratios[i])[len(rounds) // 2]
    e2e, alone = rounds[median]
    pages = e2e["pages"]

    def ocr_cpu(run: dict[str, Any]) -> float:
        return sum(used for name, used in run["cpu"].items() if "kairo:ocr" in name)

    round_rows = "\n".join(
        f"| {n + 1}{' (median)' if n == median else ''} | {r['rate']:.3f} | {a['rate']:.3f} | "
        f"**{100 * ratios[n]:.0f} %** | {r['first']:.1f} s | {r['peak_pss'] / 2**30:.2f} GiB | "
        f"{ocr_cpu(r):.1f} s | {a['cpu']:.1f} s | {r['steal']:.1f} s / {a['steal']:.1f} s |"
        for n, (r, a) in enumerate(rounds)
    )
    rounds_table = (
        "| round | end to end, pages/s | engine alone (replica's layout), pages/s | ratio | "
        "first document | peak PSS, Ray + PostgreSQL | OCR replica CPU | engine alone CPU | "
        "CPU stolen by the hypervisor (e2e / alone) |\n"
        "|---|---|---|---|---|---|---|---|---|\n" + round_rows
    )
    rows = [
        (
            "documents queued per round",
            f"{len(files)} ({', '.join(Path(d).name for d in DOCUMENTS)} × {args.copies})",
        ),
        ("pages per round", f"{pages}"),
        ("rounds (end to end, then the engine alone)", f"{len(rounds)}"),
        (
            "**end-to-end / engine alone, median of the rounds**",
            f"**{100 * ratios[median]:.0f} %**",
        ),
        (
            "**peak memory, Ray + PostgreSQL, PSS, highest of the rounds**",
            f"**{max(r['peak_pss'] for r, _ in rounds) / 2**30:.2f} GiB**",
        ),
        (
            f"engine alone pages/s: one engine × {settings.worker_threads} threads (run once)",
            f"{single_rate:.3f}",
        ),
        (
            f"engine alone pages/s: {settings.ocr_engines_per_replica} engines × "
            f"{settings.ocr_engine_threads} thread(s), the replica's layout (median round)",
            f"{alone['rate']:.3f}",
        ),
        (
            "start-up (`up`: Ray head, DB, models, driver, page workers), median round",
            f"{e2e['startup']:.1f} s",
        ),
        ("all documents completed, median round", f"{e2e['total']:.1f} s"),
        (
            "peak memory, Ray + PostgreSQL, RSS (double-counts shared pages), median round",
            f"{e2e['peak_rss'] / 2**30:.2f} GiB",
        ),
        (
            f"engine alone peak RSS: one engine × {settings.worker_threads} threads",
            f"{single_rss:.2f} GiB",
        ),
        ("engine alone peak RSS: the replica's layout, median round", f"{alone['rss']:.2f} GiB"),
    ]
    width = max(len(name) for name, _ in rows)
    table = "\n".join(f"| {name.ljust(width)} | {value} |" for name, value in rows)
    table_head = f"| {'measure'.ljust(width)} | value |\n|{'-' * (width + 2)}|-------|"
    spent = e2e["spent"]
    time_rows = [
        ("insert → first page task starts (claim, fetch, worker start)", spent["before"]),
        ("first page starts → last page ends", spent["pages"]),
        ("last page ends → last document stored (chunk, embed, store)", spent["after"]),
        ("OCR engine seconds, end to end (summed over pages, all engines)", spent["ocr"]),
        ("OCR engine seconds, engine alone (one engine, same pages)", single_engine),
        ("rendering and the rest, engine alone (one engine)", single_seconds - single_engine),
        (
            "CPU seconds of the engine alone, replica's layout (vs the OCR replica below)",
            alone["cpu"],
        ),
    ]
    time_rows_text = [("worker processes that ran page tasks", f"{spent['workers']}")]
    time_table = "\n".join(
        [f"| {name} | {value:.1f} s |" for name, value in time_rows]
        + [f"| {name} | {value} |" for name, value in time_rows_text]
    )
    cpu_rows = sorted(e2e["cpu"].items(), key=lambda item: -item[1])[:10]
    cpu_table = "\n".join(f"| {name} | {used:.1f} s |" for name, used in cpu_rows)
    biggest = sorted(e2e["breakdown"].items(), key=lambda item: -item[1])[:8]
    breakdown = "\n".join(f"| {name} | {pss / 2**20:.0f} MiB |" for name, pss in biggest)
    report = (
        header("End-to-end benchmark")
        + f"- OCR_ENGINE={settings.ocr_engine}, WORKER_THREADS={settings.worker_threads}, "
        f"OCR threads per engine={settings.ocr_engine_threads}, "
        f"RENDER_DPI={settings.render_dpi}\n\n"
        f"{table_head}\n{table}\n\n"
        "Each round (the ratio is to the faster engine-alone layout):\n\n"
        f"{rounds_table}\n\n"
        f"Where the median round's time went ({spent['nodes']} node; from the driver's page "
        "traces, whose OCR time is measured inside the engine):\n\n"
        f"| span | seconds |\n|---|---|\n{time_table}\n\n"
        f"CPU seconds used while the median round's documents were processed ({os.cpu_count()} "
        f"cores × {e2e['total']:.1f} s = {os.cpu_count() * e2e['total']:.0f} CPU-s available), "
        "by process:\n\n"
        f"| process | CPU |\n|---|---|\n{cpu_table}\n\n"
        "PSS at the median round's peak, by process (Ray names its workers after what they "
        "run):\n\n"
        f"| process | PSS |\n|---|---|\n{breakdown}\n"
    )
    publish(report, args.report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
