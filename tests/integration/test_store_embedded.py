"""The embedded PostgreSQL used when DATABASE_URL is unset: reachable from other processes,
kept running until stopped, and restartable on the same data."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from kairo_ray.db.connector import create_pool
from kairo_ray.db.embedded import (
    ensure_database_url,
    pgdata_dir,
    running_url,
    start_embedded,
    stop_embedded,
)
from kairo_ray.db.migrate import apply_migrations
from kairo_ray.db.queue import JobQueue
from kairo_ray.db.store import DocumentStore
from kairo_ray.settings import Settings, load_settings

OTHER_PROCESS = """
import asyncio, sys
import asyncpg

async def main():
    conn = await asyncpg.connect(sys.argv[1], statement_cache_size=0)
    await conn.execute("INSERT INTO documents (file_url) VALUES ('file:///from-another-process')")
    print(await conn.fetchval("SELECT count(*) FROM ocr_queue WHERE status = 'queued'"))
    await conn.close()

asyncio.run(main())
"""


@pytest.fixture
def embedded_settings() -> Iterator[Settings]:
    # Not under tmp_path: every new pytest session resets /tmp/pytest-of-root to mode 0700,
    # which locks the 'pgserver' user (root runs postgres as that user) out of its data.
    data_dir = Path(tempfile.mkdtemp(prefix="kairo-embedded-"))
    settings = load_settings(database_url=None, database_listen_url=None, data_dir=data_dir)
    try:
        yield settings
    finally:
        stop_embedded(settings)
        shutil.rmtree(data_dir, ignore_errors=True)


async def test_embedded_server_serves_other_processes(embedded_settings: Settings) -> None:
    assert running_url(embedded_settings) is None
    url = start_embedded(embedded_settings)
    assert url.startswith("postgresql://postgres:@/postgres?host=/")
    assert running_url(embedded_settings) == url
    assert ensure_database_url(embedded_settings) == url
    assert await apply_migrations(url)

    other = subprocess.run(
        [sys.executable, "-c", OTHER_PROCESS, url], capture_output=True, text=True, timeout=60
    )
    assert other.returncode == 0, other.stderr
    assert other.stdout.strip() == "1"

    pool = await create_pool(embedded_settings, min_size=1, max_size=2)
    try:
        queue = JobQueue(pool, embedded_settings)
        assert queue.can_listen, "a Unix-socket server is no pooler: LISTEN works"
        job = await queue.claim()
        assert job is not None and job.file_url == "file:///from-another-process"
        document_id = await DocumentStore(pool).insert_document("file:///local")
    finally:
        await pool.close()

    assert stop_embedded(embedded_settings) is True
    assert running_url(embedded_settings) is None
    assert stop_embedded(embedded_settings) is False

    again = start_embedded(embedded_settings)
    assert await apply_migrations(again) == [], "data and recorded migrations survive a restart"
    pool = await create_pool(embedded_settings, url=again, min_size=1, max_size=1)
    try:
        assert await DocumentStore(pool).get_document(document_id) is not None
    finally:
        await pool.close()
    assert pgdata_dir(embedded_settings).is_dir()
