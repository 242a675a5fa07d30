"""Migrations: idempotent, safe when run concurrently, adopt the seed's Supabase schema, and
refuse a database they cannot fit (vector(1536), a newer schema) with a clear message."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncpg
import pytest

from kairo_ray.db import connector
from kairo_ray.db.connector import connect
from kairo_ray.db.migrate import (
    EMBEDDING_FIX_SQL,
    apply_migrations,
    load_migrations,
    schema_version,
    verify_schema,
)
from kairo_ray.db.queries import Q
from kairo_ray.errors import SchemaMismatchError
from tests.fixtures.database import DbTarget, with_database

# The seed service's schema as Kairo's Supabase database may hold it (reconstructed from the
# seed documents: their column names, statuses, the one-argument function and the trigger).
SEED_SCHEMA = """
CREATE EXTENSION IF NOT EXISTS vector;
CREATE TABLE documents (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id uuid,
    file_url text NOT NULL,
    file_type text,
    ocr_text text,
    ai_metadata jsonb,
    created_at timestamptz DEFAULT now()
);
CREATE TABLE ocr_queue (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    document_id uuid REFERENCES documents (id) ON DELETE CASCADE,
    status text NOT NULL DEFAULT 'queued'
        CHECK (status IN ('queued', 'processing', 'completed', 'failed')),
    priority integer NOT NULL DEFAULT 5 CHECK (priority BETWEEN 1 AND 10),
    attempts integer NOT NULL DEFAULT 0,
    error_message text,
    created_at timestamptz DEFAULT now(),
    started_at timestamptz,
    completed_at timestamptz
);
CREATE TABLE document_embeddings (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    document_id uuid REFERENCES documents (id) ON DELETE CASCADE,
    chunk_index integer NOT NULL,
    chunk_text text NOT NULL,
    chunk_length integer,
    embedding vector(384),
    content_hash text,
    created_at timestamptz DEFAULT now()
);
CREATE FUNCTION get_next_ocr_job(vps_instance_id text)
RETURNS TABLE (queue_id uuid, document_id uuid, file_url text, file_type text)
LANGUAGE plpgsql AS $$
BEGIN
    RETURN QUERY
    UPDATE ocr_queue q SET status = 'processing', started_at = now(), attempts = q.attempts + 1
    FROM documents d
    WHERE q.id = (SELECT id FROM ocr_queue WHERE status = 'queued'
                  ORDER BY priority DESC, created_at LIMIT 1 FOR UPDATE SKIP LOCKED)
      AND d.id = q.document_id
    RETURNING q.id, q.document_id, d.file_url, d.file_type;
END;
$$;
CREATE FUNCTION queue_document_for_ocr() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO ocr_queue (document_id) VALUES (NEW.id);
    RETURN NEW;
END;
$$;
CREATE TRIGGER auto_queue_trigger AFTER INSERT ON documents
    FOR EACH ROW EXECUTE FUNCTION queue_document_for_ocr();
"""


@dataclass
class Fresh:
    url: str
    conn: asyncpg.Connection


@pytest.fixture
async def db(fresh_database: str, database_url: str) -> AsyncIterator[Fresh]:
    """A new empty database: its URL and a plain connection (no pgvector codec) to it."""
    url = with_database(database_url, fresh_database)
    conn = await connect(url, vector=False)
    try:
        yield Fresh(url, conn)
    finally:
        await conn.close()


async def _catalog(conn: asyncpg.Connection) -> list[tuple[str, str]]:
    rows = await conn.fetch(
        "SELECT 'rel' AS kind, relname AS name FROM pg_class "
        "WHERE relnamespace = 'public'::regnamespace "
        "UNION ALL SELECT 'proc', oid::regprocedure::text FROM pg_proc "
        "WHERE pronamespace = 'public'::regnamespace AND proname NOT LIKE '%vector%' "
        "UNION ALL SELECT 'trigger', tgname FROM pg_trigger WHERE NOT tgisinternal "
        "UNION ALL SELECT 'constraint', conname FROM pg_constraint "
        "WHERE connamespace = 'public'::regnamespace "
        "ORDER BY 1, 2"
    )
    return [(r["kind"], r["name"]) for r in rows]


def test_migration_files_are_versioned() -> None:
    migrations = load_migrations()
    assert [m.version for m in migrations] == sorted({m.version for m in migrations})
    assert migrations[0].version == 1
    assert all(len(m.checksum) == 64 for m in migrations)


async def test_migrations_are_idempotent(db: Fresh) -> None:
    assert await schema_version(db.conn) == 0
    assert await apply_migrations(db.url) == [m.version for m in load_migrations()]
    catalog = await _catalog(db.conn)
    assert ("trigger", "auto_queue_trigger") in catalog
    assert ("rel", "document_embeddings_embedding_hnsw") in catalog

    assert await apply_migrations(db.url) == []
    assert await _catalog(db.conn) == catalog
    assert await schema_version(db.conn) == load_migrations()[-1].version
    assert await db.conn.fetchval("SELECT count(*) FROM kairo_schema_migrations") == len(
        load_migrations()
    )
    await verify_schema(db.conn)


async def test_concurrent_migrations_apply_once(
    fresh_database: str, db_target: DbTarget, database_url: str
) -> None:
    url = with_database(db_target.url, fresh_database)
    results = await asyncio.gather(*(apply_migrations(url) for _ in range(4)))
    applied = [r for r in results if r]
    assert applied == [[m.version for m in load_migrations()]]
    conn = await connect(with_database(database_url, fresh_database))
    try:
        assert await conn.fetchval("SELECT count(*) FROM kairo_schema_migrations") == len(
            load_migrations()
        )
        await verify_schema(conn)
    finally:
        await conn.close()


async def test_vector_1536_is_refused_with_the_seed_fix(db: Fresh) -> None:
    await db.conn.execute(
        "CREATE EXTENSION vector;"
        "CREATE TABLE documents (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), file_url text);"
        "CREATE TABLE document_embeddings (id uuid PRIMARY KEY DEFAULT gen_random_uuid(),"
        " document_id uuid, chunk_index int, chunk_text text, embedding vector(1536));"
    )
    with pytest.raises(SchemaMismatchError) as refused:
        await apply_migrations(db.url)
    message = str(refused.value)
    assert "document_embeddings.embedding is vector(1536)" in message
    assert "expected 1536 dimensions, not 384" in message
    assert "ALTER TABLE document_embeddings DROP COLUMN embedding;" in message
    assert "ALTER TABLE document_embeddings ADD COLUMN embedding vector(384);" in message
    assert await schema_version(db.conn) == 0, "nothing may be applied"
    assert await db.conn.fetchval("SELECT to_regclass('ocr_queue')") is None

    await db.conn.execute(EMBEDDING_FIX_SQL)
    assert await apply_migrations(db.url) == [m.version for m in load_migrations()]


async def test_column_changed_after_migrating_is_caught(db: Fresh) -> None:
    await apply_migrations(db.url)
    await db.conn.execute(
        "ALTER TABLE document_embeddings DROP COLUMN embedding;"
        "ALTER TABLE document_embeddings ADD COLUMN embedding vector(1536);"
    )
    with pytest.raises(SchemaMismatchError, match=r"vector\(1536\)"):
        await apply_migrations(db.url)
    await db.conn.execute(EMBEDDING_FIX_SQL)
    await apply_migrations(db.url)
    assert await db.conn.fetchval("SELECT to_regclass('document_embeddings_embedding_hnsw')")


async def test_seed_schema_is_adopted(db: Fresh) -> None:
    await db.conn.execute(SEED_SCHEMA)
    doc = await db.conn.fetchval(
        "INSERT INTO documents (file_url) VALUES ('s3://old') RETURNING id"
    )
    await db.conn.execute("INSERT INTO ocr_queue (document_id) VALUES ($1)", doc)  # a duplicate
    await db.conn.execute(
        "INSERT INTO document_embeddings (document_id, chunk_index, chunk_text, embedding) "
        "VALUES ($1, 0, 'old chunk', array_fill(0.1, ARRAY[384])::vector)",
        doc,
    )

    await apply_migrations(db.url)
    await verify_schema(db.conn)

    statuses = await db.conn.fetch("SELECT status FROM ocr_queue WHERE document_id = $1", doc)
    assert sorted(r["status"] for r in statuses) == ["cancelled", "queued"]
    assert await db.conn.fetchval("SELECT count(*) FROM document_embeddings") == 1

    new = await db.conn.fetchval(
        "INSERT INTO documents (file_url) VALUES ('s3://new') RETURNING id"
    )
    assert await db.conn.fetchval("SELECT count(*) FROM ocr_queue WHERE document_id = $1", new) == 1
    claimed = await db.conn.fetch("SELECT * FROM get_next_ocr_job('vps-01')")
    assert len(claimed) == 1 and claimed[0]["claim_token"] is not None
    assert await db.conn.fetchval("SELECT ocr_job_cancel($1)", claimed[0]["queue_id"]) is True


async def test_newer_schema_is_refused(db: Fresh) -> None:
    await apply_migrations(db.url)
    await db.conn.execute(
        "INSERT INTO kairo_schema_migrations (version, name, checksum) "
        "VALUES (9999, 'from_the_future', 'x')"
    )
    with pytest.raises(SchemaMismatchError, match="upgrade kairo-ray"):
        await apply_migrations(db.url)


async def test_missing_pieces_are_named(db: Fresh) -> None:
    await apply_migrations(db.url)
    await db.conn.execute("DROP FUNCTION ocr_job_cancel(uuid, text)")
    with pytest.raises(SchemaMismatchError, match=r"function ocr_job_cancel\(uuid,text\)"):
        await verify_schema(db.conn)


async def test_edited_migration_is_reported(db: Fresh, caplog: pytest.LogCaptureFixture) -> None:
    await apply_migrations(db.url)
    await db.conn.execute("UPDATE kairo_schema_migrations SET checksum = 'edited'")
    with caplog.at_level(logging.WARNING, logger="kairo_ray.db.migrate"):
        assert await apply_migrations(db.url) == []
    assert "changed since it was applied" in caplog.text


STORED_VECTORS = 20_000
"""Enough of an old service's vectors that building their HNSW index outlasts the timeout below
(about 5 s on the 2-core VM)."""


@pytest.mark.slow
async def test_index_over_stored_vectors_is_built_beyond_the_statement_timeout(
    fresh_database: str,
    db_target: DbTarget,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Supabase stops every statement after 2 minutes (its global statement_timeout), and
    building the HNSW index over the seed service's stored vectors takes longer on a database
    that has been in use (100 000 vectors: 208 s on the 2-core VM). Inside the migration's
    transaction that failed the migration, so ``up`` could not start at all. Scaled down here:
    a 1 s limit set on the database, as Supabase sets its own, and the client's own limit on
    every statement (2 minutes) cut to 3 s. Two nodes migrate at once: the second waits for the
    first's build, then finds nothing to do."""
    direct = await connect(with_database(database_url, fresh_database), vector=False)
    try:
        await direct.execute(SEED_SCHEMA)
        await direct.execute(
            "WITH doc AS (INSERT INTO documents (file_url) VALUES ('s3://old') RETURNING id) "
            "INSERT INTO document_embeddings (document_id, chunk_index, chunk_text, embedding) "
            "SELECT doc.id, g, 'old chunk', "
            "       (SELECT array_agg(random() - 0.5) FROM generate_series(1, 384) WHERE g > 0)"
            "       ::vector "
            f"FROM doc, generate_series(1, {STORED_VECTORS}) AS g"
        )
        await direct.execute(f"ALTER DATABASE \"{fresh_database}\" SET statement_timeout = '1s'")
    finally:
        await direct.close()

    url = with_database(db_target.url, fresh_database)
    monkeypatch.setattr(connector, "COMMAND_TIMEOUT_SECONDS", 3.0)
    applied = await asyncio.gather(apply_migrations(url), apply_migrations(url))
    assert sorted(applied) == [[], [m.version for m in load_migrations()]]
    conn = await connect(url, vector=False)
    try:
        assert await conn.fetchval("SHOW statement_timeout") == "1s"
        assert await conn.fetchval("SELECT to_regclass('document_embeddings_embedding_hnsw')")
        assert await conn.fetchval("SELECT count(*) FROM document_embeddings") == STORED_VECTORS
        await verify_schema(conn)
    finally:
        await conn.close()


def test_vector_index_is_built_by_the_statement_of_the_first_migration() -> None:
    """So the first migration finds the index that :func:`build_vector_index` built in place."""
    statement = " ".join(
        line for line in Q.create_vector_index.splitlines() if not line.startswith("--")
    ).split()
    assert " ".join(statement) in " ".join(load_migrations()[0].sql.split())


async def test_refused_database_is_not_indexed_first(db: Fresh) -> None:
    """The index build runs before the migration, but not for a database the migration refuses."""
    await db.conn.execute(
        "CREATE EXTENSION vector;"
        "CREATE TABLE documents (id serial PRIMARY KEY, file_url text);"
        "CREATE TABLE document_embeddings (id uuid PRIMARY KEY DEFAULT gen_random_uuid(),"
        " document_id int, chunk_index int, chunk_text text, embedding vector(384));"
        "INSERT INTO document_embeddings (document_id, chunk_index, chunk_text, embedding)"
        " VALUES (1, 0, 'old chunk', array_fill(0.1, ARRAY[384])::vector);"
    )
    with pytest.raises(SchemaMismatchError, match=r"documents\.id is integer"):
        await apply_migrations(db.url)
    assert (
        await db.conn.fetchval("SELECT to_regclass('document_embeddings_embedding_hnsw')") is None
    )
