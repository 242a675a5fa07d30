"""The Ray cluster token: where this machine's is, and creating it where none exists.

Ray 2.60 runs clusters with token authentication (``RAY_AUTH_MODE=token``, which kairo-ray sets),
and ``ray start --head`` refuses to start without a token: it does not create one. Ray looks for
the token in ``RAY_AUTH_TOKEN``, then the file ``RAY_AUTH_TOKEN_PATH`` names, then
``~/.ray/auth_token``. ``kairo-ray up``, ``cluster/start-head.sh`` (through ``kairo-ray token``)
and the test fixtures call :func:`ensure_token` first, so a machine that never ran Ray works.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from kairo_ray.errors import KairoError

TOKEN_ENV = "RAY_AUTH_TOKEN"
TOKEN_PATH_ENV = "RAY_AUTH_TOKEN_PATH"


class RayCommandError(KairoError):
    """A ``ray`` command that kairo-ray runs failed; the message says which, why and what to do."""


@dataclass(frozen=True)
class TokenInfo:
    """Where this process's Ray token comes from; ``created`` when :func:`ensure_token` made it."""

    source: str
    path: Path | None = None
    created: bool = False

    def describe(self) -> str:
        where = f"{self.path}" if self.path else f"the {TOKEN_ENV} environment variable"
        state = "created" if self.created else "found"
        return (
            f"Ray cluster token {state}: {where}. A worker VPS joins with the same token: put "
            f"the output of `ray get-auth-token` on this machine into {TOKEN_ENV}=... in its "
            "/etc/kairo-ray/.env. Guard it like the database password."
        )


def token_required(env: dict[str, str] | None = None) -> bool:
    """Whether Ray will ask for a token: RAY_AUTH_MODE=token (kairo-ray's default)."""
    env = os.environ if env is None else env
    return env.get("RAY_AUTH_MODE", "token").strip().lower() == "token"


def default_token_path() -> Path:
    """Ray's own default place for the token (it reads ``Path.home()``, so HOME decides)."""
    return Path.home() / ".ray" / "auth_token"


def _nonempty(path: Path) -> bool:
    try:
        return bool(path.read_text().strip())
    except OSError:
        return False


def find_token(env: dict[str, str] | None = None) -> TokenInfo | None:
    """The token Ray would use, as Ray looks for it; None when there is none."""
    env = os.environ if env is None else env
    if env.get(TOKEN_ENV, "").strip():
        return TokenInfo(source="env")
    named = env.get(TOKEN_PATH_ENV, "").strip()
    if named:
        path = Path(named).expanduser()
        if not _nonempty(path):
            raise RayCommandError(
                f"{TOKEN_PATH_ENV} names {path}, which is missing or empty: point it at the "
                "cluster's token file, or unset it to use ~/.ray/auth_token"
            )
        return TokenInfo(source="file", path=path)
    path = default_token_path()
    return TokenInfo(source="file", path=path) if _nonempty(path) else None


def run_ray(args: list[str], *, what: str, hint: str, env: dict[str, str] | None = None) -> str:
    """Run the ``ray`` CLI; on failure raise one readable line: the command, Ray's words, a fix."""
    ray = shutil.which("ray")
    if ray is None:
        raise RayCommandError(
            "the 'ray' command is not on PATH: run `bash scripts/install.sh` (or activate .venv)"
        )
    result = subprocess.run([ray, *args], env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        said = last_words(result.stderr) or last_words(result.stdout) or "no message"
        raise RayCommandError(f"`ray {' '.join(args[:2])}` ({what}) failed: {said}. {hint}")
    return result.stdout


def last_words(output: str, limit: int = 300) -> str:
    """The last meaningful line of a command's output: Ray ends with its error, not a traceback."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    for line in reversed(lines):
        if not line.startswith(("File ", "Traceback", "^", "~")):
            return line[-limit:]
    return ""


def ensure_token(env: dict[str, str] | None = None) -> TokenInfo | None:
    """Make sure Ray finds a token when it needs one, creating ``~/.ray/auth_token`` if missing.

    The file is created by Ray's own ``ray get-auth-token --generate`` and made readable by its
    owner only: whoever reads it can run code on the cluster. Returns None when Ray runs without
    token authentication (``RAY_AUTH_MODE=disabled``).
    """
    env = dict(os.environ if env is None else env)
    if not token_required(env):
        return None
    found = find_token(env)
    if found is not None:
        return found
    env["RAY_AUTH_MODE"] = "token"
    run_ray(
        ["get-auth-token", "--generate"],
        what="creating the cluster token",
        hint=f"create it by hand with `ray get-auth-token --generate`, or set {TOKEN_ENV}",
        env=env,
    )
    path = default_token_path()
    if not _nonempty(path):
        raise RayCommandError(f"`ray get-auth-token --generate` wrote no token to {path}")
    path.chmod(0o600)
    return TokenInfo(source="file", path=path, created=True)
