"""One registry shape for every kind of engine (OCR, layout, embedding), as docling keys its
engine factories by kind: ``registry.create(kind, *args)`` builds a new instance, an unknown
kind is a :class:`ConfigError` that lists the known ones, and another package can
``register`` its own engine without touching ours."""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from kairo_ray.errors import ConfigError

T = TypeVar("T")


class Registry(Generic[T]):
    """Factories of one kind of engine, keyed by name (the value of a setting)."""

    def __init__(self, what: str, setting: str) -> None:
        self.what = what
        self.setting = setting
        self._factories: dict[str, Callable[..., T]] = {}

    def register(self, kind: str, factory: Callable[..., T]) -> None:
        """Make ``kind`` available (a later registration of the same kind replaces it)."""
        self._factories[kind] = factory

    def kinds(self) -> list[str]:
        return sorted(self._factories)

    def factory(self, kind: str) -> Callable[..., T]:
        try:
            return self._factories[kind]
        except KeyError:
            raise ConfigError(
                f"unknown {self.what} {kind!r} ({self.setting}); available: "
                f"{', '.join(self.kinds())}"
            ) from None

    def create(self, kind: str, *args: object, **kwargs: object) -> T:
        """A new engine of ``kind``, which loads its models now; the caller owns it."""
        return self.factory(kind)(*args, **kwargs)
