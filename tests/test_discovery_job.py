"""When the daemon reads each website again, and what it exports meanwhile."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest

from monitor.discovery.job import RETRY, DiscoveryJob
from monitor.discovery.model import LinkedChannel, WebsiteCheck
from monitor.discovery.store import save_checks
from monitor.metrics import WebsiteCollector
from monitor.settings import (
    ChannelSettings,
    DiscoverySettings,
    MonitorSettings,
    Policy,
    Settings,
)
from monitor.storage import Store

NOW = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)
WEEK = timedelta(days=7)
SITES = {"Gemeente A": "https://a.example/", "Gemeente B": "https://b.example/"}


def settings(websites: dict[str, str]) -> Settings:
    channel = ChannelSettings("Gemeente A", "facebook", "gemeentea", Policy(), timedelta(hours=6))
    return Settings(
        source="config.toml",
        monitor=MonitorSettings(),
        policy=Policy(),
        platforms={},
        organisations=tuple(SITES),
        channels=(channel,),
        websites=websites,
        discovery=DiscoverySettings(every=WEEK),
    )


async def db(fn: Callable[..., Any], *args: Any) -> Any:
    return fn(*args)


def job(store: Store, config: Settings, now: list[datetime]) -> DiscoveryJob:
    leads = asyncio.Event()
    call: Callable[..., Awaitable[Any]] = db
    return DiscoveryJob(config, store, call, clock=lambda: now[0], leads=leads)


def stored(tmp_path: Path, config: Settings) -> Store:
    store = Store(f"sqlite:///{tmp_path}/m.db")
    store.migrate()
    store.sync(config.organisations, config.channels, NOW)
    return store


async def test_what_is_due_and_when(tmp_path: Path) -> None:
    config = settings(SITES)
    store = stored(tmp_path, config)
    now = [NOW]
    discovery = job(store, config, now)
    await discovery.refresh()
    assert discovery.due() == ["Gemeente A", "Gemeente B"]  # never read

    found = LinkedChannel("instagram", "gemeentea", "gemeentea", "https://…", ("footer of /",))
    save_checks(
        store,
        [
            WebsiteCheck("Gemeente A", SITES["Gemeente A"], NOW, channels=(found,)),
            WebsiteCheck("Gemeente B", SITES["Gemeente B"], NOW, error="HTTP 503 from …"),
        ],
    )
    await discovery.refresh()
    assert discovery.due() == []
    assert discovery.next_due() == NOW + RETRY  # the failed one is tried again sooner
    now[0] = NOW + RETRY
    assert discovery.due() == ["Gemeente B"]
    now[0] = NOW + WEEK
    assert discovery.due() == ["Gemeente A", "Gemeente B"]

    # another website for A: what was found there is not this site's
    moved = job(store, settings({**SITES, "Gemeente A": "https://nieuw.example/"}), [NOW])
    await moved.refresh()
    assert moved.due() == ["Gemeente A"]
    assert [f.check.organisation for f in moved.findings()] == ["Gemeente B"]
    store.close()


async def test_the_metric_from_the_stored_checks(tmp_path: Path) -> None:
    config = settings(SITES)
    store = stored(tmp_path, config)
    linked = [
        LinkedChannel("facebook", "gemeentea", "gemeentea", "https://…", ("footer of /",)),
        LinkedChannel("instagram", "gemeentea", "gemeentea", "https://…", ("footer of /",)),
        LinkedChannel("youtube", None, "@weg", "https://…", ("footer of /",), status="missing"),
    ]
    save_checks(
        store,
        [
            WebsiteCheck("Gemeente A", SITES["Gemeente A"], NOW, channels=tuple(linked)),
            WebsiteCheck("Gemeente B", SITES["Gemeente B"], NOW, error="HTTP 503 from …"),
        ],
    )
    discovery = job(store, config, [NOW])
    await discovery.refresh()
    registry = CollectorRegistry()
    registry.register(WebsiteCollector(discovery.findings))
    text = generate_latest(registry).decode()
    store.close()
    assert (
        'channel_monitor_unmonitored_channels{organisation="Gemeente A",platform="instagram"} 1.0'
        in text
    )
    assert (
        'channel_monitor_unmonitored_channels{organisation="Gemeente A",platform="facebook"} 0.0'
        in text
    )
    assert 'platform="youtube"} 0.0' in text  # a dead link is not an unmonitored channel
    assert 'organisation="Gemeente B",platform' not in text  # never read: nothing known
    assert 'channel_monitor_website_check_success{organisation="Gemeente B"} 0.0' in text
    assert 'channel_monitor_website_check_success{organisation="Gemeente A"} 1.0' in text
    read_at = 'channel_monitor_website_read_timestamp_seconds{organisation="Gemeente A"} '
    assert float(text.split(read_at)[1].split()[0]) == NOW.timestamp()
