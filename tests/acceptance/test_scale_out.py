"""Scale-out: a second Ray node joins the running cluster and work spreads to it unchanged.

Two hosts on this machine, each in a network namespace made here (a veth pair with private
addresses that exist only inside the namespaces, as STACK.md describes): the head runs
``ray start --head`` and ``kairo-ray up``'s deployment code; the worker joins with
``cluster/join-worker.sh``, the script a real VPS uses, under tini so its children are reaped.
PostgreSQL is the session's real server, reached on its Unix socket (shared by both namespaces).
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from kairo_ray.db.connector import connect
from kairo_ray.ray_token import ensure_token

pytestmark = [pytest.mark.slow, pytest.mark.netns, pytest.mark.timeout(1500)]

REPO = Path(__file__).resolve().parents[2]
HEAD_IP, WORKER_IP = "10.231.7.1", "10.231.7.2"
RAY_PORT = 6379


def _run(*command: str, env: dict[str, str] | None = None, check: bool = True) -> str:
    result = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(command)} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


@dataclass
class Namespaces:
    head: str
    worker: str

    def exec(self, namespace: str, *command: str, env: dict[str, str]) -> str:
        return _run("ip", "netns", "exec", namespace, *command, env=env)

    def python(self, namespace: str, code: str, env: dict[str, str]) -> object:
        out = self.exec(namespace, sys.executable, "-c", code, env=env)
        return json.loads(out.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def namespaces() -> Iterator[Namespaces]:
    if os.geteuid() != 0 or shutil.which("ip") is None or shutil.which("tini") is None:
        pytest.fail("the scale-out test needs root, iproute2 and tini (scripts/install.sh)")
    tag = secrets.token_hex(3)
    ns = Namespaces(head=f"kh-{tag}", worker=f"kw-{tag}")
    veth_head, veth_worker = f"vh{tag}", f"vw{tag}"
    try:
        _run("ip", "netns", "add", ns.head)
        _run("ip", "netns", "add", ns.worker)
        _run("ip", "link", "add", veth_head, "type", "veth", "peer", "name", veth_worker)
        _run("ip", "link", "set", veth_head, "netns", ns.head)
        _run("ip", "link", "set", veth_worker, "netns", ns.worker)
        for name, veth, ip in ((ns.head, veth_head, HEAD_IP), (ns.worker, veth_worker, WORKER_IP)):
            _run("ip", "netns", "exec", name, "ip", "addr", "add", f"{ip}/24", "dev", veth)
            _run("ip", "netns", "exec", name, "ip", "link", "set", veth, "up")
            _run("ip", "netns", "exec", name, "ip", "link", "set", "lo", "up")
        yield ns
    finally:
        _run("ip", "netns", "del", ns.head, check=False)
        _run("ip", "netns", "del", ns.worker, check=False)


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
    ensure_token(env)  # as `kairo-ray up` and cluster/start-head.sh do on a new machine
    _run("ray", "stop", "--force", env=env, check=False)
    worker: subprocess.Popen | None = None
    try:
        namespaces.exec(
            namespaces.head,
            "ray", "start", "--head", f"--node-ip-address={HEAD_IP}", f"--port={RAY_PORT}",
            "--num-cpus=2", "--dashboard-host=127.0.0.1", "--disable-usage-stats",
            env=env,
        )  # fmt: skip
        namespaces.python(
            namespaces.head,
            "import json; from kairo_ray.control import up; from kairo_ray.settings import "
            f"load_settings; info = up(load_settings(), address='{HEAD_IP}:{RAY_PORT}'); "
            "print(json.dumps(info['driver']['running']))",
            env,
        )
        worker_env = {**env, "RAY_NODE_IP": WORKER_IP, "RAY_NUM_CPUS": "2"}
        worker = subprocess.Popen(
            ["ip", "netns", "exec", namespaces.worker, "tini", "-s", "--",
             str(REPO / "cluster" / "join-worker.sh"), f"{HEAD_IP}:{RAY_PORT}", "--block"],
            env=worker_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
        worker_node_id = _wait_for_worker(namespaces, env)
        yield TwoNodes(namespaces, env, app_database_url, worker_node_id)
    finally:
        if worker is not None:
            worker.terminate()
        _run("ray", "stop", "--force", env=env, check=False)
        if worker is not None:
            worker.wait(timeout=60)


def _wait_for_worker(ns: Namespaces, env: dict[str, str], timeout: float = 120) -> str:
    code = (
        "import json, ray; ray.init(address='auto', logging_level='ERROR'); "
        "print(json.dumps([n['NodeID'] for n in ray.nodes() "
        f"if n['Alive'] and n['NodeManagerAddress'] == '{WORKER_IP}']))"
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = ns.python(ns.head, code, {**env, "RAY_ADDRESS": f"{HEAD_IP}:{RAY_PORT}"})
        if found:
            return found[0]
        time.sleep(2)
    raise AssertionError(f"the worker node did not join within {timeout}s")


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
