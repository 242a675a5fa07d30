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
    from kairo_ray.app.deployments import OCR_PROCESS_ENV

    assert ocr["ray_actor_options"]["runtime_env"]["env_vars"] == OCR_PROCESS_ENV


@pytest.mark.parametrize(
    "own", [None, "glibc.malloc.arena_max=2", "glibc.malloc.arena_max=2:glibc.malloc.hugetlb=0"]
)
def test_ocr_malloc_tunable_joins_the_nodes_own_and_glibc_reads_both(own: str | None) -> None:
    """The OCR replicas' GLIBC_TUNABLES without and with the operator's own; the real dynamic
    loader reads every entry, and the operator's come last, so they can override ours."""
    import os
    import subprocess
    from pathlib import Path

    from kairo_ray.app.deployments import OCR_PROCESS_ENV, as_ray_expands

    # As Ray expands it on a node without and with tunables of its own; the acceptance tests
    # check the expansion on a real node.
    node = {} if own is None else {"GLIBC_TUNABLES": own}
    value = as_ray_expands(OCR_PROCESS_ENV, node)["GLIBC_TUNABLES"]
    loader = Path("/lib64/ld-linux-x86-64.so.2")
    if not loader.exists():
        pytest.skip("not an x86-64 glibc system")
    listed = subprocess.run(
        [str(loader), "--list-tunables"],
        env={**os.environ, "GLIBC_TUNABLES": value},
        capture_output=True,
        text=True,
        check=False,
    )
    if listed.returncode != 0:
        pytest.skip(f"this glibc cannot list its tunables (before 2.33): {listed.stderr}")
    hugetlb = "0x0" if own and "hugetlb=0" in own else "0x1"
    assert f"glibc.malloc.hugetlb: {hugetlb} " in listed.stdout
    if own is not None:
        assert "glibc.malloc.arena_max: 0x2 " in listed.stdout


def test_no_secret_reaches_a_replicas_runtime_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """What `kairo-ray up` hands to build_app becomes each replica's runtime_env, which Ray's
    dashboard shows: the secrets stay in the nodes' own environment."""
    from kairo_ray.control import replica_env
    from kairo_ray.settings import load_settings

    secrets = {
        "DATABASE_URL": "postgresql://postgres:s3cret-db@db.example:6543/postgres",
        "API_ADMIN_TOKEN": "s3cret-admin",
        "API_SERVICE_TOKEN": "s3cret-service",
        "SUPABASE_JWT_SECRET": "s3cret-jwt",
        "WEBHOOK_SECRET": "s3cret-hook",
    }
    for name, value in secrets.items():
        monkeypatch.setenv(name, value)
    app = build_app({"env": replica_env(load_settings())})
    ingress = app._bound_deployment  # bound to the two model deployments, its init args
    deployments = [ingress, *(arg._bound_deployment for arg in ingress.init_args)]
    assert sorted(d.name for d in deployments) == ["api", "embedder", "ocr"]
    options = [d.ray_actor_options for d in deployments]
    shown = str(options)
    assert "runtime_env" in shown and "KAIRO_REQUIRED_SECRETS" in shown
    assert "s3cret" not in shown
