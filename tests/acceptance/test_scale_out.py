"""Scale-out: a second Ray node joins the running cluster and work spreads to it unchanged.

Two hosts on this machine, each in a network namespace made here (a veth pair with private
addresses that exist only inside the namespaces, as STACK.md describes): the head runs
``ray start --head`` and ``kairo-ray up``'s deployment code; the worker joins with
``cluster/join-worker.sh``, the script a real VPS uses, under tini so its children are reaped.
PostgreSQL is the session's real server, reached on its Unix socket (shared by both namespaces).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from kairo_ray.db.connector import connect
from tests.fixtures.netns import HEAD_IP, RAY_PORT, Namespaces, head_and_worker

pytestmark = [pytest.mark.slow, pytest.mark.netns, pytest.mark.timeout(1500)]


@dataclass
class TwoNodes:
    ns: Namespaces
    env: dict[str, str]
    database_url: str
    worker_node_id: str


@pytest.fixture(scope="module")
def two_nodes(
    namespaces: Namespaces,
    app_database_url: str,
    tmp_path_factory: pytest.TempPathFactory,
    eval_dir: Path,
) -> Iterator[TwoNodes]:
    """Head (with dashboard, for the state API) in one namespace, a joined worker in another."""
    work = tmp_path_factory.mktemp("scale-out")
    env = {
        **os.environ,
        "DATABASE_URL": app_database_url,
        "POLL_INTERVAL_SECONDS": "1",
        "API_HOST": HEAD_IP,
        "API_PORT": "8000",
        "TEMP_DIR": str(work / "tmp"),
        "DATA_DIR": str(work / "data"),
        "RAY_AUTH_MODE": "token",
        "FETCH_LOCAL_DIRS": str(eval_dir),
        "KAIRO_ENV_FILE": str(work / "no-such.env"),
    }
    with head_and_worker(namespaces, env) as worker_node_id:
        yield TwoNodes(namespaces, env, app_database_url, worker_node_id)


async def _process(url: str, files: list[Path], timeout: float = 900) -> list[str]:
    conn = await connect(url)
    try:
        ids = [
            await conn.fetchval("INSERT INTO documents (file_url) VALUES ($1) RETURNING id", str(f))
            for f in files
        ]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            rows = await conn.fetch("SELECT status FROM documents WHERE id = ANY($1::uuid[])", ids)
            if all(row["status"] == "completed" for row in rows):
                return [str(i) for i in ids]
            assert not [row for row in rows if row["status"] == "failed"], rows
            await asyncio.sleep(1)
        raise AssertionError("documents not completed in time")
    finally:
        await conn.close()


def test_page_tasks_and_ocr_replicas_run_on_the_joined_node(two_nodes: TwoNodes, eval_dir) -> None:
    pdf = eval_dir / "multipage_pdfs" / "fondue_galdos_luchana_5p.pdf"
    cardinal = eval_dir / "multipage_pdfs" / "ocrmypdf_cardinal.pdf"
    ids = asyncio.run(_process(two_nodes.database_url, [pdf, cardinal, pdf, pdf]))
    code = (
        "import json, ray\n"
        "from ray.util.state import list_actors\n"
        "ray.init(address='auto', namespace='kairo', logging_level='ERROR')\n"
        "driver = ray.get_actor('kairo-driver', namespace='kairo')\n"
        f"traces = [ray.get(driver.trace.remote(d)) for d in {ids!r}]\n"
        "ocr = [a.node_id for a in list_actors(filters=[('state', '=', 'ALIVE')], limit=1000)\n"
        "       if a.class_name.endswith('ServeReplica:kairo:ocr')]\n"
        "print(json.dumps({'nodes': [s['node_id'] for t in traces for s in t], 'ocr': ocr}))\n"
    )
    env = {**two_nodes.env, "RAY_ADDRESS": f"{HEAD_IP}:{RAY_PORT}"}
    seen = two_nodes.ns.python(two_nodes.ns.head, code, env)
    page_nodes = seen["nodes"]
    assert len(page_nodes) == 19
    on_worker = page_nodes.count(two_nodes.worker_node_id)
    assert on_worker > 0, f"no page task ran on the joined node: {page_nodes}"
    assert on_worker < len(page_nodes), "no page task ran on the head"
    assert two_nodes.worker_node_id in seen["ocr"], (
        f"the OCR deployment did not scale onto the joined node: replicas on {seen['ocr']}"
    )
