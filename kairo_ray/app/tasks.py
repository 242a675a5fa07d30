"""The per-page Ray task: render one page where the task runs, then OCR it on a Serve replica.

The file's bytes travel once per node through the object store; each task renders only its own
page, so rendering spreads over the cluster as well as OCR. ``SPREAD`` scheduling puts the pages of
one document on every node, and Ray re-runs a task whose node died (``max_retries``).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import time
from typing import Any

import ray
from ray import serve
from ray.serve.handle import DeploymentHandle

from kairo_ray.app.engines import RemoteOcr
from kairo_ray.app.names import NAMESPACE, OPENER_NAME
from kairo_ray.errors import PermanentError, TransientError
from kairo_ray.processing.pipeline import read_page
from kairo_ray.processing.render import open_document
from kairo_ray.settings import Settings, load_settings

PAGE_TASK_RETRIES = 3
"""Ray re-runs a page task whose worker or node died this many times (a lost node's pages go
elsewhere); tasks the memory monitor kills are retried RAY_task_oom_retries times, which
kairo-ray bounds too (control.SERVE_TUNING_ENV, cluster/common.sh)."""


TEST_POISON_ENV = "KAIRO_TEST_POISON_MARKER"
"""Test hook, off unless this variable is set on the nodes: a page task whose document holds
the variable's value kills its own worker, every time (the chaos suite's poison page, standing
in for a page that crashes a native decoder or is killed for memory)."""


def pages_in_flight(engines: int) -> int:
    """Pages to keep in flight for a replica of ``engines`` OCR engines: one each, plus one ready
    for every two.

    Fewer leaves an engine idle while its next page is rendered and sent; more only holds
    rendered pages in memory (every running page task is a worker process holding one). It is
    each OCR replica's autoscaling target, and the driver keeps this many pages in flight per
    replica the cluster's CPUs can hold, so Serve asks for exactly that many replicas.
    """
    return engines + max(1, engines // 2)


def page_window(cpus: int, settings: Settings) -> int:
    """Page tasks the driver keeps running on a cluster of ``cpus`` CPUs: the autoscaling target
    of one OCR replica times the replicas those CPUs can hold, so Serve asks for one replica per
    WORKER_THREADS CPUs, no fewer (idle nodes) and no more (replicas no node can place)."""
    replicas = max(1, cpus // settings.worker_threads)
    return replicas * pages_in_flight(settings.ocr_engines_per_replica)


@functools.cache
def _ocr_handle(app_name: str) -> DeploymentHandle:
    """One handle per worker process, its router started at once (``options()`` does that).

    A handle passed in as an argument is a new one in every task, and each new handle sets up
    its own router with the Serve controller. The router's standing long poll for replica
    updates is an object this worker owns, so Ray does not reclaim the worker as idle.
    """
    return serve.get_deployment_handle("ocr", app_name).options()


@ray.remote(num_cpus=0, scheduling_strategy="SPREAD")
def prepare_page_worker(app_name: str) -> int:
    """Start a page worker ahead of the first document: imports, settings and the OCR handle,
    about 1 CPU-second each that the first pages would otherwise wait for. Returns its pid."""
    load_settings()
    _ocr_handle(app_name)
    return os.getpid()


@ray.remote(num_cpus=0, max_restarts=-1, max_task_retries=0, max_concurrency=4)
class DocumentOpener:
    """Opens documents and counts their pages, in a process of its own that a stuck parser can
    be killed with. An actor, not a task: a task's worker would be reused for a page later and
    then kept for good (a page worker holds an OCR handle), one more worker than the page
    window each time; this is one process, always the same."""

    def count_pages(self, data: bytes, file_type: str | None) -> int:
        with open_document(data, load_settings(), file_type) as document:
            return document.page_count


OPENER_RETRY_SECONDS = 1.0
"""How long to wait before asking an opener that Ray is restarting again."""


@functools.cache
def document_opener() -> ray.actor.ActorHandle:
    """The cluster's one opener: created on first use, found by name afterwards, once per
    process (the handle stays good when Ray restarts the actor after a kill). It is placed on
    the node of its creator, the driver (the head, as `up` starts it), not on a worker node
    that may leave: softly, so Ray may still restart it elsewhere if that node dies."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    here = ray.get_runtime_context().get_node_id()
    return DocumentOpener.options(
        name=OPENER_NAME,
        namespace=NAMESPACE,
        lifetime="detached",
        get_if_exists=True,
        scheduling_strategy=NodeAffinitySchedulingStrategy(node_id=here, soft=True),
    ).remote()


async def _bounded(ref: ray.ObjectRef, seconds: float) -> Any:
    """``ref``'s result within ``seconds``, else TimeoutError, its task killed with its worker
    (a parser stuck in native code does not hear a polite cancel). A cancelled caller cancels
    the task politely, which keeps the worker for the next page."""
    try:
        return await asyncio.wait_for(ref, seconds)
    except TimeoutError:
        ray.cancel(ref, force=True)
        raise
    except asyncio.CancelledError:
        ray.cancel(ref)
        raise


async def open_remotely(data: ray.ObjectRef, file_type: str | None, seconds: float) -> int:
    """The page count of a document, opened by the :class:`DocumentOpener` within
    OPEN_TIMEOUT_SECONDS: never on an event loop, and a crafted file that makes a parser spin
    costs that long at most (the opener is killed with it, and Ray starts it again)."""
    opener = document_opener()
    deadline = time.monotonic() + seconds
    try:
        while True:
            ref = opener.count_pages.remote(data, file_type)
            try:
                return await asyncio.wait_for(ref, max(0.1, deadline - time.monotonic()))
            except ray.exceptions.ActorUnavailableError:
                # Its node went away and Ray is starting it again: not the document's fault,
                # so wait for it within the same budget rather than spend the job's attempt.
                if time.monotonic() + OPENER_RETRY_SECONDS >= deadline:
                    raise
                await asyncio.sleep(OPENER_RETRY_SECONDS)
    except TimeoutError:
        ray.kill(opener, no_restart=False)
        raise PermanentError(
            f"the document could not be opened within OPEN_TIMEOUT_SECONDS={seconds:g}"
        ) from None
    except asyncio.CancelledError:
        with contextlib.suppress(Exception):  # a running call of a threaded actor keeps going
            ray.cancel(ref)
        raise


async def run_page(data: ray.ObjectRef, page_number: int, app_name: str, seconds: float) -> Any:
    """One page as a :func:`process_page` task, killed after PAGE_TIMEOUT_SECONDS. A page whose
    worker dies every time (a crash, the memory monitor) spends the job's attempt once Ray's
    own retries are used up, and says so, so MAX_RETRIES bounds it like any failure."""
    try:
        return await _bounded(process_page.remote(data, page_number, app_name), seconds)
    except TimeoutError:
        raise TransientError(
            f"page {page_number} took longer than PAGE_TIMEOUT_SECONDS={seconds:g}"
        ) from None
    except (ray.exceptions.WorkerCrashedError, ray.exceptions.OutOfMemoryError) as exc:
        raise TransientError(
            f"the worker died {PAGE_TASK_RETRIES + 1} times on page {page_number} "
            f"({type(exc).__name__})"
        ) from None


@ray.remote(num_cpus=0, max_retries=PAGE_TASK_RETRIES, scheduling_strategy="SPREAD")
def process_page(data: bytes, page_number: int, app_name: str) -> dict[str, Any]:
    """:func:`~kairo_ray.processing.pipeline.read_page` where the task runs, OCR on a replica.

    Returns the :class:`PageResult` with where and when it ran and the OCR engine's own seconds,
    so the driver can record and show that pages of one document ran side by side on several
    nodes, and a benchmark can tell engine time from time spent around it.
    """
    started = time.time()
    if (poison := os.environ.get(TEST_POISON_ENV)) and poison.encode() in data:
        os._exit(1)
    ocr = RemoteOcr(_ocr_handle(app_name))
    settings = load_settings()
    with open_document(data, settings) as document:
        page = read_page(document, page_number, ocr, settings.layout_engine != "none")
    ended = time.time()
    page.seconds = ended - started
    return {
        "page": page,
        "node_id": ray.get_runtime_context().get_node_id(),
        "pid": os.getpid(),
        "started": started,
        "ended": ended,
        "ocr_seconds": ocr.engine_seconds if page.source == "ocr" else 0.0,
    }
