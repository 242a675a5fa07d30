"""A driver that dies mid-document: Ray restarts it, it takes back the jobs it held and finishes
them with the rest of the backlog, nothing lost or stored twice. A real one-node Ray cluster, the
real models, real scans, a real PostgreSQL."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import asyncpg
import pytest

from tests.fixtures.documents import insert_document, wait_done
from tests.fixtures.ray_cluster import RunningCluster

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

DOCUMENTS = {
    "galdos": "multipage_pdfs/fondue_galdos_luchana_5p.pdf",
    "sioen": "es_fondue_print19/"
    "aquiles_sioen_buenos_aires_en_el__Buenos_Aires_en_el_ano_2080_p112.png",
    "phototest": "en_tesseract_testing/phototest.tif",
}


def _wait_for(condition: Callable[[], bool], what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} after {timeout}s")
        time.sleep(0.2)


async def test_restarted_driver_finishes_the_backlog_in_its_own_page_workers(
    kairo_cluster: RunningCluster, eval_dir: Path
) -> None:
    """The restarted driver claims the interrupted job at once, so its first pages are ready
    while it is still starting its page workers. They wait for those workers: sent at once,
    each would have started another worker, which Ray never reclaims (it holds an OCR handle),
    and the cluster kept twice the window of idle workers."""
    import ray

    from kairo_ray.app.driver import DRIVER_NAME, NAMESPACE

    ray.init(address=kairo_cluster.address, namespace=NAMESPACE, ignore_reinit_error=True)
    driver = ray.get_actor(DRIVER_NAME, namespace=NAMESPACE)
    conn = await asyncpg.connect(kairo_cluster.env["DATABASE_URL"], statement_cache_size=0)
    try:
        ids = {
            name: await insert_document(conn, str(eval_dir / path), None)
            for name, path in DOCUMENTS.items()
        }
        _wait_for(lambda: ray.get(driver.status.remote())["pages_running"] > 0, "page running")
        before = ray.get(driver.status.remote())
        assert before["active_jobs"] == [str(ids["galdos"])], before
        ray.kill(driver, no_restart=False)
        killed_at = time.time()

        outcome = await wait_done(conn, list(ids.values()), timeout=600)
        assert {name: outcome[i]["status"] for name, i in ids.items()} == dict.fromkeys(
            DOCUMENTS, "completed"
        ), {name: dict(outcome[i]) for name, i in ids.items()}
        assert outcome[ids["galdos"]]["attempts"] == 2, "the interrupted run is one attempt"
        pages = await conn.fetch(
            "SELECT page_number FROM document_pages WHERE document_id = $1", ids["galdos"]
        )
        assert sorted(p["page_number"] for p in pages) == [1, 2, 3, 4, 5]
        chunks = await conn.fetchrow(
            "SELECT count(*) AS n, count(DISTINCT chunk_index) AS distinct_n "
            "FROM document_embeddings WHERE document_id = $1",
            ids["galdos"],
        )
        assert chunks["n"] == chunks["distinct_n"] >= 5, dict(chunks)
    finally:
        await conn.close()

    after = ray.get(driver.status.remote())
    assert after["uptime_seconds"] < time.time() - killed_at + 1, "the driver was not restarted"
    prepared = set(after["page_workers"] or [])
    assert prepared, after
    ran = {
        span["pid"]
        for document in ids.values()
        for span in ray.get(driver.trace.remote(str(document)))
    }
    assert ran, "the restarted driver recorded no pages"
    # Warm-up and pages together fit in one page window of workers (two warm-up tasks may share
    # a worker that was already warm, so a page may run in a worker the warm-up did not list).
    assert len(prepared | ran) <= after["page_window"], (
        f"pages ran in workers {ran - prepared} besides the prepared {prepared}"
    )


async def test_stop_gives_back_jobs_in_hand_and_ends_claims_it_never_saw(
    kairo_cluster: RunningCluster, eval_dir: Path
) -> None:
    """What ``kairo-ray down`` promises: the job being processed goes back to the queue at once
    with its attempt restored. A claim whose reply the stop cut off is a lease under this
    instance that the driver never saw; made here directly in the database, it is ended by the
    stop instead of blocking its document for JOB_TIMEOUT_MINUTES."""
    import ray

    from kairo_ray.app.driver import DRIVER_NAME, NAMESPACE

    ray.init(address=kairo_cluster.address, namespace=NAMESPACE, ignore_reinit_error=True)
    driver = ray.get_actor(DRIVER_NAME, namespace=NAMESPACE)
    instance = ray.get(driver.status.remote())["instance_id"]
    conn = await asyncpg.connect(kairo_cluster.env["DATABASE_URL"], statement_cache_size=0)
    try:
        held = await insert_document(conn, str(eval_dir / DOCUMENTS["galdos"]), None)
        _wait_for(lambda: ray.get(driver.status.remote())["pages_running"] > 0, "page running")
        async with conn.transaction():  # queued and claimed before the driver can see it
            unseen = await insert_document(conn, str(eval_dir / DOCUMENTS["phototest"]), None)
            claimed = await conn.fetchrow(
                "SELECT document_id FROM get_next_ocr_job($1, 3600, 3)", instance
            )
        assert claimed["document_id"] == unseen

        # Twice at once, as two `kairo-ray down` would (the second waits for the first).
        ray.get([driver.stop.remote(), driver.stop.remote()], timeout=60)
        rows = {
            row["document_id"]: row
            for row in await conn.fetch(
                "SELECT document_id, status, attempts, error_message, "
                "locked_until > now() AS leased FROM ocr_queue WHERE document_id = ANY($1)",
                [held, unseen],
            )
        }
        assert rows[held]["status"] == "queued", dict(rows[held])
        assert rows[held]["attempts"] == 0, "a stop spends no attempt"
        assert "driver stopped" in rows[held]["error_message"]
        assert rows[unseen]["status"] == "processing" and not rows[unseen]["leased"], dict(
            rows[unseen]
        )
    finally:
        ray.kill(driver, no_restart=False)  # Ray starts it again, as after a crash
    try:
        outcome = await wait_done(conn, [held, unseen], timeout=600)
        assert {outcome[held]["status"], outcome[unseen]["status"]} == {"completed"}, outcome
    finally:
        await conn.close()


async def test_a_failing_loop_closes_its_old_pool_once_jobs_are_done(
    kairo_cluster: RunningCluster, eval_dir: Path
) -> None:
    """The driver's loop starts over with a new pool after a database error; the old one was
    kept while jobs still used it, and then never closed: each such error left its connections
    open (behind pgbouncer, client slots). Here claims fail for a while (the claim function
    renamed) while a document is being processed; afterwards no connection of the driver's
    from before the failures is left."""
    import ray

    from kairo_ray.app.driver import DRIVER_NAME, NAMESPACE

    ray.init(address=kairo_cluster.address, namespace=NAMESPACE, ignore_reinit_error=True)
    driver = ray.get_actor(DRIVER_NAME, namespace=NAMESPACE)
    instance = ray.get(driver.status.remote())["instance_id"]
    conn = await asyncpg.connect(kairo_cluster.env["DATABASE_URL"], statement_cache_size=0)
    claim = "get_next_ocr_job(text, integer, integer)"
    try:
        held = await insert_document(conn, str(eval_dir / DOCUMENTS["galdos"]), None)
        _wait_for(lambda: ray.get(driver.status.remote())["pages_running"] > 0, "page running")
        before = await conn.fetchval("SELECT now()")
        await conn.execute(f"ALTER FUNCTION {claim} RENAME TO get_next_ocr_job_paused")
        try:
            _wait_for(
                lambda: "get_next_ocr_job" in (ray.get(driver.status.remote())["last_error"] or ""),
                "failed claim",
            )
            assert ray.get(driver.status.remote())["active_jobs"] == [str(held)]
            time.sleep(3)  # a second round of the loop, with another pool
        finally:
            await conn.execute(
                "ALTER FUNCTION get_next_ocr_job_paused(text, integer, integer) "
                "RENAME TO get_next_ocr_job"
            )
        outcome = await wait_done(conn, [held], timeout=600)
        assert outcome[held]["status"] == "completed", dict(outcome[held])

        deadline = time.monotonic() + 30
        while True:
            old = await conn.fetchval(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE application_name = $1 AND backend_start < $2",
                f"kairo-ray:{instance}/driver",
                before,
            )
            if old == 0:
                break
            assert time.monotonic() < deadline, f"{old} connections of old driver pools left"
            await asyncio.sleep(1)
    finally:
        await conn.close()
