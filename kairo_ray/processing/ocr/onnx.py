"""The ``onnx`` engine (the default): PaddleOCR's PP-OCRv6 small models on ONNX Runtime through
RapidOCR, both model files shipped inside the ``rapidocr`` wheel."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from kairo_ray.errors import ModelError
from kairo_ray.processing.ocr.base import (
    OcrEngine,
    OcrOptions,
    OnnxOcrOptions,
    _elongation,
    _Line,
    _packaged_model,
    line_angle,
)
from kairo_ray.processing.ocr.text import LATIN_LANGUAGES, clean_text

if TYPE_CHECKING:
    from onnxruntime import InferenceSession

_RAPIDOCR_MISSING = (
    "the rapidocr package (ONNX Runtime OCR with bundled PP-OCRv6 models) is not installed; "
    "run scripts/install.sh, or pip install --no-deps rapidocr==3.10.0"
)


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

    The default engine: against PaddleOCR with PP-OCRv5 mobile on the eval scans it reads faster
    in less memory (benchmarks/reports/ocr.md), and its multilingual dictionary has the Spanish
    capitals and ¿ that PP-OCRv5's lacks. Both models ship inside the ``rapidocr`` wheel, so it
    runs offline; the text-line orientation model stays off because page orientation is decided
    by :meth:`OcrEngine._oriented`.
    """

    name = "onnx"
    options_class = OnnxOcrOptions
    options: OnnxOcrOptions

    def __init__(self, options: OcrOptions) -> None:
        super().__init__(options)
        options = self.options
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
        # Word boxes come from the recogniser's character positions, at no measurable cost.
        result = self._ocr(np.ascontiguousarray(image[:, :, ::-1]), return_word_box=True)
        if getattr(result, "boxes", None) is None or getattr(result, "txts", None) is None:
            return []
        found = getattr(result, "word_results", None) or [None] * len(result.txts)
        lines = []
        for poly, text, score, words in zip(
            result.boxes, result.txts, result.scores, found, strict=True
        ):
            text = clean_text(text, self._latin_only)
            if not text or float(score) < self.options.min_line_confidence:
                continue
            points = np.asarray(poly, dtype=np.float64)
            lines.append(
                _Line(
                    text,
                    _bounds(points),
                    float(score),
                    _elongation(points),
                    self._words(words),
                    line_angle(points),
                )
            )
        return lines

    def _words(self, words: object) -> list[tuple[str, tuple[float, float, float, float]]] | None:
        if not isinstance(words, tuple | list):
            return None
        kept = []
        for word in words:
            try:
                text, _, poly = word
            except (TypeError, ValueError):
                return None
            text = clean_text(str(text), self._latin_only)
            if text:
                kept.append((text, _bounds(np.asarray(poly, dtype=np.float64))))
        return kept or None

    def close(self) -> None:
        self._ocr = None


def _bounds(points: np.ndarray) -> tuple[float, float, float, float]:
    x0, y0 = points.min(axis=0)
    x1, y1 = points.max(axis=0)
    return (float(x0), float(y0), float(x1), float(y1))


def _without_memory_pattern(built: InferenceSession, model: Path) -> InferenceSession:
    """``built`` again, with ONNX Runtime's memory pattern off (RapidOCR does not expose it).

    The pattern allocates one block for all of a run's tensors, planned per input shape; pages
    and text lines come in many shapes, and those blocks stayed in the heap. With the pattern off
    and :func:`release_free_memory` after each page, an OCR replica peaks well below its memory
    with the pattern on, at the same engine-alone speed (benchmarks/reports/e2e.md)."""
    import onnxruntime

    options = built.get_session_options()
    options.enable_mem_pattern = False
    providers = built.get_provider_options()
    return onnxruntime.InferenceSession(
        str(model), options, providers=list(providers), provider_options=list(providers.values())
    )


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
