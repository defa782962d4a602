"""What each configured channel looks like right now: stored state judged by the cadence core.

One snapshot feeds ``/metrics``, ``/api/channels``, the status page and the CLI, so they
never disagree.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from monitor import cadence
from monitor.cadence import ActivityState
from monitor.records import ChannelKey, ChannelRecord, PostTime, Retention, StoreFault
from monitor.redact import masked
from monitor.settings import ChannelSettings, Policy, channel_label
from monitor.storage import Store

CHART_WEEKS = 26  # half a year of posts per week: the status page's chart
_LOOKBACK = max(*cadence.WINDOWS.values(), timedelta(weeks=CHART_WEEKS))
NEWEST = 2 * cadence.MAX_INTERVALS + 1  # the usual gaps behind the newest posts' deadlines


@dataclass(frozen=True, slots=True)
class ChannelView:
    """One channel: configuration, stored metadata, poll health and its judged cadence."""

    settings: ChannelSettings
    record: ChannelRecord
    cadence: cadence.Cadence
    posts_30d_by_kind: Mapping[str, int]
    weekly_posts: tuple[int, ...]  # counted posts per week, oldest first, the last CHART_WEEKS
    judged_at: datetime  # now, or the last successful poll while the channel cannot be read

    @property
    def stale(self) -> bool:
        """The judgement is as of the last successful poll: the channel cannot be read now."""
        return self.record.last_poll_ok is False and self.record.last_success_at is not None

    @property
    def organisation(self) -> str:
        return self.settings.organisation

    @property
    def platform(self) -> str:
        return self.settings.platform

    @property
    def handle(self) -> str:
        return self.settings.label  # secrets masked, no query string

    @property
    def policy(self) -> Policy:
        return self.settings.policy

    @property
    def state(self) -> ActivityState:
        return self.cadence.state

    @property
    def poll_failing(self) -> bool:
        return self.record.last_poll_ok is False

    @property
    def moved_to(self) -> str | None:
        """Where the channel's address moved for good, masked like a label: the configuration
        should say so."""
        return moved_label(self.record.moved_to)


def moved_label(sealed: str | None) -> str | None:
    """A stored new address as people may see it: secrets masked, no query string."""
    return channel_label(masked(sealed), ()) if sealed else None


def judged_at(record: ChannelRecord, now: datetime) -> datetime:
    """When a channel is judged: now, or while its polls fail, at its last successful poll.

    Fetch failure is not inactivity: a channel that cannot be read keeps the state it had when
    it was last read, instead of drifting to ``inactive`` on silence we could not check.
    """
    if record.last_poll_ok is False and record.last_success_at is not None:
        return min(now, record.last_success_at)
    return now


def lookback(policy: Policy) -> timedelta:
    """How far before the moment judged a channel's posts are weighed (besides its ``NEWEST``
    posts of each kind): the widest window, the chart, the target period, and the quiet rule,
    which weighs every post up to G = min(inactive_after, dormant_after) older than the newest
    with the intervals before them (2 × G back covers it)."""
    quiet_reach = 2 * min(policy.inactive_after, policy.dormant_after)
    return max(_LOOKBACK, policy.target_period, quiet_reach)


def judge(
    settings: ChannelSettings, record: ChannelRecord, posts: Sequence[PostTime], now: datetime
) -> ChannelView:
    """Judge one channel from its stored posts (pure); see ``judged_at`` for the moment."""
    now = judged_at(record, now)
    kinds = set(settings.policy.count_kinds)
    counted = [p.published_at for p in posts if p.kind in kinds and p.published_at <= now]
    assessed = cadence.assess(
        counted,
        settings.policy,
        now,
        polled_ok=record.last_success_at is not None,
        parked=settings.parked,
    )
    month_ago = now - timedelta(days=30)
    by_kind = Counter(p.kind for p in posts if month_ago <= p.published_at <= now)
    weekly = [0] * CHART_WEEKS
    for published in counted:
        weeks_ago = int((now - published) / timedelta(weeks=1))
        if 0 <= weeks_ago < CHART_WEEKS:
            weekly[CHART_WEEKS - 1 - weeks_ago] += 1
    return ChannelView(
        settings=settings,
        record=record,
        cadence=assessed,
        posts_30d_by_kind={kind: by_kind.get(kind, 0) for kind in ("post", "reply", "repost")},
        weekly_posts=tuple(weekly),
        judged_at=now,
    )


def retention(policy: Policy) -> Retention:
    """What judging a channel under ``policy`` reads of its posts, so pruning keeps it: the
    windows, the chart and the target period; the quiet rule's reach and the intervals behind it
    (``cadence.assess``); and what ``snapshot`` reads of every channel (``NEWEST``)."""
    return Retention(
        window=max(_LOOKBACK, policy.target_period),
        reach=min(policy.inactive_after, policy.dormant_after),
        intervals=cadence.MAX_INTERVALS,
        kinds=tuple(policy.count_kinds),
        newest=NEWEST,
    )


def snapshot(
    store: Store,
    channels: Sequence[ChannelSettings],
    ids: Mapping[ChannelKey, int],
    now: datetime,
    faults: Mapping[int, StoreFault] | None = None,
) -> list[ChannelView]:
    """Every configured channel, judged at ``now``, in configuration order (two queries).

    ``faults`` are polls the store refused: they show as failed polls of their channels.
    """
    wanted = [ids[c.key] for c in channels if c.key in ids]
    records = store.channels(wanted)
    for faulty, fault in (faults or {}).items():
        if faulty in records:
            records[faulty] = fault.over(records[faulty])
    earliest = min((judged_at(r, now) for r in records.values()), default=now)
    since = earliest - max((lookback(c.policy) for c in channels), default=_LOOKBACK)
    posts = store.post_times(wanted, since=since, newest=NEWEST)
    views = []
    for channel in channels:
        channel_id = ids.get(channel.key)
        if channel_id is None or channel_id not in records:
            continue
        views.append(judge(channel, records[channel_id], posts.get(channel_id, []), now))
    return views
