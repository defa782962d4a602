"""Logging to stderr as text or JSON lines, with every secret masked."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

from monitor.redact import RedactingFormatter, Redactor

_QUIET = ("httpcore", "apscheduler", "aiohttp.access", "alembic")
_QUIET_UNLESS_DEBUG = ("httpx",)  # one line per request, with its URL (tokens masked)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and structured fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(getattr(record, "fields", {}) or {})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """``time level logger: message key=value…``."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = getattr(record, "fields", None)
        if fields:
            line += " " + " ".join(f"{k}={v}" for k, v in fields.items())
        return line


def configure(level: str, fmt: str, redactor: Redactor) -> None:
    """Send all logs to stderr through a redacting formatter. Third-party chatter is held at
    WARNING; httpx's request lines (URLs that may carry a token, masked) show at debug."""
    inner: logging.Formatter = JsonFormatter() if fmt == "json" else TextFormatter()
    handler = logging.StreamHandler()
    handler.setFormatter(RedactingFormatter(inner, redactor))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in _QUIET:
        logging.getLogger(name).setLevel(logging.WARNING)
    for name in _QUIET_UNLESS_DEBUG:
        logging.getLogger(name).setLevel(logging.DEBUG if level == "debug" else logging.WARNING)
