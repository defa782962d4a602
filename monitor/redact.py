"""Keeping secrets out of everything we write: logs, the database, messages, metrics."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

MASK = "***"
_TOKEN_PARAMS = re.compile(
    r"(?i)((?:access_token|appsecret_proof|client_secret|token|key)=)[^&\s\"'<>]+"
)
_BEARER = re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+")


class Redactor:
    """Replaces every known secret, and anything shaped like a token parameter, with ***."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        # longest first, so a secret containing another is masked whole
        self._secrets = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, MASK)
        text = _TOKEN_PARAMS.sub(rf"\1{MASK}", text)
        return _BEARER.sub(rf"\1{MASK}", text)


class RedactingFormatter(logging.Formatter):
    """Formats as usual, then masks secrets in the whole line, tracebacks included."""

    def __init__(self, inner: logging.Formatter, redactor: Redactor) -> None:
        super().__init__()
        self._inner = inner
        self._redact = redactor

    def format(self, record: logging.LogRecord) -> str:
        return self._redact(self._inner.format(record))
