"""Structured logs: one JSON object a line, naming the document and job where there is one."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

from kairo_ray.settings import Settings

_CONTEXT_KEYS = ("job_id", "document_id", "instance_id", "page", "attempt", "outcome", "seconds")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key in _CONTEXT_KEYS:
            value = getattr(record, key, None)
            if value is not None:
                entry[key] = str(value) if not isinstance(value, int | float) else value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(settings: Settings) -> None:
    """Route kairo_ray's loggers to stderr (and LOG_FILE) as JSON lines, once per process."""
    root = logging.getLogger("kairo_ray")
    if getattr(root, "_kairo_configured", False):
        return
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if settings.log_file:
        settings.log_file.parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(settings.log_file))
    for handler in handlers:
        handler.setFormatter(JsonFormatter())
        root.addHandler(handler)
    root.setLevel(settings.log_level)
    root.propagate = False
    root._kairo_configured = True  # type: ignore[attr-defined]


def job_context(job: Any, **more: Any) -> dict[str, Any]:
    """The ``extra=`` of every log line about one job."""
    return {"job_id": job.queue_id, "document_id": job.document_id, "attempt": job.attempts, **more}
