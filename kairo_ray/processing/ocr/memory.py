"""Giving the memory a page freed back to the OS after each page (glibc's ``malloc_trim``)."""

from __future__ import annotations

import ctypes
from collections.abc import Callable


def _malloc_trim() -> Callable[[int], int] | None:
    try:
        return ctypes.CDLL(None).malloc_trim
    except (AttributeError, OSError):  # not glibc (musl, macOS): nothing to call
        return None


_MALLOC_TRIM = _malloc_trim()


def release_free_memory() -> None:
    """Give the memory a page freed back to the OS (glibc's ``malloc_trim``).

    A page's buffers are freed into the engine thread's own glibc arena, which keeps them, so with
    several engine threads every arena holds a page's worth on top of the page being read. The
    call takes milliseconds against seconds per page."""
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)
