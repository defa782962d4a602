"""Basic authentication and response headers (``monitor.web.auth``), on the real aiohttp app."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import CollectorRegistry

from monitor.settings import WebSettings
from monitor.web import build_app
from monitor.web.app import SLICE
from monitor.web.auth import CACHE_FOR, CACHE_SIZE, BasicAuth, credentials
from tests.tls import bcrypt_hash

ALICE, BOB = bcrypt_hash("wonderland"), bcrypt_hash("builder")


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (basic("alice", "wonderland"), ("alice", b"wonderland")),
        (basic("alice", "a:b:c"), ("alice", b"a:b:c")),  # split at the first ':'
        (basic("alice", ""), ("alice", b"")),
        ("basic " + base64.b64encode(b"alice:x").decode(), ("alice", b"x")),  # any case
        (basic("zoë", "ß"), ("zoë", "ß".encode())),
        ("Bearer abc", None),
        ("Basic", None),
        ("Basic !!!notbase64", None),
        ("Basic " + base64.b64encode(b"no colon").decode(), None),
        ("Basic " + base64.b64encode(b"\xff:x").decode(), None),  # not UTF-8
        (None, None),
    ],
)
def test_credentials(header: str | None, expected: tuple[str, bytes] | None) -> None:
    assert credentials(header) == expected


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_right_password_passes_wrong_ones_and_unknown_users_do_not() -> None:
    auth = BasicAuth({"alice": ALICE, "bob": BOB})
    assert await auth.allows(basic("alice", "wonderland"))
    assert await auth.allows(basic("bob", "builder"))
    assert not await auth.allows(basic("alice", "builder"))  # bob's password
    assert not await auth.allows(basic("carol", "wonderland"))
    assert not await auth.allows(basic("alice", "wonderland" * 10))  # past bcrypt's 72 bytes
    assert not await auth.allows(None)


async def test_unknown_users_cost_a_bcrypt_check_too() -> None:
    """So that the time taken does not tell which user names exist."""
    auth = BasicAuth({"alice": ALICE})
    assert not await auth.allows(basic("mallory", "wonderland"))
    assert auth.bcrypt_runs == 1


async def test_a_verified_password_is_remembered_for_a_while() -> None:
    clock = Clock()
    auth = BasicAuth({"alice": ALICE}, clock=clock)
    for _ in range(5):  # a scrape every few seconds
        assert await auth.allows(basic("alice", "wonderland"))
        clock.now += 15
    assert auth.bcrypt_runs == 1
    clock.now += CACHE_FOR
    assert await auth.allows(basic("alice", "wonderland"))
    assert auth.bcrypt_runs == 2


async def test_wrong_passwords_are_checked_every_time() -> None:
    auth = BasicAuth({"alice": ALICE})
    for _ in range(3):
        assert not await auth.allows(basic("alice", "nope"))
    assert auth.bcrypt_runs == 3


async def test_a_remembered_password_does_not_outlive_a_changed_hash() -> None:
    first = BasicAuth({"alice": ALICE})
    assert await first.allows(basic("alice", "wonderland"))
    changed = BasicAuth({"alice": bcrypt_hash("looking-glass")})  # a reload builds a new one
    assert not await changed.allows(basic("alice", "wonderland"))
    assert await changed.allows(basic("alice", "looking-glass"))


async def test_the_cache_holds_at_most_cache_size_entries() -> None:
    users = {f"user{i}": ALICE for i in range(CACHE_SIZE + 5)}
    auth = BasicAuth(users)
    for name in users:
        assert await auth.allows(basic(name, "wonderland"))
    assert auth.bcrypt_runs == CACHE_SIZE + 5
    assert await auth.allows(basic("user0", "wonderland"))  # the oldest was let go
    assert auth.bcrypt_runs == CACHE_SIZE + 6
    assert await auth.allows(basic(f"user{CACHE_SIZE + 4}", "wonderland"))  # the newest stayed
    assert auth.bcrypt_runs == CACHE_SIZE + 6


# --- the middleware on the daemon's application -------------------------------------------------


def app_client(protect: WebSettings | None, exposition: Any = None) -> TestClient:  # type: ignore[type-arg]
    async def snapshot() -> list[object]:
        return []

    async def ready() -> bool:
        return True

    app = build_app(
        registry=CollectorRegistry(),
        snapshot=snapshot,  # type: ignore[arg-type]
        live=lambda: None,
        ready=ready,
        clock=lambda: datetime(2026, 1, 1, tzinfo=UTC),
        protect=protect,
        exposition=exposition,
    )
    return TestClient(TestServer(app))


@pytest.fixture
async def client() -> AsyncIterator[TestClient]:  # type: ignore[type-arg]
    protect = WebSettings(
        source="web-config.yml",
        users=(("alice", ALICE),),
        headers=(("X-Frame-Options", "deny"), ("X-Content-Type-Options", "nosniff")),
    )
    async with app_client(protect) as client:
        yield client


@pytest.mark.parametrize("path", ["/metrics", "/api/channels", "/api/events", "/", "/nope"])
async def test_every_path_asks_for_a_password(client: TestClient, path: str) -> None:  # type: ignore[type-arg]
    response = await client.get(path)
    assert response.status == 401
    assert response.headers["WWW-Authenticate"].startswith("Basic ")
    assert response.headers["X-Frame-Options"] == "deny"
    wrong = await client.get(path, headers={"Authorization": basic("alice", "nope")})
    assert wrong.status == 401
    right = await client.get(path, headers={"Authorization": basic("alice", "wonderland")})
    assert right.status == (404 if path == "/nope" else 200)
    assert right.headers["X-Content-Type-Options"] == "nosniff"
    assert "WWW-Authenticate" not in right.headers


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
async def test_the_probes_need_no_password(client: TestClient, path: str) -> None:  # type: ignore[type-arg]
    response = await client.get(path)
    assert response.status == 200
    assert response.headers["X-Frame-Options"] == "deny"


async def test_without_users_nothing_asks_for_a_password_but_headers_are_sent() -> None:
    protect = WebSettings(source="web-config.yml", headers=(("X-Frame-Options", "sameorigin"),))
    async with app_client(protect) as client:
        response = await client.get("/metrics")
        assert response.status == 200
        assert response.headers["X-Frame-Options"] == "sameorigin"


async def test_without_a_web_config_the_server_is_as_before() -> None:
    async with app_client(None) as client:
        response = await client.get("/metrics")
        assert response.status == 200
        assert "X-Frame-Options" not in response.headers


async def test_a_large_exposition_is_sent_whole_in_slices_with_its_length() -> None:
    """``/metrics`` at scale: the exposition's pieces are sent one slice at a time (never
    joined whole), with the exact Content-Length and the configured headers."""
    pieces = [f'm{{channel="{i}"}} {i}\n'.encode() * 7 for i in range(60_000)]
    protect = WebSettings(source="web-config.yml", headers=(("X-Frame-Options", "deny"),))
    whole = b"".join(pieces)
    assert len(whole) > 3 * SLICE
    async with app_client(protect, lambda encoder, registry: pieces) as client:
        response = await client.get("/metrics")
        assert response.status == 200
        assert await response.read() == whole
        assert response.headers["Content-Length"] == str(len(whole))
        assert "Transfer-Encoding" not in response.headers
        assert response.headers["X-Frame-Options"] == "deny"
        head = await client.head("/metrics")
        assert head.status == 200 and head.headers["Content-Length"] == str(len(whole))
