"""The OCR engines by name (``OCR_ENGINE``): ``onnx`` (the default), ``paddle`` and
``tesseract``; another package adds its own with :func:`register_engine`."""

from __future__ import annotations

from collections.abc import Callable

from kairo_ray.processing.ocr.base import OcrEngine, OcrOptions
from kairo_ray.processing.ocr.onnx import OnnxEngine
from kairo_ray.processing.ocr.paddle import PaddleEngine
from kairo_ray.processing.ocr.tesseract import TesseractEngine
from kairo_ray.processing.registry import Registry

ENGINES = Registry[OcrEngine]("OCR engine", "OCR_ENGINE")
for _engine in (OnnxEngine, PaddleEngine, TesseractEngine):
    ENGINES.register(_engine.name, _engine)


def register_engine(name: str, factory: Callable[[OcrOptions], OcrEngine]) -> None:
    """Make another engine available to :func:`get_engine` (e.g. one for another model family)."""
    ENGINES.register(name, factory)


def available_engines() -> list[str]:
    return ENGINES.kinds()


def get_engine(name: str, options: OcrOptions | None = None) -> OcrEngine:
    """A new engine instance (loads its models now); the caller owns and reuses it.

    ``options`` may be built for any engine (:meth:`OcrOptions.from_settings` builds them for
    OCR_ENGINE): the engine converts them to its own class, keeping the shared fields. An unknown
    ``name`` is a :class:`~kairo_ray.errors.ConfigError` listing the available engines."""
    return ENGINES.create(name, options or OcrOptions())
