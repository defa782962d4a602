"""``monitor.notify.store``: the event log recorded and claimed atomically (SQLite, PostgreSQL)."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

from monitor import storage
from monitor.notify.events import AlertState, EventKind, NewEvent
from monitor.notify.store import LEASE, NotificationStore
from monitor.settings import ChannelSettings, Policy, WebhookSettings
from monitor.storage import Store
from tests.conftest import NOW

TEAM = WebhookSettings("team", "https://hooks.example/team")
PRESS = WebhookSettings("press", "https://hooks.example/press", frozenset({"Gemeente B"}))


@pytest.fixture
def log(store: Store) -> NotificationStore:
    return NotificationStore(store.engine)


@pytest.fixture
def ids(store: Store) -> dict[str, int]:
    channels = [
        ChannelSettings(
            org, "rss", f"https://{org[-1].lower()}.example/rss", Policy(), timedelta(1)
        )
        for org in ("Gemeente A", "Gemeente B")
    ]
    stored = store.sync(["Gemeente A", "Gemeente B"], channels, NOW)
    return {c.organisation: stored[c.key] for c in channels}


def changed(channel_id: int, org: str = "Gemeente A") -> NewEvent:
    return NewEvent(
        org,
        EventKind.STATE_CHANGED,
        channel_id,
        "active",
        "inactive",
        {"channel": "https://a.example/rss", "silence_seconds": 40 * 86400.0},
    )


def new_alert(channel_id: int) -> AlertState:
    return AlertState(channel_id, "inactive", NOW - timedelta(days=10), created_at=NOW)


def test_the_schema_matches_the_models(store: Store) -> None:
    with store.engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), SQLModel.metadata) == []


def test_record_writes_events_deliveries_and_alert_states_together(
    log: NotificationStore, ids: dict[str, int]
) -> None:
    a, b = ids["Gemeente A"], ids["Gemeente B"]
    events = [changed(a), changed(b, "Gemeente B")]
    assert log.record(events, [new_alert(a), new_alert(b)], [TEAM, PRESS], NOW)

    alerts = log.alerts([a, b])
    assert alerts[a] == AlertState(
        a, "inactive", NOW - timedelta(days=10), created_at=NOW, revision=1
    )
    logged = log.events()
    assert [(e.event.organisation, e.event.kind) for e in logged] == [
        ("Gemeente B", EventKind.STATE_CHANGED),  # newest first
        ("Gemeente A", EventKind.STATE_CHANGED),
    ]
    assert logged[1].event.detail == {
        "channel": "https://a.example/rss",
        "silence_seconds": 3456000.0,
    }
    # the press webhook only wants Gemeente B
    assert [d.webhook for d in logged[0].deliveries] == ["press", "team"]
    assert [d.webhook for d in logged[1].deliveries] == ["team"]
    assert log.pending(["team", "press", "gone"]) == {"team": 2, "press": 1, "gone": 0}


def test_a_stale_revision_writes_nothing(log: NotificationStore, ids: dict[str, int]) -> None:
    a = ids["Gemeente A"]
    assert log.record([], [new_alert(a)], [TEAM], NOW)
    read = log.alerts([a])[a]
    assert log.record([changed(a)], [AlertState(a, "dormant", revision=read.revision)], [TEAM], NOW)
    # a second evaluator that read the same revision loses: no event, no change
    late = AlertState(a, "quiet", revision=read.revision)
    assert not log.record([changed(a)], [late], [TEAM], NOW)
    assert log.alerts([a])[a].state == "dormant"
    assert len(log.events()) == 1
    # and so does one that thinks the row is new
    assert not log.record([changed(a)], [new_alert(a)], [TEAM], NOW)
    assert len(log.events()) == 1


def test_a_digest_is_recorded_once(log: NotificationStore) -> None:
    digest = NewEvent("Gemeente A", EventKind.DIGEST, detail={"channels": []}, dedup_key="d/1/A")
    assert log.recorded_keys(["d/1/A"]) == set()
    assert log.record([digest], [], [TEAM], NOW)
    assert log.recorded_keys(["d/1/A", "d/2/A"]) == {"d/1/A"}
    assert not log.record([digest], [], [TEAM], NOW)
    assert len(log.events()) == 1


def test_claims_are_exclusive_until_the_lease_expires(
    log: NotificationStore, ids: dict[str, int]
) -> None:
    log.record([changed(ids["Gemeente A"])], [], [TEAM], NOW)
    first = log.claim(["team"], NOW)
    assert [(d.webhook, d.attempts, d.event.kind) for d in first.deliveries] == [
        ("team", 1, EventKind.STATE_CHANGED)
    ]
    assert log.claim(["team"], NOW + LEASE - timedelta(seconds=1)).deliveries == ()
    assert log.claim(["press"], NOW).deliveries == ()
    # the first sender died: after the lease another may take it (at least once)
    second = log.claim(["team"], NOW + LEASE + timedelta(seconds=1))
    assert [d.attempts for d in second.deliveries] == [2]
    # the first claim no longer holds it: marking it does nothing
    delivery_ids = [d.id for d in first.deliveries]
    assert log.mark_sent(first, delivery_ids, NOW) == 0
    assert log.mark_sent(second, delivery_ids, NOW + LEASE) == 1
    assert log.claim(["team"], NOW + 10 * LEASE).deliveries == ()
    (logged,) = log.events()
    assert logged.deliveries[0].sent_at == NOW + LEASE
    assert log.pending(["team"]) == {"team": 0}


def test_a_failed_send_is_released_for_a_later_retry(
    log: NotificationStore, ids: dict[str, int]
) -> None:
    log.record([changed(ids["Gemeente A"])], [], [TEAM], NOW)
    claim = log.claim(["team"], NOW)
    retry_at = NOW + timedelta(minutes=2)
    ids_ = [d.id for d in claim.deliveries]
    assert log.release(claim, ids_, retry_at=retry_at, error="HTTP 500") == 1
    assert log.claim(["team"], retry_at - timedelta(seconds=1)).deliveries == ()
    (status,) = log.events()[0].deliveries
    assert (status.attempts, status.last_error, status.next_attempt_at, status.sent_at) == (
        1,
        "HTTP 500",
        retry_at,
        None,
    )
    again = log.claim(["team"], retry_at)
    assert [d.attempts for d in again.deliveries] == [2]


def test_a_delivery_given_up_on_is_failed_for_good(
    log: NotificationStore, ids: dict[str, int]
) -> None:
    log.record([changed(ids["Gemeente A"])], [], [TEAM], NOW)
    claim = log.claim(["team"], NOW)
    assert log.give_up(claim, [d.id for d in claim.deliveries], error="HTTP 400") == 1
    (status,) = log.events()[0].deliveries
    assert (status.failed, status.sent_at, status.last_error, status.attempts) == (
        True,
        None,
        "HTTP 400",
        1,
    )
    assert log.pending(["team"]) == {"team": 0}
    assert log.retry_now(["team"], NOW + timedelta(days=1)) == 0
    assert log.claim(["team"], NOW + timedelta(days=3650)).deliveries == ()


def test_deliveries_given_back_untried_are_due_again_at_once(
    log: NotificationStore, ids: dict[str, int]
) -> None:
    log.record([changed(ids["Gemeente A"]), changed(ids["Gemeente A"])], [], [TEAM], NOW)
    claim = log.claim(["team"], NOW)
    first, second = (d.id for d in claim.deliveries)
    log.release(claim, [first], retry_at=NOW + timedelta(hours=1), error="HTTP 500")
    assert log.give_back(claim, [first, second]) == 1  # the released one is no longer held
    (again,) = log.claim(["team"], NOW + timedelta(seconds=1)).deliveries
    assert (again.id, again.attempts) == (second, 1)  # not tried: no attempt was counted
    assert not any(d.failed for e in log.events() for d in e.deliveries)


def test_retry_now_makes_waiting_deliveries_due(
    log: NotificationStore, ids: dict[str, int]
) -> None:
    log.record([changed(ids["Gemeente A"])], [], [TEAM], NOW)
    claim = log.claim(["team"], NOW)
    later = NOW + timedelta(hours=1)
    log.release(claim, [d.id for d in claim.deliveries], retry_at=later, error="HTTP 502")
    assert log.retry_now(["team"], NOW) == 1
    assert len(log.claim(["team"], NOW).deliveries) == 1


def test_events_are_newest_first_and_limited(log: NotificationStore, ids: dict[str, int]) -> None:
    a = ids["Gemeente A"]
    for minutes in range(5):
        log.record([changed(a)], [], [], NOW + timedelta(minutes=minutes))
    logged = log.events(limit=3)
    assert [e.event.at for e in logged] == [NOW + timedelta(minutes=m) for m in (4, 3, 2)]
    assert all(e.deliveries == () for e in logged)


def test_one_channels_events(log: NotificationStore, ids: dict[str, int]) -> None:
    a, b = ids["Gemeente A"], ids["Gemeente B"]
    for minutes, channel in enumerate((a, b, a, b)):
        org = "Gemeente A" if channel == a else "Gemeente B"
        log.record([changed(channel, org)], [], [], NOW + timedelta(minutes=minutes))
    logged = log.events(limit=10, channel_id=b)
    assert [(e.event.channel_id, e.event.at) for e in logged] == [
        (b, NOW + timedelta(minutes=3)),
        (b, NOW + timedelta(minutes=1)),
    ]
    assert len(log.events(limit=1, channel_id=a)) == 1


def test_the_migration_goes_down_and_up_again(store: Store) -> None:
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(Path(storage.__file__).with_name("migrations")))
    with store.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0001")
    assert "delivery" not in sa.inspect(store.engine).get_table_names()
    store.migrate()
    assert {"channel_alert", "alert_event", "delivery"} <= set(
        sa.inspect(store.engine).get_table_names()
    )


def test_concurrent_claimers_never_take_the_same_delivery(
    log: NotificationStore, ids: dict[str, int]
) -> None:
    events = [changed(ids["Gemeente A"]) for _ in range(60)]
    assert log.record(events, [], [TEAM], NOW)
    taken: list[list[int]] = [[] for _ in range(4)]
    errors: list[BaseException] = []

    def claimer(mine: list[int]) -> None:
        try:
            while batch := log.claim(["team"], NOW, limit=7).deliveries:
                mine.extend(d.id for d in batch)
        except BaseException as exc:  # a thread's exception is otherwise only printed
            errors.append(exc)

    threads = [threading.Thread(target=claimer, args=(mine,)) for mine in taken]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not [t for t in threads if t.is_alive()], "a claimer is still running"
    assert errors == []
    # a claimer may stop early when its candidates were all taken first; collect the rest
    rest = [d.id for d in log.claim(["team"], NOW, limit=100).deliveries]
    every = [i for mine in taken for i in mine] + rest
    assert len(every) == len(set(every)) == 60
