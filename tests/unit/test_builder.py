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


def test_serve_config_matches_the_default_settings() -> None:
    """deployments/serve.yaml repeats what the builder derives from the settings: the OCR
    replica's CPUs and its autoscaling target (the driver's page window per replica)."""
    from pathlib import Path

    import yaml

    from kairo_ray.app.tasks import pages_in_flight
    from kairo_ray.settings import Settings

    config = yaml.safe_load(
        (Path(__file__).resolve().parents[2] / "deployments" / "serve.yaml").read_text()
    )
    (app,) = config["applications"]
    ocr = next(d for d in app["deployments"] if d["name"] == "ocr")
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert ocr["ray_actor_options"]["num_cpus"] == settings.worker_threads
    target = ocr["autoscaling_config"]["target_ongoing_requests"]
    assert target == pages_in_flight(settings.ocr_engines_per_replica)
