"""The ``tesseract`` engine: Tesseract 5 through its command line, the benchmark's peer."""

from __future__ import annotations

import io
import os
import shutil
import subprocess

import numpy as np

from kairo_ray.errors import ModelError
from kairo_ray.processing.ocr.base import OcrEngine, OcrOptions, TesseractOcrOptions, _Line

_TESSERACT_LANGS = {"es": "spa", "en": "eng"}


class TesseractEngine(OcrEngine):
    """Tesseract 5 through its command line (TSV output): the benchmark's comparison engine."""

    name = "tesseract"
    options_class = TesseractOcrOptions
    options: TesseractOcrOptions

    def __init__(self, options: OcrOptions) -> None:
        super().__init__(options)
        options = self.options
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
