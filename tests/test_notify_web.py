"""``/api/events``: the newest events as JSON, limited, never a webhook URL."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import CollectorRegistry

from monitor.views import ChannelView
from monitor.web import build_app
from tests.conftest import NOW


async def no_views() -> Sequence[ChannelView]:
    return []


async def ready() -> bool:
    return True


async def client(events: Any = None) -> TestClient[Any, Any]:
    app = build_app(
        registry=CollectorRegistry(),
        snapshot=no_views,
        live=lambda: None,
        ready=ready,
        clock=lambda: NOW,
        events=events,
    )
    test_client: TestClient[Any, Any] = TestClient(TestServer(app))
    await test_client.start_server()
    return test_client


async def test_api_events_passes_the_limit_and_returns_json() -> None:
    asked: list[int] = []

    async def events(limit: int) -> Sequence[Mapping[str, Any]]:
        asked.append(limit)
        return [{"id": 2, "kind": "state_changed"}, {"id": 1, "kind": "digest"}]

    http = await client(events)
    try:
        response = await http.get("/api/events")
        assert response.status == 200
        assert await response.json() == [
            {"id": 2, "kind": "state_changed"},
            {"id": 1, "kind": "digest"},
        ]
        assert (await http.get("/api/events?limit=5")).status == 200
        assert asked == [100, 5]
        for bad in ("0", "1001", "ten"):
            response = await http.get(f"/api/events?limit={bad}")
            assert response.status == 400
            assert "limit" in (await response.json())["error"]
        assert asked == [100, 5]
    finally:
        await http.close()


async def test_api_events_without_an_event_log_is_empty() -> None:
    http = await client()
    try:
        response = await http.get("/api/events")
        assert (response.status, await response.json()) == (200, [])
    finally:
        await http.close()
