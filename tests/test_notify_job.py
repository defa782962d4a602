"""``monitor.notify.job``: rounds of evaluate → record → send, against a real store and a mock
webhook (``httpx.MockTransport``), with a clock the test moves."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry

from connectors.base import FetchResult, Post, Profile
from monitor.judgement import Judgements
from monitor.notify import job
from monitor.notify.events import EventKind, NewEvent, digest_period
from monitor.notify.job import Notifier, event_feed
from monitor.notify.store import LEASE, NotificationStore
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
CHAT = WebhookSettings(
    "chat", "https://chat.googleapis.com/v1/spaces/S/messages?key=ZZZZsecretZZZZ"
)
HOOKS = (TEAM, PRESS, CHAT)


@dataclass
class Clock:
    now: datetime = NOW

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Hooks:
    """Mock webhooks: ``status[name]`` is what each answers (an exception is raised); those in
    ``hang`` never answer; ``on_post`` runs on every POST (to move the clock, say)."""

    status: dict[str, int | Exception] = field(default_factory=dict)
    sent: list[tuple[str, int, dict[str, Any]]] = field(default_factory=list)
    hang: set[str] = field(default_factory=set)
    on_post: Callable[[], None] | None = None

    async def handler(self, request: httpx.Request) -> httpx.Response:
        name = next(w.name for w in HOOKS if w.url == str(request.url))
        answer = self.status.get(name, 200)
        self.sent.append(
            (name, answer if isinstance(answer, int) else 0, json.loads(request.content))
        )
        if self.on_post is not None:
            self.on_post()
        if name in self.hang:
            await asyncio.sleep(3600)
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
        secrets=frozenset(w.url for w in HOOKS),
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

    def make(
        leading: Callable[[], bool] | None = None,
        *,
        judged: Judgements | None = None,
        **rules: Any,
    ) -> Notifier:
        client = httpx.AsyncClient(transport=httpx.MockTransport(hooks.handler))
        return Notifier(
            settings=settings(tmp_path, **rules),
            store=store,
            ids=ids,
            db=db,
            client=client,
            registry=CollectorRegistry(),
            clock=clock,
            **({"leading": leading} if leading is not None else {}),
            **({"judged": judged.views, "refresh": judged.refresh} if judged else {}),
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
    assert [e.kind for e in recorded] == [EventKind.STATE_CHANGED]
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
    _, end = digest_period(NOW, every)
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


# --- formats, refusals, message size, deadlines, leadership -----------------------------------


async def test_text_format_sends_only_the_text_and_is_google_chats_default(world: World) -> None:
    assert (CHAT.format, TEAM.format) == ("text", "full")
    world.poll(0, 40)
    notifier = world.make(webhooks=(TEAM, CHAT, replace(PRESS, format="text")))
    await notifier.round()
    (full,) = world.hooks.accepted("team")
    assert set(full) == {"text", "organisation", "kind", "events", "status_page"}
    for name in ("chat", "press"):
        assert world.hooks.accepted(name) == [{"text": full["text"]}]


@pytest.mark.parametrize("status", [400, 403, 404, 410, 413])
async def test_a_webhook_that_refuses_a_message_gets_it_three_times_then_it_failed(
    world: World, caplog: pytest.LogCaptureFixture, status: int
) -> None:
    caplog.set_level(logging.INFO, logger="channel_monitor.notify")
    world.hooks.status["team"] = status
    world.poll(0, 40)
    notifier = world.make()
    await notifier.round()
    for _ in range(6):
        world.clock.now += timedelta(hours=1)
        await notifier.round()
    assert [s for _, s, _ in world.hooks.sent] == [status] * job.REJECTED_AFTER
    assert counter(notifier, "team", "failed") == job.REJECTED_AFTER - 1
    assert counter(notifier, "team", "rejected") == 1
    assert notifier.instruments.pending.labels("team")._value.get() == 0
    (logged,) = await event_feed(world.store, _run)(10)
    assert logged["status"] == "failed"
    assert logged["notified_at"] is None
    (delivery,) = logged["deliveries"]
    assert delivery["status"] == "failed"
    assert delivery["attempts"] == job.REJECTED_AFTER
    assert delivery["next_attempt_at"] is None
    assert delivery["last_error"] == f"HTTP {status}"
    given_up = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(given_up) == 1  # said once, with the status code and without the URL
    assert f"HTTP {status}" in given_up[0].getMessage()
    assert "XXXXsecretXXXX" not in caplog.text
    # failed stays failed: a restart does not make it due again
    assert NotificationStore(world.store.engine).retry_now(["team"], world.clock.now) == 0
    await world.make().round()
    assert len(world.hooks.sent) == job.REJECTED_AFTER


async def test_a_new_event_sent_with_a_refused_one_still_gets_its_own_tries(world: World) -> None:
    world.hooks.status["team"] = 400
    world.poll(0, 40)
    notifier = world.make()
    await notifier.round()  # attempt 1 of the first event
    world.clock.now += timedelta(minutes=1)
    await notifier.round()  # attempt 2
    world.poll(1)  # a second channel of the same organisation: never posted
    world.clock.now += timedelta(minutes=2)
    await notifier.round()  # one message: the first's attempt 3, the second's attempt 1
    assert [len(b["events"]) for _, _, b in world.hooks.sent] == [1, 1, 2]
    logged = {e["id"]: e for e in await event_feed(world.store, _run)(10)}
    assert (logged[1]["status"], logged[2]["status"]) == ("failed", "pending")
    assert counter(notifier, "team", "rejected") == 1
    for _ in range(4):
        world.clock.now += timedelta(hours=1)
        await notifier.round()
    assert [len(b["events"]) for _, _, b in world.hooks.sent] == [1, 1, 2, 1, 1]
    logged = {e["id"]: e for e in await event_feed(world.store, _run)(10)}
    assert [(e["status"], e["deliveries"][0]["attempts"]) for e in logged.values()] == [
        ("failed", 3),
        ("failed", 3),
    ]
    assert counter(notifier, "team", "rejected") == 2


@pytest.mark.parametrize("status", [408, 429, 500, 503])
async def test_timeouts_rate_limits_and_server_errors_are_retried_for_ever(
    world: World, status: int
) -> None:
    world.hooks.status["team"] = status
    world.poll(0, 40)
    notifier = world.make()
    await notifier.round()
    for _ in range(6):
        world.clock.now += timedelta(hours=1)
        await notifier.round()
    assert [s for _, s, _ in world.hooks.sent] == [status] * 7
    assert counter(notifier, "team", "rejected") == 0
    (logged,) = await event_feed(world.store, _run)(10)
    assert (logged["status"], logged["deliveries"][0]["status"]) == ("pending", "pending")


def record_changes(world: World, count: int, organisation: str = "Gemeente A") -> None:
    """``count`` recorded state changes of one organisation's channel, none sent yet."""
    channel_id = world.ids[CHANNELS[0].key]
    detail = {"platform": "rss", "name": "Nieuws", "silence_seconds": 40 * 86400.0}
    events = [
        NewEvent(organisation, EventKind.STATE_CHANGED, channel_id, "quiet", "inactive", detail)
        for _ in range(count)
    ]
    assert NotificationStore(world.store.engine).record(events, [], [TEAM], world.clock.now)


async def test_an_organisations_events_go_in_parts_of_at_most_twenty(world: World) -> None:
    record_changes(world, 45)
    notifier = world.make()
    await notifier.deliver()
    bodies = world.hooks.accepted()
    assert [len(b["events"]) for b in bodies] == [20, 20, 5]
    assert [b["text"].splitlines()[0] for b in bodies] == [
        f"Gemeente A: 1 channel needs attention (part {n} of 3)" for n in (1, 2, 3)
    ]
    assert delivered_ids(bodies) == list(range(1, 46))  # each once, in order
    assert [e["id"] for b in bodies for e in b["events"]] == list(range(1, 46))
    assert counter(notifier, "team", "sent") == 3
    assert all(len(json.dumps(b)) < 20_000 for b in bodies)


async def test_a_post_that_never_ends_is_cut_off_at_its_deadline(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(job, "POST_DEADLINE", 0.05)
    world.hooks.hang.add("team")
    world.poll(0, 40)
    notifier = world.make()
    await asyncio.wait_for(notifier.round(), timeout=5)
    (logged,) = await event_feed(world.store, _run)(10)
    assert logged["deliveries"][0]["last_error"] == "no answer within 0.05s"
    assert counter(notifier, "team", "failed") == 1


@pytest.mark.parametrize("why", ["half the lease", "leadership lost", "stopping"])
async def test_a_round_stops_sending_and_gives_back_what_it_did_not_try(
    world: World, why: str
) -> None:
    record_changes(world, 45)
    leads, stop = [True], asyncio.Event()

    def during_the_first_post() -> None:
        if why == "half the lease":
            world.clock.now += LEASE / 2
        elif why == "leadership lost":
            leads[0] = False
        else:
            stop.set()

    world.hooks.on_post = during_the_first_post
    notifier = world.make(leading=lambda: leads[0])
    if why == "stopping":
        await asyncio.wait_for(notifier.run(stop), timeout=5)
    else:
        await notifier.round()
    assert [len(b["events"]) for b in world.hooks.accepted()] == [20]
    logged = await event_feed(world.store, _run)(100)
    waiting = [e["deliveries"][0] for e in logged if e["status"] == "pending"]
    assert len(waiting) == 25
    assert all(d["attempts"] == 0 for d in waiting)  # given back untried: no attempt counted
    # and free at once, for this daemon's next round or another's, not after the lease
    again = NotificationStore(world.store.engine).claim(["team"], world.clock.now)
    assert len(again.deliveries) == 25
    assert {d.attempts for d in again.deliveries} == {1}


async def eventually(predicate: Callable[[], object], what: str, seconds: float = 60) -> None:
    """Wait until ``predicate()`` is truthy; the deadline only catches a hang."""
    deadline = asyncio.get_running_loop().time() + seconds
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)


async def test_a_standby_neither_records_nor_sends_until_it_leads(world: World) -> None:
    world.poll(0, 40)
    leads, stop, checks = [False], asyncio.Event(), [0]

    def leading() -> bool:
        checks[0] += 1
        return leads[0]

    notifier = world.make(leading=leading, evaluate_every=timedelta(milliseconds=20))
    task = asyncio.create_task(notifier.run(stop))
    try:
        await eventually(lambda: checks[0] >= 5, "five turns as a standby")
        assert world.hooks.sent == []
        assert NotificationStore(world.store.engine).events() == []
        assert counter_value(notifier.instruments.evaluations) == 0
        leads[0] = True
        await eventually(lambda: world.hooks.sent, "a message once it leads")
        assert [b["organisation"] for b in world.hooks.accepted()] == ["Gemeente A"]
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=60)


async def test_a_round_first_reads_the_polls_another_daemon_stored(world: World) -> None:
    """Replicas: the coordinator judges channels that other daemons poll; judged on what it read
    a few seconds ago, a channel that has just posted again would be told about as inactive."""
    world.poll(0, 40)

    async def db(fn: Callable[..., Any], *args: Any) -> Any:
        return fn(*args)

    judgements = Judgements(CHANNELS, world.ids, store=world.store, db=db, clock=world.clock)
    judgements.load()
    world.clock.now += timedelta(minutes=1)
    world.poll(0, 0.5, 40)  # another daemon polls it: a new post, stored, not yet read here
    await world.make(judged=judgements).round()
    assert NotificationStore(world.store.engine).events() == []
    assert world.hooks.sent == []


async def test_a_daemon_that_no_longer_coordinates_counts_nothing_pending(world: World) -> None:
    """Replicas: the coordinator says how many notifications wait; summed over the replicas they
    must not count twice once another daemon coordinates."""
    world.hooks.status["team"] = 500
    world.poll(0, 40)
    leads, stop = [True], asyncio.Event()
    notifier = world.make(leading=lambda: leads[0], evaluate_every=timedelta(milliseconds=20))
    pending = notifier.instruments.pending.labels("team")
    task = asyncio.create_task(notifier.run(stop))
    try:
        await eventually(lambda: counter_value(pending) == 1, "a notification waiting")
        leads[0] = False
        await eventually(lambda: counter_value(pending) == 0, "the count left to the other", 5)
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=60)


async def test_a_failed_retry_now_is_logged(
    world: World, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(self: NotificationStore, webhooks: Any, now: datetime) -> int:
        raise RuntimeError("the database is away")

    monkeypatch.setattr(NotificationStore, "retry_now", broken)
    caplog.set_level(logging.INFO, logger="channel_monitor.notify")
    stop = asyncio.Event()
    task = asyncio.create_task(world.make().run(stop))
    await eventually(lambda: any(r.exc_info for r in caplog.records), "the error to be logged")
    stop.set()
    await asyncio.wait_for(task, timeout=60)
    (record,) = [r for r in caplog.records if r.exc_info is not None]
    assert record.levelno == logging.ERROR
    assert "waiting notifications" in record.getMessage()
    assert "the database is away" in caplog.text
    assert "XXXXsecretXXXX" not in caplog.text


def counter_value(metric: Any) -> float:
    return float(metric._value.get())
