"""The Serve application refuses a misspelt OCR engine before any replica starts."""

from __future__ import annotations

import pytest

from kairo_ray.app.builder import build_app
from kairo_ray.settings import ConfigError


def test_unknown_ocr_engine_is_refused_with_the_choices(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OCR_ENGINE", "PaddleOCR")
    with pytest.raises(ConfigError, match=r"OCR_ENGINE='paddleocr'.*onnx, paddle, tesseract"):
        build_app()


def test_engine_names_are_case_insensitive(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OCR_ENGINE", " ONNX ")
    assert build_app() is not None
