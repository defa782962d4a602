"""Hostile bodies and slow servers: every connector reads a body capped as it arrives, a request
has a whole-request deadline, and one slow feed host cannot take every feed slot.

Connectors run through the daemon's own client (``build_client``) over ``httpx.MockTransport``.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import tracemalloc
import zlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry

from connectors.base import ChannelRef, Checkpoint, Connector, PlatformOptions
from connectors.errors import ConnectorError, Malformed
from connectors.registry import CONNECTORS
from connectors.rss import RssConnector
from monitor.http_client import build_client
from monitor.jobs import Poller
from monitor.metrics import Instruments
from monitor.redact import Redactor
from monitor.settings import ChannelSettings, Policy, channel_label
from monitor.storage import Store
from tests import test_bluesky, test_facebook, test_instagram, test_linkedin, test_mastodon
from tests.conftest import NOW
from tests.hostile import MiB, gzip_bomb
from tests.test_connector_contract import OPTIONS, SAMPLE_HANDLES

BOMB = gzip_bomb(256 * MiB)  # 256 KB on the wire

Handler = Callable[[httpx.Request], httpx.Response]


def bomb(coding: str = "gzip", body: bytes = BOMB) -> Handler:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200,
            # a stream, so that the mock does not unpack it before the client reads it
            stream=httpx.ByteStream(body),
            headers={"content-type": "application/json", "content-encoding": coding},
        )

    return answer


async def fetch(platform: str, handler: Handler, handle: str | None = None) -> None:
    client = build_client(transport=httpx.MockTransport(handler))
    try:
        connector = CONNECTORS[platform](client, OPTIONS)
        await connector.fetch(
            ChannelRef(handle or SAMPLE_HANDLES[platform]), since=None, checkpoint=Checkpoint()
        )
    finally:
        await client.aclose()


# -- bodies are capped as they arrive ------------------------------------------------------------


@pytest.mark.parametrize("platform", sorted(CONNECTORS))
async def test_a_gzip_bomb_is_refused_while_it_unpacks(platform: str) -> None:
    tracemalloc.start()
    try:
        with pytest.raises(Malformed, match=r"larger than 10 MiB"):
            await fetch(platform, bomb())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # the cap (10 MiB) and a copy of it, not the 256 MiB the body unpacks to
    assert peak < 40 * MiB, f"{peak / MiB:.0f} MiB held while reading"


async def test_a_body_compressed_twice_is_unpacked_chunk_by_chunk_too() -> None:
    twice = gzip.compress(BOMB)  # gzip, gzip: 256 MiB from a few KB
    tracemalloc.start()
    try:
        with pytest.raises(Malformed, match=r"larger than 10 MiB"):
            await fetch("mastodon", bomb("gzip, gzip", twice))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 40 * MiB, f"{peak / MiB:.0f} MiB held while reading"


async def test_a_body_over_the_cap_as_sent_is_refused_by_its_length() -> None:
    seen: list[int] = []

    def big(request: httpx.Request) -> httpx.Response:
        body = b" " * (11 * MiB)
        seen.append(len(body))
        headers = {"content-length": str(len(body))}
        return httpx.Response(200, stream=httpx.ByteStream(body), headers=headers)

    with pytest.raises(Malformed, match=r"larger than 10 MiB"):
        await fetch("bluesky", big)
    assert seen


async def test_an_unasked_content_coding_is_malformed_and_says_which() -> None:
    with pytest.raises(Malformed, match=r"Content-Encoding 'br'"):
        await fetch("mastodon", bomb("br", b"\x8b\x02\x80hello\x03"))


async def test_a_corrupt_gzip_body_is_malformed() -> None:
    with pytest.raises(Malformed, match=r"undecodable"):
        await fetch("facebook", bomb("gzip", b"\x1f\x8b\x08\x00" + b"garbage" * 10))


@pytest.mark.parametrize("coding", ["gzip", "deflate", "deflate-raw", "identity"])
async def test_ordinary_compressed_answers_are_read(coding: str) -> None:
    payload = json.dumps({"error": "Record not found"}).encode()
    encoded = {
        "gzip": gzip.compress(payload),
        "deflate": zlib.compress(payload),
        "deflate-raw": zlib.compress(payload)[2:-4],  # servers that send raw deflate
        "identity": payload,
    }[coding]

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            404,
            stream=httpx.ByteStream(encoded),
            headers={"content-encoding": coding.removesuffix("-raw")},
        )

    with pytest.raises(ConnectorError) as caught:
        await fetch("mastodon", answer)
    assert caught.value.kind == "not_found"
    assert ": Record not found" in str(caught.value)  # the error body, unpacked


async def test_the_client_asks_only_for_codings_it_unpacks_chunk_by_chunk() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(404, json={"error": "Record not found"})

    with pytest.raises(ConnectorError):
        await fetch("mastodon", answer)
    assert {r.headers["accept-encoding"] for r in seen} == {"gzip, deflate"}


# -- payload values Python cannot hold are malformed, in one line --------------------------------

FAR = "9999-12-31T23:59:59-23:59"  # a valid timestamp whose UTC time is in the year 10000
DATE_KEYS = {"created_at", "created_time", "timestamp", "indexedAt", "createdAt", "publishedAt"}


def far_dated(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: (FAR if isinstance(v, str) else 10**20)
            if k in DATE_KEYS and isinstance(v, str | int)
            else far_dated(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [far_dated(v) for v in value]
    return value


def rewritten(handler: Handler) -> Handler:
    def answer(request: httpx.Request) -> httpx.Response:
        response = handler(request)
        body = far_dated(json.loads(response.read()))
        headers = {k: v for k, v in response.headers.items() if k not in ("content-length",)}
        return httpx.Response(response.status_code, json=body, headers=headers)

    return answer


@dataclass(frozen=True)
class Api:
    name: str
    make: Callable[[Any], Connector]  # a connector reading through this handler
    handler: Callable[[], Handler]
    handle: str


def graph(module: Any, platform: str, **extra: str) -> Callable[[Handler], Connector]:
    def make(handler: Handler) -> Connector:
        client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
        options = {"base_url": module.BASE, "access_token": module.TOKEN, **extra}
        return CONNECTORS[platform](client, PlatformOptions(**options))  # type: ignore[arg-type]

    return make


APIS = [
    Api("mastodon", test_mastodon.connector, test_mastodon.Server, "@developer@social.overheid.nl"),
    Api("bluesky", test_bluesky.connector, test_bluesky.AppView, "voorbeeld.bsky.social"),
    Api("linkedin", test_linkedin.connector, test_linkedin.Api, test_linkedin.ORG),
    Api(
        "facebook",
        graph(test_facebook, "facebook"),
        lambda: test_facebook.Graph(["page_p1_time.json", "posts_time_p2_last.json"]),
        "4",
    ),
    Api(
        "instagram",
        graph(test_instagram, "instagram", account_id=test_instagram.OWN_ID),
        lambda: test_instagram.Graph(["discovery_p1.json", "discovery_p2.json"]),
        test_instagram.OTHER,
    ),
]


@pytest.mark.parametrize("api", APIS, ids=lambda a: a.name)
async def test_a_date_past_year_9999_is_malformed_not_a_crash(api: Api) -> None:
    connector = api.make(rewritten(api.handler()))
    with pytest.raises(Malformed, match=r"out of range"):
        await connector.fetch(ChannelRef(api.handle), since=None, checkpoint=Checkpoint())


# -- a whole-request deadline --------------------------------------------------------------------


class Trickle(httpx.AsyncByteStream):
    """One byte every 50 ms, for ever: no single read ever waits long enough to time out."""

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while True:
            yield b" "
            await asyncio.sleep(0.05)


async def test_a_trickling_answer_is_cut_off_at_the_whole_request_deadline() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, stream=Trickle())

    async def read() -> bytes:
        async with build_client(timeout=0.5, transport=httpx.MockTransport(answer)) as client:
            response = await client.get("https://slow.example/feed")
            return await response.aread()

    with pytest.raises(httpx.ReadTimeout, match=r"no complete answer within 0.5 s"):
        await asyncio.wait_for(read(), 20)  # without a deadline, it would trickle until here


async def test_a_trickling_feed_fails_as_transient() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, stream=Trickle())

    client = build_client(timeout=0.5, transport=httpx.MockTransport(answer))
    try:
        with pytest.raises(ConnectorError) as caught:
            async with asyncio.timeout(20):
                await RssConnector(client, PlatformOptions()).fetch(
                    ChannelRef("https://slow.example/feed"), since=None, checkpoint=Checkpoint()
                )
    finally:
        await client.aclose()
    assert caught.value.kind == "transient"
    assert "timed out" in str(caught.value)


# -- one slow host cannot take every feed slot ---------------------------------------------------


def feed_channel(url: str) -> ChannelSettings:
    return ChannelSettings(
        f"Gemeente {url}", "rss", url, Policy(), timedelta(hours=1), label=channel_label(url, ())
    )


async def test_feeds_of_one_slow_host_leave_slots_for_other_hosts(store: Store) -> None:
    release = asyncio.Event()
    in_flight: dict[str, int] = {}
    most: dict[str, int] = {}
    body = (test_mastodon.FIXTURES.parent / "rss" / "gemeente_nieuws.xml").read_bytes()

    async def answer(request: httpx.Request) -> httpx.Response:
        host = request.url.host
        in_flight[host] = in_flight.get(host, 0) + 1
        most[host] = max(most.get(host, 0), in_flight[host])
        try:
            if host == "slow.example":
                await release.wait()
            return httpx.Response(200, content=body, headers={"content-type": "text/xml"})
        finally:
            in_flight[host] -= 1

    slow = [feed_channel(f"https://slow.example/feed{i}") for i in range(4)]
    fast = feed_channel("https://fast.example/feed")
    channels = [*slow, fast]
    ids = store.sync([c.organisation for c in channels], channels, NOW)

    async def db(fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.to_thread(fn, *args)

    client = build_client(transport=httpx.MockTransport(answer))
    poller = Poller(
        connectors={"rss": RssConnector(client, PlatformOptions())},
        store=store,
        db=db,
        instruments=Instruments(CollectorRegistry(), ["rss"]),
        redactor=Redactor([]),
        concurrency={"rss": 2},  # polls at once per feed host
        poll_timeout=timedelta(seconds=30),
        clock=lambda: NOW,
    )
    polls = [asyncio.create_task(poller.poll(c, ids[c.key])) for c in channels]
    try:
        async with asyncio.timeout(10):  # before: four slow feeds held all four rss slots
            report = await polls[-1]
        assert report.ok
        assert most == {"slow.example": 2, "fast.example": 1}
        release.set()
        async with asyncio.timeout(10):
            assert all(r.ok for r in await asyncio.gather(*polls[:-1]))
        assert most["slow.example"] == 2
    finally:
        release.set()
        for task in polls:
            task.cancel()
        await client.aclose()
