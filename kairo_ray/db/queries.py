"""Named SQL queries, loaded from ``queries.sql`` (procrastinate style).

Keeping every query in one file makes the database contract reviewable in one place and keeps SQL
out of Python strings. A block starts with ``-- name: some_query``; comment lines right after the
name document it and are dropped; the SQL runs until the next ``-- name:`` line.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from importlib import resources

_NAME_LINE = re.compile(r"^--\s*name:\s*(?P<name>[a-z_][a-z0-9_]*)\s*$")


def parse_queries(text: str) -> dict[str, str]:
    """Split a ``-- name:`` annotated file into ``{name: sql}``; reject duplicates and empties."""
    queries: dict[str, str] = {}
    name: str | None = None
    body: list[str] = []

    def flush() -> None:
        if name is None:
            return
        sql = "\n".join(body).strip()
        if not sql:
            raise ValueError(f"query {name!r} in queries.sql has no SQL")
        queries[name] = sql

    for line in text.splitlines():
        match = _NAME_LINE.match(line.strip())
        if match:
            flush()
            name = match["name"]
            if name in queries:
                raise ValueError(f"query {name!r} is defined twice in queries.sql")
            body = []
        elif name is not None and (body or not line.lstrip().startswith("--")):
            body.append(line)
    flush()
    return queries


class Queries(Mapping[str, str]):
    """Read-only access by key or attribute: ``Q["claim_job"]`` or ``Q.claim_job``."""

    def __init__(self, queries: dict[str, str]) -> None:
        self._queries = dict(queries)

    def __getitem__(self, name: str) -> str:
        try:
            return self._queries[name]
        except KeyError:
            raise KeyError(f"no query named {name!r} in kairo_ray/db/queries.sql") from None

    def __getattr__(self, name: str) -> str:
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self[name]
        except KeyError as exc:
            raise AttributeError(str(exc)) from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._queries)

    def __len__(self) -> int:
        return len(self._queries)


def load_queries() -> Queries:
    text = resources.files("kairo_ray.db").joinpath("queries.sql").read_text(encoding="utf-8")
    return Queries(parse_queries(text))


Q = load_queries()
