"""Polls keep their connections: a 304 or a redirect read to its end leaves the connection in the
pool, so an unchanged poll costs one request on a kept connection, not a new TCP (and TLS)
handshake. Real sockets on 127.0.0.1: a mock transport has no connections to keep."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from connectors.base import ChannelRef, Checkpoint, PlatformOptions
from connectors.rss import RssConnector
from monitor.http_client import build_client

FEED = (
    b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>'
    b"<link>http://example.org/</link><description>d</description>"
    b"<item><guid>1</guid><title>a</title><pubDate>Mon, 30 Nov 2026 10:00:00 GMT</pubDate></item>"
    b"</channel></rss>"
)


class Server:
    """HTTP/1.1 keep-alive on 127.0.0.1: ``/feed`` with an ETag (304 when it matches);
    ``/moved`` a 301 to ``/feed`` whose body is ``moved_body`` bytes long."""

    def __init__(self, moved_body: int = 0) -> None:
        self.connections = 0
        self.requests = 0
        self.moved_body = moved_body
        self.port = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
                self.requests += 1
                line, *headers = head.split("\r\n")
                path = line.split(" ")[1]
                matches = any(h.lower() == 'if-none-match: "v1"' for h in headers)
                if path == "/moved":
                    body = b"x" * self.moved_body
                    writer.write(
                        b"HTTP/1.1 301 Moved Permanently\r\nLocation: /feed\r\n"
                        + f"Content-Length: {len(body)}\r\n\r\n".encode()
                        + body
                    )
                elif matches:
                    writer.write(
                        b'HTTP/1.1 304 Not Modified\r\nETag: "v1"\r\nContent-Length: 0\r\n\r\n'
                    )
                else:
                    writer.write(
                        b'HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\nETag: "v1"\r\n'
                        + f"Content-Length: {len(FEED)}\r\n\r\n".encode()
                        + FEED
                    )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionResetError):
            pass
        finally:
            writer.close()


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    state = Server()
    listening = await asyncio.start_server(state.handle, "127.0.0.1", 0)
    state.port = listening.sockets[0].getsockname()[1]
    async with listening:
        yield state


async def poll_three_times(server: Server, path: str) -> list[bool]:
    client = build_client(timeout=5.0)
    connector = RssConnector(client, PlatformOptions())
    checkpoint = Checkpoint()
    unchanged = []
    try:
        for _ in range(3):
            url = f"http://127.0.0.1:{server.port}{path}"
            result = await connector.fetch(ChannelRef(url), since=None, checkpoint=checkpoint)
            checkpoint = result.checkpoint
            unchanged.append(result.not_modified)
    finally:
        await client.aclose()
    return unchanged


async def test_unchanged_polls_answered_304_keep_one_connection(server: Server) -> None:
    assert await poll_three_times(server, "/feed") == [False, True, True]
    assert (server.requests, server.connections) == (3, 1)


async def test_a_redirect_read_to_its_end_keeps_the_connection(server: Server) -> None:
    server.moved_body = 100
    assert await poll_three_times(server, "/moved") == [False, True, True]
    # the 301 once (the new address is remembered), then the feed three times
    assert (server.requests, server.connections) == (4, 1)


async def test_a_long_unread_redirect_body_is_not_waited_for(server: Server) -> None:
    server.moved_body = 1024 * 1024  # past what is drained: the connection is let go instead
    assert await poll_three_times(server, "/moved") == [False, True, True]
    assert (server.requests, server.connections) == (4, 2)
