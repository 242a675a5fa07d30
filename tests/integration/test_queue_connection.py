"""Connections: URL handling, pgbouncer transaction mode, pgvector codecs, LISTEN decisions."""

from __future__ import annotations

from pathlib import Path

import asyncpg
import pytest

from kairo_ray.db.connector import (
    connect,
    create_pool,
    is_transaction_pooler,
    listen_url,
    normalize_url,
)
from kairo_ray.errors import SchemaMismatchError
from kairo_ray.settings import Settings, load_settings
from tests.fixtures.database import DbTarget, with_database

SUPABASE_POOLER = "postgresql://postgres:secret@db.example.supabase.co:6543/postgres"


def test_normalize_url_strips_client_only_parameters() -> None:
    assert normalize_url(SUPABASE_POOLER + "?pgbouncer=true") == SUPABASE_POOLER
    assert (
        normalize_url(SUPABASE_POOLER + "?pgbouncer=true&sslmode=require&connection_limit=1")
        == SUPABASE_POOLER + "?sslmode=require"
    )
    socket_url = "postgresql://postgres:@/postgres?host=/tmp/x/pgdata"
    assert normalize_url(socket_url) == socket_url


def test_transaction_pooler_detection() -> None:
    assert is_transaction_pooler(SUPABASE_POOLER)
    assert is_transaction_pooler("postgresql://u@127.0.0.1:6432/db?pgbouncer=true")
    assert is_transaction_pooler("postgresql://u@h1:5432,h2:6543/db")
    assert not is_transaction_pooler("postgresql://u:p@db.example.supabase.co:5432/postgres")
    assert not is_transaction_pooler("postgresql://u@127.0.0.1:6432/db?pgbouncer=false")
    assert not is_transaction_pooler("postgresql://postgres:@/postgres?host=/tmp/pgdata")


def test_listen_url_decision(tmp_path: Path) -> None:
    direct = "postgresql://u:p@db.example.supabase.co:5432/postgres"

    def settings(**values: object) -> Settings:
        return load_settings(**{"data_dir": tmp_path, "database_listen_url": None, **values})

    assert listen_url(settings(database_url=direct)) == direct
    assert listen_url(settings(database_url=SUPABASE_POOLER)) is None
    assert listen_url(settings(database_url=SUPABASE_POOLER + "?pgbouncer=true")) is None
    assert listen_url(settings(database_url=SUPABASE_POOLER, database_listen_url=direct)) == direct
    # No DATABASE_URL and no embedded server running in this data dir: nothing to LISTEN on.
    assert listen_url(settings(database_url=None)) is None


@pytest.mark.pgbouncer
async def test_pgbouncer_really_pools_transactions(pgbouncer_url: str) -> None:
    """asyncpg's default statement cache breaks here; the connector's connections do not."""
    url = normalize_url(pgbouncer_url)

    async def interleave(a: asyncpg.Connection, b: asyncpg.Connection) -> None:
        # a holds one server connection, so b prepares on another; once a is done, pgbouncer
        # hands b the server a released, where b's prepared statement does not exist.
        async with a.transaction():
            await a.fetchval("SELECT 1")
            await b.fetchval("SELECT $1::int", 1)
        await b.fetchval("SELECT $1::int", 1)

    plain = [await asyncpg.connect(url) for _ in range(2)]
    ours = [await connect(pgbouncer_url) for _ in range(2)]
    try:
        with pytest.raises(asyncpg.InvalidSQLStatementNameError):
            await interleave(*plain)
        await interleave(*ours)
    finally:
        for conn in plain + ours:
            await conn.close()


async def test_vector_codec_round_trip(pool: asyncpg.Pool, db_target: DbTarget) -> None:
    vector = [0.5, -0.25, 0.125]
    for _ in range(3):  # several transactions: through pgbouncer, possibly several servers
        value = await pool.fetchval("SELECT $1::vector", vector)
        assert value.to_list() == vector
    if db_target.name == "direct":  # pgbouncer 1.18 does not pass it on to its servers
        name = await pool.fetchval("SELECT current_setting('application_name')")
        assert name == "kairo-ray:test-node"


async def test_pool_refuses_a_database_without_pgvector(
    fresh_database: str, database_url: str, tmp_path: Path
) -> None:
    settings = load_settings(data_dir=tmp_path, vps_instance_id="test-node")
    with pytest.raises(SchemaMismatchError, match="run the migrations"):
        await create_pool(settings, url=with_database(database_url, fresh_database), min_size=1)
