"""Connections that work the same directly and through pgbouncer in transaction mode.

Supabase's DATABASE_URL points at pgbouncer on port 6543 (transaction pooling), where a server
connection belongs to a client only for one transaction. Three rules follow, applied here once:
no named prepared statements (``statement_cache_size=0``, asyncpg then re-parses unnamed
statements in the same round trip), no session state (codecs are registered per connection in
the pool's ``init``), and no LISTEN unless a direct DATABASE_LISTEN_URL is given.
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import asyncpg
from pgvector.asyncpg import register_vector

from kairo_ray.db.embedded import ensure_database_url, running_url
from kairo_ray.db.queries import Q
from kairo_ray.errors import SchemaMismatchError
from kairo_ray.settings import Settings, secret

logger = logging.getLogger(__name__)

TRANSACTION_POOLER_PORT = 6543
"""Supabase's pgbouncer port: transaction pooling, so no LISTEN and no prepared statements."""

CLIENT_ONLY_URL_PARAMS = frozenset({"pgbouncer", "connection_limit", "pool_timeout"})
"""Query parameters Supabase/Prisma put in URLs for the client; asyncpg would send any unknown
parameter to the server as a setting, and the server would refuse the connection."""

COMMAND_TIMEOUT_SECONDS = 120.0


def _query_params(url: str) -> list[tuple[str, str]]:
    return parse_qsl(urlsplit(url).query, keep_blank_values=True)


def normalize_url(url: str) -> str:
    """The URL without client-only parameters such as Supabase's ``?pgbouncer=true``."""
    parts = urlsplit(url)
    kept = [(k, v) for k, v in _query_params(url) if k.lower() not in CLIENT_ONLY_URL_PARAMS]
    return urlunsplit(parts._replace(query=urlencode(kept, safe="/")))


def is_transaction_pooler(url: str) -> bool:
    """True for Supabase's pooler URL: port 6543 or an explicit ``pgbouncer=true``."""
    for key, value in _query_params(url):
        if key.lower() == "pgbouncer" and value.lower() in ("true", "1", "yes", "on"):
            return True
    netloc = urlsplit(url).netloc.rsplit("@", 1)[-1]
    return any(
        port == str(TRANSACTION_POOLER_PORT) for port in re.findall(r":(\d+)(?=,|$)", netloc)
    )


def listen_url(settings: Settings, url: str | None = None) -> str | None:
    """Where LISTEN may run, or None when only polling works.

    DATABASE_LISTEN_URL wins. Otherwise the database URL itself (``url``, DATABASE_URL, or the
    running embedded server) unless it is a transaction pooler, where LISTEN would be bound to a
    server connection other clients share and notifications would be lost.
    """
    if settings.database_listen_url:
        return normalize_url(secret(settings.database_listen_url) or "")
    url = url or secret(settings.database_url) or running_url(settings)
    if url is None or is_transaction_pooler(url):
        return None
    return normalize_url(url)


async def _register_codecs(conn: asyncpg.Connection) -> None:
    schema = await conn.fetchval(Q.vector_type_schema)
    if schema is None:
        raise SchemaMismatchError(
            "the pgvector type 'vector' does not exist in this database: run the migrations "
            "first (python -m kairo_ray.db.migrate), which CREATE EXTENSION IF NOT EXISTS vector"
        )
    await register_vector(conn, schema=schema)


def _connect_kwargs(settings: Settings | None, role: str | None = None) -> dict[str, Any]:
    """Connection options; ``application_name`` names the instance and, given, the role (driver,
    api, cli), so pg_stat_activity shows who holds each connection."""
    kwargs: dict[str, Any] = {
        "statement_cache_size": 0,
        "command_timeout": COMMAND_TIMEOUT_SECONDS,
    }
    if settings is not None:
        name = f"kairo-ray:{settings.vps_instance_id}" + (f"/{role}" if role else "")
        kwargs["server_settings"] = {"application_name": name}
    return kwargs


async def connect(
    url: str, *, settings: Settings | None = None, vector: bool = True
) -> asyncpg.Connection:
    """One plain connection with the pool's rules; ``vector=False`` before the extension exists."""
    conn = await asyncpg.connect(normalize_url(url), **_connect_kwargs(settings))
    if vector:
        try:
            await _register_codecs(conn)
        except BaseException:
            await conn.close()
            raise
    return conn


async def create_pool(
    settings: Settings,
    *,
    url: str | None = None,
    min_size: int | None = None,
    max_size: int | None = None,
    role: str | None = None,
) -> asyncpg.Pool:
    """The process's pool; every connection gets ``statement_cache_size=0`` and pgvector codecs.

    ``url`` defaults to DATABASE_URL, else the embedded server (started if not running).
    """
    if url is None:
        url = await asyncio.to_thread(ensure_database_url, settings)
    return await asyncpg.create_pool(
        normalize_url(url),
        min_size=settings.database_pool_min_size if min_size is None else min_size,
        max_size=settings.database_pool_max_size if max_size is None else max_size,
        init=_register_codecs,
        **_connect_kwargs(settings, role),
    )
