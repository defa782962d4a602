"""The daemon's transport (aiohttp's pool under httpx's API) against real sockets on 127.0.0.1:
what is sent is what httpx built, the answer streams, and every failure is the httpx error
httpx's own transport raises, so that the error layer says the same as before."""

from __future__ import annotations

import asyncio
import base64
import gzip
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpx
import pytest

from connectors._http import get_capped
from connectors.errors import ConnectorError, Malformed, transport_errors
from monitor.aiohttp_transport import AiohttpTransport
from monitor.http_client import build_client
from tests.hostile import MiB, gzip_bomb
from tests.tls import make_pki

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter, "Server"], Awaitable[None]]


class Server:
    """Answers each connection with ``handler``; keeps each request's head as received."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.heads: list[bytes] = []
        self.connections = 0
        self.go_on = asyncio.Event()
        self.port = 0

    async def read_head(self, reader: asyncio.StreamReader) -> bytes:
        head = await reader.readuntil(b"\r\n\r\n")
        self.heads.append(head)
        return head

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            await self.handler(reader, writer, self)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    def url(self, path: str = "/", scheme: str = "http") -> str:
        return f"{scheme}://127.0.0.1:{self.port}{path}"


async def start(
    handler: Handler, tls: ssl.SSLContext | None = None
) -> tuple[Server, asyncio.Server]:
    server = Server(handler)
    listening = await asyncio.start_server(server.serve, "127.0.0.1", 0, ssl=tls)
    server.port = listening.sockets[0].getsockname()[1]
    return server, listening


@pytest.fixture
async def serve() -> AsyncIterator[Callable[..., Awaitable[Server]]]:
    servers: list[asyncio.Server] = []

    async def run(handler: Handler, tls: ssl.SSLContext | None = None) -> Server:
        server, listening = await start(handler, tls)
        servers.append(listening)
        return server

    yield run
    for listening in servers:
        listening.close()


def header_names(head: bytes) -> list[str]:
    return [line.split(b":")[0].decode().lower() for line in head.split(b"\r\n")[1:] if line]


async def test_a_200_streams_its_body_with_the_headers_as_sent(serve) -> None:
    async def answer(reader, writer, server: Server) -> None:
        await server.read_head(reader)
        writer.write(
            b"HTTP/1.1 200 Fine Thanks\r\nContent-Type: text/plain\r\nX-Many: 1\r\nX-Many: 2\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n5\r\nfirst\r\n"
        )
        await writer.drain()
        await server.go_on.wait()  # the rest only once the first part was read
        writer.write(b"4\r\nrest\r\n0\r\n\r\n")
        await writer.drain()
        await reader.read()

    server = await serve(answer)
    async with build_client(timeout=5.0) as client:
        del client.headers["Accept"]  # aiohttp would add its own
        async with client.stream("GET", server.url("/page")) as response:
            parts = aiter(response.aiter_raw())
            first = await anext(parts)
            server.go_on.set()
            rest = b"".join([chunk async for chunk in parts])
    assert (response.status_code, response.reason_phrase, response.http_version) == (
        200,
        "Fine Thanks",
        "HTTP/1.1",
    )
    assert response.headers.get_list("x-many") == ["1", "2"]
    assert (first, rest) == (b"first", b"rest")
    request = httpx.Request("GET", server.url("/page"), headers=client.headers)
    # aiohttp added no header of its own (no Accept, Accept-Encoding or User-Agent of its choice)
    assert sorted(header_names(server.heads[0])) == sorted(k.lower() for k in request.headers)
    assert f"user-agent: {client.headers['user-agent']}".encode() in server.heads[0].lower()


async def test_a_gzip_body_is_unpacked_by_httpx_and_a_bomb_refused_by_read_body(serve) -> None:
    bomb = gzip_bomb(64 * MiB)

    async def answer(reader, writer, server: Server) -> None:
        while True:
            head = await server.read_head(reader)
            body = bomb if head.startswith(b"GET /bomb") else gzip.compress(b"hello " * 1000)
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\n"
                + f"Content-Length: {len(body)}\r\n\r\n".encode()
                + body
            )
            await writer.drain()

    server = await serve(answer)
    async with build_client(timeout=5.0) as client:
        response = await client.get(server.url("/small"))
        assert response.text == "hello " * 1000
        with pytest.raises(Malformed, match="larger than"):
            await get_capped(client, server.url("/bomb"), max_bytes=MiB)


async def test_an_answer_with_a_20_kb_header_is_read(serve) -> None:
    long = "u" * 20_000

    async def answer(reader, writer, server: Server) -> None:
        await server.read_head(reader)
        writer.write(f"HTTP/1.1 200 OK\r\nX-Usage: {long}\r\nContent-Length: 2\r\n\r\nok".encode())
        await writer.drain()

    server = await serve(answer)
    async with build_client(timeout=5.0) as client:
        response = await client.get(server.url())
    assert (response.headers["x-usage"], response.text) == (long, "ok")


async def test_the_address_arrives_byte_for_byte(serve) -> None:
    async def answer(reader, writer, server: Server) -> None:
        await server.read_head(reader)
        writer.write(b"HTTP/1.1 204 No Content\r\n\r\n")
        await writer.drain()

    server = await serve(answer)
    target = "/a%2Fb/c?sig=ab%2Fcd%2B%3D&q=one+two&t=x%20y"
    async with build_client(timeout=5.0) as client:
        await client.get(server.url(target))
    assert server.heads[0].split(b"\r\n")[0] == f"GET {target} HTTP/1.1".encode()


async def test_credentials_in_the_address_are_sent_as_httpx_sends_them(serve) -> None:
    async def answer(reader, writer, server: Server) -> None:
        await server.read_head(reader)
        writer.write(b"HTTP/1.1 204 No Content\r\n\r\n")
        await writer.drain()

    server = await serve(answer)
    async with build_client(timeout=5.0) as client:
        response = await client.get(f"http://reader:s%40cret@127.0.0.1:{server.port}/feed?a=1")
    assert response.status_code == 204
    request_line, *lines = server.heads[0].split(b"\r\n")
    assert request_line == b"GET /feed?a=1 HTTP/1.1"
    fields = {k.lower(): v for k, v in (line.split(b": ", 1) for line in lines if line)}
    assert fields[b"authorization"] == b"Basic " + base64.b64encode(b"reader:s@cret")


async def test_cookies_are_httpx_s_alone(serve) -> None:
    async def answer(reader, writer, server: Server) -> None:
        while True:
            await server.read_head(reader)
            writer.write(
                b"HTTP/1.1 200 OK\r\nSet-Cookie: session=s1; Path=/\r\nContent-Length: 0\r\n\r\n"
            )
            await writer.drain()

    server = await serve(answer)
    url = f"http://localhost:{server.port}/"  # aiohttp's jar would keep no cookie of an IP
    async with build_client(timeout=5.0) as client:
        await client.get(url)
        await client.get(url)  # httpx sends the cookie it kept, once
        client.cookies.clear()
        await client.get(url)  # nothing kept by httpx: nothing sent
    cookies = [
        [line for line in head.split(b"\r\n") if line.lower().startswith(b"cookie:")]
        for head in server.heads
    ]
    assert [[line.lower() for line in lines] for lines in cookies] == [
        [],
        [b"cookie: session=s1"],
        [],
    ]
    assert server.connections == 1


async def test_only_answers_that_set_a_cookie_reach_the_jar(
    serve, monkeypatch: pytest.MonkeyPatch
) -> None:
    answers = iter([b"Set-Cookie: session=s1; Path=/\r\n", b"", b"Set-Cookie: session=s2\r\n", b""])

    async def answer(reader, writer, server: Server) -> None:
        while True:
            await server.read_head(reader)
            writer.write(b"HTTP/1.1 200 OK\r\n" + next(answers) + b"Content-Length: 0\r\n\r\n")
            await writer.drain()

    read: list[str] = []
    extract = httpx.Cookies.extract_cookies

    def spy(self: httpx.Cookies, response: httpx.Response) -> None:
        read.append(response.headers.get("set-cookie", ""))
        extract(self, response)

    monkeypatch.setattr(httpx.Cookies, "extract_cookies", spy)
    server = await serve(answer)
    url = f"http://localhost:{server.port}/"
    async with build_client(timeout=5.0) as client:
        for _ in range(4):
            await client.get(url)
    assert read == ["session=s1; Path=/", "session=s2"]  # the two others were not looked at
    sent = [
        [line.lower() for line in head.split(b"\r\n") if line.lower().startswith(b"cookie:")]
        for head in server.heads
    ]
    assert sent == [[], [b"cookie: session=s1"], [b"cookie: session=s1"], [b"cookie: session=s2"]]


def transports() -> list[pytest.param]:
    return [
        pytest.param(lambda: httpx.AsyncHTTPTransport(retries=0), id="httpx"),
        pytest.param(AiohttpTransport, id="aiohttp"),
    ]


async def reason(client_transport: httpx.AsyncBaseTransport, url: str, **timeout: float) -> str:
    """What the error layer says of a GET of ``url`` read to its end."""
    seconds = timeout.get("timeout", 5.0)
    async with httpx.AsyncClient(transport=client_transport, timeout=seconds) as client:
        with pytest.raises(ConnectorError) as failed, transport_errors():
            await client.get(url)
    return f"{failed.value.kind}: {failed.value}"


@pytest.mark.parametrize("transport", transports())
async def test_a_refused_connection_is_a_connect_error(transport) -> None:
    probe = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = probe.sockets[0].getsockname()[1]
    probe.close()
    await probe.wait_closed()
    url = f"http://127.0.0.1:{port}/feed?token=secret"
    async with httpx.AsyncClient(transport=transport()) as client:
        with pytest.raises(httpx.ConnectError) as failed:
            await client.get(url)
    assert failed.value.request.url == url
    assert "secret" not in str(failed.value)
    assert await reason(transport(), url) == (
        f"transient: ConnectError talking to http://127.0.0.1:{port}/feed"
    )


@pytest.mark.parametrize("transport", transports())
async def test_a_server_that_never_answers_is_a_read_timeout(transport, serve) -> None:
    async def silent(reader, writer, server: Server) -> None:
        await server.read_head(reader)
        await reader.read()

    server = await serve(silent)
    began = time.monotonic()
    async with httpx.AsyncClient(transport=transport(), timeout=0.3) as client:
        with pytest.raises(httpx.ReadTimeout):
            await client.get(server.url("/feed"))
    assert time.monotonic() - began < 2.0
    assert await reason(transport(), server.url("/feed"), timeout=0.3) == (
        f"transient: timed out talking to {server.url('/feed')}"
    )


@pytest.mark.parametrize("transport", transports())
async def test_a_body_that_stalls_is_a_read_timeout(transport, serve) -> None:
    async def stalls(reader, writer, server: Server) -> None:
        await server.read_head(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nsome")
        await writer.drain()
        await reader.read()

    server = await serve(stalls)
    async with httpx.AsyncClient(transport=transport(), timeout=0.3) as client:
        with pytest.raises(httpx.ReadTimeout):
            await client.get(server.url())


@pytest.mark.parametrize("transport", transports())
@pytest.mark.parametrize(
    "answer",
    [
        pytest.param(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part", id="mid-body"),
        pytest.param(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nnot hex\r\n0\r\n\r\n",
            id="bad-chunking",
        ),
        pytest.param(b"", id="no-answer"),
        pytest.param(b"HTTP/1.1 OK\r\n\r\n", id="bad-status-line"),
    ],
)
async def test_a_broken_answer_is_a_remote_protocol_error(transport, answer, serve) -> None:
    async def broken(reader, writer, server: Server) -> None:
        await server.read_head(reader)
        writer.write(answer)
        await writer.drain()

    server = await serve(broken)
    async with httpx.AsyncClient(transport=transport(), timeout=5.0) as client:
        with pytest.raises(httpx.RemoteProtocolError) as failed:
            await client.get(server.url("/feed"))
    assert failed.value.request.url == server.url("/feed")
    assert await reason(transport(), server.url("/feed")) == (
        f"transient: RemoteProtocolError talking to {server.url('/feed')}"
    )


@pytest.fixture(scope="module")
def untrusted_tls(tmp_path_factory: pytest.TempPathFactory) -> ssl.SSLContext:
    pki = make_pki(Path(tmp_path_factory.mktemp("pki")))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(pki.cert("server"), pki.key("server"))
    return context


@pytest.mark.parametrize("transport", transports())
async def test_a_certificate_no_one_trusts_is_a_connect_error(
    transport, serve, untrusted_tls
) -> None:
    async def answer(reader, writer, server: Server) -> None:
        await server.read_head(reader)

    server = await serve(answer, untrusted_tls)
    url = server.url("/feed", scheme="https")
    async with httpx.AsyncClient(transport=transport(), timeout=5.0) as client:
        with pytest.raises(httpx.ConnectError):
            await client.get(url)
    assert await reason(transport(), url) == f"transient: ConnectError talking to {url}"


async def test_an_address_aiohttp_cannot_request_is_unsupported() -> None:
    transport = AiohttpTransport()
    try:
        with pytest.raises(httpx.UnsupportedProtocol):
            await transport.handle_async_request(httpx.Request("GET", "ftp://127.0.0.1/file"))
    finally:
        await transport.aclose()
