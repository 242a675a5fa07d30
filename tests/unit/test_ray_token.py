"""The Ray cluster token on a machine that never ran Ray, and readable failures of Ray commands.

Real ``ray`` CLI calls against a temporary HOME: nothing here reads or writes the developer's own
``~/.ray``.
"""

from __future__ import annotations

import os
import socket
import stat
import subprocess
from pathlib import Path

import pytest

from kairo_ray.control import check_ports_free
from kairo_ray.ray_token import (
    RayCommandError,
    ensure_token,
    find_token,
    last_words,
    run_ray,
)

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def empty_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for name in ("RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("RAY_AUTH_MODE", "token")
    return home


def test_a_new_machine_gets_an_owner_only_token_once(empty_home: Path) -> None:
    assert find_token() is None
    created = ensure_token()
    assert created is not None and created.created
    token = empty_home / ".ray" / "auth_token"
    assert created.path == token and len(token.read_text().strip()) >= 32
    assert stat.S_IMODE(token.stat().st_mode) == 0o600
    assert "RAY_AUTH_TOKEN" in created.describe() and str(token) in created.describe()
    again = ensure_token()
    assert again is not None and not again.created, "an existing token is kept, not replaced"
    assert token.read_text() == created.path.read_text()


def test_a_token_in_the_environment_needs_no_file(empty_home: Path, monkeypatch) -> None:
    monkeypatch.setenv("RAY_AUTH_TOKEN", "0" * 64)
    assert ensure_token().source == "env"
    assert not (empty_home / ".ray").exists()


def test_no_token_needed_when_authentication_is_off(empty_home: Path, monkeypatch) -> None:
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    assert ensure_token() is None
    assert not (empty_home / ".ray").exists()


def test_a_token_path_that_names_nothing_is_refused_by_name(empty_home: Path, monkeypatch) -> None:
    monkeypatch.setenv("RAY_AUTH_TOKEN_PATH", str(empty_home / "missing"))
    with pytest.raises(RayCommandError, match=r"RAY_AUTH_TOKEN_PATH names .*missing or empty"):
        ensure_token()


def test_a_failing_ray_command_reads_as_one_line() -> None:
    with pytest.raises(RayCommandError) as caught:
        run_ray(["stop", "--no-such-flag"], what="testing", hint="do something else")
    message = str(caught.value)
    assert message.startswith("`ray stop --no-such-flag` (testing) failed: ")
    assert message.endswith("do something else") and "\n" not in message
    assert "no such option" in message.lower()


def test_last_words_skip_the_traceback() -> None:
    said = 'Traceback (most recent call last):\n  File "x.py", line 1\nValueError: port busy\n'
    assert last_words(said) == "ValueError: port busy"


def test_a_port_in_use_is_named_with_its_fix() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        with pytest.raises(RayCommandError, match=f"port {port} on 127.0.0.1 \\(API_PORT\\)"):
            check_ports_free([("API_PORT", "127.0.0.1", port, "set API_PORT")])
    check_ports_free([("API_PORT", "127.0.0.1", port, "set API_PORT")])


def test_a_worker_without_the_token_is_told_how_to_get_it(empty_home: Path) -> None:
    env = {**os.environ, "KAIRO_ENV_FILE": str(empty_home / "none.env")}
    run = subprocess.run(
        ["bash", str(REPO / "cluster" / "join-worker.sh"), "127.0.0.1:6379"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 2
    assert "no Ray cluster token" in run.stderr and "RAY_AUTH_TOKEN" in run.stderr
