"""The ``kairo-ray`` command line. Each subcommand registers itself in :func:`build_parser`.

``up``/``down`` start and stop the application on a Ray cluster; ``submit``, ``status``,
``search`` and ``migrate`` talk to the running system. ``kairo-ray ocr FILE...`` runs the
processing stages in this process on local files: no cluster, no database. It is the quickest way
to see what the service would store for a document.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any
from uuid import UUID

from kairo_ray.errors import KairoError
from kairo_ray.models import PRIORITY_DEFAULT, PRIORITY_MAX, PRIORITY_MIN
from kairo_ray.settings import ConfigError, Settings, load_settings, secret

if TYPE_CHECKING:
    from kairo_ray.db.queue import JobQueue
    from kairo_ray.db.store import DocumentStore

Handler = Callable[[argparse.Namespace, Settings], int]


def _ocr(args: argparse.Namespace, settings: Settings) -> int:
    from kairo_ray.processing.embed import Embedder
    from kairo_ray.processing.layout import page_reader
    from kairo_ray.processing.pipeline import process_document

    if args.dpi is not None:
        settings = settings.model_copy(update={"render_dpi": args.dpi})
    if args.layout is not None:
        settings = settings.model_copy(update={"layout_engine": args.layout})
    engine = page_reader(settings, ocr_engine=args.engine)
    embedder = Embedder.from_settings(settings) if args.embed else None
    failures = 0
    reports = []
    for name in args.files:
        path = Path(name)
        try:
            if not path.is_file():
                raise KairoError(f"no such file: {path}")
            size = path.stat().st_size
            if size > settings.max_file_size_bytes:
                raise KairoError(
                    f"file too large: {size} bytes, more than "
                    f"MAX_FILE_SIZE_MB={settings.max_file_size_mb:g} MB"
                )
            result = process_document(path, settings, engine, embedder, name=name)
        except (KairoError, OSError) as exc:
            failures += 1
            print(f"kairo-ray ocr: {name}: {exc}", file=sys.stderr)
            reports.append({"file": name, "error": str(exc)})
            continue
        if args.json:
            reports.append(
                {
                    "file": name,
                    "kind": result.kind,
                    "language": result.language,
                    "page_count": len(result.pages),
                    "timings": result.timings,
                    "pages": [page.model_dump() for page in result.pages],
                    "chunks": [chunk.model_dump(exclude={"embedding"}) for chunk in result.chunks],
                }
            )
        else:
            print(
                f"==> {name} ({result.kind}, {len(result.pages)} page(s), "
                f"language {result.language or 'unknown'}) <=="
            )
            for page in result.pages:
                print(f"--- page {page.page_number} ({page.source}, {page.seconds:.2f} s) ---")
                print(page.text)
            if result.chunks:
                print(f"--- {len(result.chunks)} chunk(s) embedded ---")
            sys.stdout.flush()
    if args.json:
        json.dump({"documents": reports}, sys.stdout, ensure_ascii=False, indent=2)
        print()
    engine.close()
    return 1 if failures else 0


def _add_ocr(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "ocr",
        help="OCR local files in this process (no cluster, no database)",
        description="Render, OCR and detect the language of local PDF/image files; print each "
        "page's text, or everything as JSON. A bad file is reported and the rest still run.",
    )
    parser.add_argument("files", nargs="+", metavar="FILE", help="PDF, PNG, JPEG, TIFF, ...")
    parser.add_argument(
        "--json", action="store_true", help="pages, lines, boxes, confidences, timings"
    )
    parser.add_argument("--engine", help="onnx, paddle or tesseract (default: OCR_ENGINE)")
    parser.add_argument("--layout", help="cdla or none (default: LAYOUT_ENGINE)")
    parser.add_argument("--dpi", type=int, help="PDF render resolution (default RENDER_DPI)")
    parser.add_argument(
        "--embed", action="store_true", help="also chunk and embed the text (report the chunks)"
    )
    parser.set_defaults(handler=_ocr)


def _run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


@asynccontextmanager
async def _database(settings: Settings) -> AsyncIterator[tuple[JobQueue, DocumentStore]]:
    """A small pool for one command, closed when it is done."""
    from kairo_ray.db.connector import create_pool
    from kairo_ray.db.queue import JobQueue
    from kairo_ray.db.store import DocumentStore

    pool = await create_pool(settings, min_size=1, max_size=2, role="cli")
    try:
        yield JobQueue(pool, settings), DocumentStore(pool)
    finally:
        await pool.close()


def _up(args: argparse.Namespace, settings: Settings) -> int:
    from kairo_ray.control import up

    info = up(settings, address=args.address)
    driver = info["driver"]
    if info["token"]:
        print(info["token"])
    print(f"Ray cluster     {info['ray_address']}" + (" (started)" if info["started_head"] else ""))
    print(f"database        {info['database']}")
    print(f"HTTP API        {info['api_url']}  (try {info['api_url']}/health)")
    print(f"Ray dashboard   {info['dashboard_url']}")
    workers = driver.get("page_workers")
    prepared = "page workers starting" if workers is None else f"{len(workers)} page workers ready"
    print(
        f"queue driver    instance {driver['instance_id']}, running={driver['running']}, {prepared}"
    )
    return 0


def _down(args: argparse.Namespace, settings: Settings) -> int:
    from kairo_ray.control import down

    down(settings, address=args.address, stop_ray=not args.keep_ray)
    print("kairo-ray stopped")
    return 0


def _token(args: argparse.Namespace, settings: Settings) -> int:
    from kairo_ray.ray_token import ensure_token

    token = ensure_token()
    print(token.describe() if token else "RAY_AUTH_MODE is not 'token': Ray needs no token")
    return 0


def _reembed(args: argparse.Namespace, settings: Settings) -> int:
    """In the running cluster (its driver, through the embedding deployment) when one is
    reachable and runs this EMBEDDINGS_MODEL; otherwise, or with --local, in this process."""
    if args.status:
        return _run(_reembed_status(settings, as_json=args.json))
    if args.prune and args.detach:
        print("kairo-ray reembed: --prune waits for the end; drop --detach", file=sys.stderr)
        return 2
    if not args.local:
        driver = _reachable_driver(settings)
        if driver is not None:
            return _reembed_in_cluster(args, settings, driver)
        print("no running cluster here: re-embedding in this process (--local)")
    return _reembed_here(args, settings)


def _reachable_driver(settings: Settings) -> Any | None:
    from kairo_ray.control import running_driver

    try:
        return running_driver(settings)
    except Exception:
        return None


def _reembed_here(args: argparse.Namespace, settings: Settings) -> int:
    from kairo_ray.processing.embed import Embedder

    embedder = Embedder.from_settings(settings)
    result = _run(_reembed_local(settings, embedder, prune=args.prune))
    print(
        f"re-embedding into {result.space}: {result.outcome}, {result.documents} documents, "
        f"{result.chunks} chunks"
        + (f", {result.failed_documents} failed" if result.failed_documents else "")
    )
    return 0 if result.outcome in ("done", "nothing") else 1


LOCAL_SLICE = 64
"""Texts per encode call of ``reembed --local``: no OCR shares this process's model."""


async def _reembed_local(settings: Settings, embedder: Any, *, prune: bool) -> Any:
    """Every stored chunk into ``embedder``'s space in this process, as the driver does it
    (the same run row and lease: a cluster's driver and this never both work on it)."""
    import os
    import socket

    from tqdm import tqdm

    from kairo_ray.app.reembed import LocalTextEmbedder, Reembedder

    space = embedder.space
    async with _database(settings) as (_, store):
        chunks, _ = await store.count_to_reembed(space)
        with tqdm(total=chunks, unit="chunk", desc=f"re-embedding into {space}") as bar:
            reembedder = Reembedder(
                lambda: store,
                LocalTextEmbedder(embedder),
                f"cli:{socket.gethostname()}:{os.getpid()}",
                lease_seconds=settings.lease_seconds,
                texts_in_flight=LOCAL_SLICE,
                on_chunks=bar.update,
            )
            result = await reembedder.run()
        if result.outcome == "held":
            print(f"another holder is re-embedding into {space}: kairo-ray reembed --status")
        if prune:
            await _prune(store, space, result.outcome)
    return result


async def _prune(store: DocumentStore, space: str, outcome: str) -> None:
    if outcome not in ("done", "nothing"):
        print(f"not pruning: the re-embedding into {space} is not complete ({outcome})")
        return
    pruned = await store.prune_other_spaces(space)
    print(f"deleted {pruned} vectors of other models")


def _reembed_in_cluster(args: argparse.Namespace, settings: Settings, driver: Any) -> int:
    import ray

    from kairo_ray.processing.embed import embedding_space

    here = embedding_space(settings.embeddings_model, settings.embeddings_backend)
    status = ray.get(driver.reembed_status.remote(), timeout=120)
    if status["space"] != here:
        print(
            f"the cluster's embedding model makes {status['space']} vectors, EMBEDDINGS_MODEL "
            f"here {here}: re-embedding into {here} in this process (restart the cluster with "
            "that model to have it done there)"
        )
        return _reembed_here(args, settings)
    before = ray.get(driver.reembed.remote(), timeout=60)["finished"]
    print(f"re-embedding into {here} in the cluster (kairo-ray reembed --status follows it)")
    if args.detach:
        return 0
    try:
        outcome = _run(_follow(settings, driver, here, before))
    except KeyboardInterrupt:
        print("\nit goes on in the cluster: kairo-ray reembed --status")
        return 130
    if args.prune:
        _run(_prune_space(settings, here, outcome))
    return 0 if outcome in ("done", "nothing") else 1


async def _follow(settings: Settings, driver: Any, space: str, before: int) -> str:
    """A progress bar from the run's row until the driver has finished a run since ``before``;
    that run's outcome."""
    from tqdm import tqdm

    from kairo_ray.app.reembed import describe_progress, progress

    async with _database(settings) as (_, store):
        with tqdm(unit="chunk", desc=f"re-embedding into {space}") as bar:
            while True:
                status = await driver.reembed_status.remote()
                runs = await store.reembed_runs(space)
                if runs:
                    bar.total, bar.n = runs[0]["chunks_total"], runs[0]["chunks_done"]
                    bar.refresh()
                if status["finished"] > before and status["state"] != "running":
                    break
                await asyncio.sleep(1)
        last = status["last"] or {}
        if runs:
            print(describe_progress(progress(runs[0])))
        if status.get("last_error"):
            print(f"last error: {status['last_error']}")
        return str(last.get("outcome", "failed"))


async def _prune_space(settings: Settings, space: str, outcome: str) -> None:
    async with _database(settings) as (_, store):
        await _prune(store, space, outcome)


async def _reembed_status(settings: Settings, *, as_json: bool) -> int:
    from kairo_ray.app.reembed import describe_progress, progress

    async with _database(settings) as (_, store):
        views = [progress(run) for run in await store.reembed_runs()]
        spaces = {str(k): v for k, v in (await store.embedding_spaces()).items()}
    if as_json:
        print(json.dumps({"runs": views, "embedding_spaces": spaces}, indent=2, default=str))
        return 0
    for view in views:
        print(describe_progress(view))
    if not views:
        print("no re-embedding has run")
    print("stored chunks per space: " + ", ".join(f"{k} {v}" for k, v in spaces.items()))
    return 0


def _migrate(args: argparse.Namespace, settings: Settings) -> int:
    from kairo_ray.db.embedded import ensure_database_url
    from kairo_ray.db.migrate import migrate_url

    applied = migrate_url(ensure_database_url(settings), settings=settings)
    print(f"applied migrations: {applied}" if applied else "schema up to date")
    return 0


def _file_url(item: str) -> str:
    if "://" in item:
        return item
    path = Path(item).expanduser().resolve()
    if not path.is_file():
        raise KairoError(f"no such file: {item}")
    return str(path)


async def _submit_rows(settings: Settings, urls: list[str], priority: int) -> list[UUID]:
    async with _database(settings) as (_, store):
        return [await store.insert_document(url, None, priority=priority) for url in urls]


def _submit(args: argparse.Namespace, settings: Settings) -> int:
    try:
        urls = [_file_url(item) for item in args.items]
    except KairoError as exc:
        print(f"kairo-ray submit: {exc}", file=sys.stderr)
        return 2
    ids = _run(_submit_rows(settings, urls, args.priority))
    for url, document_id in zip(urls, ids, strict=True):
        print(f"{document_id}  {url}")
    if not args.wait:
        return 0
    return _run(_watch(settings, dict(zip(ids, urls, strict=True)), args.timeout))


def _driver_progress(
    settings: Settings,
) -> Callable[[list[str]], Awaitable[dict[str, dict]]] | None:
    """Live page progress from the cluster's driver, when this machine can reach the cluster."""
    from kairo_ray.control import running_driver

    try:
        driver = running_driver(settings)
    except Exception:
        return None
    if driver is None:
        return None

    async def progress(ids: list[str]) -> dict[str, dict]:
        return await driver.progress.remote(ids)

    return progress


async def _watch(settings: Settings, docs: dict[UUID, str], timeout: float) -> int:
    from tqdm import tqdm

    live = _driver_progress(settings)
    bars = {
        doc: tqdm(desc=Path(url).name[:32].ljust(32), unit="page", position=i, leave=True)
        for i, (doc, url) in enumerate(docs.items())
    }
    finished: dict[UUID, dict] = {}
    deadline = time.monotonic() + timeout
    try:
        async with _database(settings) as (_, store):
            while len(finished) < len(docs) and time.monotonic() < deadline:
                progress = await live([str(doc) for doc in docs]) if live else {}
                for doc, bar in bars.items():
                    if doc in finished:
                        continue
                    row = await store.get_document(doc) or {}
                    state = progress.get(str(doc), {})
                    if state.get("pages"):
                        bar.total = state["pages"]
                        bar.n = state["pages_done"]
                    status = row.get("status") or "queued"
                    bar.set_postfix_str(
                        state.get("stage", status) if status == "processing" else status
                    )
                    if status in ("completed", "failed", "cancelled"):
                        finished[doc] = row
                        if status == "completed" and row.get("page_count"):
                            bar.total = bar.n = row["page_count"]
                    bar.refresh()
                await asyncio.sleep(0.5)
    finally:
        for bar in bars.values():
            bar.close()
    failed = 0
    for doc, url in docs.items():
        row = finished.get(doc)
        if row is None:
            print(f"{doc}  still running after {timeout:g}s  {url}")
            failed += 1
        elif row["status"] != "completed":
            print(f"{doc}  {row['status']}: {row.get('error')}  {url}")
            failed += 1
    return 1 if failed else 0


async def _status_rows(settings: Settings) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    from kairo_ray.app.reembed import progress

    async with _database(settings) as (queue, store):
        runs = await store.reembed_runs()
        return (await queue.stats()).model_dump(), [progress(run) for run in runs]


def _status(args: argparse.Namespace, settings: Settings) -> int:
    from kairo_ray.app.reembed import describe_progress

    stats, reembeds = _run(_status_rows(settings))
    # The latest run, and any other still going.
    reembeds = [view for i, view in enumerate(reembeds) if i == 0 or view["state"] != "done"]
    report: dict[str, Any] = {"queue": stats, "reembed": reembeds}
    try:
        import ray

        from kairo_ray.control import running_driver

        driver = running_driver(settings)
        if driver is not None:
            report["driver"] = ray.get(driver.status.remote(), timeout=10)
            report["nodes"] = [
                {
                    "node_ip": n["NodeManagerAddress"],
                    "alive": n["Alive"],
                    "cpus": n["Resources"].get("CPU"),
                }
                for n in ray.nodes()
            ]
    except Exception as exc:
        report["driver"] = f"unreachable: {exc}"
    if args.json:
        print(json.dumps(report, indent=2, default=str))
        return 0
    q = stats
    age = q.get("oldest_queued_age_seconds")
    print(
        f"queue: {q['queued']} queued, {q['processing']} processing, "
        f"{q['completed_today']} completed today, {q['failed']} failed"
        + (f", oldest waiting {age:.0f}s" if age else "")
    )
    driver = report.get("driver")
    if isinstance(driver, dict):
        print(
            f"driver: {driver['instance_id']} running={driver['running']} "
            f"jobs={len(driver['active_jobs'])}/{driver['max_jobs']} "
            f"pages running={driver['pages_running']}/{driver['page_window']} "
            f"waiting={driver['pages_waiting']} listening={driver['listening']}"
        )
        for node in report.get("nodes", []):
            print(f"node:   {node['node_ip']} alive={node['alive']} cpus={node['cpus']}")
    else:
        print(f"driver: {driver or 'no cluster found (kairo-ray up)'}")
    for view in reembeds:
        print(describe_progress(view))
    return 0


def _search(args: argparse.Namespace, settings: Settings) -> int:
    import httpx

    host = "127.0.0.1" if settings.api_host in ("0.0.0.0", "::") else settings.api_host
    url = args.api or f"http://{host}:{settings.api_port}"
    from kairo_ray.auth import service_token

    token = service_token(settings) or secret(settings.api_admin_token)
    if token is None:
        print(
            "kairo-ray search: no credential here: set API_SERVICE_TOKEN (or run it where "
            "`kairo-ray up` ran, which keeps one in DATA_DIR)",
            file=sys.stderr,
        )
        return 2
    headers = {"Authorization": f"Bearer {token}"}
    try:
        response = httpx.get(
            f"{url}/api/search",
            params={"q": args.query, "k": args.k, **({"mode": args.mode} if args.mode else {})},
            headers=headers,
            timeout=60,
        )
    except httpx.HTTPError as exc:
        print(
            f"kairo-ray search: cannot reach the API at {url} ({exc}); is it up?", file=sys.stderr
        )
        return 2
    if response.status_code != 200:
        print(f"kairo-ray search: {response.status_code} {response.text}", file=sys.stderr)
        return 1
    results = response.json()["results"]
    if args.json:
        print(json.dumps(results, indent=2, ensure_ascii=False))
        return 0
    for rank, hit in enumerate(results, 1):
        pages = ",".join(str(page) for page in hit["pages"]) or "?"
        snippet = " ".join(hit["chunk_text"].split())[:160]
        print(f"{rank:2d}. {hit['score']:.3f}  {hit['file_url']}  p.{pages}\n    {snippet}")
    if not results:
        print("no results")
    return 0


async def _job_action(settings: Settings, action: str, job_id: UUID, priority: int | None) -> bool:
    async with _database(settings) as (queue, _):
        if action == "cancel":
            return await queue.cancel(job_id, "cancelled with kairo-ray cancel")
        return await queue.requeue(job_id, priority)


def _cancel(args: argparse.Namespace, settings: Settings) -> int:
    if _run(_job_action(settings, "cancel", args.job_id, None)):
        print(f"{args.job_id} cancelled")
        return 0
    print(f"kairo-ray cancel: job {args.job_id} is not queued or processing", file=sys.stderr)
    return 1


def _requeue(args: argparse.Namespace, settings: Settings) -> int:
    if _run(_job_action(settings, "requeue", args.job_id, args.priority)):
        print(f"{args.job_id} queued again")
        return 0
    print(
        f"kairo-ray requeue: job {args.job_id} is still active, unknown, or its document has one",
        file=sys.stderr,
    )
    return 1


def _add_cluster_commands(subparsers: argparse._SubParsersAction) -> None:
    up = subparsers.add_parser(
        "up",
        help="start or reuse a Ray cluster, the database, the Serve app and the driver",
        description="Reuse RAY_ADDRESS or a local Ray head, else start a one-node head here; start "
        "the embedded PostgreSQL when DATABASE_URL is unset; migrate; deploy; print the URLs.",
    )
    up.add_argument("--address", help="Ray cluster address (default RAY_ADDRESS / local head)")
    up.set_defaults(handler=_up)

    down = subparsers.add_parser(
        "down", help="stop the driver (jobs go back to the queue), Serve, Ray, embedded DB"
    )
    down.add_argument("--address", help="Ray cluster address")
    down.add_argument("--keep-ray", action="store_true", help="leave the Ray cluster running")
    down.set_defaults(handler=_down)


def _add_queue_commands(subparsers: argparse._SubParsersAction) -> None:
    submit = subparsers.add_parser(
        "submit",
        help="queue documents (local paths or URLs) as Kairo does: rows in documents",
    )
    submit.add_argument("items", nargs="+", metavar="FILE|URL")
    priorities = range(PRIORITY_MIN, PRIORITY_MAX + 1)
    submit.add_argument(
        "--priority", type=int, default=PRIORITY_DEFAULT, choices=priorities, metavar="1-10"
    )
    submit.add_argument("--wait", action="store_true", help="show progress until all are done")
    submit.add_argument("--timeout", type=float, default=3600, help="seconds to --wait at most")
    submit.set_defaults(handler=_submit)

    status = subparsers.add_parser("status", help="queue statistics, the driver and the nodes")
    status.add_argument("--json", action="store_true")
    status.set_defaults(handler=_status)

    search = subparsers.add_parser("search", help="semantic search through the HTTP API")
    search.add_argument("query")
    search.add_argument("-k", type=int, default=5, help="number of results (default 5)")
    search.add_argument("--api", help="API base URL (default http://127.0.0.1:API_PORT)")
    search.add_argument(
        "--mode", choices=["vector", "hybrid", "text"], help="default: the API's SEARCH_MODE"
    )
    search.add_argument("--json", action="store_true")
    search.set_defaults(handler=_search)


def _add_admin_commands(subparsers: argparse._SubParsersAction) -> None:
    priorities = range(PRIORITY_MIN, PRIORITY_MAX + 1)
    cancel = subparsers.add_parser("cancel", help="cancel a queued or running job")
    cancel.add_argument("job_id", type=UUID)
    cancel.set_defaults(handler=_cancel)

    requeue = subparsers.add_parser("requeue", help="run a failed/cancelled/completed job again")
    requeue.add_argument("job_id", type=UUID)
    requeue.add_argument("--priority", type=int, choices=priorities, metavar="1-10")
    requeue.set_defaults(handler=_requeue)

    token = subparsers.add_parser(
        "token",
        help="make sure this machine has a Ray cluster token; say where it is",
        description="Ray refuses to start a head without a token: this creates ~/.ray/auth_token "
        "(as `ray get-auth-token --generate`, owner-only) when Ray finds none, and says how "
        "worker VPSes get it.",
    )
    token.set_defaults(handler=_token)

    reembed = subparsers.add_parser(
        "reembed",
        help="embed the stored chunks again with EMBEDDINGS_MODEL, without OCR",
        description="Give every stored chunk a vector of the configured model's space, from the "
        "chunk text in the database: after a model change, or for the seed service's vectors. "
        "With a running cluster whose embedding model this is, its driver does it through the "
        "embedding deployment, in the background, after queued documents (it also starts by "
        "itself when the driver starts, unless REEMBED_ENABLED=false); this follows its "
        "progress. Otherwise, or with --local, it runs in this process. Resumable (one "
        "document per transaction); search answers from the old vectors until every chunk has "
        "a new one. --prune then deletes the other models' vectors.",
    )
    reembed.add_argument(
        "--prune", action="store_true", help="afterwards, delete vectors of other models"
    )
    reembed.add_argument(
        "--local", action="store_true", help="in this process, even when a cluster runs"
    )
    reembed.add_argument(
        "--detach", action="store_true", help="start it in the cluster and return at once"
    )
    reembed.add_argument(
        "--status", action="store_true", help="progress of the re-embedding runs, and return"
    )
    reembed.add_argument("--json", action="store_true", help="--status as JSON")
    reembed.set_defaults(handler=_reembed)

    migrate = subparsers.add_parser("migrate", help="apply the schema migrations")
    migrate.set_defaults(handler=_migrate)


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser; add a subcommand with another ``_add_*(subparsers)``."""
    parser = argparse.ArgumentParser(
        prog="kairo-ray", description="Kairo's document OCR and embedding service on Ray."
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_cluster_commands(subparsers)
    _add_queue_commands(subparsers)
    _add_admin_commands(subparsers)
    _add_ocr(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"kairo-ray: {exc}", file=sys.stderr)
        return 2
    handler: Handler = args.handler
    try:
        return handler(args, settings)
    except (KairoError, ConfigError) as exc:
        print(f"kairo-ray {args.command}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
