"""Starting, deploying and stopping kairo-ray on a Ray cluster (what ``kairo-ray up/down`` do).

``up`` is idempotent: it reuses a running cluster (RAY_ADDRESS or a local head) or starts a local
one-node head, starts the embedded PostgreSQL when DATABASE_URL is unset, migrates, deploys the
Serve application and makes sure the driver actor runs.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from pathlib import Path
from typing import Any

from kairo_ray.auth import ensure_service_token
from kairo_ray.ray_token import RayCommandError, TokenInfo, ensure_token, run_ray
from kairo_ray.settings import REQUIRED_SECRETS_ENV, SECRET_SETTINGS, Settings

log = logging.getLogger("kairo_ray.control")

RAY_PORT = 6379
DASHBOARD_PORT = 8265

SERVE_TUNING_ENV = {
    "RAY_SERVE_CONTROL_LOOP_INTERVAL_S": "0.5",
    "RAY_SERVE_METRICS_EXPORT_INTERVAL_MS": "1000",
    # Ray retries a task its memory monitor killed without limit by default: a page that needs
    # more memory than the node has would loop for ever.
    "RAY_task_oom_retries": "2",
}
"""Defaults for the Ray processes of a head this starts (an operator's own values win; the
cluster scripts set the same). Serve's controller loop runs every 0.1 s and every handle exports
metrics every 0.1 s by default; for document jobs that take seconds this only takes CPU from OCR:
on 2 cores the controller and GCS then take less CPU (benchmarks/reports/e2e.md)."""


def settings_env(settings: Settings, *, secrets: bool = False) -> dict[str, str]:
    """The settings this process was given, as environment variables for replicas and the driver.

    Only explicitly set values travel (environment or .env), so a node's own environment still
    supplies the rest. Secrets only with ``secrets=True``: for the environment of a ``ray start``
    this process runs, never for a runtime_env (Ray's dashboard shows those).
    """
    env: dict[str, str] = {}
    for name in sorted(settings.model_fields_set):
        value = getattr(settings, name)
        if value is None or (name in SECRET_SETTINGS and not secrets):
            continue
        if hasattr(value, "get_secret_value"):
            value = value.get_secret_value()
        if isinstance(value, list):
            value = ",".join(str(item) for item in value)
        elif isinstance(value, bool):
            value = "true" if value else "false"
        env[name.upper()] = str(value)
    return env


def _address_file(settings: Settings) -> Path:
    return settings.data_dir / "ray_address"


def _reachable(address: str) -> bool:
    """A quick TCP check of the GCS port; a probe through Ray would retry for a minute."""
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host or "127.0.0.1", int(port)), timeout=1):
            return True
    except (OSError, ValueError):
        return False


def find_cluster(settings: Settings) -> str | None:
    """The cluster to use: RAY_ADDRESS, else the head ``up`` started here, if it still runs.

    Ray's own /tmp/ray/ray_current_cluster is not used: it records the detected node IP even when
    the head was bound to another address.
    """
    if settings.ray_address:
        return settings.ray_address
    saved = _address_file(settings)
    if saved.exists():
        address = saved.read_text().strip()
        if _reachable(address):
            return address
    default = f"127.0.0.1:{RAY_PORT}"
    return default if _reachable(default) else None


def connect(address: str) -> None:
    """Join the cluster as a client, in kairo-ray's namespace, without its workers' log lines."""
    import ray

    from kairo_ray.app.names import NAMESPACE

    if ray.is_initialized():
        return
    try:
        ray.init(address=address, namespace=NAMESPACE, logging_level="ERROR", log_to_driver=False)
    except Exception as exc:  # Ray raises several kinds here; each means the same to a user
        reason = " ".join(str(exc).split())[:300] or type(exc).__name__
        raise RayCommandError(
            f"cannot join the Ray cluster at {address}: {reason}. If that is a stale local "
            "session, `ray stop --force` ends it; a cluster started elsewhere needs its token "
            "in RAY_AUTH_TOKEN"
        ) from None


def disconnect() -> None:
    """Leave the cluster (it keeps running)."""
    import ray

    ray.shutdown()


def port_in_use(host: str, port: int) -> bool:
    """Whether something already listens on host:port (we could not bind it ourselves)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        # As servers do: a closed connection's TIME_WAIT does not keep the port taken.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def check_ports_free(ports: list[tuple[str, str, int, str]]) -> None:
    """Refuse to start what needs a port another program holds: ``(what, host, port, fix)``."""
    for what, host, port, fix in ports:
        if port_in_use(host, port):
            raise RayCommandError(
                f"port {port} on {host} ({what}) is already in use by another program: {fix}"
            )


STALE_RAY = "stop it, or `ray stop --force` if it is a stale Ray session"


def head_ports(settings: Settings, node_ip: str = "127.0.0.1") -> list[tuple[str, str, int, str]]:
    """The ports a new local head and its HTTP API take, for :func:`check_ports_free`."""
    return [
        ("Ray's GCS", node_ip, RAY_PORT, STALE_RAY),
        ("Ray's dashboard", "127.0.0.1", DASHBOARD_PORT, STALE_RAY),
        ("API_PORT", settings.api_host, settings.api_port, "stop it, or set API_PORT"),
    ]


def replica_env(settings: Settings) -> dict[str, str]:
    """What the replicas and the driver get in their runtime_env: the explicit settings without
    secrets, the names of those secrets (each node must have them in its own environment), and
    DATA_DIR, where they find the embedded database when DATABASE_URL is unset."""
    env = settings_env(settings)
    required = sorted(name.upper() for name in SECRET_SETTINGS & settings.model_fields_set)
    if required:
        env[REQUIRED_SECRETS_ENV] = ",".join(required)
    env["DATA_DIR"] = str(settings.data_dir.expanduser().resolve())
    return env


def start_local_head(env: dict[str, str], node_ip: str = "127.0.0.1") -> str:
    """``ray start --head`` on this machine; the environment given (secrets included) is every
    Ray process's own, where replicas read secrets, and is not shown by the dashboard."""
    run_ray(
        [
            "start",
            "--head",
            f"--node-ip-address={node_ip}",
            f"--port={RAY_PORT}",
            "--dashboard-host=127.0.0.1",
            f"--dashboard-port={DASHBOARD_PORT}",
            "--disable-usage-stats",
        ],
        what="starting the local Ray head",
        hint="`ray stop --force` ends a stale local session; then run `kairo-ray up` again",
        env={**SERVE_TUNING_ENV, **os.environ, **env},
    )
    return f"{node_ip}:{RAY_PORT}"


def running_driver(settings: Settings) -> Any | None:
    """The cluster's driver actor, connecting to the cluster first; None when there is none."""
    import ray

    from kairo_ray.app.names import DRIVER_NAME, NAMESPACE

    address = find_cluster(settings)
    if address is None:
        return None
    connect(address)
    try:
        return ray.get_actor(DRIVER_NAME, namespace=NAMESPACE)
    except ValueError:
        return None


def _ready(status: dict[str, Any]) -> bool:
    """Running, holding its instance id or refused it, and done preparing page workers (a
    driver from before those steps has no key)."""
    decided = status.get("instance_held", True) or bool(status.get("refused"))
    return bool(status["running"]) and decided and status.get("page_workers", []) is not None


def up(settings: Settings, address: str | None = None) -> dict[str, Any]:
    """Bring the whole application up and return where to find it."""
    import ray
    from ray import serve

    from kairo_ray.app.builder import build_app
    from kairo_ray.app.driver import get_or_create_driver
    from kairo_ray.app.names import APP_NAME
    from kairo_ray.db.embedded import ensure_database_url
    from kairo_ray.db.migrate import migrate_url

    address = address or find_cluster(settings)
    started_head = address is None
    token: TokenInfo | None = None
    if started_head:
        # Checked before anything starts: a new head needs a token (joining an existing cluster
        # uses the one it was started with) and free ports.
        token = ensure_token()
        check_ports_free(head_ports(settings))
    ensure_service_token(settings)  # this machine's CLI and API share it (kairo_ray.auth)
    database_url = ensure_database_url(settings)
    migrate_url(database_url, settings=settings)
    env = replica_env(settings)
    if address is None:
        address = start_local_head({**settings_env(settings, secrets=True), **env})
        _address_file(settings).parent.mkdir(parents=True, exist_ok=True)
        _address_file(settings).write_text(address)
    connect(address)
    serve.start(http_options={"host": settings.api_host, "port": settings.api_port})
    serve.run(build_app({"env": env}), name=APP_NAME, route_prefix="/", blocking=False)
    driver = get_or_create_driver(APP_NAME)
    deadline = time.monotonic() + 120
    status = ray.get(driver.status.remote())
    # Ready means page workers started too: the first document then starts at once.
    while not _ready(status) and time.monotonic() < deadline:
        time.sleep(0.5)
        status = ray.get(driver.status.remote())
    if status.get("refused"):
        raise RayCommandError(
            f"the queue driver is refused: {status['refused']}. `kairo-ray down` stops this one"
        )
    host = "127.0.0.1" if settings.api_host in ("0.0.0.0", "::") else settings.api_host
    return {
        "ray_address": address,
        "started_head": started_head,
        "token": token.describe() if token else None,
        "database": "embedded" if not settings.database_url else "DATABASE_URL",
        "api_url": f"http://{host}:{settings.api_port}",
        "dashboard_url": f"http://127.0.0.1:{DASHBOARD_PORT}",
        "driver": status,
    }


def down(settings: Settings, address: str | None = None, stop_ray: bool = True) -> None:
    """Stop the driver (its jobs go back to the queue) and the Serve app; then Ray and the DB."""
    import ray
    from ray import serve

    from kairo_ray.app.names import DRIVER_NAME, NAMESPACE
    from kairo_ray.db.embedded import stop_embedded

    address = address or find_cluster(settings)
    if address is not None:
        connect(address)
        try:
            driver = ray.get_actor(DRIVER_NAME, namespace=NAMESPACE)
        except ValueError:
            driver = None
        if driver is not None:
            try:
                ray.get(driver.stop.remote(), timeout=60)
            except Exception as exc:  # Serve, Ray and the database must still stop
                log.warning(
                    "the driver did not stop cleanly (%s); jobs it held are taken again after "
                    "JOB_TIMEOUT_MINUTES, or at its next start",
                    exc,
                )
            finally:
                ray.kill(driver, no_restart=True)
        serve.shutdown()
        ray.shutdown()
        if stop_ray:
            run_ray(["stop"], what="stopping Ray on this machine", hint="try `ray stop --force`")
            _address_file(settings).unlink(missing_ok=True)
    if not settings.database_url:
        stop_embedded(settings)
