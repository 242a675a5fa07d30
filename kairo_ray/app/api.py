"""The HTTP API: FastAPI under Ray Serve, with the seed service's endpoints and a few more.

The ingress holds no model: OCR and embedding go through the two deployments' handles, and the
database through an asyncpg pool created on first use in each replica.

Annotations here are evaluated eagerly (no ``from __future__ import annotations``): Serve ships the
ingress class by value, and FastAPI must resolve the routes' parameter types in the replica.
"""

import asyncio
import time
from typing import Annotated, Any
from uuid import UUID

import ray
from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.responses import JSONResponse
from limits import parse as parse_rate
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from pydantic import BaseModel
from ray import serve
from ray.serve.handle import DeploymentHandle
from starlette.datastructures import UploadFile

from kairo_ray.app.driver import get_or_create_driver
from kairo_ray.app.names import APP_NAME
from kairo_ray.app.reembed import progress, search_space
from kairo_ray.app.tasks import open_remotely
from kairo_ray.auth import SCOPE_HEADER, Authenticator, AuthError, Principal
from kairo_ray.db.connector import create_pool
from kairo_ray.db.queue import JobQueue
from kairo_ray.db.store import DocumentStore
from kairo_ray.errors import PermanentError, root_cause
from kairo_ray.logs import configure_logging
from kairo_ray.models import PRIORITY_DEFAULT, Priority, SearchMode
from kairo_ray.processing.pipeline import finish_document
from kairo_ray.settings import Settings, load_settings

MULTIPART_OVERHEAD = 64 * 1024
"""Bytes a multipart upload may carry beyond the file itself (boundaries, part headers)."""

SEARCH_SPACE_SECONDS = 5.0
"""How long a replica keeps the space search answers from before reading it again: the
switch to a new model's space comes at most this late after its re-embed completes."""

api = FastAPI(
    title="kairo-ray",
    description="OCR and semantic search for Kairo documents, served by Ray Serve. Every route "
    "but /health needs `Authorization: Bearer <token>`: the service token, the admin token, or "
    "a Supabase user's access token (that user's documents only).",
    version="0.1.0",
)


class ProcessDocumentRequest(BaseModel):
    document_id: UUID
    priority: Priority = PRIORITY_DEFAULT


class ProcessDocumentResponse(BaseModel):
    job_id: UUID
    status: str


@api.exception_handler(PermanentError)
async def _bad_input(_: Request, exc: PermanentError) -> JSONResponse:
    return JSONResponse(status_code=400, content={"detail": str(exc)})


@api.exception_handler(AuthError)
async def _not_allowed(_: Request, exc: AuthError) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
    return JSONResponse(status_code=exc.status, content={"detail": str(exc)}, headers=headers)


class RateLimits:
    """Per-caller moving windows (the ``limits`` package), in this replica's memory."""

    def __init__(self, settings: Settings) -> None:
        self._limiter = MovingWindowRateLimiter(MemoryStorage())
        self._adhoc = parse_rate(settings.adhoc_ocr_rate_limit)
        self._other = parse_rate(settings.api_rate_limit)

    def spend(self, principal: Principal, adhoc: bool = False) -> None:
        """Count one call against its user's quota; 429 with Retry-After when it is spent."""
        key = principal.rate_key
        if key is None:
            return
        item = self._adhoc if adhoc else self._other
        if not self._limiter.hit(item, key):
            reset = self._limiter.get_window_stats(item, key).reset_time
            retry = max(1, int(reset - time.time()) + 1)
            raise HTTPException(
                429,
                f"rate limit reached ({item}), try again in {retry} s",
                headers={"Retry-After": str(retry)},
            )


class ApiBackend:
    """What the routes need: settings, credentials, the model deployments, the database, the
    driver (whose page window ad-hoc pages share)."""

    def __init__(self, ocr: DeploymentHandle, embedder: DeploymentHandle) -> None:
        self._settings = load_settings()
        configure_logging(self._settings)
        self._ocr = ocr
        self._embedder = embedder
        self._pool: Any = None
        self._pool_lock = asyncio.Lock()
        self.adhoc_slots = asyncio.Semaphore(self._settings.max_concurrent_adhoc_ocr)
        self.auth = Authenticator(self._settings)
        self.limits = RateLimits(self._settings)
        self._space: str | None = None
        self._search_space: tuple[float, str] | None = None
        self._driver = get_or_create_driver(APP_NAME)

    @property
    def settings(self) -> Settings:
        return self._settings

    async def db(self) -> tuple[JobQueue, DocumentStore]:
        async with self._pool_lock:
            if self._pool is None:
                self._pool = await create_pool(self._settings, role="api")
        store = DocumentStore(self._pool, self._settings.documents_owner_column)
        return JobQueue(self._pool, self._settings), store

    async def caller(self, request: Request, *, adhoc: bool = False) -> Principal:
        """The authenticated caller, its quota spent; AuthError / 429 otherwise."""
        principal = await asyncio.to_thread(  # a JWKS refresh is a blocking HTTP call
            self.auth.authenticate,
            request.headers.get("authorization"),
            request.headers.get(SCOPE_HEADER),
        )
        self.limits.spend(principal, adhoc=adhoc)
        return principal

    async def admin(self, request: Request) -> Principal:
        principal = await self.caller(request)
        if principal.kind != "admin":
            raise AuthError(403, "this route needs the admin token (API_ADMIN_TOKEN)")
        return principal

    async def service(self, request: Request) -> Principal:
        """The service or the admin, for all documents (cluster-wide figures, job ids)."""
        principal = await self.caller(request)
        if principal.kind == "user" or principal.scoped:
            raise AuthError(403, "this route is for the service credential only")
        return principal

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

    async def read_upload(self, request: Request) -> bytes:
        """The uploaded file, its size checked from Content-Length before the body is read."""
        limit = self._settings.max_file_size_bytes
        length = request.headers.get("content-length", "")
        if not length.isdigit():
            raise HTTPException(411, "Content-Length is required for uploads")
        if int(length) > limit + MULTIPART_OVERHEAD:
            raise HTTPException(
                413, f"file exceeds MAX_FILE_SIZE_MB ({self._settings.max_file_size_mb:g} MB)"
            )
        async with request.form(max_files=1, max_fields=5) as form:
            upload = form.get("file")
            if not isinstance(upload, UploadFile):
                raise HTTPException(422, "send the document as the multipart field 'file'")
            data = await upload.read(limit + 1)
        if len(data) > limit:
            raise HTTPException(
                413, f"file exceeds MAX_FILE_SIZE_MB ({self._settings.max_file_size_mb:g} MB)"
            )
        if not data:
            raise HTTPException(400, "empty upload: the file has no bytes")
        return data

    async def ocr_upload(self, data: bytes) -> dict[str, Any]:
        """Open in a bounded task, then the pages through the driver's page window."""
        started = time.perf_counter()
        data_ref = ray.put(data)
        try:
            page_count = await open_remotely(data_ref, None, self._settings.open_timeout_seconds)
        except Exception as exc:
            raise root_cause(exc) from None
        if page_count > self._settings.max_adhoc_pages:
            raise HTTPException(
                413,
                f"{page_count} pages: more than MAX_ADHOC_PAGES={self._settings.max_adhoc_pages} "
                "for POST /api/ocr; queue the document instead",
            )
        call = self._driver.ocr_pages.remote([data_ref], page_count)
        try:
            outcomes = await call
        except asyncio.CancelledError:  # the client went away: its pages stop too
            ray.cancel(call)
            raise
        except Exception as exc:
            raise root_cause(exc) from None
        pages = [outcome["page"] for outcome in outcomes]
        finished = await finish_document(pages, embedder=None)  # nothing is stored or embedded
        return {
            "page_count": len(pages),
            "language": finished.language,
            "text": finished.text,
            "pages": [page.model_dump() for page in pages],
            "seconds": round(time.perf_counter() - started, 3),
        }

    async def model_space(self) -> str:
        """The embedding model's vector space (new documents' vectors)."""
        if self._space is None:
            self._space = (await self._embedder.info.remote())["space"]
        return self._space

    async def reembed_run(self) -> dict[str, Any] | None:
        """The re-embedding run into the model's space, if there was one."""
        _, store = await self.db()
        runs = await store.reembed_runs(await self.model_space())
        return runs[0] if runs else None

    async def search_space(self) -> str:
        """The space search answers from: the previous model's until the re-embed into the
        model's space has completed (kairo_ray.app.reembed.search_space); read again every
        SEARCH_SPACE_SECONDS."""
        now = time.monotonic()
        if self._search_space is None or now - self._search_space[0] > SEARCH_SPACE_SECONDS:
            space = search_space(await self.reembed_run(), await self.model_space())
            self._search_space = (now, space)
        return self._search_space[1]

    async def embed_query(self, text: str) -> tuple[list[float], str]:
        """The query's vector and the one space it lives in, which is the only one searched."""
        return await self._embedder.embed_query_in.remote(text, await self.search_space())


UPLOAD_SCHEMA = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {
                            "type": "string",
                            "format": "binary",
                            "description": "An image or a PDF",
                        }
                    },
                }
            }
        },
    }
}
"""/api/ocr reads its body itself (after the checks), so its form is described here."""


@serve.deployment(name="api", ray_actor_options={"num_cpus": 0}, max_ongoing_requests=100)
@serve.ingress(api)
class ApiIngress:
    """The HTTP ingress replica: Ray Serve's FastAPI pattern, routes as methods."""

    def __init__(self, ocr: DeploymentHandle, embedder: DeploymentHandle) -> None:
        self.backend = ApiBackend(ocr, embedder)

    @api.get("/health")
    async def health(self) -> dict[str, Any]:
        """Open to all: whether the service works, nothing about any document."""
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
    async def queue_stats(self, request: Request) -> dict[str, Any]:
        """Service or admin: queue figures and the driver's state (with document ids)."""
        await self.backend.service(request)
        queue, store = await self.backend.db()
        stats = (await queue.stats()).model_dump()
        stats["driver"] = await self.backend.driver_status()
        stats["embedding_spaces"] = {
            str(space): chunks for space, chunks in (await store.embedding_spaces()).items()
        }
        run = await self.backend.reembed_run()
        stats["embedding_model_space"] = await self.backend.model_space()
        stats["search_space"] = search_space(run, stats["embedding_model_space"])
        stats["reembed"] = None if run is None else progress(run)
        return stats

    @api.post("/api/process-document", response_model=ProcessDocumentResponse)
    async def process_document(
        self, body: ProcessDocumentRequest, request: Request
    ) -> ProcessDocumentResponse:
        await self.backend.admin(request)
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
        await self.backend.admin(request)
        queue, _ = await self.backend.db()
        if not await queue.cancel(job_id, "cancelled through the API"):
            raise HTTPException(409, f"job {job_id} is not queued or processing (or unknown)")
        return {"job_id": job_id, "status": "cancelled"}

    @api.post("/api/jobs/{job_id}/requeue")
    async def requeue_job(
        self,
        job_id: UUID,
        request: Request,
        priority: Annotated[Priority | None, Query()] = None,
    ) -> dict[str, Any]:
        """Admin: run a failed, cancelled or completed job again, attempts reset."""
        await self.backend.admin(request)
        queue, _ = await self.backend.db()
        if not await queue.requeue(job_id, priority):
            raise HTTPException(
                409, f"job {job_id} is still active, unknown, or its document has one"
            )
        return {"job_id": job_id, "status": "queued"}

    @api.post("/api/ocr", openapi_extra=UPLOAD_SCHEMA)
    async def ocr(self, request: Request) -> dict[str, Any]:
        """Any credential: OCR one uploaded file (nothing is stored). Checked before the body is
        read: credentials, the caller's quota, the size, a free slot."""
        await self.backend.caller(request, adhoc=True)
        if self.backend.adhoc_slots.locked():
            raise HTTPException(503, "too many OCR requests in progress, try again later")
        async with self.backend.adhoc_slots:
            data = await self.backend.read_upload(request)
            return await self.backend.ocr_upload(data)

    @api.get("/api/documents/{document_id}")
    async def get_document(self, document_id: UUID, request: Request) -> dict[str, Any]:
        """A document and its text: a user's own only (another's reads as not found)."""
        principal = await self.backend.caller(request)
        _, store = await self.backend.db()
        document = await store.get_document(document_id, owner=principal.user_id)
        if document is None:
            raise HTTPException(404, f"document {document_id} not found")
        return document

    @api.get("/api/search")
    async def search(
        self,
        request: Request,
        q: Annotated[str, Query(min_length=1, max_length=2000, description="What to look for")],
        k: Annotated[int, Query(ge=1, le=100, description="Documents wanted")] = 10,
        mode: Annotated[
            SearchMode | None, Query(description="vector, hybrid or text; default SEARCH_MODE")
        ] = None,
    ) -> dict[str, Any]:
        """Documents for a query, best first, each with its best chunks and pages: a user's own,
        or every document for the service. vector: the model's similarity; hybrid: plus
        full-text relevance; text: full-text alone."""
        principal = await self.backend.caller(request)
        if not q.strip():
            raise HTTPException(422, "q must contain text")
        _, store = await self.backend.db()
        vector, space = await self.backend.embed_query(q)
        settings = self.backend.settings
        mode = mode or settings.search_mode
        hits = await store.search(
            vector,
            k,
            owner=principal.user_id,
            space=space,
            text=q,
            mode=mode,
            text_weight=settings.search_text_weight,
        )
        return {
            "query": q,
            "mode": mode,
            "embedding_model": space,
            "results": [hit.model_dump() for hit in hits],
        }
