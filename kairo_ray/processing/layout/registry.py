"""The layout engines by name (``LAYOUT_ENGINE``): ``cdla`` and ``none``; another package adds
its own with ``LAYOUTS.register``."""

from __future__ import annotations

from kairo_ray.processing.layout.base import LayoutEngine, LayoutOptions
from kairo_ray.processing.layout.cdla import CdlaLayout
from kairo_ray.processing.layout.none import NoLayout
from kairo_ray.processing.registry import Registry

LAYOUTS = Registry[LayoutEngine]("layout engine", "LAYOUT_ENGINE")
for _engine in (CdlaLayout, NoLayout):
    LAYOUTS.register(_engine.name, _engine)


def get_layout_engine(name: str, options: LayoutOptions | None = None) -> LayoutEngine:
    """A new layout engine (loads its model now); an unknown ``name`` is a ConfigError."""
    return LAYOUTS.create(name, options or LayoutOptions())
