"""The test suite itself: pytest imports test modules by their base name (rootdir-relative
packages are not used here), so two modules of one name in different folders stop the whole
run at collection."""

from __future__ import annotations

from collections import Counter
from pathlib import Path


def test_no_two_test_modules_share_a_name() -> None:
    tests = Path(__file__).resolve().parents[1]
    names = Counter(path.name for path in tests.rglob("test_*.py"))
    assert [name for name, count in names.items() if count > 1] == []
