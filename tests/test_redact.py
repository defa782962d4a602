"""Secrets never leave: masking in messages and in every log line."""

from __future__ import annotations

import logging

from monitor.redact import MASK, RedactingFormatter, Redactor

SECRET = "EAAB-secret-token-123"


def test_known_secrets_and_token_shaped_parameters_are_masked() -> None:
    redact = Redactor([SECRET])
    assert SECRET not in redact(f"failed: {SECRET}")
    assert redact("https://graph.example/v1/me?access_token=abc123&limit=5") == (
        f"https://graph.example/v1/me?access_token={MASK}&limit=5"
    )
    assert redact("Authorization: Bearer abc.def-ghi") == f"Authorization: Bearer {MASK}"


def test_log_lines_and_tracebacks_are_masked() -> None:
    formatter = RedactingFormatter(logging.Formatter("%(message)s"), Redactor([SECRET]))
    try:
        raise ValueError(f"bad token {SECRET}")
    except ValueError:
        import sys

        record = logging.LogRecord(
            "x", logging.ERROR, __file__, 1, "saw %s", (SECRET,), sys.exc_info()
        )
    line = formatter.format(record)
    assert SECRET not in line
    assert line.count(MASK) >= 2
