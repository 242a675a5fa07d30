"""Versioned, idempotent schema migrations with a clear refusal when the database does not fit.

``migrations/NNNN_name.sql`` files run in version order inside ONE transaction that first takes
an advisory transaction lock (works through pgbouncer in transaction mode, unlike a session
lock), so nodes starting together migrate one after another and the later ones find nothing to
do. Applied versions are recorded in ``kairo_schema_migrations``.

Before anything is applied the existing tables are checked: Kairo's known failure is a
``document_embeddings.embedding`` column of ``vector(1536)`` (OpenAI's width) where kairo-ray
writes 384-dimensional MiniLM vectors. Then it raises :class:`SchemaMismatchError` with the fix,
instead of failing later on every insert with "expected 1536 dimensions, not 384".

Run by hand: ``python -m kairo_ray.db.migrate`` (uses DATABASE_URL, or the embedded server).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
from dataclasses import dataclass
from importlib import resources

import asyncpg

from kairo_ray.db.connector import connect
from kairo_ray.db.embedded import ensure_database_url
from kairo_ray.db.queries import Q
from kairo_ray.db.store import EMBEDDING_COLUMNS, PAGE_COLUMNS
from kairo_ray.errors import SchemaMismatchError
from kairo_ray.settings import EMBEDDING_DIMENSION, Settings, load_settings

logger = logging.getLogger(__name__)

_FILE_NAME = re.compile(r"^(?P<version>\d{4})_(?P<name>[a-z0-9_]+)\.sql$")

EMBEDDING_FIX_SQL = (
    "ALTER TABLE document_embeddings DROP COLUMN embedding;\n"
    f"ALTER TABLE document_embeddings ADD COLUMN embedding vector({EMBEDDING_DIMENSION});\n"
    "CREATE INDEX IF NOT EXISTS document_embeddings_embedding_hnsw\n"
    "    ON document_embeddings USING hnsw (embedding vector_cosine_ops);"
)
"""The seed's documented fix for a 1536-dimension column (it drops the stored vectors), plus
the HNSW index that dropping the column takes with it."""

INDEX_BUILD_TIMEOUT_SECONDS = 6 * 3600.0
"""The client's own limit for the one-time HNSW build and for another node's wait on it (every
other statement has the connector's 2 minutes): hours, as on the server's side
(:func:`build_vector_index`)."""

REQUIRED_COLUMNS: dict[str, frozenset[str]] = {
    "documents": frozenset(
        [
            "id",
            "file_url",
            "file_type",
            "ocr_text",
            "ai_metadata",
            "page_count",
            "language",
            "status",
            "created_at",
            "updated_at",
        ]
    ),
    "ocr_queue": frozenset(
        [
            "id",
            "document_id",
            "status",
            "priority",
            "attempts",
            "max_attempts",
            "error_message",
            "locked_by",
            "locked_until",
            "claim_token",
            "run_after",
            "created_at",
            "started_at",
            "completed_at",
            "updated_at",
        ]
    ),
    # What the store writes (its COPY column lists), plus the keys and timestamps.
    "document_pages": frozenset(PAGE_COLUMNS),
    "document_embeddings": frozenset(EMBEDDING_COLUMNS) | {"id", "created_at"},
}

REQUIRED_FUNCTIONS = (
    "get_next_ocr_job(text,integer,integer)",
    "ocr_job_heartbeat(uuid,text,uuid,integer)",
    "ocr_job_fail(uuid,text,uuid,text,boolean,double precision,double precision)",
    "ocr_job_release(uuid,text,uuid,text)",
    "ocr_job_end_leases(text)",
    "ocr_job_cancel(uuid,text)",
    "ocr_job_requeue(uuid,integer)",
    "ocr_job_enqueue(uuid,integer)",
)


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def load_migrations() -> list[Migration]:
    """The packaged migrations in version order; file names must be ``NNNN_name.sql``."""
    found: list[Migration] = []
    for entry in resources.files("kairo_ray.db").joinpath("migrations").iterdir():
        if not entry.name.endswith(".sql"):
            continue
        match = _FILE_NAME.match(entry.name)
        if match is None:
            raise ValueError(f"migration file {entry.name!r} is not named NNNN_name.sql")
        found.append(
            Migration(int(match["version"]), match["name"], entry.read_text(encoding="utf-8"))
        )
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise ValueError(f"two migration files share a version: {versions}")
    return found


def _embedding_mismatch(type_name: str, typmod: int, formatted: str) -> SchemaMismatchError:
    symptom = (
        f"; inserts would fail with 'expected {typmod} dimensions, not {EMBEDDING_DIMENSION}'"
        if type_name == "vector" and typmod > 0
        else ""
    )
    return SchemaMismatchError(
        f"document_embeddings.embedding is {formatted} but kairo-ray stores "
        f"{EMBEDDING_DIMENSION}-dimensional embeddings (vector({EMBEDDING_DIMENSION})){symptom}. "
        "Fix it with the SQL below (it drops the stored vectors: re-queue the documents to "
        f"embed them again), then start again:\n{EMBEDDING_FIX_SQL}"
    )


async def check_existing_tables(conn: asyncpg.Connection) -> None:
    """Refuse tables the migrations cannot adapt: wrong key type or wrong vector width."""
    for table in ("documents", "ocr_queue", "document_embeddings"):
        row = await conn.fetchrow(Q.column_type, table, "id")
        if row is not None and row["type_name"] != "uuid":
            raise SchemaMismatchError(
                f"{table}.id is {row['formatted']}, kairo-ray needs uuid (Kairo's schema)"
            )
    row = await conn.fetchrow(Q.column_type, "document_embeddings", "embedding")
    if row is not None and (row["type_name"] != "vector" or row["typmod"] != EMBEDDING_DIMENSION):
        raise _embedding_mismatch(row["type_name"], row["typmod"], row["formatted"])


async def verify_schema(conn: asyncpg.Connection, owner_column: str = "user_id") -> None:
    """Check the database has everything kairo-ray uses; raise SchemaMismatchError if not."""
    await check_existing_tables(conn)
    missing: list[str] = []
    required = {**REQUIRED_COLUMNS, "documents": REQUIRED_COLUMNS["documents"] | {owner_column}}
    for table, columns in required.items():
        present = {r["attname"] for r in await conn.fetch(Q.table_columns, table)}
        if not present:
            missing.append(f"table {table}")
        else:
            missing.extend(f"{table}.{c}" for c in sorted(columns - present))
    row = await conn.fetchrow(Q.column_type, "document_embeddings", "embedding")
    if row is None:
        missing.append("document_embeddings.embedding")
    for signature in REQUIRED_FUNCTIONS:
        if not await conn.fetchval(Q.function_exists, signature):
            missing.append(f"function {signature}")
    if missing:
        raise SchemaMismatchError(
            "the database lacks what kairo-ray's migrations create: "
            + ", ".join(missing)
            + " (run python -m kairo_ray.db.migrate)"
        )


async def _applied(conn: asyncpg.Connection) -> dict[int, str]:
    if not await conn.fetchval(Q.migrations_table_exists):
        return {}
    return {r["version"]: r["checksum"] for r in await conn.fetch(Q.applied_migrations)}


async def schema_version(conn: asyncpg.Connection) -> int:
    """Highest applied migration, 0 for a database kairo-ray never migrated."""
    return max(await _applied(conn), default=0)


def _refuse_unknown_versions(applied: dict[int, str], known: set[int]) -> None:
    unknown = sorted(set(applied) - known)
    if unknown:
        raise SchemaMismatchError(
            f"the database has migration(s) {unknown} that this kairo-ray does not know "
            f"(it knows up to {max(known, default=0)}): upgrade kairo-ray"
        )


async def build_vector_index(conn: asyncpg.Connection) -> int | None:
    """Index vectors already stored (the seed service's) in a transaction of its own, with no
    statement timeout; return how many, or None when the index exists or the column is not a
    ``vector(384)`` (the migration creates or refuses it).

    A database the seed service filled has vectors but no HNSW index, and building one takes
    minutes once it has been in use (100 000 vectors: 208 s on the 2-core VM with 64 MB of
    maintenance_work_mem, benchmarks/reports/index.md). Inside the migration's transaction that
    outlasted Supabase's 2-minute statement limit, so the migration failed and nothing could
    start, and it would have held the lock on ``documents`` (Kairo's own table) as long. Here
    only writes to ``document_embeddings`` wait, once.
    """
    async with conn.transaction():
        # Before the lock: another node's build may hold it for minutes, and this one then waits.
        await conn.execute(Q.without_statement_timeout)
        await conn.execute(Q.lock_migrations, timeout=INDEX_BUILD_TIMEOUT_SECONDS)
        column = await conn.fetchrow(Q.column_type, "document_embeddings", "embedding")
        if (
            column is None
            or column["type_name"] != "vector"
            or column["typmod"] != EMBEDDING_DIMENSION
            or await conn.fetchval(Q.vector_index_exists)
        ):
            return None
        # Minutes of building only for a database the migration then accepts.
        await check_existing_tables(conn)
        _refuse_unknown_versions(await _applied(conn), {m.version for m in load_migrations()})
        vectors = int(await conn.fetchval(Q.count_stored_vectors))
        if vectors:
            # A warning, so the command line shows it: this can take minutes, once.
            logger.warning(
                "building the HNSW index over %d stored vectors: once, minutes for 100 000; "
                "writes to document_embeddings wait for it",
                vectors,
            )
        await conn.execute(Q.create_vector_index, timeout=INDEX_BUILD_TIMEOUT_SECONDS)
    return vectors


async def build_search_index(conn: asyncpg.Connection) -> int | None:
    """Fill search_text for chunks stored before migration 0004 and build its indexes, in a
    transaction of its own without a statement timeout (as :func:`build_vector_index`): on a
    database the seed service filled this takes minutes, beyond Supabase's 2-minute limit.
    Returns the chunks filled, None when there was nothing to do."""
    if not await conn.fetchval(Q.search_column_exists) or await conn.fetchval(
        Q.search_index_exists
    ):
        return None
    async with conn.transaction():
        await conn.execute(Q.without_statement_timeout)
        await conn.execute(Q.lock_migrations, timeout=INDEX_BUILD_TIMEOUT_SECONDS)
        if await conn.fetchval(Q.search_index_exists):  # another node built it meanwhile
            return None
        status = await conn.execute(Q.fill_search_text, timeout=INDEX_BUILD_TIMEOUT_SECONDS)
        filled = int(status.split()[-1])
        if filled:
            logger.warning("indexed the words of %d stored chunks for full-text search", filled)
        await conn.execute(Q.create_search_indexes, timeout=INDEX_BUILD_TIMEOUT_SECONDS)
    return filled


async def migrate(conn: asyncpg.Connection, owner_column: str = "user_id") -> list[int]:
    """Apply pending migrations in one locked transaction; return the versions applied.

    ``owner_column`` (DOCUMENTS_OWNER_COLUMN) is the column of documents that names its owner.

    Vectors stored before the first migration are indexed first (:func:`build_vector_index`).
    Raises SchemaMismatchError (and applies nothing) when existing tables do not fit or the
    database was migrated by a newer kairo-ray.
    """
    await build_vector_index(conn)
    migrations = load_migrations()
    known = {m.version for m in migrations}
    async with conn.transaction():
        await conn.execute(Q.lock_migrations)
        await conn.execute(Q.set_owner_column, owner_column)
        await conn.execute(Q.create_migrations_table)
        applied = await _applied(conn)
        _refuse_unknown_versions(applied, known)
        for m in migrations:
            if m.version in applied and applied[m.version] != m.checksum:
                logger.warning(
                    "migration %04d_%s changed since it was applied; not re-run", m.version, m.name
                )
        pending = [m for m in migrations if m.version not in applied]
        if pending:
            await check_existing_tables(conn)
        for m in pending:
            logger.info("applying migration %04d_%s", m.version, m.name)
            await conn.execute(m.sql)
            await conn.execute(Q.record_migration, m.version, m.name, m.checksum)
        await verify_schema(conn, owner_column)
    await build_search_index(conn)
    return [m.version for m in pending]


async def apply_migrations(url: str, *, settings: Settings | None = None) -> list[int]:
    """Open a plain connection (no vector codec: the extension may not exist yet) and migrate."""
    conn = await connect(url, settings=settings, vector=False)
    owner_column = settings.documents_owner_column if settings else "user_id"
    try:
        return await migrate(conn, owner_column)
    finally:
        await conn.close()


def migrate_url(url: str, *, settings: Settings | None = None) -> list[int]:
    """Blocking :func:`apply_migrations` for command-line code (no event loop running)."""
    return asyncio.run(apply_migrations(url, settings=settings))


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("pgserver").setLevel(logging.WARNING)  # logs every command it runs
    settings = load_settings()
    applied = migrate_url(ensure_database_url(settings), settings=settings)
    print(f"applied migrations: {applied}" if applied else "schema up to date")


if __name__ == "__main__":
    main()
