"""aiohttp's connection pool under httpx's API: the daemon's transport.

Every connector speaks ``httpx.AsyncClient``; only what sends the bytes changes. At 10,000 feeds
httpcore's pool spent more CPU per poll the more connections it held (its liveness checks on
every kept connection); aiohttp's pool does not. httpx still follows redirects, keeps cookies,
unpacks bodies and applies its timeouts: this transport sends one request and streams one answer.

The shape follows ``httpx_aiohttp/transport.py`` (httpx-aiohttp 0.2.0, MIT licence), with the
errors mapped to httpx's own precisely (a server closing mid-answer is a protocol error, not a
connect timeout) and the URL sent as httpx built it, never re-quoted.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Mapping

import aiohttp
import httpx
import yarl

CHUNK = 64 * 1024  # bytes read from the body at a time
MAX_HEADER = 64 * 1024  # longest status line or header field accepted (aiohttp's default: 8190)
MAX_HEADERS = 1024  # header fields accepted in one answer (aiohttp's default: 128)
KEEPALIVE = 5.0  # seconds an idle connection is kept, as httpx's pool does
# aiohttp adds these when a request lacks them; httpx decides what is sent
SKIP_AUTO_HEADERS = ("Accept", "Accept-Encoding", "User-Agent", "Content-Type")


class AiohttpTransport(httpx.AsyncBaseTransport):
    """Sends httpx requests through one ``aiohttp.ClientSession`` holding ``connections``."""

    def __init__(self, connections: int = 64) -> None:
        self._connections = connections
        self._ssl = httpx.create_ssl_context()  # certifi, or SSL_CERT_FILE as httpx reads it
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        """The session, made inside the running loop on first use."""
        connector = aiohttp.TCPConnector(
            limit=self._connections,
            limit_per_host=0,
            ssl=self._ssl,
            keepalive_timeout=KEEPALIVE,
        )
        return aiohttp.ClientSession(
            connector=connector,
            cookie_jar=aiohttp.DummyCookieJar(),  # httpx keeps the cookies
            auto_decompress=False,  # httpx (and connectors/_http.py) unpack, counting bytes
            skip_auto_headers=SKIP_AUTO_HEADERS,
            max_line_size=MAX_HEADER,
            max_field_size=MAX_HEADER,
            max_headers=MAX_HEADERS,
            trust_env=False,  # no proxies from the environment, as before
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self._session is None:
            self._session = self._open()
        headers = request.headers.multi_items()
        body = await request.aread()
        if "transfer-encoding" in request.headers:  # a streamed body, now read: aiohttp sizes it
            headers = [(k, v) for k, v in headers if k.lower() != "transfer-encoding"]
        try:
            url = yarl.URL(str(_without_userinfo(request.url)), encoded=True)
            response = await self._session.request(
                request.method,
                url,
                headers=headers,
                data=body or None,
                allow_redirects=False,
                compress=None,
                timeout=_timeout(request.extensions.get("timeout", {})),
            )
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise _httpx_error(exc, request) from exc
        extensions = {"http_version": _version(response.version)}
        if response.reason:
            extensions["reason_phrase"] = response.reason.encode("latin-1", "replace")
        return httpx.Response(
            status_code=response.status,
            headers=response.raw_headers,
            stream=_Body(response, request),
            request=request,
            extensions=extensions,
        )

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


class _Body(httpx.AsyncByteStream):
    """An aiohttp answer's body as sent (still packed), streamed; closing releases it."""

    def __init__(self, response: aiohttp.ClientResponse, request: httpx.Request) -> None:
        self._response = response
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        chunks = aiter(self._response.content.iter_chunked(CHUNK))
        while True:
            try:
                chunk = await anext(chunks)
            except StopAsyncIteration:
                return
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                raise _httpx_error(exc, self._request) from exc
            yield chunk

    async def aclose(self) -> None:
        # read to its end, the connection is back in the pool already; unread, it is closed
        self._response.release()


def _without_userinfo(url: httpx.URL) -> httpx.URL:
    """``url`` without ``user:password@``: httpx sent them as ``Authorization`` already, and
    aiohttp refuses a request that has both."""
    return url.copy_with(username=None, password=None) if url.userinfo else url


@functools.lru_cache(maxsize=16)
def _client_timeout(
    connect: float | None, read: float | None, pool: float | None
) -> aiohttp.ClientTimeout:
    return aiohttp.ClientTimeout(total=None, connect=pool, sock_connect=connect, sock_read=read)


def _timeout(timeout: Mapping[str, float | None]) -> aiohttp.ClientTimeout:
    """httpx's timeouts (``request.extensions["timeout"]``) as aiohttp's, as httpx maps them."""
    return _client_timeout(timeout.get("connect"), timeout.get("read"), timeout.get("pool"))


@functools.lru_cache(maxsize=4)
def _version(version: aiohttp.HttpVersion) -> bytes:
    return f"HTTP/{version.major}.{version.minor}".encode()


def _httpx_error(exc: BaseException, request: httpx.Request) -> httpx.TransportError:
    """The httpx error for what aiohttp raised, with the request attached.

    Messages never quote the URL: aiohttp's own name the whole address, query (tokens) included.
    """
    error: type[httpx.TransportError]
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        error, message = httpx.ConnectTimeout, "timed out connecting"
    elif isinstance(exc, TimeoutError):  # SocketTimeoutError, ServerTimeoutError, asyncio's
        error, message = httpx.ReadTimeout, "timed out reading"
    elif isinstance(exc, aiohttp.ClientConnectorError):  # refused, DNS, TLS and certificates
        error, message = httpx.ConnectError, _connect_failure(exc)
    elif isinstance(exc, aiohttp.ServerDisconnectedError):
        error, message = httpx.RemoteProtocolError, "server disconnected without an answer"
    elif isinstance(exc, aiohttp.ClientPayloadError):  # truncated body, bad chunking
        error, message = httpx.RemoteProtocolError, f"broken body: {exc}"
    elif isinstance(exc, aiohttp.ClientResponseError):  # bad status line, header too long
        error, message = httpx.RemoteProtocolError, f"invalid answer: {exc.message}"
    elif isinstance(exc, aiohttp.InvalidURL | aiohttp.NonHttpUrlClientError):
        error, message = httpx.UnsupportedProtocol, "not an http(s) address aiohttp can request"
    else:  # ClientOSError, any other ClientError, an OSError aiohttp did not wrap
        error, message = httpx.ReadError, f"{type(exc).__name__}: {exc}"
    return error(message, request=request)


def _connect_failure(exc: aiohttp.ClientConnectorError) -> str:
    reason = str(exc.os_error) or type(exc.os_error).__name__
    return f"cannot connect to {exc.host}:{exc.port}: {reason}"
