"""``release_free_memory`` hands freed heap memory back to the OS (glibc's malloc_trim)."""

from __future__ import annotations

import threading

import psutil
import pytest

from kairo_ray.processing import ocr


@pytest.mark.skipif(ocr._MALLOC_TRIM is None, reason="not glibc: malloc_trim does not exist")
def test_release_free_memory_returns_a_threads_freed_heap() -> None:
    """Freed blocks between live ones stay in an engine thread's arena until trimmed: the
    situation of an OCR engine after a page."""
    process = psutil.Process()
    held: list[bytes] = []

    def fragment() -> None:
        blocks = [b"k" * (64 * 1024) for _ in range(4000)]  # 250 MiB, below the mmap threshold
        held.extend(blocks[::50])  # pins the heap so a plain free cannot shrink it
        blocks.clear()

    thread = threading.Thread(target=fragment)
    thread.start()
    thread.join()
    before = process.memory_info().rss
    ocr.release_free_memory()
    after = process.memory_info().rss
    assert before - after > 150 * 2**20, (before >> 20, after >> 20)
