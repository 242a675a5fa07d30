"""``kairo-ray up`` fails as a user can act on: one line naming the problem and the fix, no
traceback, and nothing left started. Real ``kairo-ray`` and ``ray`` commands, an empty HOME."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

pytestmark = pytest.mark.slow


def _kairo(home: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XDG_", "RAY_ADDRESS"))}
    env.pop("DATABASE_URL", None)
    env["HOME"] = str(home)
    return subprocess.run(
        [sys.executable, "-m", "kairo_ray.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _our_postgres(home: Path) -> list[int]:
    return [
        p.pid
        for p in psutil.process_iter(["cmdline", "status"])
        if p.info["status"] != psutil.STATUS_ZOMBIE
        and str(home) in " ".join(p.info["cmdline"] or [])
    ]


@pytest.mark.parametrize("port", [8265, 8000], ids=["dashboard", "api"])
def test_a_busy_port_stops_up_before_anything_starts(tmp_path: Path, port: int) -> None:
    subprocess.run(["ray", "stop", "--force"], capture_output=True, check=False)
    with socket.socket() as busy:
        busy.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        busy.bind(("127.0.0.1" if port == 8265 else "0.0.0.0", port))
        busy.listen()
        run = _kairo(tmp_path, "up")
    said = run.stderr.strip()
    assert run.returncode == 2, run.stdout + run.stderr
    assert "Traceback" not in said and len(said.splitlines()) == 1, said
    assert f"port {port} " in said and "already in use" in said
    assert not _our_postgres(tmp_path), "the embedded database was started before the check"
    assert _kairo(tmp_path, "down").returncode == 0
