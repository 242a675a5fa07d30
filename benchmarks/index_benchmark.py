"""How long the one-time HNSW index build over an old database's vectors takes.

A Kairo database the seed service filled holds 384-d vectors without an HNSW index; the first
``kairo-ray migrate`` builds it (``kairo_ray.db.migrate.build_vector_index``) in a transaction of
its own without a statement timeout, because Supabase stops any statement after 2 minutes. This
times that function on the embedded PostgreSQL (pgserver, pgvector) over N random vectors
(the build does not depend on what the vectors mean), at the server's maintenance_work_mem and at
a larger one an operator may set for the build. Prints the table and writes it to
benchmarks/reports/index.md.

    python benchmarks/index_benchmark.py [--vectors 20000 100000] [--report ...index.md]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import tempfile
import time
import warnings
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from reporting import header, publish

REPO = Path(__file__).resolve().parents[1]
SUPABASE_STATEMENT_LIMIT_S = 120

SCHEMA = """
CREATE EXTENSION IF NOT EXISTS vector;
CREATE TABLE documents (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), file_url text NOT NULL);
CREATE TABLE document_embeddings (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    document_id uuid REFERENCES documents (id) ON DELETE CASCADE,
    chunk_index integer NOT NULL,
    chunk_text text NOT NULL,
    embedding vector(384)
);
"""

FILL = """
WITH doc AS (INSERT INTO documents (file_url) VALUES ('s3://old') RETURNING id)
INSERT INTO document_embeddings (document_id, chunk_index, chunk_text, embedding)
SELECT doc.id, g, 'chunk',
       (SELECT array_agg(random() - 0.5) FROM generate_series(1, 384) WHERE g > 0)::vector
FROM doc, generate_series(1, $1) AS g
"""


async def one_build(admin_url: str, vectors: int, work_mem: str | None) -> dict:
    """A new database with ``vectors`` stored, the 2-minute limit set as Supabase sets it, then
    the migration's index build, timed."""
    from kairo_ray.db.connector import connect
    from kairo_ray.db.migrate import build_vector_index

    name = f"index_bench_{vectors}_{work_mem or 'default'}".lower()
    admin = await connect(admin_url, vector=False)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    url = urlunsplit(urlsplit(admin_url)._replace(path=f"/{name}"))
    conn = await connect(url, vector=False)
    try:
        await conn.execute(SCHEMA)
        await conn.execute(FILL, vectors)
        await conn.execute(
            f"ALTER DATABASE \"{name}\" SET statement_timeout = '{SUPABASE_STATEMENT_LIMIT_S}s'"
        )
        if work_mem:
            await conn.execute(f"ALTER DATABASE \"{name}\" SET maintenance_work_mem = '{work_mem}'")
    finally:
        await conn.close()
    conn = await connect(url, vector=False)
    try:
        memory = await conn.fetchval("SHOW maintenance_work_mem")
        started = time.monotonic()
        indexed = await build_vector_index(conn)
        seconds = time.monotonic() - started
        size = await conn.fetchval(
            "SELECT pg_relation_size('document_embeddings_embedding_hnsw') / 2.0^20"
        )
    finally:
        await conn.close()
    return {"vectors": indexed, "memory": memory, "seconds": seconds, "size": size}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vectors", type=int, nargs="+", default=[20_000, 100_000])
    parser.add_argument("--large-memory", default="256MB", help="the larger maintenance_work_mem")
    parser.add_argument("--report", default=str(REPO / "benchmarks" / "reports" / "index.md"))
    args = parser.parse_args()

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pgserver
    base = Path(tempfile.mkdtemp(prefix="kairo-index-bench-"))
    server = pgserver.get_server(base / "pgdata", cleanup_mode="stop")
    try:
        results = [
            asyncio.run(one_build(server.get_uri(), vectors, work_mem))
            for vectors in args.vectors
            for work_mem in (None, args.large_memory)
        ]
        version = asyncio.run(_pgvector_version(server.get_uri()))
    finally:
        server.cleanup()
        shutil.rmtree(base, ignore_errors=True)

    lines = [
        header("One-time HNSW index build over stored vectors"),
        f"- PostgreSQL with pgvector {version} from pgserver; random vectors, "
        f"vector(384), vector_cosine_ops, pgvector's default m=16, ef_construction=64",
        f"- each database has statement_timeout = {SUPABASE_STATEMENT_LIMIT_S} s, Supabase's limit "
        "on every statement; the build runs through `build_vector_index`, the migration's own",
        "",
        "| stored vectors | maintenance_work_mem | build seconds | index MiB "
        "| over Supabase's 120 s |",
        "|---|---|---|---|---|",
    ]
    for r in results:
        over = "yes" if r["seconds"] > SUPABASE_STATEMENT_LIMIT_S else "no"
        lines.append(
            f"| {r['vectors']:,} | {r['memory']} | {r['seconds']:.1f} | {r['size']:.0f} | {over} |"
        )
    publish("\n".join(lines) + "\n", args.report)


async def _pgvector_version(url: str) -> str:
    from kairo_ray.db.connector import connect

    conn = await connect(url, vector=False)
    try:
        return str(
            await conn.fetchval(
                "SELECT default_version FROM pg_available_extensions WHERE name = 'vector'"
            )
        )
    finally:
        await conn.close()


if __name__ == "__main__":
    main()
