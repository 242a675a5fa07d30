"""What ``kairo-ray up`` hands to replicas and the driver: the settings this process was given."""

from __future__ import annotations

from kairo_ray.control import settings_env
from kairo_ray.settings import load_settings


def test_only_explicit_settings_travel_in_their_env_form(monkeypatch) -> None:
    monkeypatch.setenv("OCR_LANGUAGE", "es")
    monkeypatch.setenv("WEBHOOK_ENABLED", "false")
    settings = load_settings(poll_interval_seconds=2, fetch_allowed_hosts=["a", "b"])
    env = settings_env(settings)
    assert env["POLL_INTERVAL_SECONDS"] == "2.0"
    assert env["FETCH_ALLOWED_HOSTS"] == "a,b"
    assert env["OCR_LANGUAGE"] == "es"
    assert env["WEBHOOK_ENABLED"] == "false"
    assert "MAX_RETRIES" not in env, "defaults stay with each node's own environment"
    assert load_settings(**{k.lower(): v for k, v in env.items()}).fetch_allowed_hosts == ["a", "b"]
