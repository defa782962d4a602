"""The one HTTP client every connector shares, metered per poll and per platform."""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from monitor import __version__
from monitor.aiohttp_transport import AiohttpTransport

USER_AGENT = f"channel-monitor/{__version__} (+https://github.com/channel-monitor/channel-monitor)"


@dataclass
class RequestTally:
    """Requests made during one poll, by status code ('error' when no response came back)."""

    platform: str
    codes: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.codes.values())

    def add(self, code: str) -> None:
        self.codes[code] = self.codes.get(code, 0) + 1


current_tally: contextvars.ContextVar[RequestTally | None] = contextvars.ContextVar(
    "current_tally", default=None
)


class MeteredTransport(httpx.AsyncBaseTransport):
    """Counts every request into the tally of the poll that made it (a context variable)."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self._inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        tally = current_tally.get()
        try:
            response = await self._inner.handle_async_request(request)
        except Exception:
            if tally is not None:
                tally.add("error")
            raise
        if tally is not None:
            tally.add(str(response.status_code))
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()


class DeadlineTransport(httpx.AsyncBaseTransport):
    """Gives each request ``seconds`` in all, from connecting to its last byte.

    httpx's timeouts bound each wait on its own: a server sending a byte every few seconds never
    trips them, and held a poll (and its platform's slot) until the poll's own timeout. Past the
    deadline the request fails with ``httpx.ReadTimeout``, like any other timeout.
    """

    def __init__(self, inner: httpx.AsyncBaseTransport, seconds: float) -> None:
        self._inner = inner
        self._seconds = seconds

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        deadline = asyncio.get_running_loop().time() + self._seconds
        try:
            async with asyncio.timeout_at(deadline):
                response = await self._inner.handle_async_request(request)
        except TimeoutError:
            raise self._late(request) from None
        if isinstance(response.stream, httpx.AsyncByteStream) and _may_have_body(request, response):
            late = functools.partial(self._late, request)
            response.stream = _DeadlineStream(response.stream, deadline, late)
        return response

    def _late(self, request: httpx.Request) -> httpx.ReadTimeout:
        return httpx.ReadTimeout(f"no complete answer within {self._seconds:g} s", request=request)

    async def aclose(self) -> None:
        await self._inner.aclose()


def _may_have_body(request: httpx.Request, response: httpx.Response) -> bool:
    """Whether the answer can carry a body (RFC 9110 §6.4.1): a 304, a 204 or the answer to a
    HEAD has none, and no transport waits for one, so it needs no deadline of its own (most of
    the daemon's polls end in a 304)."""
    return request.method != "HEAD" and response.status_code not in (204, 304)


class _DeadlineStream(httpx.AsyncByteStream):
    """A response body that ends with ``late()`` once the request's deadline has passed."""

    def __init__(
        self, inner: httpx.AsyncByteStream, deadline: float, late: Callable[[], httpx.ReadTimeout]
    ) -> None:
        self._inner = inner
        self._deadline = deadline
        self._late = late

    async def __aiter__(self) -> AsyncIterator[bytes]:
        chunks = aiter(self._inner)
        while True:
            try:
                async with asyncio.timeout_at(self._deadline):
                    chunk = await anext(chunks)
            except StopAsyncIteration:
                return
            except TimeoutError:
                raise self._late() from None
            yield chunk

    async def aclose(self) -> None:
        await self._inner.aclose()


def build_client(
    *,
    timeout: float = 30.0,
    transport: httpx.AsyncBaseTransport | None = None,
    connections: int = 64,
) -> httpx.AsyncClient:
    """The shared client: timeouts, redirects, gzip, a polite User-Agent, metered.

    ``timeout`` bounds each wait (connecting at most 10 s) and each request as a whole. The
    pool holds ``connections`` (the daemon's ``max_in_flight``): a poll never waits for one.

    Tests pass ``httpx.MockTransport``. Otherwise aiohttp's pool carries the requests under
    httpx's API (``AiohttpTransport``): at 10,000 feeds it cost less CPU per poll than httpcore's,
    whose checks on every kept connection grow with the pool.
    """
    inner = transport or AiohttpTransport(connections)
    return _Client(
        transport=MeteredTransport(DeadlineTransport(inner, timeout)),
        timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
        follow_redirects=True,
        max_redirects=5,
        headers={"User-Agent": USER_AGENT},
    )


class _Cookies(httpx.Cookies):
    """httpx's cookie jar, which looks at an answer only when it sets a cookie: httpx builds a
    urllib request and response for the jar from every answer (some 8 % of an unchanged poll's
    CPU at 10,000 feeds), and nearly none sets one."""

    def extract_cookies(self, response: httpx.Response) -> None:
        if "set-cookie" in response.headers:
            super().extract_cookies(response)


class _Client(httpx.AsyncClient):
    """``httpx.AsyncClient`` with ``_Cookies``: cookies are kept and sent as before."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._kept = _Cookies(super().cookies)

    @property
    def cookies(self) -> httpx.Cookies:
        return self._kept

    @cookies.setter
    def cookies(self, cookies: Any) -> None:
        self._kept = _Cookies(cookies)
