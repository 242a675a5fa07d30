"""The HTTP API: FastAPI under Ray Serve, with the seed service's endpoints and a few more.

The ingress holds no model: OCR and embedding go through the two deployments' handles, and the
database through an asyncpg pool created on first use in each replica.

Annotations here are evaluated eagerly (no ``from __future__ import annotations``): Serve ships the
ingress class by value, and FastAPI must resolve the routes' parameter types in the replica.
"""

import asyncio
import hmac
import time
from typing import Annotated, Any
from uuid import UUID

import ray
from fastapi import FastAPI, File, HTTPException, Query, Request, UploadFile
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from ray import serve
from ray.serve.handle import DeploymentHandle

from kairo_ray.app.driver import APP_NAME, get_or_create_driver, root_cause
from kairo_ray.app.tasks import process_page
from kairo_ray.db.connector import create_pool
from kairo_ray.db.queue import JobQueue
from kairo_ray.db.store import DocumentStore
from kairo_ray.errors import PermanentError
from kairo_ray.logs import configure_logging
from kairo_ray.processing.chunk import document_text
from kairo_ray.processing.language import detect_language
from kairo_ray.processing.render import open_document
from kairo_ray.settings import Settings, load_settings

ADHOC_PAGES_IN_FLIGHT = 4
"""Pages of one ad-hoc upload in flight at once."""

api = FastAPI(
    title="kairo-ray",
    description="OCR and semantic search for Kairo documents, served by Ray Serve.",
    version="0.1.0",
)


class ProcessDocumentRequest(BaseModel):
    document_id: UUID
    priority: int = Field(default=5, ge=1, le=10)


class ProcessDocumentResponse(BaseModel):
    job_id: UUID
    status: str


@api.exception_handler(PermanentError)
async def _bad_input(_: Request, exc: PermanentError) -> JSONResponse:
    return JSONResponse(status_code=400, content={"detail": str(exc)})


class ApiBackend:
    """What the routes need: settings, the model deployments' handles, the database, the driver."""

    def __init__(self, ocr: DeploymentHandle, embedder: DeploymentHandle) -> None:
        self._settings = load_settings()
        configure_logging(self._settings)
        self._ocr = ocr
        self._embedder = embedder
        self._pool: Any = None
        self._pool_lock = asyncio.Lock()
        self.adhoc_slots = asyncio.Semaphore(self._settings.max_concurrent_adhoc_ocr)
        self._driver = get_or_create_driver(APP_NAME)

    @property
    def settings(self) -> Settings:
        return self._settings

    async def db(self) -> tuple[JobQueue, DocumentStore]:
        async with self._pool_lock:
            if self._pool is None:
                self._pool = await create_pool(self._settings, role="api")
        return JobQueue(self._pool, self._settings), DocumentStore(self._pool)

    def check_admin(self, request: Request) -> None:
        expected = self._settings.api_admin_token
        if not expected:
            raise HTTPException(403, "admin endpoints are disabled: set API_ADMIN_TOKEN")
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip(), expected):
            raise HTTPException(
                401, "missing or wrong bearer token", headers={"WWW-Authenticate": "Bearer"}
            )

    async def models_loaded(self) -> bool:
        """At least one running replica of each model deployment.

        Not the deployment status: while autoscaling waits for CPUs it reads UPSCALING even though
        its running replicas serve fine.
        """
        try:
            app = serve.status().applications.get(APP_NAME)
        except Exception:
            return False
        if app is None:
            return False
        return all(
            name in app.deployments and app.deployments[name].replica_states.get("RUNNING", 0) > 0
            for name in ("ocr", "embedder")
        )

    async def driver_status(self) -> dict[str, Any] | None:
        try:
            return await asyncio.wait_for(self._driver.status.remote(), timeout=5)
        except Exception:
            self._driver = get_or_create_driver(APP_NAME)
            return None

    async def ocr_upload(self, data: bytes) -> dict[str, Any]:
        started = time.perf_counter()
        with open_document(data, self._settings) as document:
            page_count = document.page_count
        data_ref = ray.put(data)
        # Like the driver's page window: a long upload must not start a worker per page at once.
        slots = asyncio.Semaphore(ADHOC_PAGES_IN_FLIGHT)

        async def one(page_number: int) -> dict[str, Any]:
            async with slots:
                return await process_page.remote(data_ref, page_number, self._ocr.app_name)

        try:
            outcomes = await asyncio.gather(*(one(n) for n in range(1, page_count + 1)))
        except Exception as exc:
            raise root_cause(exc) from None
        pages = [outcome["page"] for outcome in outcomes]
        text = document_text(pages)
        return {
            "page_count": len(pages),
            "language": detect_language(text),
            "text": text,
            "pages": [page.model_dump() for page in pages],
            "seconds": round(time.perf_counter() - started, 3),
        }

    async def embed_query(self, text: str) -> list[float]:
        return await self._embedder.embed.remote(text)


@serve.deployment(name="api", ray_actor_options={"num_cpus": 0}, max_ongoing_requests=100)
@serve.ingress(api)
class ApiIngress:
    """The HTTP ingress replica: Ray Serve's FastAPI pattern, routes as methods."""

    def __init__(self, ocr: DeploymentHandle, embedder: DeploymentHandle) -> None:
        self.backend = ApiBackend(ocr, embedder)

    @api.get("/health")
    async def health(self) -> dict[str, Any]:
        queue, _ = await self.backend.db()
        models = await self.backend.models_loaded()
        driver = await self.backend.driver_status()
        return {
            "status": "ok" if models and driver and driver["running"] else "degraded",
            "models_loaded": models,
            "queue_size": await queue.queue_size(),
            "driver_running": bool(driver and driver["running"]),
        }

    @api.get("/stats")
    @api.get("/api/queue/stats")
    async def queue_stats(self) -> dict[str, Any]:
        queue, _ = await self.backend.db()
        stats = (await queue.stats()).model_dump()
        stats["driver"] = await self.backend.driver_status()
        return stats

    @api.post("/api/process-document", response_model=ProcessDocumentResponse)
    async def process_document(
        self, body: ProcessDocumentRequest, request: Request
    ) -> ProcessDocumentResponse:
        self.backend.check_admin(request)
        queue, store = await self.backend.db()
        if await store.get_document(body.document_id) is None:
            raise HTTPException(404, f"document {body.document_id} not found")
        if await queue.queue_size() >= self.backend.settings.max_queue_depth:
            raise HTTPException(503, "queue is full (MAX_QUEUE_DEPTH), try again later")
        job_id, status = await queue.enqueue(body.document_id, body.priority)
        return ProcessDocumentResponse(job_id=job_id, status=status)

    @api.post("/api/jobs/{job_id}/cancel")
    async def cancel_job(self, job_id: UUID, request: Request) -> dict[str, Any]:
        """Admin: stop a queued or running job (its worker drops it at the next heartbeat)."""
        self.backend.check_admin(request)
        queue, _ = await self.backend.db()
        if not await queue.cancel(job_id, "cancelled through the API"):
            raise HTTPException(409, f"job {job_id} is not queued or processing (or unknown)")
        return {"job_id": job_id, "status": "cancelled"}

    @api.post("/api/jobs/{job_id}/requeue")
    async def requeue_job(
        self,
        job_id: UUID,
        request: Request,
        priority: Annotated[int | None, Query(ge=1, le=10)] = None,
    ) -> dict[str, Any]:
        """Admin: run a failed, cancelled or completed job again, attempts reset."""
        self.backend.check_admin(request)
        queue, _ = await self.backend.db()
        if not await queue.requeue(job_id, priority):
            raise HTTPException(
                409, f"job {job_id} is still active, unknown, or its document has one"
            )
        return {"job_id": job_id, "status": "queued"}

    @api.post("/api/ocr")
    async def ocr(
        self, file: Annotated[UploadFile, File(description="An image or a PDF")]
    ) -> dict[str, Any]:
        limit = self.backend.settings.max_file_size_bytes
        data = await file.read(limit + 1)
        if len(data) > limit:
            mb = self.backend.settings.max_file_size_mb
            raise HTTPException(413, f"file exceeds MAX_FILE_SIZE_MB ({mb:g} MB)")
        if not data:
            raise HTTPException(400, "empty upload: the file has no bytes")
        if self.backend.adhoc_slots.locked():
            raise HTTPException(503, "too many OCR requests in progress, try again later")
        async with self.backend.adhoc_slots:
            return await self.backend.ocr_upload(data)

    @api.get("/api/documents/{document_id}")
    async def get_document(self, document_id: UUID) -> dict[str, Any]:
        _, store = await self.backend.db()
        document = await store.get_document(document_id)
        if document is None:
            raise HTTPException(404, f"document {document_id} not found")
        return document

    @api.get("/api/search")
    async def search(
        self,
        q: Annotated[str, Query(min_length=1, max_length=2000, description="What to look for")],
        k: Annotated[int, Query(ge=1, le=100)] = 10,
    ) -> dict[str, Any]:
        if not q.strip():
            raise HTTPException(422, "q must contain text")
        _, store = await self.backend.db()
        vector = await self.backend.embed_query(q)
        hits = await store.search(vector, k)
        return {"query": q, "results": [hit.model_dump() for hit in hits]}
