"""The HTTP API as an outsider, a user and Kairo's back end meet it, on a real cluster.

Users' tokens are signed here with the test project's JWT secret, as Supabase's auth server
signs them (HS256, ``aud: authenticated``, ``sub`` the user id): the one part of Supabase that
cannot exist here. Everything else is the real application: Ray, Serve, the driver, the models,
PostgreSQL with pgvector, documents owned by two users through ``documents.user_id``.
"""

from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path

import asyncpg
import httpx
import jwt
import pytest

from tests.fixtures.documents import wait_done
from tests.fixtures.ray_cluster import ADMIN_TOKEN, JWT_SECRET, SERVICE_TOKEN, RunningCluster

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]

PHOTOTEST_TIF = "en_tesseract_testing/phototest.tif"
SIOEN_PNG = (
    "es_fondue_print19/aquiles_sioen_buenos_aires_en_el__Buenos_Aires_en_el_ano_2080_p112.png"
)
GALDOS_PDF = "multipage_pdfs/fondue_galdos_luchana_5p.pdf"
ALICE, BOB, CAROL = (str(uuid.uuid4()) for _ in range(3))


def user_token(user: str, *, expires_in: float = 600, audience: str = "authenticated") -> str:
    now = int(time.time())
    claims = {"sub": user, "aud": audience, "role": "authenticated", "iat": now}
    claims["exp"] = now + int(expires_in)
    return jwt.encode(claims, JWT_SECRET, algorithm="HS256")


def crafted_pdf(size: int) -> bytes:
    """The page-tree scan bomb from the report: a header, ``/Type/Pages `` repeated, an end."""
    return b"%PDF-1.7\n" + b"/Type/Pages " * (size // 12) + b"\n%%EOF"


def blank_pdf(pages: int) -> bytes:
    """A tiny PDF of ``pages`` empty A4 pages."""
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>"]
    kids = " ".join(f"{3 + i} 0 R" for i in range(pages))
    objects.append(f"<< /Type /Pages /Kids [{kids}] /Count {pages} >>".encode())
    objects += [b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>"] * pages
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


@pytest.fixture(scope="module")
async def owned(kairo_cluster: RunningCluster, eval_dir: Path) -> dict:
    """Alice owns the English test page, Bob the Spanish one; both processed."""
    conn = await asyncpg.connect(kairo_cluster.env["DATABASE_URL"], statement_cache_size=0)
    try:
        ids = {}
        for owner, name, relative in ((ALICE, "alice", PHOTOTEST_TIF), (BOB, "bob", SIOEN_PNG)):
            ids[name] = await conn.fetchval(
                "INSERT INTO documents (file_url, user_id) VALUES ($1, $2) RETURNING id",
                str(eval_dir / relative),
                uuid.UUID(owner),
            )
        outcome = await wait_done(conn, list(ids.values()))
        assert {row["status"] for row in outcome.values()} == {"completed"}, outcome
        return {
            "ids": ids,
            "urls": {"alice": str(eval_dir / PHOTOTEST_TIF), "bob": str(eval_dir / SIOEN_PNG)},
        }
    finally:
        await conn.close()


CREDENTIALS = {
    "none": None,
    "wrong": "not-a-token",
    "expired": lambda: user_token(ALICE, expires_in=-120),
    "other_audience": lambda: user_token(ALICE, audience="anon"),
    "forged": lambda: jwt.encode(
        {"sub": ALICE, "aud": "authenticated", "exp": int(time.time()) + 600},
        "some-other-secret-of-32-bytes-or-more",
        algorithm="HS256",
    ),
    "alice": lambda: user_token(ALICE),
    "bob": lambda: user_token(BOB),
    "service": SERVICE_TOKEN,
    "admin": ADMIN_TOKEN,
}


def _headers(credential: str) -> dict[str, str]:
    value = CREDENTIALS[credential]
    token = value() if callable(value) else value
    return {"Authorization": f"Bearer {token}"} if token else {}


def _routes(owned: dict, image: bytes) -> dict[str, tuple[str, str, dict]]:
    alice, bob = owned["ids"]["alice"], owned["ids"]["bob"]
    return {
        "search": ("GET", "/api/search", {"params": {"q": "quick brown dog", "k": 10}}),
        "alice_document": ("GET", f"/api/documents/{alice}", {}),
        "bob_document": ("GET", f"/api/documents/{bob}", {}),
        "stats": ("GET", "/stats", {}),
        "queue_stats": ("GET", "/api/queue/stats", {}),
        "ocr": ("POST", "/api/ocr", {"files": {"file": ("p.png", image)}}),
        "process": ("POST", "/api/process-document", {"json": {"document_id": str(bob)}}),
        "cancel": ("POST", f"/api/jobs/{uuid.uuid4()}/cancel", {}),
    }


UNAUTHENTICATED = {"none", "wrong", "expired", "other_audience", "forged"}
EXPECTED = {
    # route: (status for alice, bob, service, admin); anything unauthenticated gets 401.
    "search": (200, 200, 200, 200),
    "alice_document": (200, 404, 200, 200),
    "bob_document": (404, 200, 200, 200),
    "stats": (403, 403, 200, 200),
    "queue_stats": (403, 403, 200, 200),
    "ocr": (200, 200, 200, 200),
    "process": (403, 403, 403, 200),
    "cancel": (403, 403, 403, 409),
}


def test_every_route_answers_each_caller_as_it_may(
    kairo_cluster: RunningCluster, owned: dict, eval_dir: Path
) -> None:
    image = (eval_dir / PHOTOTEST_TIF).read_bytes()
    secrets_of = {
        name: {str(owned["ids"][name]), owned["urls"][name], Path(owned["urls"][name]).name}
        for name in ("alice", "bob")
    }
    secrets_of["alice"].add("lazy fox")  # in its text, not in the query
    with kairo_cluster.client(token=None) as client:
        for route, (method, path, kwargs) in _routes(owned, image).items():
            for credential in CREDENTIALS:
                response = client.request(method, path, headers=_headers(credential), **kwargs)
                if credential in UNAUTHENTICATED:
                    expected = 401
                else:
                    column = ("alice", "bob", "service", "admin").index(credential)
                    expected = EXPECTED[route][column]
                where = f"{method} {path} as {credential}"
                assert response.status_code == expected, f"{where}: {response.text[:300]}"
                if credential in UNAUTHENTICATED:
                    assert response.headers.get("www-authenticate") == "Bearer", where
                if credential in UNAUTHENTICATED:
                    hidden = secrets_of["alice"] | secrets_of["bob"]
                elif credential in ("alice", "bob"):
                    hidden = set(secrets_of["bob" if credential == "alice" else "alice"])
                else:
                    hidden = set()
                if route == "ocr":  # the text of the caller's own upload comes back to it
                    hidden.discard("lazy fox")
                # An id the caller sent may come back ("document <id> not found", the same
                # whether it exists or not): that tells it nothing.
                hidden = {secret for secret in hidden if secret not in path}
                leaked = [secret for secret in hidden if secret in response.text]
                assert not leaked, f"{where} leaked {leaked}"
        health = client.get("/health")
        assert health.status_code == 200
        assert set(health.json()) == {"status", "models_loaded", "queue_size", "driver_running"}


def test_a_users_search_finds_only_their_documents(
    kairo_cluster: RunningCluster, owned: dict
) -> None:
    with kairo_cluster.client(token=None) as client:
        for user, token in (("alice", user_token(ALICE)), ("bob", user_token(BOB))):
            response = client.get(
                "/api/search",
                params={"q": "Buenos Aires en el año 2080", "k": 50},
                headers={"Authorization": f"Bearer {token}"},
            )
            found = {hit["document_id"] for hit in response.json()["results"]}
            assert found == {str(owned["ids"][user])}, (user, found)
        scoped = client.get(
            "/api/search",
            params={"q": "Buenos Aires en el año 2080", "k": 50},
            headers={"Authorization": f"Bearer {SERVICE_TOKEN}", "X-Kairo-User-Id": ALICE},
        )
        assert {hit["document_id"] for hit in scoped.json()["results"]} == {
            str(owned["ids"]["alice"])
        }
        everyone = client.get(
            "/api/search",
            params={"q": "Buenos Aires en el año 2080", "k": 50},
            headers={"Authorization": f"Bearer {SERVICE_TOKEN}"},
        )
        assert {str(owned["ids"]["alice"]), str(owned["ids"]["bob"])} <= {
            hit["document_id"] for hit in everyone.json()["results"]
        }
        refused = client.get(
            "/api/search",
            params={"q": "x"},
            headers={"Authorization": f"Bearer {user_token(ALICE)}", "X-Kairo-User-Id": BOB},
        )
        assert refused.status_code == 403, "a user cannot scope itself to another user"


def test_a_users_quota_runs_out(kairo_cluster: RunningCluster) -> None:
    """ADHOC_OCR_RATE_LIMIT (20/minute by default) per user; the service is not limited."""
    headers = {"Authorization": f"Bearer {user_token(CAROL)}"}
    empty = {"file": ("e.png", b"")}
    with kairo_cluster.client(token=None) as client:
        statuses = [
            client.post("/api/ocr", files=empty, headers=headers).status_code for _ in range(21)
        ]
        assert statuses[:20] == [400] * 20 and statuses[20] == 429, statuses
        limited = client.post("/api/ocr", files=empty, headers=headers)
        assert int(limited.headers["retry-after"]) >= 1
    with kairo_cluster.client() as service:
        assert service.post("/api/ocr", files=empty).status_code == 400


def _timed_post(client: httpx.Client, data: bytes) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = client.post("/api/ocr", files={"file": ("x.pdf", data)})
    return response, time.monotonic() - started


def test_crafted_and_oversized_uploads_are_refused_fast(kairo_cluster: RunningCluster) -> None:
    limit = 50 * 1024 * 1024  # MAX_FILE_SIZE_MB's default
    health_times: list[float] = []
    stop = threading.Event()

    def watch_health() -> None:
        with kairo_cluster.client(token=None) as probe:
            while not stop.is_set():
                started = time.monotonic()
                assert probe.get("/health").status_code == 200
                health_times.append(time.monotonic() - started)
                time.sleep(0.2)

    watcher = threading.Thread(target=watch_health)
    watcher.start()
    try:
        with kairo_cluster.client() as client:
            for size in (1024 * 1024, limit - 1024):
                response, seconds = _timed_post(client, crafted_pdf(size))
                assert response.status_code == 400, response.text
                assert "corrupt PDF" in response.json()["detail"]
                assert seconds < 10, f"a {size}-byte crafted PDF took {seconds:.1f} s"
            response, seconds = _timed_post(client, crafted_pdf(limit + 1024 * 1024))
            assert response.status_code == 413 and seconds < 10
            response, seconds = _timed_post(client, blank_pdf(300))
            assert response.status_code == 413, response.text
            assert "MAX_ADHOC_PAGES" in response.json()["detail"] and seconds < 10
    finally:
        stop.set()
        watcher.join()
    assert health_times and max(health_times) < 5, f"/health stalled: {max(health_times):.1f} s"


async def test_crafted_files_through_the_queue_fail_alone(
    kairo_cluster: RunningCluster, eval_dir: Path, tmp_path: Path
) -> None:
    """A crafted scan, a CGNAT address, a local path outside FETCH_LOCAL_DIRS: each fails with
    its reason and quotes no byte; the good document queued beside them completes."""
    crafted = tmp_path / "crafted.pdf"
    crafted.write_bytes(crafted_pdf(1024 * 1024))
    files = {
        "crafted": (str(crafted), "corrupt PDF"),
        "cgnat": ("http://100.100.100.200/latest/meta-data/x.pdf", "non-public address"),
        "shadow": ("file:///etc/passwd", "outside FETCH_LOCAL_DIRS"),
        "good": (str(eval_dir / PHOTOTEST_TIF), None),
    }
    conn = await asyncpg.connect(kairo_cluster.env["DATABASE_URL"], statement_cache_size=0)
    try:
        ids = {
            name: await conn.fetchval(
                "INSERT INTO documents (file_url) VALUES ($1) RETURNING id", url
            )
            for name, (url, _) in files.items()
        }
        outcome = await wait_done(conn, list(ids.values()), timeout=300)
    finally:
        await conn.close()
    for name, (_, reason) in files.items():
        row = outcome[ids[name]]
        if reason is None:
            assert row["status"] == "completed", row
        else:
            assert row["status"] == "failed" and reason in row["error_message"], (name, row)
            assert row["attempts"] == 1, "bad input fails at once"
            assert "root:" not in row["error_message"]


def test_adhoc_pages_share_the_page_window(kairo_cluster: RunningCluster, eval_dir: Path) -> None:
    """A multi-page upload holds at most half the driver's page window, so queued documents
    keep the rest; its pages show in the driver's counts."""
    import ray

    from kairo_ray.app.driver import DRIVER_NAME, NAMESPACE

    driver = ray.get_actor(DRIVER_NAME, namespace=NAMESPACE)
    window = ray.get(driver.status.remote())["page_window"]
    before = ray.get(driver.status.remote())["adhoc_pages_done"]
    seen: list[int] = []
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            seen.append(ray.get(driver.status.remote())["adhoc_pages_running"])
            time.sleep(0.1)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        with kairo_cluster.client() as client:
            files = {"file": ("galdos.pdf", (eval_dir / GALDOS_PDF).read_bytes())}
            response = client.post("/api/ocr", files=files)
    finally:
        done.set()
        sampler.join()
    assert response.status_code == 200, response.text
    assert response.json()["page_count"] == 5
    assert max(seen) >= 1 and max(seen) <= max(1, window // 2), (seen, window)
    assert ray.get(driver.status.remote())["adhoc_pages_done"] == before + 5


def test_a_client_that_goes_away_cancels_its_pages(
    kairo_cluster: RunningCluster, eval_dir: Path
) -> None:
    import ray

    from kairo_ray.app.driver import DRIVER_NAME, NAMESPACE

    driver = ray.get_actor(DRIVER_NAME, namespace=NAMESPACE)
    before = ray.get(driver.status.remote())["adhoc_pages_done"]
    pdf = (eval_dir / GALDOS_PDF).read_bytes()
    with kairo_cluster.client() as client, pytest.raises(httpx.ReadTimeout):
        client.post("/api/ocr", files={"file": ("g.pdf", pdf)}, timeout=httpx.Timeout(60, read=2))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        status = ray.get(driver.status.remote())
        if status["adhoc_pages_running"] == 0:
            break
        time.sleep(0.2)
    assert status["adhoc_pages_running"] == 0
    time.sleep(5)  # pages that were not cancelled would finish in this time
    done = ray.get(driver.status.remote())["adhoc_pages_done"] - before
    assert done < 5, f"all {done} pages ran after the client left"
