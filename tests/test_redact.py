"""Secrets never leave: masking in messages and in every log line."""

from __future__ import annotations

import logging

import httpx
import pytest

from monitor.logs import configure
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


def test_credentials_in_any_url_are_masked() -> None:
    redact = Redactor()
    assert redact("GET https://feeds:hunter2@intranet.example/rss ok") == (
        f"GET https://{MASK}@intranet.example/rss ok"
    )
    assert redact("postgresql+psycopg://monitor:pw@db/cm") == f"postgresql+psycopg://{MASK}@db/cm"
    assert redact("mail me: someone@example.nl, or see https://x.example/@user") == (
        "mail me: someone@example.nl, or see https://x.example/@user"
    )


def test_query_parameters_of_configured_urls_are_masked() -> None:
    redact = Redactor(params=["sig", "auth"])
    assert redact("GET https://intranet.example/rss?sig=abc123&format=rss&auth=x9;page=2") == (
        f"GET https://intranet.example/rss?sig={MASK}&format=rss&auth={MASK};page=2"
    )
    assert redact("?configsig=flat") == "?configsig=flat"  # a parameter's name, not its end
    redact.learn(["newsecret"], ["apikey"])  # a reloaded configuration adds its own
    assert redact("apikey=1 newsecret") == f"apikey={MASK} {MASK}"


def test_httpx_request_lines_at_debug_level_are_masked(
    capsys: pytest.CaptureFixture[str],
) -> None:
    url = "http://feeds:hunter2-pass@feeds.example/nieuws?sig=a1b2c3d4e5&format=rss"
    configure("debug", "text", Redactor(params=["sig"]))
    try:
        transport = httpx.MockTransport(lambda request: httpx.Response(200, text="<rss/>"))
        with httpx.Client(transport=transport) as client:
            assert client.get(url).status_code == 200
    finally:
        configure("warning", "text", Redactor())
    log = capsys.readouterr().err
    assert "HTTP Request: GET" in log, log  # the line is there, at debug level
    assert "hunter2-pass" not in log and "a1b2c3d4e5" not in log, log
    assert "format=rss" in log
