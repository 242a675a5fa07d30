"""The README's first command on a fresh machine: an empty HOME, no XDG_* variables.

``bash scripts/quickstart.sh`` must install, create what a new machine lacks (the Ray cluster
token, the embedded database's data directory, the model cache), process the sample scans and
answer both searches; ``kairo-ray down`` must then leave no process behind. A developer's HOME
holds a Ray token, caches and data that a new user's machine does not, so only a test with an
empty HOME catches code that works because of them.
"""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

REPO = Path(__file__).resolve().parents[2]
SERVICE_PROCESSES = ("raylet", "gcs_server", "postgres", "ray::", "dashboard")


def fresh_env(home: Path, eval_dir: Path) -> dict[str, str]:
    """This process's environment as a new user's login has it: nothing kairo-ray or Ray set."""
    dropped = ("XDG_", "RAY_", "KAIRO_", "DATABASE_", "API_", "MODEL_CACHE", "HF_", "TEMP_DIR")
    env = {k: v for k, v in os.environ.items() if not k.startswith(dropped)}
    env.update(HOME=str(home), KAIRO_EVAL_DIR=str(eval_dir), TERM="dumb")
    return env


def service_processes(home: Path) -> list[str]:
    """kairo-ray's processes still alive: Ray's, and the embedded PostgreSQL under this HOME."""
    left = []
    for proc in psutil.process_iter(["pid", "name", "cmdline", "status"]):
        try:
            if proc.info["status"] == psutil.STATUS_ZOMBIE:
                continue
            command = " ".join(proc.info["cmdline"] or [proc.info["name"] or ""])
        except psutil.Error:
            continue
        is_ray = any(name in command for name in SERVICE_PROCESSES if name != "postgres")
        is_our_db = "postgres" in command and str(home) in command
        if (is_ray and "pytest" not in command) or is_our_db:
            left.append(f"{proc.info['pid']} {command[:120]}")
    return left


def first_hit(output: str, query: str) -> str:
    """The file of the first result printed after ``kairo-ray search "<query>"``."""
    section = output.split(f'kairo-ray search "{query}"', 1)
    assert len(section) == 2, f"no search for {query!r} in the output:\n{output[-3000:]}"
    match = re.search(r"^\s*1\.\s+[-0-9.]+\s+(\S+)", section[1], flags=re.MULTILINE)
    assert match, f"search {query!r} printed no result:\n{section[1][:2000]}"
    return match.group(1)


def test_quickstart_on_an_empty_home(tmp_path: Path, eval_dir: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    env = fresh_env(home, eval_dir)
    # No cluster of an earlier test may be reused: the quickstart must start its own.
    subprocess.run(["ray", "stop", "--force"], env=env, capture_output=True, check=False)
    started = time.monotonic()
    run = subprocess.run(
        ["bash", "scripts/quickstart.sh"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=720,
        check=False,
    )
    seconds = time.monotonic() - started
    output = run.stdout + run.stderr
    try:
        assert run.returncode == 0, f"quickstart failed (rc={run.returncode}):\n{output[-4000:]}"
        assert "Traceback" not in output, output[-4000:]
        token = home / ".ray" / "auth_token"
        assert "Ray cluster token created" in output and token.is_file(), output[-3000:]
        assert stat.S_IMODE(token.stat().st_mode) == 0o600
        assert first_hit(output, "las tropas del general").endswith("fondue_galdos_luchana_5p.pdf")
        assert first_hit(output, "quick brown dog").endswith("phototest.tif")
        assert (home / ".local" / "share" / "kairo-ray" / "pgdata").is_dir()
        print(f"quickstart on an empty HOME: {seconds:.0f} s")
    finally:
        down = subprocess.run(
            [sys.executable, "-m", "kairo_ray.cli", "down"],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
    assert down.returncode == 0, down.stdout + down.stderr
    deadline = time.monotonic() + 20
    while (left := service_processes(home)) and time.monotonic() < deadline:
        time.sleep(1)
    assert not left, f"kairo-ray down left processes behind: {left}"
