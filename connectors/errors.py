"""The connector error tree, and the one place HTTP responses and transport errors are translated.

Each error's ``kind`` is also the ``reason`` label of ``channel_monitor_poll_errors_total``.
Errors carry data, never secrets: messages are built from status codes and platform error
texts, and URLs are reduced to scheme, host and path.
"""

from __future__ import annotations

import contextlib
import email.utils
import functools
import math
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal, ParamSpec, TypeVar

import httpx

ErrorKind = Literal["auth", "rate_limited", "not_found", "transient", "malformed"]
ERROR_KINDS: tuple[ErrorKind, ...] = ("auth", "rate_limited", "not_found", "transient", "malformed")
# What a throttle holds back, where the platform says: everything the app does, everything read
# with the token, or one object (a Page, an account) named by ``RateLimited.scope_id``.
ThrottleScope = Literal["app", "token", "object"]


class ConnectorError(Exception):
    """A channel could not be read. Never means the channel is inactive."""

    kind: ClassVar[ErrorKind]
    retryable: ClassVar[bool] = False

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status

    def __str__(self) -> str:
        return self.message


class AuthFailed(ConnectorError):
    """The token is invalid, expired or lacks a permission."""

    kind = "auth"


class RateLimited(ConnectorError):
    """The platform asked us to slow down; ``retry_after`` seconds when it said how long.

    ``scope`` says what the throttle holds back when the platform tells (None: the daemon's
    own guess, per platform or server); for ``"object"``, ``scope_id`` names the object.
    """

    kind = "rate_limited"
    retryable = True

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
        scope: ThrottleScope | None = None,
        scope_id: str | None = None,
    ) -> None:
        super().__init__(message, status=status)
        self.retry_after = retry_after
        self.scope = scope
        self.scope_id = scope_id


class ChannelNotFound(ConnectorError):
    """The page or account does not exist (removed, renamed, suspended).

    ``flaky``: the platform is known to give this answer at times for channels that exist
    (YouTube's channel feeds answer 404 on and off), so the daemon believes it only once it
    persists, and counts it as transient until then.
    """

    kind = "not_found"

    def __init__(self, message: str, *, status: int | None = None, flaky: bool = False) -> None:
        super().__init__(message, status=status)
        self.flaky = flaky


class Transient(ConnectorError):
    """Timeouts, network errors and server errors: worth trying again soon."""

    kind = "transient"
    retryable = True


class Malformed(ConnectorError):
    """A response that cannot be read as what the platform documents."""

    kind = "malformed"


def safe_url(url: httpx.URL | str) -> str:
    """A URL without query string, fragment or credentials, fit for messages."""
    parsed = httpx.URL(str(url))
    port = f":{parsed.port}" if parsed.port else ""
    return f"{parsed.scheme}://{parsed.host}{port}{parsed.path}"


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if math.isfinite(seconds) else None
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    current = now or datetime.now(UTC)
    try:
        return max(0.0, (when - current).total_seconds())
    except OverflowError:
        return None


def error_for_status(response: httpx.Response, detail: str | None = None) -> ConnectorError | None:
    """The error an unsuccessful HTTP status stands for, or None for 2xx/304.

    Platform modules call this after their own, more specific mapping (Graph error codes,
    LinkedIn ``serviceErrorCode``) found nothing to say.
    """
    status = response.status_code
    if status < 400 or status == 304:
        return None
    where = safe_url(response.request.url)
    text = f"HTTP {status} from {where}" + (f": {detail}" if detail else "")
    if status in (401, 403, 407):
        return AuthFailed(text, status=status)
    if status in (404, 410):
        return ChannelNotFound(text, status=status)
    if status == 429:
        retry = parse_retry_after(response.headers.get("retry-after"))
        return RateLimited(text, status=status, retry_after=retry)
    if status >= 500 or status in (408, 425):
        if status == 503:
            retry = parse_retry_after(response.headers.get("retry-after"))
            if retry is not None:
                return RateLimited(text, status=status, retry_after=retry)
        return Transient(text, status=status)
    return Malformed(f"unexpected {text}", status=status)


def raise_for_status(response: httpx.Response, detail: str | None = None) -> None:
    """Raise the ``ConnectorError`` for an unsuccessful response; return for 2xx and 304."""
    error = error_for_status(response, detail)
    if error is not None:
        raise error


@contextlib.contextmanager
def transport_errors() -> Iterator[None]:
    """Translate httpx transport errors (timeouts, refused connections, bad encodings)."""
    try:
        yield
    except httpx.TimeoutException as exc:
        raise Transient(f"timed out talking to {_where(exc)}") from None
    except httpx.DecodingError as exc:
        raise Malformed(f"undecodable response from {_where(exc)}") from None
    except httpx.TooManyRedirects as exc:
        raise Malformed(f"too many redirects from {_where(exc)}") from None
    except httpx.TransportError as exc:
        raise Transient(f"{type(exc).__name__} talking to {_where(exc)}") from None


@contextlib.contextmanager
def payload_errors() -> Iterator[None]:
    """Translate what a hostile value in an answer makes Python raise, where no parser names it:
    a date past the year 9999 once moved to UTC (``9999-12-31T23:59:59-23:59``), nesting deeper
    than the recursion limit, an address httpx cannot parse. Each is the answer's fault, the
    same on every poll: ``Malformed`` in one line, not a traceback each time."""
    try:
        yield
    except OverflowError:
        raise Malformed("a date or number in the answer is out of range") from None
    except RecursionError:
        raise Malformed("the answer is nested too deeply to read") from None
    except httpx.InvalidURL as exc:
        raise Malformed(f"invalid address in the answer: {str(exc)[:100]}") from None


P = ParamSpec("P")
T = TypeVar("T")


def payload_guarded(fetch: Callable[P, Awaitable[T]]) -> Callable[P, Coroutine[Any, Any, T]]:
    """A connector's ``fetch`` under ``payload_errors``: put on every JSON connector's fetch."""

    @functools.wraps(fetch)
    async def guarded(*args: P.args, **kwargs: P.kwargs) -> T:
        with payload_errors():
            return await fetch(*args, **kwargs)

    return guarded


def _where(exc: httpx.RequestError) -> str:
    try:
        return safe_url(exc.request.url)
    except RuntimeError:  # no request attached
        return "the platform"
