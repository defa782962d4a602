"""The one translation of HTTP statuses and ``Retry-After`` into connector errors."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from connectors.errors import (
    AuthFailed,
    ChannelNotFound,
    ConnectorError,
    Malformed,
    RateLimited,
    Transient,
    error_for_status,
    parse_retry_after,
    raise_for_status,
    safe_url,
    transport_errors,
)
from tests.conftest import NOW

URL = "https://api.example/v1/accounts/1?access_token=secret"


def answer(status: int, **headers: str) -> httpx.Response:
    return httpx.Response(status, headers=headers, request=httpx.Request("GET", URL))


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (401, AuthFailed),
        (403, AuthFailed),
        (407, AuthFailed),
        (404, ChannelNotFound),
        (410, ChannelNotFound),  # Gone: the account was removed for good
        (429, RateLimited),
        (408, Transient),  # Request Timeout: the server gave up waiting, try again
        (425, Transient),  # Too Early
        (500, Transient),
        (502, Transient),
        (503, Transient),  # without Retry-After
        (504, Transient),
        (400, Malformed),
        (422, Malformed),
    ],
)
def test_each_status_has_its_kind(status: int, error: type[ConnectorError]) -> None:
    found = error_for_status(answer(status), "detail")
    assert type(found) is error
    assert found.status == status
    assert str(found) == f"{'unexpected ' if error is Malformed else ''}HTTP {status} from " + (
        "https://api.example/v1/accounts/1: detail"
    )


@pytest.mark.parametrize("status", [200, 204, 301, 304, 399])
def test_success_and_redirects_are_no_error(status: int) -> None:
    assert error_for_status(answer(status)) is None


def test_a_503_that_says_when_to_come_back_is_a_rate_limit() -> None:
    found = error_for_status(answer(503, **{"Retry-After": "120"}))
    assert isinstance(found, RateLimited)
    assert (found.status, found.retry_after) == (503, 120.0)


def test_a_429_carries_its_retry_after() -> None:
    found = error_for_status(answer(429, **{"Retry-After": "30"}))
    assert isinstance(found, RateLimited) and found.retry_after == 30.0
    found = error_for_status(answer(429))
    assert isinstance(found, RateLimited) and found.retry_after is None


def test_retry_after_in_seconds_is_never_negative() -> None:
    assert parse_retry_after("-5") == 0.0
    assert parse_retry_after(" 7.5 ") == 7.5
    assert parse_retry_after("0") == 0.0
    assert parse_retry_after("") is None
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None


def test_retry_after_as_an_http_date_counts_from_now() -> None:
    later = "Thu, 26 Nov 2026 12:02:00 GMT"  # NOW + 2 minutes
    assert parse_retry_after(later, now=NOW) == 120.0
    assert parse_retry_after(later, now=NOW + timedelta(minutes=5)) == 0.0  # already past
    # a date without a zone (obsolete "-0000") is taken as UTC
    assert parse_retry_after("Thu, 26 Nov 2026 12:01:00 -0000", now=NOW) == 60.0


def test_messages_name_the_address_without_its_query_and_the_detail_when_given() -> None:
    assert str(error_for_status(answer(500))) == "HTTP 500 from https://api.example/v1/accounts/1"
    limited = error_for_status(answer(503, **{"Retry-After": "1"}))
    assert str(limited) == "HTTP 503 from https://api.example/v1/accounts/1"
    with pytest.raises(AuthFailed) as raised:
        raise_for_status(answer(401), "token expired")
    assert str(raised.value).endswith("/v1/accounts/1: token expired")
    assert "token expired" in repr(raised.value)  # tracebacks and reprs say it too
    raise_for_status(answer(304))
    assert safe_url("https://user:pw@api.example:8443/x?key=k#f") == "https://api.example:8443/x"


def test_a_throttle_keeps_what_it_holds_back() -> None:
    limited = RateLimited("slow down", retry_after=5.0, scope="object", scope_id="page-1")
    assert (limited.kind, limited.retryable) == ("rate_limited", True)
    assert (limited.retry_after, limited.scope, limited.scope_id) == (5.0, "object", "page-1")


def test_transport_errors_name_the_address_or_the_platform() -> None:
    request = httpx.Request("GET", URL)
    with pytest.raises(Transient) as raised, transport_errors():
        raise httpx.ConnectError("refused", request=request)
    assert str(raised.value) == "ConnectError talking to https://api.example/v1/accounts/1"
    with pytest.raises(Transient) as raised, transport_errors():
        raise httpx.ConnectError("refused")  # no request attached
    assert str(raised.value) == "ConnectError talking to the platform"
