"""The Serve application: ``kairo_ray.app.builder:build_app`` for ``serve deploy`` and the CLI.

Defaults suit 2-vCPU VPSes: each OCR replica reserves WORKER_THREADS CPUs for its engine(s),
and the autoscaler adds replicas as the page backlog grows wherever CPUs are free, so a
joining VPS gets its own. Embedding, the ingress, the driver and page tasks reserve no CPU: they
are light or wait on OCR. ``deployments/serve.yaml`` overrides any of it per deployment.
"""

from __future__ import annotations

from typing import Any

from ray.serve import Application

from kairo_ray.app.api import ApiIngress
from kairo_ray.app.deployments import OCR_PROCESS_ENV, EmbedDeployment, OcrDeployment
from kairo_ray.app.tasks import pages_in_flight
from kairo_ray.processing.ocr import available_engines
from kairo_ray.settings import ConfigError, load_settings


def _actor_options(num_cpus: float, env: dict[str, str], num_gpus: float = 0) -> dict[str, Any]:
    options: dict[str, Any] = {"num_cpus": num_cpus, "num_gpus": num_gpus}
    if env:
        options["runtime_env"] = {"env_vars": env}
    return options


def build_app(args: dict[str, Any] | None = None) -> Application:
    """Bind OCR, embedding and the HTTP ingress into one application.

    ``args`` (from ``serve run``/``serve deploy`` or the CLI) may carry ``env``: variables every
    replica and the driver see, e.g. the embedded database URL that ``kairo-ray up`` started.
    The driver actor inherits them from the ingress that creates it.
    """
    settings = load_settings()
    if settings.ocr_engine not in available_engines():
        # Caught here, not in every replica's __init__ where Serve would retry it for ever.
        raise ConfigError(
            f"OCR_ENGINE={settings.ocr_engine!r} is not an OCR engine; "
            f"available: {', '.join(available_engines())}"
        )
    env = {key: str(value) for key, value in (args or {}).get("env", {}).items()}
    per_replica = pages_in_flight(settings.ocr_engines_per_replica)
    ocr = OcrDeployment.options(
        ray_actor_options=_actor_options(
            settings.worker_threads,
            {**OCR_PROCESS_ENV, **env},
            num_gpus=1 if settings.ocr_use_gpu else 0,
        ),
        max_ongoing_requests=per_replica + 1,
        autoscaling_config={
            "min_replicas": 1,
            "initial_replicas": 1,
            "max_replicas": 16,
            "target_ongoing_requests": per_replica,
            "upscale_delay_s": 5,
            "downscale_delay_s": 300,
        },
    )
    embedder = EmbedDeployment.options(ray_actor_options=_actor_options(0, env))
    api = ApiIngress.options(ray_actor_options=_actor_options(0, env))
    return api.bind(ocr.bind(), embedder.bind())
