"""Every job ends when a worker node dies (issue 19): the second node's raylet SIGKILLed while
its page tasks run.

Two Ray nodes, each in a network namespace of its own (as the scale-out test runs them): the
head with ``kairo-ray up``, and a worker joined with ``cluster/join-worker.sh``. The database
is the chaos suite's own PostgreSQL behind a real pgbouncer in transaction mode, reached on
pgbouncer's Unix socket (the namespaces share the filesystem, not the network). Webhooks are
off here: the receiver would listen outside the namespaces.
"""

from __future__ import annotations

import os
import signal
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import psutil
import pytest

from tests.fixtures.chaos import (
    ChaosDatabase,
    Documents,
    assert_every_job_ended_once,
    chaos_settings,
    retried,
    run_fault,
)
from tests.fixtures.netns import HEAD_IP, WORKER_IP, Namespaces, head_and_worker

pytestmark = [pytest.mark.slow, pytest.mark.chaos, pytest.mark.netns, pytest.mark.timeout(600)]


@dataclass
class TwoNodeChaos:
    database: ChaosDatabase
    documents: Documents
    webhooks: int = 0


@pytest.fixture(scope="module")
def two_node_chaos(
    namespaces: Namespaces,
    chaos_database: ChaosDatabase,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[TwoNodeChaos]:
    folder = tmp_path_factory.mktemp("chaos-node-documents")
    work = tmp_path_factory.mktemp("chaos-nodes")
    env = {
        **os.environ,
        **chaos_settings(folder),
        "DATABASE_URL": chaos_database.bouncer.socket_url,
        "VPS_INSTANCE_ID": "chaos-nodes",
        "API_HOST": HEAD_IP,
        "API_PORT": "8000",
        "TEMP_DIR": str(work / "tmp"),
        "DATA_DIR": str(work / "data"),
        "RAY_AUTH_MODE": "token",
        "KAIRO_ENV_FILE": str(work / "no-such.env"),
    }
    with head_and_worker(namespaces, env):
        yield TwoNodeChaos(chaos_database, Documents(folder))


def worker_raylet() -> psutil.Process:
    """The worker node's raylet (processes of every namespace are visible here)."""
    for process in psutil.process_iter(["name", "cmdline"]):
        if process.info["name"] == "raylet" and any(
            arg == f"--node_ip_address={WORKER_IP}" for arg in process.info["cmdline"] or []
        ):
            return process
    raise AssertionError("no raylet of the worker node")


async def pages_on_the_worker(chaos: TwoNodeChaos, ids: list[uuid.UUID]) -> bool:
    """A page task is running on the worker node."""
    for child in worker_raylet().children(recursive=True):
        try:
            if (child.cmdline() or [""])[0].startswith("ray::process_page"):
                return True
        except psutil.Error:
            continue
    return False


async def test_sigkill_of_the_worker_nodes_raylet(two_node_chaos: TwoNodeChaos) -> None:
    """The node is gone for good: its page tasks run again on the head, the OCR replica it held
    is replaced there, and every job completes."""
    killed: list[int] = []

    async def inject() -> None:
        raylet = worker_raylet()
        raylet.send_signal(signal.SIGKILL)
        killed.append(raylet.pid)

    row, ended, problems, _ = await run_fault(
        two_node_chaos,
        "SIGKILL of the worker node's raylet",
        pages_on_the_worker,
        inject,
        batch=8,
        timeout=240,
    )
    row.notes = retried(ended)
    assert_every_job_ended_once(row, ended, problems, {})
    assert not psutil.pid_exists(killed[0])
