"""Documents, pages and embeddings: the results side of the database.

``complete`` writes a job's whole result in ONE transaction that starts by locking the job row
and checking the claim_token, so a worker that lost its lease writes nothing, a re-run replaces
the previous pages and chunks instead of adding to them, and a crash mid-write leaves the old
result in place.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Collection
from typing import Any
from uuid import UUID

import asyncpg

from kairo_ray.db.outbox import add_delivery
from kairo_ray.db.queries import Q
from kairo_ray.errors import LeaseLostError
from kairo_ray.models import (
    Block,
    ChunkHit,
    DocumentResult,
    Job,
    OcrLine,
    PageResult,
    SearchHit,
    SearchMode,
    check_priority,
)
from kairo_ray.settings import EMBEDDING_DIMENSION

logger = logging.getLogger(__name__)

PAGE_COLUMNS = (
    "document_id",
    "page_number",
    "text",
    "lines",
    "mean_confidence",
    "source",
    "rotation",
    "width",
    "height",
    "blocks",
)
EMBEDDING_COLUMNS = (
    "document_id",
    "embedding_model",
    "chunk_index",
    "chunk_text",
    "chunk_length",
    "embedding",
    "content_hash",
    "page_start",
    "page_end",
    "char_start",
    "char_end",
)
HNSW_DEFAULT_EF_SEARCH = 40
"""pgvector's default hnsw.ef_search: an HNSW scan returns at most this many rows."""
SEARCH_CANDIDATES = 50
"""Chunks each ranking (vector, full-text) hands to the fusion, at least."""


def _page_record(document_id: UUID, page: PageResult) -> tuple[Any, ...]:
    lines = [
        {"text": ln.text, "box": list(ln.box), "confidence": ln.confidence} for ln in page.lines
    ]
    return (
        document_id,
        page.page_number,
        page.text,
        json.dumps(lines, ensure_ascii=False),
        page.mean_confidence,
        page.source,
        page.rotation,
        page.width,
        page.height,
        json.dumps([b.model_dump(exclude_none=True) for b in page.blocks], ensure_ascii=False),
    )


def _check_result(job: Job, result: DocumentResult) -> None:
    if result.document_id != job.document_id:
        raise ValueError(
            f"result is for document {result.document_id}, job {job.queue_id} "
            f"is for {job.document_id}"
        )
    for chunk in result.chunks:
        if len(chunk.embedding) != EMBEDDING_DIMENSION:
            raise ValueError(
                f"chunk {chunk.index} has a {len(chunk.embedding)}-dimensional embedding, "
                f"document_embeddings.embedding is vector({EMBEDDING_DIMENSION})"
            )


class DocumentStore:
    """Reads and writes documents, pages and embeddings through a pool with pgvector codecs."""

    def __init__(self, pool: asyncpg.Pool, owner_column: str = "user_id") -> None:
        self.pool = pool
        # A validated identifier (settings.documents_owner_column), quoted by the queries.
        if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", owner_column):
            raise ValueError(f"not a column name: {owner_column!r}")
        self._get_document = Q.get_document.replace("{owner}", owner_column)
        # Every chunk of the space: not materialised, so the HNSW index serves the vector
        # ranking. One owner's: materialised, so that ranking is exact over their chunks (an
        # HNSW scan filtered afterwards returns too few for a user among many).
        self._search_any = Q.search_documents.replace(
            "{scope}",
            "scope AS NOT MATERIALIZED (SELECT * FROM document_embeddings "
            "WHERE embedding_model IS NOT DISTINCT FROM $4)",
        )
        self._search_owned = Q.search_documents.replace(
            "{scope}",
            "scope AS MATERIALIZED (SELECT e.* FROM document_embeddings e "
            "JOIN documents d ON d.id = e.document_id "
            f'WHERE e.embedding_model IS NOT DISTINCT FROM $4 AND d."{owner_column}"::text = $8)',
        )

    async def insert_document(
        self, file_url: str, file_type: str | None = None, priority: int = 5
    ) -> UUID:
        """Insert a document; auto_queue_trigger queues it, with ``priority`` if not 5."""
        check_priority(priority)
        async with self.pool.acquire() as conn, conn.transaction():
            document_id: UUID = await conn.fetchval(Q.insert_document, file_url, file_type)
            if priority != 5:
                await conn.execute(Q.set_active_job_priority, document_id, priority)
        return document_id

    async def complete(
        self, job: Job, result: DocumentResult, webhook: dict[str, Any] | None = None
    ) -> None:
        """Replace the document's pages, chunks and text and mark the job completed, atomically;
        with ``webhook`` (a payload), its outbox row too, so no completion lacks its callback.

        Raises LeaseLostError (writing nothing) when ``job``'s claim is no longer the current one.
        """
        _check_result(job, result)
        pages = [_page_record(job.document_id, p) for p in result.pages]
        chunks = [
            (
                job.document_id,
                result.embedding_space,
                c.index,
                c.text,
                len(c.text),
                c.embedding,
                c.content_hash,
                c.page_start,
                c.page_end,
                c.char_start,
                c.char_end,
            )
            for c in result.chunks
        ]
        async with self.pool.acquire() as conn, conn.transaction():
            held = await conn.fetchrow(Q.lock_job_for_completion, job.queue_id)
            if (
                held is None
                or held["status"] != "processing"
                or held["claim_token"] != job.claim_token
            ):
                state = "gone" if held is None else held["status"]
                raise LeaseLostError(
                    f"job {job.queue_id} is no longer held by this claim (job is {state})"
                )
            # As a re-embed does (store_reembedded): one writer of the document's chunks at a
            # time, so a re-embed never adds vectors of chunks this completion replaces.
            await conn.execute(Q.lock_document, job.document_id)
            await conn.execute(Q.delete_document_pages, job.document_id)
            await conn.execute(Q.delete_document_embeddings, job.document_id)
            if pages:
                await conn.copy_records_to_table(
                    "document_pages", records=pages, columns=list(PAGE_COLUMNS)
                )
            if chunks:
                await conn.copy_records_to_table(
                    "document_embeddings", records=chunks, columns=list(EMBEDDING_COLUMNS)
                )
            await conn.execute(
                Q.store_document_result,
                job.document_id,
                result.text,
                len(result.pages),
                result.language,
            )
            await conn.execute(Q.complete_job, job.queue_id)
            if webhook is not None:
                await add_delivery(conn, job.queue_id, "completed", webhook)

    async def existing_embeddings(self, document_id: UUID, space: str) -> dict[str, list[float]]:
        """content_hash → vector stored in ``space``, so a re-run embeds only new texts."""
        rows = await self.pool.fetch(Q.existing_embeddings, document_id, space)
        return {r["content_hash"]: r["embedding"].to_list() for r in rows}

    async def get_document(
        self, document_id: UUID, owner: str | None = None
    ) -> dict[str, Any] | None:
        """The document (file_url, status, page_count, language, text) and its latest job;
        with ``owner``, None unless that user owns it."""
        row = await self.pool.fetchrow(self._get_document, document_id, owner)
        if row is None:
            return None
        doc = dict(row)
        doc["text"] = doc.pop("ocr_text")
        return doc

    async def get_pages(self, document_id: UUID) -> list[PageResult]:
        """Stored pages in order, with line boxes: enough to show or re-embed without OCR."""
        rows = await self.pool.fetch(Q.get_pages, document_id)
        return [
            PageResult(
                page_number=r["page_number"],
                text=r["text"],
                lines=[OcrLine(**line) for line in json.loads(r["lines"])],
                mean_confidence=r["mean_confidence"],
                source=r["source"],
                rotation=r["rotation"],
                width=r["width"],
                height=r["height"],
                blocks=[Block(**block) for block in json.loads(r["blocks"])],
            )
            for r in rows
        ]

    async def search(
        self,
        embedding: list[float],
        k: int = 10,
        owner: str | None = None,
        *,
        space: str | None = None,
        text: str = "",
        mode: SearchMode = "vector",
        text_weight: float = 1.0,
    ) -> list[SearchHit]:
        """The ``k`` documents that best answer a query, best first (``search_documents`` in
        queries.sql): by ``mode`` its vector ``embedding`` (made in vector space ``space``; no
        other space's vectors are compared), its ``text`` (full-text), or both fused; with
        ``owner``, among that user's documents only."""
        if len(embedding) != EMBEDDING_DIMENSION:
            raise ValueError(
                f"query embedding has {len(embedding)} dimensions, expected {EMBEDDING_DIMENSION}"
            )
        if k < 1:
            return []
        candidates = max(SEARCH_CANDIDATES, 4 * k)
        args: list[Any] = [list(embedding), text, k, space, candidates, mode, text_weight]
        query = self._search_any if owner is None else self._search_owned
        if owner is not None:
            args.append(owner)
        async with self.pool.acquire() as conn, conn.transaction():
            if candidates > HNSW_DEFAULT_EF_SEARCH:
                await conn.execute(Q.set_hnsw_ef_search, str(candidates))
            rows = await conn.fetch(query, *args)
        return _documents(rows)

    async def chunks_to_reembed(
        self, space: str, exclude: Collection[UUID] = ()
    ) -> list[dict[str, Any]]:
        """The stored chunks of one document that has chunks without a vector of ``space``
        (not one of ``exclude``), each once, with their row ids; empty when none is left."""
        rows = await self.pool.fetch(Q.chunks_to_reembed, space, list(exclude))
        return [dict(r) for r in rows]

    async def count_to_reembed(self, space: str) -> tuple[int, int]:
        """(chunks, documents) still without a vector of ``space``."""
        row = await self.pool.fetchrow(Q.count_to_reembed, space)
        return int(row["chunks"]), int(row["documents"])

    async def store_reembedded(
        self,
        document_id: UUID,
        space: str,
        chunks: list[dict[str, Any]],
        vectors: list[list[float]],
        *,
        holder: str | None = None,
        lease_seconds: float = 0.0,
    ) -> bool:
        """The document's chunks with vectors of ``space``, beside those of the old space
        (searches in the old space go on answering until it is pruned), in one transaction that
        replaces any earlier ``space`` vectors of the document: repeating it is harmless.

        False, writing nothing, when the chunks read (their ``id``) were replaced meanwhile (the
        document was processed again). With ``holder``, the run's progress grows in the same
        transaction and its lease is renewed; LeaseLostError (nothing written) when ``holder``
        no longer holds the run of ``space``."""
        records = [
            (
                document_id,
                space,
                c["chunk_index"],
                c["chunk_text"],
                c["chunk_length"],
                vector,
                c["content_hash"],
                c["page_start"],
                c["page_end"],
                c["char_start"],
                c["char_end"],
            )
            for c, vector in zip(chunks, vectors, strict=True)
        ]
        ids = [c["id"] for c in chunks if c.get("id") is not None]
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(Q.lock_document, document_id)
            if ids and await conn.fetchval(Q.count_chunk_rows, ids) != len(ids):
                return False
            if holder is not None and not await conn.fetchval(
                Q.reembed_progress, space, holder, len(records), lease_seconds
            ):
                raise LeaseLostError(f"the re-embedding into {space} is no longer held by {holder}")
            await conn.execute(Q.delete_space_of_document, document_id, space)
            await conn.copy_records_to_table(
                "document_embeddings", records=records, columns=list(EMBEDDING_COLUMNS)
            )
        return True

    async def prune_other_spaces(self, space: str) -> int:
        """Delete every vector not of ``space``; refused while chunks still lack one. The run
        into ``space``, if any, is complete from then on (search answers from ``space``)."""
        async with self.pool.acquire() as conn, conn.transaction():
            left = await conn.fetchrow(Q.count_to_reembed, space)
            if left["chunks"]:
                raise ValueError(
                    f"{left['chunks']} chunks of {left['documents']} documents have no {space} "
                    "vector yet: run kairo-ray reembed first"
                )
            await conn.execute(Q.complete_reembed, space)
            status = await conn.execute(Q.prune_other_spaces, space)
        return int(status.split()[-1])

    # --- re-embedding runs (kairo_reembed; kairo_ray.app.reembed) -------------------------------

    async def claim_reembed(
        self,
        space: str,
        holder: str,
        lease_seconds: float,
        previous_space: str | None,
        remaining: int,
    ) -> bool:
        """Take the run into ``space`` for ``holder`` (created when new); False while another
        holder's lease lasts."""
        row = await self.pool.fetchrow(
            Q.claim_reembed, space, holder, lease_seconds, previous_space, remaining
        )
        return row is not None

    async def renew_reembed(self, space: str, holder: str, lease_seconds: float) -> bool:
        """Keep the run's lease; False when ``holder`` lost it."""
        return bool(await self.pool.fetchval(Q.renew_reembed, space, holder, lease_seconds))

    async def reembed_error(self, space: str, holder: str, error: str) -> None:
        await self.pool.execute(Q.reembed_error, space, holder, error)

    async def finish_reembed(self, space: str, holder: str, state: str) -> str | None:
        """End ``holder``'s run as ``state`` (done, failed, or running: to be resumed) and
        return the state recorded: 'done' (search switches to ``space``) becomes 'running' when
        chunks without a ``space`` vector appeared meanwhile. None when ``holder`` no longer
        held the run."""
        async with self.pool.acquire() as conn, conn.transaction():
            if state == "done":
                left = await conn.fetchrow(Q.count_to_reembed, space)
                if left["chunks"]:  # a document stored in an old space meanwhile
                    state = "running"
            ended = await conn.fetchval(Q.finish_reembed, space, holder, state)
        return state if ended else None

    async def reembed_runs(self, space: str | None = None) -> list[dict[str, Any]]:
        """Re-embedding runs (all, or the one into ``space``), the latest first."""
        return [dict(r) for r in await self.pool.fetch(Q.reembed_runs, space)]

    async def embedding_spaces(self) -> dict[str | None, int]:
        """Stored chunks per vector space."""
        return {r["space"]: r["chunks"] for r in await self.pool.fetch(Q.embedding_spaces)}


def _documents(rows: list[asyncpg.Record]) -> list[SearchHit]:
    """Rows of ``search_documents`` (a document's chunks in a row, best first) as hits."""
    hits: dict[UUID, SearchHit] = {}
    for row in rows:
        chunk = ChunkHit(
            chunk_index=row["chunk_index"],
            chunk_text=row["chunk_text"],
            page_start=row["page_start"],
            page_end=row["page_end"],
            score=row["similarity"],
        )
        hit = hits.get(row["document_id"])
        if hit is None:
            hit = hits[row["document_id"]] = SearchHit(
                document_id=row["document_id"],
                file_url=row["file_url"],
                rank_score=float(row["document_score"]),
                **chunk.model_dump(),
            )
        hit.chunks.append(chunk)
        pages = range(chunk.page_start or 0, (chunk.page_end or chunk.page_start or 0) + 1)
        hit.pages = sorted(set(hit.pages) | {p for p in pages if p})
    return list(hits.values())
