"""Requests and responses of the JSON APIs: what the platform modules would otherwise repeat.

``Poll`` is the requests of one ``fetch`` for LinkedIn, Mastodon and Bluesky: each brings its own
error mapping and, where the server reports its rate limit in ``{prefix}-Limit`` and
``{prefix}-Remaining`` headers, the prefix and how to read the reset time. The small helpers read
a payload, ``Retry-After`` and the server's clock the same way everywhere (the Graph module has its
own requests, since Graph errors come as JSON bodies, and uses ``validated``). Bodies are read
by ``connectors._http``: capped at ``max_bytes`` as they arrive, big ones decoded off the loop.
"""

from __future__ import annotations

import email.utils
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

import httpx
from pydantic import ValidationError

from connectors._http import JSON_MAX_BYTES, decode_json, get_capped
from connectors.errors import (
    ConnectorError,
    Malformed,
    RateLimited,
    parse_retry_after,
    safe_url,
    transport_errors,
)

QUOTA_ATTRIBUTE = "quota_used_ratio"  # read by the daemon with getattr() on errors

T = TypeVar("T")


class Poll:
    """The requests of one ``fetch`` below ``root``: error translation, quota, server clock.

    With ``rate_limit`` (a header prefix), the share of the limit used is kept in
    ``quota_used_ratio`` and attached to every error, and once the server says no request is
    left, the rest of the poll is refused without asking. A body over ``max_bytes`` (as sent
    or unpacked) is ``Malformed``.
    """

    def __init__(
        self,
        client: httpx.AsyncClient,
        root: str,
        error: Callable[[httpx.Response], ConnectorError | None],
        *,
        rate_limit: str | None = None,
        until_reset: Callable[[httpx.Response], float | None] | None = None,
        max_bytes: int = JSON_MAX_BYTES,
    ) -> None:
        self._client = client
        self._max_bytes = max_bytes
        self._root = root
        self._error = error
        self._rate_limit = rate_limit
        self._until_reset = until_reset
        self.quota_used_ratio: float | None = None
        self.server_time: datetime | None = None  # from the first response with a ``Date``
        self._spent: RateLimited | None = None  # the server said no request is left

    async def get(
        self,
        path: str,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        """GET ``{root}/{path}`` and return its JSON body."""
        return (await self.response(path, params, headers))[1]

    async def response(
        self,
        path: str,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> tuple[httpx.Response, Any]:
        """GET ``{root}/{path}``; the response and its JSON body."""
        if self._spent is not None:  # asking again would only be refused
            raise self._spent
        with transport_errors():
            response = await get_capped(
                self._client,
                f"{self._root}/{path}",
                max_bytes=self._max_bytes,
                params=params,
                headers=headers,
            )
        self.server_time = self.server_time or server_date(response)
        ratio = used_ratio(response.headers, self._rate_limit) if self._rate_limit else None
        if ratio is not None:
            self.quota_used_ratio = ratio
        error = self._error(response)
        if error is None and ratio == 1.0:
            self._spent = RateLimited(
                f"no requests left at {safe_url(response.request.url)}"
                f" ({self._rate_limit}-Remaining: 0)",
                retry_after=self._until_reset(response) if self._until_reset else None,
            )
            setattr(self._spent, QUOTA_ATTRIBUTE, 1.0)
        if error is not None:
            if self._rate_limit:
                setattr(error, QUOTA_ATTRIBUTE, self.quota_used_ratio)
            raise error
        return response, await decode_json(response)


def validated(check: Callable[[object], T], payload: object, what: str) -> T:
    """``check(payload)``; a mismatch is ``Malformed`` (``what: fields``), never the values."""
    try:
        return check(payload)
    except ValidationError as exc:
        fields = sorted({".".join(str(p) for p in e["loc"]) or "(root)" for e in exc.errors()})
        raise Malformed(f"{what}: {', '.join(fields[:5])}") from None


def used_ratio(headers: httpx.Headers, prefix: str) -> float | None:
    """``1 - remaining/limit`` from the ``{prefix}-Limit`` and ``{prefix}-Remaining`` headers."""
    try:
        limit = float(headers[f"{prefix}-Limit"])
        remaining = float(headers[f"{prefix}-Remaining"])
    except (KeyError, ValueError):
        return None
    if limit <= 0:
        return None
    return min(1.0, max(0.0, 1.0 - remaining / limit))


def retry_after(
    response: httpx.Response, otherwise: Callable[[httpx.Response], float | None]
) -> float | None:
    """Seconds from ``Retry-After``; without one, what ``otherwise`` reads from the response."""
    retry = parse_retry_after(response.headers.get("retry-after"))
    return otherwise(response) if retry is None else retry


def server_date(response: httpx.Response) -> datetime | None:
    """The server's clock, from the ``Date`` header."""
    try:
        when = email.utils.parsedate_to_datetime(response.headers.get("date", ""))
    except (TypeError, ValueError, IndexError):
        return None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def seconds_until(when: datetime, response: httpx.Response) -> float:
    """Seconds from the response's ``Date`` (else our clock) to ``when``; never negative."""
    now = server_date(response) or datetime.now(UTC)
    return max(0.0, (when - now).total_seconds())
