"""Every error kairo-ray raises on purpose, and how the queue and the API read them.

A :class:`PermanentError` (corrupt, unsupported, too large) fails its job at once: retrying cannot
help. Anything else is treated as transient (network, database, a lost node) and retried with
exponential backoff up to MAX_RETRIES. A :class:`ConfigError` stops start-up naming the setting.
"""

from __future__ import annotations


class KairoError(Exception):
    """Base class of kairo-ray's own errors."""


class ConfigError(KairoError, ValueError):
    """The environment holds a value kairo-ray cannot run with (names the variable)."""


class PermanentError(KairoError):
    """The input itself is bad; the job fails without retry and keeps this message."""


class TransientError(KairoError):
    """Something outside the input failed; the job is retried with backoff."""


class LeaseLostError(KairoError):
    """This worker no longer holds the job (lease expired, cancelled, re-claimed elsewhere)."""


class InstanceInUseError(KairoError):
    """Another running cluster holds this VPS_INSTANCE_ID."""


class SchemaMismatchError(KairoError):
    """The database does not match what kairo-ray's migrations expect."""


class ModelError(KairoError, RuntimeError):
    """A model cannot be found, loaded or run as configured (OCR, layout or embedding)."""


class EmbeddingModelError(ModelError):
    """The configured embedding model cannot run on the configured backend."""


class EmbeddingDimensionError(EmbeddingModelError):
    """The configured model does not produce EMBEDDING_DIMENSION-wide vectors."""


def root_cause(exc: BaseException) -> BaseException:
    """The exception raised inside a Ray task or Serve replica, not Ray's wrapper of it."""
    return getattr(exc, "cause", None) or exc


def describe(exc: BaseException) -> str:
    """A readable error_message: the message alone for our own errors, the type otherwise."""
    if isinstance(exc, PermanentError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"[:2000]
