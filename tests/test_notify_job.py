"""``monitor.notify_job``: rounds of evaluate → record → send, against a real store and a mock
webhook (``httpx.MockTransport``), with a clock the test moves."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry

from connectors.base import FetchResult, Post, Profile
from monitor import notify
from monitor.notify_job import Notifier, event_feed
from monitor.notify_store import NotificationStore
from monitor.records import PollOutcome
from monitor.settings import (
    ChannelSettings,
    MonitorSettings,
    NotifySettings,
    Policy,
    Settings,
    WebhookSettings,
)
from monitor.storage import Store
from tests.conftest import NOW

DAY = timedelta(days=1)
TEAM = WebhookSettings("team", "https://hooks.example/team/XXXXsecretXXXX")
PRESS = WebhookSettings("press", "https://hooks.example/press/YYYYsecretYYYY")


@dataclass
class Clock:
    now: datetime = NOW

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Hooks:
    """Mock webhooks: ``status[name]`` is what each answers (an exception is raised)."""

    status: dict[str, int | Exception] = field(default_factory=dict)
    sent: list[tuple[str, int, dict[str, Any]]] = field(default_factory=list)

    def handler(self, request: httpx.Request) -> httpx.Response:
        name = next(w.name for w in (TEAM, PRESS) if w.url == str(request.url))
        answer = self.status.get(name, 200)
        self.sent.append(
            (name, answer if isinstance(answer, int) else 0, json.loads(request.content))
        )
        if isinstance(answer, Exception):
            raise answer
        return httpx.Response(answer)

    def accepted(self, name: str = "team") -> list[dict[str, Any]]:
        return [body for hook, status, body in self.sent if hook == name and status == 200]


CHANNELS = (
    ChannelSettings("Gemeente A", "rss", "https://a.example/1", Policy(), timedelta(hours=6)),
    ChannelSettings("Gemeente A", "rss", "https://a.example/2", Policy(), timedelta(hours=6)),
    ChannelSettings("Gemeente B", "rss", "https://b.example/1", Policy(), timedelta(hours=6)),
)


def settings(tmp_path: Path, **rules: Any) -> Settings:
    return Settings(
        source="test",
        monitor=MonitorSettings(database=f"sqlite:///{tmp_path}/n.db"),
        policy=Policy(),
        platforms={},
        organisations=("Gemeente A", "Gemeente B"),
        channels=CHANNELS,
        secrets=frozenset({TEAM.url, PRESS.url}),
        notify=NotifySettings(**{"webhooks": (TEAM,), **rules}),
    )


@dataclass
class World:
    store: Store
    ids: dict[tuple[str, str, str], int]
    clock: Clock
    hooks: Hooks
    make: Callable[..., Notifier]

    def poll(self, index: int, *days_ago: float, ok: bool = True) -> None:
        channel = CHANNELS[index]
        result = FetchResult(
            posts=tuple(Post(f"p{d}", self.clock.now - d * DAY) for d in days_ago),
            profile=Profile(name=f"Nieuws {index}", url=f"https://www.example/{index}"),
        )
        outcome = PollOutcome(
            self.clock.now,
            self.clock.now,
            1,
            result=result if ok else None,
            error_reason=None if ok else "auth",
            error_detail=None if ok else "HTTP 401",
        )
        self.store.record_poll(self.ids[channel.key], outcome)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    store = Store(f"sqlite:///{tmp_path}/n.db")
    store.migrate()
    ids = store.sync(["Gemeente A", "Gemeente B"], CHANNELS, NOW - 30 * DAY)
    clock, hooks = Clock(), Hooks()

    async def db(fn: Callable[..., Any], *args: Any) -> Any:
        return fn(*args)

    def make(**rules: Any) -> Notifier:
        client = httpx.AsyncClient(transport=httpx.MockTransport(hooks.handler))
        return Notifier(
            settings=settings(tmp_path, **rules),
            store=store,
            ids=ids,
            db=db,
            client=client,
            registry=CollectorRegistry(),
            clock=clock,
        )

    yield World(store, ids, clock, hooks, make)
    store.close()


def counter(notifier: Notifier, webhook: str, result: str) -> float:
    return float(notifier.instruments.messages.labels(webhook, result)._value.get())


def delivered_ids(bodies: list[dict[str, Any]]) -> list[int]:
    return sorted(e["id"] for body in bodies for e in body["events"])


async def test_one_message_per_organisation_and_never_twice(world: World) -> None:
    world.poll(0, 40, 47, 54)  # inactive
    world.poll(1)  # never posted
    world.poll(2, 200)  # dormant
    notifier = world.make()
    await notifier.round()
    bodies = world.hooks.accepted()
    assert [b["organisation"] for b in bodies] == ["Gemeente A", "Gemeente B"]
    assert bodies[0]["text"].startswith("Gemeente A: 2 channels need attention\n")
    assert [e["state"] for e in bodies[0]["events"]] == ["inactive", "never_posted"]
    assert bodies[0]["status_page"] == "http://127.0.0.1:9184/"
    for _ in range(3):
        world.clock.now += timedelta(minutes=1)
        await notifier.round()
    assert len(world.hooks.sent) == 2
    assert counter(notifier, "team", "sent") == 2

    # and a restarted notifier has nothing to send either
    restarted = world.make()
    await restarted.round()
    assert len(world.hooks.sent) == 2


async def test_a_change_recorded_before_a_crash_is_sent_once_after_the_restart(
    world: World,
) -> None:
    world.poll(0, 40)
    crashed = world.make()
    recorded = crashed.evaluate(world.clock.now)  # the crash comes before any send
    assert [e.kind for e in recorded] == [notify.EventKind.STATE_CHANGED]
    assert world.hooks.sent == []

    restarted = world.make()
    await restarted.round()
    await restarted.round()
    assert [b["organisation"] for b in world.hooks.accepted()] == ["Gemeente A"]


async def test_failed_sends_are_retried_with_backoff_and_nothing_is_lost(world: World) -> None:
    world.hooks.status["team"] = 500
    world.poll(0, 40)
    notifier = world.make()
    await notifier.round()
    assert [status for _, status, _ in world.hooks.sent] == [500]
    world.clock.now += timedelta(seconds=59)
    await notifier.round()  # the retry is due a minute (evaluate_every) after the failure
    assert len(world.hooks.sent) == 1
    world.clock.now += timedelta(seconds=1)
    await notifier.round()
    assert len(world.hooks.sent) == 2
    world.poll(2, 100)  # a new change while the webhook is still down
    world.clock.now += timedelta(minutes=1)
    await notifier.round()  # the first waits 2 minutes now; the new one is tried at once
    assert [b["organisation"] for _, _, b in world.hooks.sent[2:]] == ["Gemeente B"]
    assert counter(notifier, "team", "failed") == 3
    assert notifier.instruments.pending.labels("team")._value.get() == 2

    world.hooks.status["team"] = 200
    world.clock.now += timedelta(minutes=2)
    await notifier.round()
    await notifier.round()
    assert delivered_ids(world.hooks.accepted()) == [1, 2]
    logged = await event_feed(world.store, _run)(10)
    assert [(e["id"], e["status"], e["deliveries"][0]["attempts"]) for e in logged] == [
        (2, "sent", 2),  # newest first: one failure, then sent
        (1, "sent", 3),
    ]


async def test_each_webhook_gets_each_event_once_even_when_another_fails(world: World) -> None:
    world.hooks.status["press"] = 503
    world.poll(0, 40)
    notifier = world.make(webhooks=(TEAM, PRESS))
    await notifier.round()
    for _ in range(3):
        world.clock.now += timedelta(hours=1)
        await notifier.round()
    assert len(world.hooks.accepted("team")) == 1
    assert len([s for h, s, _ in world.hooks.sent if h == "press"]) == 4
    world.hooks.status["press"] = 200
    world.clock.now += timedelta(hours=1)
    await notifier.round()
    assert delivered_ids(world.hooks.accepted("press")) == delivered_ids(world.hooks.accepted())


async def test_webhook_urls_stay_out_of_logs_errors_and_the_event_log(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    world.hooks.status["team"] = httpx.ConnectError(f"cannot connect to {TEAM.url}")
    world.poll(0, 40)
    notifier = world.make()
    await notifier.round()
    logged = await event_feed(world.store, _run)(10)
    error = logged[0]["deliveries"][0]["last_error"]
    assert error.startswith("ConnectError: cannot connect to ")
    for text in (error, caplog.text, json.dumps(logged)):
        assert "XXXXsecretXXXX" not in text


async def test_a_digest_every_period_once(world: World) -> None:
    every = timedelta(days=14)
    _, end = notify.digest_period(NOW, every)
    world.clock.now = end - DAY
    world.poll(0, 1, 3, 5, 20)
    world.poll(1, 2)
    world.poll(2, 1, 2)
    notifier = world.make(digest_every=every)
    await notifier.round()  # first evaluation: no digest for a period that already ended
    assert world.hooks.sent == []

    world.clock.now = end + timedelta(minutes=1)
    await notifier.round()
    digests = [b for b in world.hooks.accepted() if b["kind"] == "digest"]
    assert [d["organisation"] for d in digests] == ["Gemeente A", "Gemeente B"]
    channels = digests[0]["events"][0]["channels"]
    assert [(c["posts"], c["on_target"]) for c in channels] == [(3, True), (1, False)]

    world.clock.now += DAY
    await world.make(digest_every=every).round()  # restarted: no second digest
    assert len(world.hooks.accepted()) == 2
    world.clock.now = end + every
    await notifier.round()
    assert len(world.hooks.accepted()) == 4


async def test_a_failing_channel_notifies_once_and_its_recovery(world: World) -> None:
    world.poll(0, 1, 2, 3)
    notifier = world.make(failing_after=2)
    await notifier.round()
    for _ in range(3):
        world.poll(0, ok=False)
        world.clock.now += timedelta(minutes=1)
        await notifier.round()
    world.poll(0, 1, 2, 3)
    world.clock.now += timedelta(minutes=1)
    await notifier.round()
    kinds = [e["kind"] for b in world.hooks.accepted() for e in b["events"]]
    assert kinds == ["poll_failing", "poll_recovered"]
    failing = world.hooks.accepted()[0]["text"]
    assert "cannot be read (2 failed attempts in a row): the access token is invalid" in failing


async def _run(fn: Callable[..., Any], *args: Any) -> Any:
    return fn(*args)


def test_the_log_store_is_the_same_tables(world: World) -> None:
    assert NotificationStore(world.store.engine).events() == []
