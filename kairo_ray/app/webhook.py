"""Completion callbacks to Kairo (WEBHOOK_URL), signed so the receiver can trust them.

The body is JSON. Headers:

- ``X-Kairo-Timestamp``: Unix seconds when the request was signed.
- ``X-Kairo-Signature``: ``sha256=`` + hex HMAC-SHA256 of ``"{timestamp}.{body}"`` keyed with
  WEBHOOK_SECRET. Receivers recompute it and reject stale timestamps to stop replays.

A webhook failure is logged and never fails the job: the result is already committed.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import time
from typing import Any

import httpx

from kairo_ray.settings import Settings

log = logging.getLogger(__name__)

TIMESTAMP_HEADER = "X-Kairo-Timestamp"
SIGNATURE_HEADER = "X-Kairo-Signature"


def sign(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(
    secret: str, timestamp: str, body: bytes, signature: str, max_age_s: float = 300
) -> bool:
    """What a receiver does; kept here so the tests check the documented contract."""
    if abs(time.time() - float(timestamp)) > max_age_s:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), signature)


async def send_webhook(settings: Settings, payload: dict[str, Any]) -> bool:
    """POST ``payload`` with retries and exponential backoff; True when the receiver took it."""
    if not (settings.webhook_enabled and settings.webhook_url and settings.webhook_secret):
        return False
    body = json.dumps(payload, separators=(",", ":"), default=str).encode()
    delay = 1.0
    async with httpx.AsyncClient(timeout=settings.webhook_timeout_seconds) as client:
        for attempt in range(1, settings.webhook_max_attempts + 1):
            timestamp = str(int(time.time()))
            headers = {
                "Content-Type": "application/json",
                TIMESTAMP_HEADER: timestamp,
                SIGNATURE_HEADER: sign(settings.webhook_secret.get_secret_value(), timestamp, body),
            }
            try:
                response = await client.post(settings.webhook_url, content=body, headers=headers)
                if response.status_code < 300:
                    return True
                if 400 <= response.status_code < 500 and response.status_code != 429:
                    log.warning("webhook refused with %s, not retrying", response.status_code)
                    return False
                reason = f"HTTP {response.status_code}"
            except httpx.HTTPError as exc:
                reason = f"{type(exc).__name__}: {exc}"
            log.warning(
                "webhook attempt %d/%d failed: %s", attempt, settings.webhook_max_attempts, reason
            )
            if attempt < settings.webhook_max_attempts:
                await asyncio.sleep(delay)
                delay *= 2
    return False
