"""Completion webhooks: the signature contract and delivery with retries.

The receiver is a local HTTP server standing in for Kairo's web app, an internet host that cannot
exist here.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from kairo_ray.app.webhook import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    send_webhook,
    sign,
    verify,
)
from kairo_ray.settings import load_settings

SECRET = "s3cret"


def test_signature_round_trip_and_tampering() -> None:
    body = b'{"document_id":"x"}'
    timestamp = str(int(time.time()))
    signature = sign(SECRET, timestamp, body)
    assert signature.startswith("sha256=") and len(signature) == 7 + 64
    assert verify(SECRET, timestamp, body, signature)
    assert not verify(SECRET, timestamp, body + b" ", signature)
    assert not verify("other", timestamp, body, signature)
    stale = str(int(time.time()) - 3600)
    assert not verify(SECRET, stale, body, sign(SECRET, stale, body))


class _Receiver:
    def __init__(self, statuses: list[int]) -> None:
        self.statuses = statuses
        self.requests: list[tuple[dict[str, str], bytes]] = []


@pytest.fixture
def receiver(request: pytest.FixtureRequest) -> Iterator[tuple[str, _Receiver]]:
    state = _Receiver(list(request.param))

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            state.requests.append((dict(self.headers), body))
            self.send_response(state.statuses.pop(0) if state.statuses else 204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/hook", state
    server.shutdown()


def _settings(url: str, attempts: int = 3):
    return load_settings(
        webhook_enabled=True,
        webhook_url=url,
        webhook_secret=SECRET,
        webhook_max_attempts=attempts,
        webhook_timeout_seconds=5,
    )


@pytest.mark.parametrize("receiver", [[503, 500, 204]], indirect=True)
async def test_retries_server_errors_until_accepted(receiver) -> None:
    url, state = receiver
    assert await send_webhook(_settings(url), {"document_id": "d1"}) is True
    assert len(state.requests) == 3
    headers, body = state.requests[-1]
    assert json.loads(body) == {"document_id": "d1"}
    assert verify(SECRET, headers[TIMESTAMP_HEADER], body, headers[SIGNATURE_HEADER])


@pytest.mark.parametrize("receiver", [[400]], indirect=True)
async def test_client_error_is_not_retried(receiver) -> None:
    url, state = receiver
    assert await send_webhook(_settings(url), {"document_id": "d2"}) is False
    assert len(state.requests) == 1


@pytest.mark.parametrize("receiver", [[500, 500]], indirect=True)
async def test_gives_up_after_max_attempts(receiver) -> None:
    url, state = receiver
    assert await send_webhook(_settings(url, attempts=2), {"document_id": "d3"}) is False
    assert len(state.requests) == 2


async def test_unreachable_receiver_never_raises() -> None:
    settings = _settings("http://127.0.0.1:9/hook", attempts=1)
    assert await send_webhook(settings, {"document_id": "d4"}) is False


async def test_disabled_sends_nothing() -> None:
    assert await send_webhook(load_settings(webhook_enabled=False), {"x": 1}) is False
