"""The schema on Supabase: what the web app's public anon key (roles anon and authenticated,
through the REST API) can and cannot do with kairo-ray's tables and functions.

Supabase's own roles and its ``auth.uid()`` cannot exist here, so this database stands in for a
Supabase project: the roles ``anon``, ``authenticated`` and ``service_role``, the schema ``auth``
with ``auth.uid()`` reading the JWT's ``sub`` from ``request.jwt.claims`` as PostgREST sets it,
Supabase's default privileges (every new table and function in ``public`` granted to those
roles), and Kairo's own ``documents`` table with row-level security for its owners. Everything
else is real: PostgreSQL 16 with pgvector, the migrations, the queue and store code. The
migrations and kairo-ray run as a role that is neither superuser nor BYPASSRLS, like
Supabase's ``postgres``.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from kairo_ray.db.connector import connect, create_pool
from kairo_ray.db.migrate import apply_migrations, load_migrations
from kairo_ray.db.queue import JobQueue
from kairo_ray.db.store import DocumentStore
from kairo_ray.models import DocumentResult, EmbeddedChunk, PageResult
from kairo_ray.settings import load_settings
from tests.fixtures.database import with_database

OWNER_ROLE = "kairo_supabase_postgres"

SUPABASE_ROLES = f"""
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'anon') THEN
        CREATE ROLE anon NOLOGIN NOINHERIT;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'authenticated') THEN
        CREATE ROLE authenticated NOLOGIN NOINHERIT;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'service_role') THEN
        CREATE ROLE service_role NOLOGIN NOINHERIT BYPASSRLS;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{OWNER_ROLE}') THEN
        CREATE ROLE {OWNER_ROLE} LOGIN NOSUPERUSER NOBYPASSRLS;
    END IF;
END;
$$;
"""

SUPABASE_DATABASE = f"""
CREATE EXTENSION IF NOT EXISTS vector;
GRANT CREATE, USAGE ON SCHEMA public TO {OWNER_ROLE};
GRANT anon, authenticated TO {OWNER_ROLE};
CREATE SCHEMA auth;
CREATE FUNCTION auth.uid() RETURNS uuid LANGUAGE sql STABLE AS $$
    SELECT coalesce(
        nullif(current_setting('request.jwt.claim.sub', true), ''),
        (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub')
    )::uuid
$$;
GRANT USAGE ON SCHEMA public, auth TO anon, authenticated, service_role;
GRANT EXECUTE ON FUNCTION auth.uid() TO anon, authenticated, service_role;
ALTER DEFAULT PRIVILEGES FOR ROLE {OWNER_ROLE} IN SCHEMA public
    GRANT ALL ON TABLES TO anon, authenticated, service_role;
ALTER DEFAULT PRIVILEGES FOR ROLE {OWNER_ROLE} IN SCHEMA public
    GRANT ALL ON FUNCTIONS TO anon, authenticated, service_role;
ALTER DEFAULT PRIVILEGES FOR ROLE {OWNER_ROLE} IN SCHEMA public
    GRANT ALL ON SEQUENCES TO anon, authenticated, service_role;
"""

KAIRO_DOCUMENTS = """
CREATE TABLE documents (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id uuid NOT NULL DEFAULT auth.uid(),
    file_url text NOT NULL,
    file_type text,
    ocr_text text,
    created_at timestamptz DEFAULT now()
);
ALTER TABLE documents ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_documents ON documents FOR ALL TO authenticated
    USING (user_id = auth.uid()) WITH CHECK (user_id = auth.uid());
"""

QUEUE_FUNCTIONS = [
    "SELECT * FROM get_next_ocr_job('attacker')",
    "SELECT * FROM get_next_ocr_job('attacker', 60, 3)",
    "SELECT ocr_job_end_leases('vps-01')",
    "SELECT ocr_job_cancel(gen_random_uuid(), 'x')",
    "SELECT ocr_job_enqueue(gen_random_uuid(), 5)",
    "SELECT ocr_job_requeue(gen_random_uuid(), 5)",
]
KAIRO_TABLES = [
    "ocr_queue",
    "document_pages",
    "document_embeddings",
    "kairo_schema_migrations",
    "kairo_webhook_outbox",
    "kairo_reembed",
]


@dataclass
class Supabase:
    url: str
    admin: asyncpg.Connection
    alice: uuid.UUID
    bob: uuid.UUID


def _as_role(url: str, role: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=f"{role}:@{parts.netloc.rsplit('@', 1)[-1]}"))


async def _as(conn: asyncpg.Connection, role: str, user: uuid.UUID | None = None) -> None:
    """Become ``role`` for the rest of the transaction, with PostgREST's JWT claims."""
    await conn.execute(f"SET LOCAL ROLE {role}")
    claims = json.dumps({"sub": str(user), "role": role}) if user else ""
    await conn.execute("SELECT set_config('request.jwt.claims', $1, true)", claims)


@pytest.fixture
async def supabase(fresh_database: str, database_url: str) -> AsyncIterator[Supabase]:
    superuser = await connect(database_url, vector=False)
    try:
        await superuser.execute(SUPABASE_ROLES)
    finally:
        await superuser.close()
    url = with_database(database_url, fresh_database)
    setup = await connect(url, vector=False)
    try:
        await setup.execute(SUPABASE_DATABASE)
    finally:
        await setup.close()
    owner_url = _as_role(url, OWNER_ROLE)
    owner = await connect(owner_url, vector=False)
    try:
        await owner.execute(KAIRO_DOCUMENTS)
    finally:
        await owner.close()
    assert await apply_migrations(owner_url) == [m.version for m in load_migrations()]
    admin = await connect(owner_url)
    try:
        yield Supabase(owner_url, admin, uuid.uuid4(), uuid.uuid4())
    finally:
        await admin.close()


async def _insert_as_user(conn: asyncpg.Connection, user: uuid.UUID, file_url: str) -> uuid.UUID:
    """A document inserted as Kairo's web app does, with the user's own token."""
    async with conn.transaction():
        await _as(conn, "authenticated", user)
        return await conn.fetchval(
            "INSERT INTO documents (file_url) VALUES ($1) RETURNING id", file_url
        )


@pytest.mark.parametrize("role", ["anon", "authenticated"])
async def test_the_public_roles_read_no_kairo_table(supabase: Supabase, role: str) -> None:
    conn = supabase.admin
    await _insert_as_user(conn, supabase.alice, "https://storage/alice.pdf")
    # authenticated may SELECT pages and chunks, of its own documents only (the next tests).
    readable = ("document_pages", "document_embeddings")
    denied = KAIRO_TABLES if role == "anon" else [t for t in KAIRO_TABLES if t not in readable]
    for table in denied:
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            async with conn.transaction():
                await _as(conn, role, supabase.alice if role == "authenticated" else None)
                await conn.fetch(f"SELECT * FROM {table}")
    for statement in (
        "TRUNCATE ocr_queue",
        "DELETE FROM document_embeddings",
        "TRUNCATE kairo_webhook_outbox",
        "DELETE FROM kairo_webhook_outbox",
    ):
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            async with conn.transaction():
                await _as(conn, role, supabase.alice)
                await conn.execute(statement)


@pytest.mark.parametrize("role", ["anon", "authenticated"])
async def test_the_public_roles_cannot_call_the_queue_functions(
    supabase: Supabase, role: str
) -> None:
    conn = supabase.admin
    await _insert_as_user(conn, supabase.alice, "https://storage/alice.pdf")
    for call in QUEUE_FUNCTIONS:
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="permission denied"):
            async with conn.transaction():
                await _as(conn, role, supabase.bob)
                await conn.fetch(call)
    assert await conn.fetchval("SELECT count(*) FROM ocr_queue WHERE status = 'queued'") == 1


async def test_a_users_insert_still_queues_its_document(supabase: Supabase) -> None:
    """The web app's role cannot write ocr_queue, yet its insert queues the job: the trigger
    functions run as their owner (SECURITY DEFINER) with a fixed search_path."""
    conn = supabase.admin
    document = await _insert_as_user(conn, supabase.alice, "https://storage/a.pdf")
    row = await conn.fetchrow("SELECT status FROM ocr_queue WHERE document_id = $1", document)
    assert row["status"] == "queued"
    settings = await conn.fetch(
        "SELECT proname, prosecdef, proconfig FROM pg_proc "
        "WHERE proname IN ('kairo_auto_queue_document', 'kairo_ocr_queue_changed', "
        "'get_next_ocr_job', 'ocr_job_heartbeat')"
    )
    for proc in settings:
        assert proc["proconfig"] == ["search_path=public, pg_temp"], proc
        assert proc["prosecdef"] == proc["proname"].startswith("kairo_"), proc


async def test_a_user_reads_only_their_own_pages_and_chunks(supabase: Supabase) -> None:
    conn = supabase.admin
    mine = await _insert_as_user(conn, supabase.alice, "https://storage/alice.pdf")
    theirs = await _insert_as_user(conn, supabase.bob, "https://storage/bob.pdf")
    for document in (mine, theirs):
        await conn.execute(
            "INSERT INTO document_pages (document_id, page_number, text) VALUES ($1, 1, 'x')",
            document,
        )
        await conn.execute(
            "INSERT INTO document_embeddings (document_id, chunk_index, chunk_text, embedding) "
            "VALUES ($1, 0, 'x', $2)",
            document,
            [0.1] * 384,
        )
    for table in ("document_pages", "document_embeddings"):
        async with conn.transaction():
            await _as(conn, "authenticated", supabase.alice)
            seen = {r["document_id"] for r in await conn.fetch(f"SELECT document_id FROM {table}")}
        assert seen == {mine}, table
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            async with conn.transaction():
                await _as(conn, "authenticated", supabase.alice)
                await conn.execute(f"UPDATE {table} SET document_id = document_id")


async def test_kairo_ray_keeps_working_without_bypassing_rls(supabase: Supabase, tmp_path) -> None:
    """Claim, complete and search as the migrating role (neither superuser nor BYPASSRLS)."""
    conn = supabase.admin
    alice_doc = await _insert_as_user(conn, supabase.alice, "https://storage/alice.pdf")
    bob_doc = await _insert_as_user(conn, supabase.bob, "https://storage/bob.pdf")
    settings = load_settings(database_url=supabase.url, data_dir=tmp_path, max_retries=1)
    pool = await create_pool(settings, url=supabase.url, min_size=1, max_size=2)
    try:
        queue, store = JobQueue(pool, settings), DocumentStore(pool)
        for _ in range(2):
            job = await queue.claim()
            assert job is not None
            first = job.document_id == alice_doc
            vector = [1.0, 0.0] + [0.0] * 382 if first else [0.0, 1.0] + [0.0] * 382
            page = PageResult(page_number=1, text=f"text of {job.document_id}")
            chunk = EmbeddedChunk(
                index=0,
                text=page.text,
                page_start=1,
                page_end=1,
                char_start=0,
                char_end=len(page.text),
                content_hash=str(job.document_id),
                embedding=vector,
            )
            result = DocumentResult(
                document_id=job.document_id,
                text=page.text,
                language="en",
                pages=[page],
                chunks=[chunk],
            )
            await store.complete(job, result)
        # Bob's chunk is the nearer one, yet Alice's search finds only hers.
        near_bob = [0.0, 1.0] + [0.0] * 382
        hits = await store.search(near_bob, 5, owner=str(supabase.alice))
        assert [hit.document_id for hit in hits] == [alice_doc]
        everyone = await store.search(near_bob, 5)
        assert [hit.document_id for hit in everyone] == [bob_doc, alice_doc]
        assert await store.get_document(bob_doc, owner=str(supabase.alice)) is None
        assert (await store.get_document(alice_doc, owner=str(supabase.alice)))["id"] == alice_doc
    finally:
        await pool.close()


async def test_migration_0003_runs_again_unchanged(supabase: Supabase) -> None:
    """Idempotent on an existing database: its policies and grants are replaced, not doubled."""
    sql = next(m.sql for m in load_migrations() if m.version == 3)
    policies = await supabase.admin.fetchval("SELECT count(*) FROM pg_policies")
    await supabase.admin.execute(sql)
    assert await supabase.admin.fetchval("SELECT count(*) FROM pg_policies") == policies
    assert await apply_migrations(supabase.url) == []
