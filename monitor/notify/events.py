"""Native notifications, the pure part: what changed since people were last told, as events.

``evaluate`` compares every channel's judged view with what the event log last recorded for it
(its ``AlertState``) and returns the events to record and the alert states to write, both in one
transaction (``monitor.notify.store``). ``digests_due`` and ``digest_event`` make the periodic
digest. No clock, no I/O: ``now`` is passed in. Sending is ``monitor.notify.job``; the words
people read are ``monitor.notify.message``.

The rules, in short:

- fetch failure is not inactivity: while a channel's last poll failed its activity is not
  judged again (it keeps what was last recorded); after ``failing_after`` failed polls in a row
  one ``poll_failing`` event is recorded, and ``poll_recovered`` once a poll succeeds;
- entering one of ``states`` (default never_posted, dormant, inactive, quiet) records
  ``state_changed``, and so does moving between them (quiet → inactive); leaving them records
  ``recovered`` with how long the channel needed attention;
- ``unknown`` (never read) is not a stale state, and parked channels never produce events;
- while some channel of an organisation still needs attention, a ``reminder`` for all of that
  organisation's such channels is recorded once the oldest was last told about ``remind_every``
  ago, so one organisation's reminders arrive together.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from monitor.cadence import ActivityState
from monitor.records import PostTime
from monitor.settings import NotifySettings
from monitor.timestamps import rfc3339
from monitor.views import ChannelView


class EventKind(enum.StrEnum):
    """What an entry of the event log says happened."""

    STATE_CHANGED = "state_changed"  # entered a state that needs attention, or moved between two
    RECOVERED = "recovered"  # left the states that need attention
    POLL_FAILING = "poll_failing"  # failing_after polls in a row failed
    POLL_RECOVERED = "poll_recovered"  # a poll succeeded again after poll_failing
    REMINDER = "reminder"  # still needs attention
    DIGEST = "digest"  # an organisation's posts over the last period against the targets


ATTENTION: frozenset[EventKind] = frozenset(
    {EventKind.STATE_CHANGED, EventKind.POLL_FAILING, EventKind.REMINDER}
)
"""Events that ask people to look at a channel."""

DIGEST_EPOCH = datetime(1970, 1, 5, tzinfo=UTC)
"""Digest periods are counted from this Monday, 00:00 UTC: "14d" digests arrive on Mondays."""


@dataclass(frozen=True, slots=True)
class AlertState:
    """What the event log last recorded for one channel."""

    channel_id: int
    state: str | None = None  # the last judged activity state; None until it was read
    stale_since: datetime | None = None  # set while the state needs attention
    failing: bool = False  # poll_failing was recorded and no poll has succeeded since
    failing_since: datetime | None = None
    reminded_at: datetime | None = None  # the last event that told people about a problem
    created_at: datetime | None = None  # None: not stored yet
    revision: int = 0  # as read; 0: not stored yet

    @property
    def needs_attention(self) -> bool:
        return self.stale_since is not None or self.failing


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event to record. ``detail`` holds JSON-ready public facts, never a secret."""

    organisation: str
    kind: EventKind
    channel_id: int | None = None
    old_state: str | None = None
    new_state: str | None = None
    detail: Mapping[str, Any] = field(default_factory=dict)
    dedup_key: str | None = None  # unique in the log: a digest is recorded once per period


@dataclass(frozen=True, slots=True)
class Event:
    """A recorded event, as read back from the log."""

    id: int
    at: datetime
    kind: EventKind
    organisation: str
    channel_id: int | None
    old_state: str | None
    new_state: str | None
    detail: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Evaluation:
    """What one evaluation found: events to record and alert states to write, together."""

    events: tuple[NewEvent, ...]
    alerts: tuple[AlertState, ...]  # new or changed rows, each with the revision it was read at


@dataclass(frozen=True, slots=True)
class DigestDue:
    """An organisation's digest for the period [start, end) that is due now."""

    organisation: str
    start: datetime
    end: datetime

    @property
    def key(self) -> str:
        return f"digest/{rfc3339(self.end)}/{self.organisation}"


# --- evaluation -------------------------------------------------------------------------------


def evaluate(
    views: Sequence[ChannelView],
    alerts: Mapping[int, AlertState],
    settings: NotifySettings,
    now: datetime,
) -> Evaluation:
    """Diff every channel's view against its recorded alert state (pure)."""
    events: list[NewEvent] = []
    written: dict[int, AlertState] = {}
    told: set[int] = set()  # channels with an event this round
    by_org: dict[str, list[ChannelView]] = {}
    for view in views:
        channel_id = view.record.id
        old = alerts.get(channel_id) or AlertState(channel_id=channel_id)
        new, found = _judge(view, old, settings, now)
        events += found
        if found:
            told.add(channel_id)
        written[channel_id] = new
        by_org.setdefault(view.organisation, []).append(view)

    if settings.remind_every > timedelta():
        for organisation, members in by_org.items():
            pending = [v for v in members if written[v.record.id].needs_attention]
            due = any(
                (reminded := written[v.record.id].reminded_at) is None
                or now - reminded >= settings.remind_every
                for v in pending
                if v.record.id not in told
            )
            if not due:
                continue
            for view in pending:
                alert = written[view.record.id]
                if view.record.id not in told:
                    events.append(
                        NewEvent(
                            organisation,
                            EventKind.REMINDER,
                            view.record.id,
                            # the recorded state: a channel that cannot be read is not judged
                            # again, so its view's state (its silence growing) is no news
                            new_state=alert.state,
                            detail=_reminder_facts(view, alert, now),
                        )
                    )
                written[view.record.id] = replace(alert, reminded_at=now)

    changed = []
    for channel_id, alert in written.items():
        stored = alerts.get(channel_id)
        if stored is None:
            changed.append(replace(alert, created_at=now))
        elif alert != stored:
            changed.append(alert)
    return Evaluation(tuple(events), tuple(changed))


def _judge(
    view: ChannelView, old: AlertState, settings: NotifySettings, now: datetime
) -> tuple[AlertState, list[NewEvent]]:
    """One channel: its new alert state and the events that take it there."""
    record, state = view.record, view.state
    if view.settings.parked:  # kept only to hold the name: never a notification
        parked = replace(
            old,
            state=ActivityState.PARKED.value,
            stale_since=None,
            failing=False,
            failing_since=None,
            reminded_at=None,
        )
        return parked, []
    organisation, channel_id = view.organisation, record.id
    events: list[NewEvent] = []
    new = old

    # fetch health first; it never changes the activity state
    if not old.failing and record.consecutive_failures >= settings.failing_after:
        detail = {**facts(view), "never_read": record.last_success_at is None}
        events.append(
            NewEvent(
                organisation, EventKind.POLL_FAILING, channel_id, new_state=old.state, detail=detail
            )
        )
        new = replace(new, failing=True, failing_since=now, reminded_at=now)
    elif old.failing and record.last_poll_ok:
        since = old.failing_since or now
        detail = {**facts(view), **_span("failing", since, now)}
        events.append(
            NewEvent(
                organisation,
                EventKind.POLL_RECOVERED,
                channel_id,
                new_state=state.value,
                detail=detail,
            )
        )
        new = replace(new, failing=False, failing_since=None)

    # activity, judged only from a successful last read (a failing channel keeps its state)
    if record.last_poll_ok and state not in (ActivityState.UNKNOWN, ActivityState.PARKED):
        stale = state.value in settings.states
        was_stale = old.stale_since is not None
        if stale and (not was_stale or state.value != old.state):
            since = old.stale_since or stale_start(view, settings.states, now)
            events.append(
                NewEvent(
                    organisation,
                    EventKind.STATE_CHANGED,
                    channel_id,
                    old_state=old.state,
                    new_state=state.value,
                    detail={**facts(view), "stale_since": rfc3339(since)},
                )
            )
            new = replace(new, stale_since=since, reminded_at=now)
        elif was_stale and not stale:
            if state.value != old.state:  # else only [notify] states changed: nothing happened
                assert old.stale_since is not None
                events.append(
                    NewEvent(
                        organisation,
                        EventKind.RECOVERED,
                        channel_id,
                        old_state=old.state,
                        new_state=state.value,
                        detail={**facts(view), **_span("stale", old.stale_since, now)},
                    )
                )
            new = replace(new, stale_since=None)
        new = replace(new, state=state.value)
    if not new.needs_attention:
        new = replace(new, reminded_at=None)
    return new, events


def stale_start(view: ChannelView, states: Iterable[str], now: datetime) -> datetime:
    """When the channel's current spell of needing attention began, as far as its posts tell.

    For silence it is the first moment a notified state held (quiet_after, last post +
    inactive_after or dormant_after), so a channel found dormant on the first evaluation is
    not reported as stale "for a minute" when it recovers. Otherwise: ``now``.
    """
    assessed, policy, wanted = view.cadence, view.policy, set(states)
    last = assessed.last_post_at
    if last is None:
        return now
    moments = []
    if ActivityState.QUIET.value in wanted and assessed.quiet_after is not None:
        moments.append(assessed.quiet_after)
    if ActivityState.INACTIVE.value in wanted:
        moments.append(last + policy.inactive_after)
    if ActivityState.DORMANT.value in wanted:
        moments.append(last + policy.dormant_after)
    return min((m for m in moments if m <= now), default=now)


def facts(view: ChannelView) -> dict[str, Any]:
    """The public facts about a channel that events carry (JSON-ready)."""
    record, assessed, policy = view.record, view.cadence, view.policy
    return {
        "platform": view.platform,
        "channel": view.handle,
        "name": record.name,
        "url": record.url,
        "state": assessed.state.value,
        "last_post_at": rfc3339(assessed.last_post_at),
        "silence_seconds": _seconds(assessed.silence),
        "usual_gap_seconds": _seconds(assessed.usual_gap),
        "posts_in_target_period": assessed.posts_in_target_period,
        "target_posts": policy.target_posts,
        "target_period_seconds": policy.target_period.total_seconds(),
        "poll_ok": record.last_poll_ok,
        "poll_error": record.last_error_reason,
        "consecutive_failures": record.consecutive_failures,
        "last_success_at": rfc3339(record.last_success_at),
    }


def _reminder_facts(view: ChannelView, alert: AlertState, now: datetime) -> dict[str, Any]:
    detail = {**facts(view), "stale": alert.stale_since is not None, "failing": alert.failing}
    if alert.stale_since is not None:
        detail |= _span("stale", alert.stale_since, now)
    if alert.failing and alert.failing_since is not None:
        detail |= _span("failing", alert.failing_since, now)
    return detail


def _span(what: str, since: datetime, now: datetime) -> dict[str, Any]:
    return {f"{what}_since": rfc3339(since), f"{what}_for_seconds": (now - since).total_seconds()}


def _seconds(value: timedelta | None) -> float | None:
    return value.total_seconds() if value is not None else None


# --- digest -----------------------------------------------------------------------------------


def digest_period(now: datetime, every: timedelta) -> tuple[datetime, datetime]:
    """The latest complete digest period before ``now``: periods of ``every`` from DIGEST_EPOCH."""
    end = DIGEST_EPOCH + ((now - DIGEST_EPOCH) // every) * every
    return end - every, end


def digests_due(
    views: Sequence[ChannelView],
    alerts: Mapping[int, AlertState],
    every: timedelta,
    now: datetime,
) -> list[DigestDue]:
    """The digests of the latest complete period, for organisations evaluated before it ended.

    An organisation gets no digest for a period that ended before notifications first looked
    at it; whether one was already recorded is the caller's question (by ``DigestDue.key``).
    """
    if every <= timedelta():
        return []
    start, end = digest_period(now, every)
    first_seen: dict[str, datetime] = {}
    for view in views:
        alert = alerts.get(view.record.id)
        if view.settings.parked or alert is None or alert.created_at is None:
            continue
        seen = first_seen.get(view.organisation)
        first_seen[view.organisation] = min(seen or alert.created_at, alert.created_at)
    return [DigestDue(org, start, end) for org, seen in first_seen.items() if seen < end]


def digest_event(
    due: DigestDue, views: Sequence[ChannelView], posts: Mapping[int, Sequence[PostTime]]
) -> NewEvent:
    """One organisation's digest: each channel's posts in the period against its target.

    ``posts`` holds at least each channel's posts published in the period. A target of
    ``target_posts`` per ``target_period`` expects that many times period / target_period.
    """
    period = due.end - due.start
    channels = []
    for view in views:
        if view.organisation != due.organisation or view.settings.parked:
            continue
        policy = view.policy
        kinds = set(policy.count_kinds)
        count = sum(
            1
            for p in posts.get(view.record.id, ())
            if p.kind in kinds and due.start <= p.published_at < due.end
        )
        expected = policy.target_posts * (period / policy.target_period)
        readable = view.record.last_success_at is not None
        channels.append(
            {
                **facts(view),
                "posts": count,
                "expected_posts": round(expected, 2),
                "on_target": (
                    count + 1e-9 >= expected if policy.target_posts and readable else None
                ),
                "read": readable,
            }
        )
    detail = {
        "period_start": rfc3339(due.start),
        "period_end": rfc3339(due.end),
        "period_seconds": period.total_seconds(),
        "channels": channels,
    }
    return NewEvent(due.organisation, EventKind.DIGEST, detail=detail, dedup_key=due.key)


def retry_delay(attempts: int, base: timedelta, cap: timedelta = timedelta(hours=1)) -> timedelta:
    """How long a failed delivery waits: ``base`` doubling per attempt, at most ``cap``."""
    delay: timedelta = base * (1 << min(max(attempts - 1, 0), 30))
    return min(delay, max(cap, base))
