"""``monitor.notify.events`` and ``monitor.notify.message``: the pure diff of views against the
recorded alert state, digests, and the words people read."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from monitor.notify.events import (
    AlertState,
    DigestDue,
    Evaluation,
    Event,
    EventKind,
    NewEvent,
    digest_event,
    digest_period,
    digests_due,
    evaluate,
    retry_delay,
    stale_start,
)
from monitor.notify.message import body, human
from monitor.records import ChannelRecord, PostTime
from monitor.settings import ChannelSettings, NotifySettings, Policy, WebhookSettings
from monitor.views import ChannelView, judge
from tests.conftest import NOW

DAY = timedelta(days=1)
RULES = NotifySettings(webhooks=(WebhookSettings("team", "https://hooks.example/x"),))


def view(
    *,
    posts: Sequence[float] | None = None,  # days ago; None: never read successfully
    org: str = "Gemeente A",
    channel_id: int = 1,
    handle: str = "https://a.example/rss",
    failures: int = 0,
    parked: bool = False,
    policy: Policy | None = None,
    kind: str = "post",
) -> ChannelView:
    """A channel judged at NOW from posts published the given numbers of days ago."""
    read = posts is not None
    record = ChannelRecord(
        id=channel_id,
        organisation=org,
        platform="rss",
        handle=handle,
        name=f"Nieuws {channel_id}",
        url=f"https://www.example/{channel_id}",
        followers=None,
        last_poll_at=NOW - timedelta(minutes=5),
        last_poll_ok=failures == 0,
        last_success_at=NOW - timedelta(minutes=5 if failures == 0 else 600) if read else None,
        last_error_reason="not_found" if failures else None,
        last_error_detail="HTTP 404" if failures else None,
        consecutive_failures=failures,
    )
    settings = ChannelSettings(org, "rss", handle, policy or Policy(), timedelta(hours=6), parked)
    times = [PostTime(NOW - d * DAY, kind) for d in posts or ()]
    return judge(settings, record, times, NOW)


def regular(newest: float, count: int = 20, gap: float = 1.0) -> list[float]:
    """Posts every ``gap`` days, the newest ``newest`` days ago."""
    return [newest + i * gap for i in range(count)]


def stored(channel_id: int = 1, **values: Any) -> AlertState:
    return AlertState(channel_id=channel_id, created_at=NOW - 30 * DAY, revision=3, **values)


def run(
    views: Sequence[ChannelView],
    alerts: Sequence[AlertState] = (),
    rules: NotifySettings = RULES,
) -> Evaluation:
    return evaluate(views, {a.channel_id: a for a in alerts}, rules, NOW)


def kinds(evaluation: Evaluation) -> list[tuple[str, str | None, str | None]]:
    return [(e.kind.value, e.old_state, e.new_state) for e in evaluation.events]


# --- transitions ------------------------------------------------------------------------------

ACTIVE = regular(0.5)
QUIET = regular(4, 60)  # a daily channel silent for 4 days: more than 3 × its usual gap of a day
INACTIVE = regular(40, 10, 7)
DORMANT = regular(200, 10, 7)


@pytest.mark.parametrize(
    ("posts", "previous", "expected"),
    [
        (ACTIVE, "active", []),
        (QUIET, "active", [("state_changed", "active", "quiet")]),
        (INACTIVE, "active", [("state_changed", "active", "inactive")]),
        (DORMANT, "inactive", [("state_changed", "inactive", "dormant")]),
        ([], "active", [("state_changed", "active", "never_posted")]),
        (INACTIVE, None, [("state_changed", None, "inactive")]),  # first evaluation
        (regular(0.5, 1), "active", []),  # below_target is not notified by default
    ],
)
def test_entering_a_state_that_needs_attention(
    posts: list[float], previous: str | None, expected: list[tuple[str, str | None, str]]
) -> None:
    alerts = [stored(state=previous)] if previous else []
    result = run([view(posts=posts)], alerts)
    assert kinds(result) == expected
    if expected:
        (alert,) = result.alerts
        assert alert.stale_since is not None
        assert alert.reminded_at == NOW
        assert alert.state == expected[0][2]
    else:
        assert all(a.stale_since is None for a in result.alerts)


def test_a_first_evaluation_creates_the_alert_row_without_events() -> None:
    result = run([view(posts=None)])  # never read: unknown
    assert result.events == ()
    assert result.alerts == (AlertState(channel_id=1, created_at=NOW),)


def test_worsening_keeps_the_start_of_the_spell() -> None:
    began = NOW - 5 * DAY
    result = run([view(posts=INACTIVE)], [stored(state="quiet", stale_since=began)])
    assert kinds(result) == [("state_changed", "quiet", "inactive")]
    assert result.alerts[0].stale_since == began
    assert result.events[0].detail["stale_since"] == "2026-11-21T12:00:00Z"


def test_staying_in_the_same_state_records_nothing() -> None:
    alert = stored(state="inactive", stale_since=NOW - 10 * DAY, reminded_at=NOW - DAY)
    assert run([view(posts=INACTIVE)], [alert]) == Evaluation((), ())


def test_recovery_says_how_long_the_channel_needed_attention() -> None:
    alert = stored(state="inactive", stale_since=NOW - 12 * DAY, reminded_at=NOW - DAY)
    result = run([view(posts=ACTIVE)], [alert])
    assert kinds(result) == [("recovered", "inactive", "active")]
    assert result.events[0].detail["stale_for_seconds"] == 12 * 86400
    (new,) = result.alerts
    assert (new.state, new.stale_since, new.reminded_at) == ("active", None, None)


def test_moving_between_fine_states_is_recorded_silently() -> None:
    result = run([view(posts=regular(0.5, 1))], [stored(state="active")])
    assert result.events == ()
    assert result.alerts[0].state == "below_target"


def test_a_state_no_longer_notified_is_dropped_without_a_recovery() -> None:
    rules = replace(RULES, states=("inactive", "dormant"))
    result = run([view(posts=QUIET)], [stored(state="quiet", stale_since=NOW - DAY)], rules)
    assert result.events == ()
    assert result.alerts[0].stale_since is None


def test_only_the_configured_states_notify() -> None:
    rules = replace(RULES, states=("below_target",))
    assert kinds(run([view(posts=QUIET)], [stored(state="active")], rules)) == []
    assert kinds(run([view(posts=regular(0.5, 1))], [stored(state="active")], rules)) == [
        ("state_changed", "active", "below_target")
    ]


@pytest.mark.parametrize(("failures", "expected"), [(2, []), (3, ["poll_failing"])])
def test_poll_failing_after_n_consecutive_failures(failures: int, expected: list[str]) -> None:
    result = run([view(posts=ACTIVE, failures=failures)], [stored(state="active")])
    assert [e.kind.value for e in result.events] == expected
    if expected:
        assert result.events[0].detail["poll_error"] == "not_found"
        assert result.events[0].detail["never_read"] is False
        assert result.alerts[0].failing


def test_failing_after_is_configurable() -> None:
    rules = replace(RULES, failing_after=1)
    result = run([view(posts=ACTIVE, failures=1)], [stored(state="active")], rules)
    assert [e.kind for e in result.events] == [EventKind.POLL_FAILING]


def test_a_failing_channel_keeps_its_state_fetch_failure_is_not_inactivity() -> None:
    # its silence grew while it could not be read: judged inactive, but nothing is said
    failing = view(posts=INACTIVE, failures=1)
    assert failing.state.value == "inactive"
    result = run([failing], [stored(state="active")])
    assert result.events == ()
    assert result.alerts == ()


def test_never_read_is_a_poll_failure_not_a_stale_channel() -> None:
    assert run([view(posts=None, failures=2)], [stored()]).events == ()
    result = run([view(posts=None, failures=3)], [stored()])
    assert kinds(result) == [("poll_failing", None, None)]
    assert result.events[0].detail["never_read"] is True


def test_poll_recovered_with_how_long_it_failed() -> None:
    alert = stored(state="active", failing=True, failing_since=NOW - 2 * DAY, reminded_at=NOW)
    result = run([view(posts=ACTIVE)], [alert])
    assert kinds(result) == [("poll_recovered", None, "active")]
    assert result.events[0].detail["failing_for_seconds"] == 2 * 86400
    assert not result.alerts[0].failing
    assert result.alerts[0].reminded_at is None


def test_recovering_from_both_at_once_records_both() -> None:
    alert = stored(
        state="inactive", stale_since=NOW - 9 * DAY, failing=True, failing_since=NOW - DAY
    )
    assert [e.kind.value for e in run([view(posts=ACTIVE)], [alert]).events] == [
        "poll_recovered",
        "recovered",
    ]


def test_parked_channels_never_notify_and_forget_their_alert() -> None:
    alert = stored(state="inactive", stale_since=NOW - DAY, failing=True, reminded_at=NOW)
    result = run([view(posts=DORMANT, failures=5, parked=True)], [alert])
    assert result.events == ()
    (new,) = result.alerts
    assert (new.state, new.stale_since, new.failing, new.reminded_at) == (
        "parked",
        None,
        False,
        None,
    )
    reminders = replace(RULES, remind_every=timedelta(seconds=1))
    assert run([view(posts=DORMANT, parked=True)], [new], reminders).events == ()


# --- reminders --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ago", "remind_every", "due"),
    [
        (timedelta(days=7), timedelta(days=7), True),
        (timedelta(days=6, hours=23), timedelta(days=7), False),
        (timedelta(days=70), timedelta(0), False),  # "0s": no reminders
    ],
)
def test_reminders_while_a_channel_stays_stale(
    ago: timedelta, remind_every: timedelta, due: bool
) -> None:
    alert = stored(state="inactive", stale_since=NOW - 20 * DAY, reminded_at=NOW - ago)
    result = run([view(posts=INACTIVE)], [alert], replace(RULES, remind_every=remind_every))
    assert kinds(result) == ([("reminder", None, "inactive")] if due else [])
    if due:
        assert result.alerts[0].reminded_at == NOW
        assert result.events[0].detail["stale_for_seconds"] == 20 * 86400


def test_reminders_come_per_organisation_together() -> None:
    views = [
        view(posts=INACTIVE, channel_id=1),
        view(posts=DORMANT, channel_id=2),
        view(posts=ACTIVE, channel_id=3),
        view(posts=INACTIVE, channel_id=4, org="Gemeente B"),
    ]
    alerts = [
        stored(1, state="inactive", stale_since=NOW - 20 * DAY, reminded_at=NOW - 8 * DAY),
        stored(2, state="dormant", stale_since=NOW - 2 * DAY, reminded_at=NOW - 2 * DAY),
        stored(3, state="active"),
        stored(4, state="inactive", stale_since=NOW - 2 * DAY, reminded_at=NOW - 2 * DAY),
    ]
    result = run(views, alerts)
    assert [(e.organisation, e.channel_id) for e in result.events] == [
        ("Gemeente A", 1),
        ("Gemeente A", 2),  # not due on its own, but reminded with its organisation
    ]
    assert {a.channel_id: a.reminded_at for a in result.alerts} == {1: NOW, 2: NOW}


def test_a_failing_channel_is_reminded_too() -> None:
    alert = stored(
        state="active", failing=True, failing_since=NOW - 8 * DAY, reminded_at=NOW - 7 * DAY
    )
    (event,) = run([view(posts=ACTIVE, failures=9)], [alert]).events
    assert event.kind is EventKind.REMINDER
    assert (event.detail["failing"], event.detail["stale"]) == (True, False)


def test_a_reminder_for_a_channel_that_cannot_be_read_says_its_recorded_state() -> None:
    # last read as active; it has failed many polls since, and its silence kept growing
    alert = stored(
        state="active", failing=True, failing_since=NOW - 8 * DAY, reminded_at=NOW - 7 * DAY
    )
    unreadable = view(posts=INACTIVE, failures=9)
    assert unreadable.state.value == "inactive"  # what the silence alone would say
    result = run([unreadable], [alert])
    assert kinds(result) == [("reminder", None, "active")]  # fetch failure is not inactivity
    (event,) = result.events
    line = body("Gemeente A", [recorded(event, 1)], None)["text"].splitlines()[1]
    assert "inactive" not in line
    assert "posted nothing" not in line
    assert line.endswith(
        "still cannot be read since 8 days: the page was not found, or may not be read with"
        " this token (removed, renamed, or a permission missing?)"
    )


# --- when a spell began -----------------------------------------------------------------------


def test_stale_start_is_when_the_first_notified_state_began() -> None:
    states = RULES.states
    inactive = view(posts=INACTIVE)
    # 40 days silent after weekly posts: quiet after 3 weeks, before inactive at 30 days
    assert inactive.cadence.quiet_after is not None
    assert stale_start(inactive, states, NOW) == inactive.cadence.quiet_after
    assert stale_start(inactive, ("inactive",), NOW) == NOW - 10 * DAY
    assert stale_start(view(posts=[]), states, NOW) == NOW
    assert stale_start(view(posts=DORMANT), ("dormant",), NOW) == NOW - 20 * DAY


# --- digests ----------------------------------------------------------------------------------


def test_digest_periods_are_aligned_on_mondays() -> None:
    start, end = digest_period(NOW, timedelta(days=14))
    assert end - start == timedelta(days=14)
    assert end <= NOW < end + timedelta(days=14)
    assert end.weekday() == 0
    assert (end.hour, end.minute) == (0, 0)


def test_digests_are_due_for_organisations_evaluated_before_the_period_ended() -> None:
    every = timedelta(days=14)
    _, end = digest_period(NOW, every)
    views = [
        view(posts=ACTIVE, channel_id=1),
        view(posts=ACTIVE, channel_id=2, org="Gemeente B"),
        view(posts=ACTIVE, channel_id=3, org="Gemeente C"),
        view(posts=ACTIVE, channel_id=4, org="Gemeente D", parked=True),
    ]
    alerts = {
        1: stored(1),
        2: replace(stored(2), created_at=end + timedelta(hours=1)),  # too new for this one
        4: stored(4),
    }  # Gemeente C: never evaluated yet
    due = digests_due(views, alerts, every, NOW)
    assert [d.organisation for d in due] == ["Gemeente A"]
    assert due[0].key == f"digest/{end:%Y-%m-%dT%H:%M:%SZ}/Gemeente A"
    assert digests_due(views, alerts, timedelta(0), NOW) == []


def test_a_digest_counts_posts_in_the_period_against_each_target() -> None:
    every = timedelta(days=14)
    start, end = digest_period(NOW, every)
    due = DigestDue("Gemeente A", start, end)
    weekly = Policy(target_posts=1, target_period=timedelta(days=7))  # expects 2 in 14 days
    views = [
        view(posts=ACTIVE, channel_id=1),
        view(posts=ACTIVE, channel_id=2, policy=weekly),
        view(posts=ACTIVE, channel_id=3, policy=Policy(target_posts=0)),
        view(posts=None, channel_id=4),
        view(posts=ACTIVE, channel_id=5, org="Gemeente B"),
        view(posts=ACTIVE, channel_id=6, parked=True),
    ]
    inside = [PostTime(start + timedelta(hours=h), "post") for h in (1, 50, 300)]
    edges = [PostTime(end, "post"), PostTime(start - timedelta(seconds=1), "post")]
    posts = {
        1: [*inside, *edges, PostTime(start + DAY, "reply")],  # replies do not count
        2: inside[:1],
        3: inside,
    }
    event = digest_event(due, views, posts)
    assert (event.kind, event.organisation, event.channel_id) == (
        EventKind.DIGEST,
        "Gemeente A",
        None,
    )
    assert event.dedup_key == due.key
    rows = {c["name"]: c for c in event.detail["channels"]}
    assert list(rows) == ["Nieuws 1", "Nieuws 2", "Nieuws 3", "Nieuws 4"]
    assert [(c["posts"], c["expected_posts"], c["on_target"]) for c in rows.values()] == [
        (3, 2.0, True),
        (1, 2.0, False),
        (3, 0.0, None),  # no target
        (0, 2.0, None),  # never read: not judged
    ]


# --- messages ---------------------------------------------------------------------------------


def recorded(new: NewEvent, number: int) -> Event:
    return Event(
        number,
        NOW,
        new.kind,
        new.organisation,
        new.channel_id,
        new.old_state,
        new.new_state,
        new.detail,
    )


def test_one_message_per_organisation_in_plain_language() -> None:
    views = [
        view(posts=INACTIVE, channel_id=1),
        view(posts=[], channel_id=2),
        view(posts=QUIET, channel_id=3),
    ]
    alerts = [stored(1, state="quiet", stale_since=NOW - DAY), stored(2), stored(3)]
    events = [recorded(e, i) for i, e in enumerate(run(views, alerts).events, 1)]
    message = body("Gemeente A", events, "http://monitor.example/")
    assert message["text"].splitlines() == [
        "Gemeente A: 3 channels need attention",
        "• Website feed Nieuws 1 (https://www.example/1) has posted nothing for 40 days"
        " (inactive, was quiet)",
        "• Website feed Nieuws 2 (https://www.example/2) has never posted (never_posted)",
        "• Website feed Nieuws 3 (https://www.example/3) has posted nothing for 4 days,"
        " unusually long: it usually posts at least every 1 day (quiet)",
        "Status page: http://monitor.example/",
    ]
    assert message["organisation"] == "Gemeente A"
    assert message["kind"] == "alerts"
    assert message["status_page"] == "http://monitor.example/"
    first = message["events"][0]
    assert {k: first[k] for k in ("id", "kind", "state", "previous_state", "platform")} == {
        "id": 1,
        "kind": "state_changed",
        "state": "inactive",
        "previous_state": "quiet",
        "platform": "rss",
    }
    assert first["silence_seconds"] == 40 * 86400
    assert first["url"] == "https://www.example/1"


def test_message_lines_for_every_kind() -> None:
    alerts = [
        stored(1, state="inactive", stale_since=NOW - 12 * DAY),
        stored(2, state="active", failing=True, failing_since=NOW - 2 * DAY),
        stored(3, state="active"),
        stored(4, state="dormant", stale_since=NOW - 9 * DAY, reminded_at=NOW - 7 * DAY),
    ]
    views = [
        view(posts=ACTIVE, channel_id=1),
        view(posts=ACTIVE, channel_id=2),
        view(posts=ACTIVE, channel_id=3, failures=3),
        view(posts=DORMANT, channel_id=4),
    ]
    events = [recorded(e, i) for i, e in enumerate(run(views, alerts).events, 1)]
    lines = body("Gemeente A", events, None)["text"].splitlines()
    assert lines[0] == "Gemeente A: 2 channels need attention"
    assert [line.split(") ", 1)[1] for line in lines[1:]] == [
        "is fine again (active, was inactive) after needing attention for 12 days",
        "can be read again, after 2 days of failures",
        "cannot be read (3 failed attempts in a row): the page was not found, or may not be"
        " read with this token (removed, renamed, or a permission missing?)",
        "still has posted nothing for 200 days (dormant)",
    ]


def test_headlines_for_reminders_and_recoveries() -> None:
    def headline(events: list[NewEvent]) -> str:
        numbered = [recorded(e, i) for i, e in enumerate(events, 1)]
        return str(body("Gemeente A", numbered, None)["text"].splitlines()[0])

    reminder = run(
        [view(posts=INACTIVE)],
        [stored(state="inactive", stale_since=NOW - 9 * DAY, reminded_at=NOW - 7 * DAY)],
    ).events
    assert headline(list(reminder)) == "Gemeente A: reminder, 1 channel still needs attention"
    recovery = run([view(posts=ACTIVE)], [stored(state="quiet", stale_since=NOW - DAY)]).events
    assert headline(list(recovery)) == "Gemeente A: 1 channel back to normal"


def test_a_digest_message() -> None:
    start, end = digest_period(NOW, timedelta(days=14))
    due = DigestDue("Gemeente A", start, end)
    views = [view(posts=ACTIVE, channel_id=1), view(posts=INACTIVE, channel_id=2)]
    posts = {1: [PostTime(start + DAY * i, "post") for i in range(5)]}
    message = body("Gemeente A", [recorded(digest_event(due, views, posts), 9)], None)
    assert message["kind"] == "digest"
    assert message["text"].splitlines() == [
        "Gemeente A: posts in the last 14 days (9 Nov – 22 Nov 2026) against each channel's target",
        "• Website feed Nieuws 1 (https://www.example/1): 5 posts, on target (2 per 14 days)",
        "• Website feed Nieuws 2 (https://www.example/2): 0 posts, below target (2 per 14 days);"
        " now inactive",
        "1 of 2 channels with a target reached it.",
    ]
    assert message["events"][0]["period_end"] == "2026-11-23T00:00:00Z"


def test_long_messages_are_cut_but_the_events_are_all_there() -> None:
    views = [view(posts=[], channel_id=i) for i in range(1, 61)]
    events = [recorded(e, i) for i, e in enumerate(run(views).events, 1)]
    message = body("Gemeente A", events, None)
    assert message["text"].splitlines()[-1] == "… and 20 more"
    assert len(message["events"]) == 60


def test_a_text_only_body_has_nothing_but_the_text() -> None:
    events = [recorded(e, i) for i, e in enumerate(run([view(posts=[])]).events, 1)]
    full = body("Gemeente A", events, "http://monitor.example/")
    text_only = body("Gemeente A", events, "http://monitor.example/", text_only=True)
    assert text_only == {"text": full["text"]}


def test_a_message_in_parts_says_which_part_it_is() -> None:
    views = [view(posts=[], channel_id=i) for i in range(1, 4)]
    events = [recorded(e, i) for i, e in enumerate(run(views).events, 1)]
    whole = body("Gemeente A", events, "http://monitor.example/")["text"].splitlines()
    second = body("Gemeente A", events, "http://monitor.example/", part=(2, 3))
    assert second["text"].splitlines() == [
        "Gemeente A: 3 channels need attention (part 2 of 3)",
        *whole[1:],
    ]
    assert body("Gemeente A", events, None, part=(1, 1))["text"].splitlines()[0] == (
        "Gemeente A: 3 channels need attention"
    )


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (41.7 * 86400, "41 days"),
        (86400, "1 day"),
        (5 * 3600 + 59, "5 hours"),
        (180, "3 minutes"),
        (1, "1 second"),
        (None, "an unknown time"),
    ],
)
def test_durations_for_people(seconds: float | None, text: str) -> None:
    assert human(seconds) == text


def test_retry_delay_doubles_from_the_evaluation_interval_up_to_an_hour() -> None:
    minute = timedelta(minutes=1)
    assert [retry_delay(n, minute) for n in (1, 2, 3)] == [minute, 2 * minute, 4 * minute]
    assert retry_delay(40, minute) == timedelta(hours=1)
    assert retry_delay(1, timedelta(hours=2)) == timedelta(hours=2)
