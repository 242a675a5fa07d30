"""The two kinds of failure the queue tells apart.

A :class:`PermanentError` (corrupt, unsupported, too large) fails its job at once: retrying cannot
help. Anything else is treated as transient (network, database, a lost node) and retried with
exponential backoff up to MAX_RETRIES.
"""


class KairoError(Exception):
    """Base class of kairo-ray's own errors."""


class PermanentError(KairoError):
    """The input itself is bad; the job fails without retry and keeps this message."""


class TransientError(KairoError):
    """Something outside the input failed; the job is retried with backoff."""


class LeaseLostError(KairoError):
    """This worker no longer holds the job (lease expired, cancelled, re-claimed elsewhere)."""


class SchemaMismatchError(KairoError):
    """The database does not match what kairo-ray's migrations expect."""
