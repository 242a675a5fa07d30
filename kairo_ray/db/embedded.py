"""Embedded PostgreSQL 16 + pgvector (from the ``pgserver`` wheel) when DATABASE_URL is unset.

How pgserver 0.1.4 behaves (verified here), and what kairo-ray does about it:

* The server listens only on a Unix socket (``-h ""``), placed in the data directory itself (or,
  when that path is too long for a socket, in ``$XDG_RUNTIME_DIR/python_PostgresServer/<hash>``).
  The URL looks like ``postgresql://postgres:@/postgres?host=/root/.local/share/kairo-ray/pgdata``
  with trust authentication. Every process of the same OS user on the same machine (the Ray
  driver actor, Serve replicas, ``psql``) connects with that URL; nothing on the network can,
  so a multi-node cluster needs a real DATABASE_URL.
* As root, pgserver creates a ``pgserver`` system user (``useradd``), chowns the data directory
  to it (mode 0700), runs ``postgres`` as that user, and adds o+rx to every parent directory of
  the data directory (``/root`` included) so that user can reach it. Otherwise it runs as the
  calling user.
* The server is a detached ``pg_ctl`` daemon. pgserver counts handles by process id in
  ``pgdata/.handle_pids.json``; at exit the last registered process stops it (``cleanup_mode``
  'stop'), stops and deletes it ('delete'), or leaves it running (None). Ray's processes and the
  ``kairo-ray`` command come and go independently, so kairo-ray uses None: the server keeps
  running until :func:`stop_embedded` (``kairo-ray down``), and a later start attaches to it.
  'stop'/'delete' are for throwaway servers (tests).
"""

from __future__ import annotations

import atexit
import logging
import os
import warnings
from pathlib import Path
from types import ModuleType
from typing import Literal

import psutil

from kairo_ray.settings import Settings

logger = logging.getLogger(__name__)

CleanupMode = Literal["stop", "delete"] | None

PGDATA_DIRNAME = "pgdata"
HANDLES_FILE = ".handle_pids.json"


def _pgserver() -> ModuleType:
    # platformdirs warns at import when XDG_RUNTIME_DIR is unset (it uses /tmp/runtime-UID).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pgserver

    return pgserver


def pgdata_dir(settings: Settings) -> Path:
    """Where the embedded server keeps its data: ``DATA_DIR/pgdata``."""
    return (settings.data_dir / PGDATA_DIRNAME).expanduser().resolve()


def _forget_dead_handles(pgdata: Path) -> None:
    """Drop pids of processes that died without unregistering (SIGKILL), so 'stop' still works."""
    pgserver = _pgserver()
    from pgserver.utils import DiskList

    handles = DiskList(pgdata / HANDLES_FILE)
    with pgserver.PostgresServer._lock:
        pids = handles.get()
        alive = [pid for pid in pids if psutil.pid_exists(pid)]
        if alive != pids:
            logger.info("embedded PostgreSQL: forgetting dead handles %s", set(pids) - set(alive))
            handles.put(alive)


def start_embedded(settings: Settings, *, cleanup_mode: CleanupMode = None) -> str:
    """Start the embedded server on ``DATA_DIR/pgdata`` (or attach to it) and return its URL.

    Blocking (~1 s for a new data directory). With the default ``cleanup_mode=None`` the server
    outlives this process; see the module docstring.
    """
    pgserver = _pgserver()
    pgdata = pgdata_dir(settings)
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    if (pgdata / HANDLES_FILE).exists():
        _forget_dead_handles(pgdata)
    server = pgserver.get_server(pgdata, cleanup_mode=cleanup_mode)
    url: str = server.get_uri()
    logger.info("embedded PostgreSQL at %s", url)
    return url


def ensure_database_url(settings: Settings, *, cleanup_mode: CleanupMode = None) -> str:
    """DATABASE_URL when set, else the embedded server's URL (started if it is not running)."""
    if settings.database_url:
        return settings.database_url.get_secret_value()
    return start_embedded(settings, cleanup_mode=cleanup_mode)


def running_url(settings: Settings) -> str | None:
    """The URL of an embedded server already running on this data directory, without attaching."""
    pgdata = pgdata_dir(settings)
    if not (pgdata / "postmaster.pid").exists():
        return None
    _pgserver()
    from pgserver.utils import PostmasterInfo

    try:
        info = PostmasterInfo.read_from_pgdata(pgdata)
    except (OSError, ValueError, AssertionError):
        return None
    if info is None or not info.is_running() or info.status != "ready":
        return None
    return info.get_uri()


def stop_embedded(settings: Settings) -> bool:
    """Stop the embedded server on this data directory, whoever started it; data is kept.

    Returns False when none was running.
    """
    if running_url(settings) is None:
        return False
    pgserver = _pgserver()
    from pgserver.utils import DiskList

    pgdata = pgdata_dir(settings)
    # pg_ctl refuses to run as root; pgserver runs the server as its 'pgserver' user then.
    user = "pgserver" if os.name == "posix" and os.geteuid() == 0 else None
    with pgserver.PostgresServer._lock:
        pgserver.pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata, user=user, timeout=60)
        DiskList(pgdata / HANDLES_FILE).put([])
        # A handle cached in this process would make a later start return the stopped server.
        stale = pgserver.PostgresServer._instances.pop(pgdata, None)
        if stale is not None:
            atexit.unregister(stale._cleanup)
    logger.info("embedded PostgreSQL on %s stopped", pgdata)
    return True
