"""One contract, every connector: the same failures must come back as the same error kinds.

Parametrised over ``connectors.registry.CONNECTORS``, so a new platform is held to it as soon as
it is registered; add its sample handle to ``SAMPLE_HANDLES``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import httpx
import pytest

from connectors.base import ChannelRef, Checkpoint, PlatformOptions
from connectors.errors import ConnectorError, RateLimited
from connectors.registry import CONNECTORS
from monitor.http_client import build_client

SECRET = "SECRET-TOKEN-123"

SAMPLE_HANDLES: dict[str, str] = {
    "facebook": "gemeentevoorbeeld",
    "instagram": "gemeentevoorbeeld",
    "linkedin": "1234567",
    "mastodon": "@voorbeeld@social.example",
    "bluesky": "voorbeeld.bsky.social",
    "youtube": "UCq8Xb4yPGBNVhbE0p1n7bWQ",
    "rss": "https://www.voorbeeld.nl/nieuws/rss",
}

OPTIONS = PlatformOptions(access_token=SECRET, account_id="17841400000000000")

HTML_PAGE = (
    b"<!DOCTYPE html><html><head><title>Er ging iets mis</title></head>"
    b"<body><h1>Onderhoud</h1><p>We zijn zo terug.<br></body></html>"
)
BROKEN_XML = b'<?xml version="1.0"?><rss version="2.0"><channel><title>Nieuws</title><item><ti'


@dataclass(frozen=True)
class Failure:
    name: str
    answer: Callable[[httpx.Request], httpx.Response]
    kind: str


def status(code: int, **headers: str) -> Callable[[httpx.Request], httpx.Response]:
    return lambda request: httpx.Response(code, headers=headers, json={"error": "no"})


def body(content: bytes, content_type: str) -> Callable[[httpx.Request], httpx.Response]:
    return lambda request: httpx.Response(
        200, content=content, headers={"content-type": content_type}
    )


def redirect(location: str) -> Callable[[httpx.Request], httpx.Response]:
    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.scheme not in ("http", "https"):  # as httpx's own transport refuses it
            raise httpx.UnsupportedProtocol(f"unsupported protocol {request.url.scheme!r}")
        return httpx.Response(302, headers={"Location": location})

    return answer


def raises(error: type[httpx.TransportError]) -> Callable[[httpx.Request], httpx.Response]:
    def answer(request: httpx.Request) -> httpx.Response:
        raise error("simulated", request=request)

    return answer


FAILURES = [
    Failure("401", status(401), "auth"),
    Failure("403", status(403), "auth"),
    Failure("404", status(404), "not_found"),
    Failure("429", status(429, **{"Retry-After": "120"}), "rate_limited"),
    Failure("500", status(500), "transient"),
    Failure("503", status(503), "transient"),
    Failure("timeout", raises(httpx.ReadTimeout), "transient"),
    Failure("refused", raises(httpx.ConnectError), "transient"),
    Failure("invalid-json", body(b"{not json", "application/json"), "malformed"),
    Failure("broken-xml", body(BROKEN_XML, "application/xml"), "malformed"),
    Failure("html-200", body(HTML_PAGE, "text/html; charset=utf-8"), "malformed"),
    # json.loads raises RecursionError, not ValueError, on nesting this deep
    Failure("deep-json", body(b"[" * 100_000 + b"]" * 100_000, "application/json"), "malformed"),
    # a redirect to an address no HTTP client should read: not worth retrying
    Failure("redirect-file", redirect("file:///etc/passwd"), "malformed"),
    Failure("redirect-ftp", redirect("ftp://ftp.example/feed.xml"), "malformed"),
    Failure("redirect-invalid", redirect("http://x:abc/"), "malformed"),  # httpx.InvalidURL
]


def test_every_registered_platform_has_a_sample_handle() -> None:
    assert set(CONNECTORS) <= set(SAMPLE_HANDLES)


@pytest.mark.parametrize("failure", FAILURES, ids=lambda f: f.name)
@pytest.mark.parametrize("platform", sorted(CONNECTORS))
async def test_failures_become_the_documented_error_kind(platform: str, failure: Failure) -> None:
    requests: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)  # every request gets the failure, so multi-call connectors
        return failure.answer(request)  # fail on their first one

    # the daemon's own client: it follows redirects, unpacks gzip, has a whole-request deadline
    async with build_client(transport=httpx.MockTransport(handler)) as client:
        connector = CONNECTORS[platform](client, OPTIONS)
        with pytest.raises(ConnectorError) as caught:
            await connector.fetch(
                ChannelRef(SAMPLE_HANDLES[platform]), since=None, checkpoint=Checkpoint()
            )

    error = caught.value
    assert error.kind == failure.kind, str(error)
    assert requests, "the connector gave up without asking the platform"
    if failure.name == "429":
        assert isinstance(error, RateLimited)
        assert error.retry_after == 120
    for text in (str(error), repr(error), *map(str, error.args)):
        assert SECRET not in text
