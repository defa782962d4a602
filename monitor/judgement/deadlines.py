"""When a judgement runs out: the next moment a channel's view changes with no new poll.

Pure: no clock, no I/O. ``views.judge`` is a function of the posts, the stored record and
``now``; with posts and record fixed, only two of its figures move with every tick (the
moment judged and the silence: ``ChannelView.at`` fills them in when read). Everything else
steps at moments these functions name: a post dated ahead coming due, a post leaving a
window (the recent-posts windows, the KPI's target period, the 30-day count by kind), a bar
of the weekly chart moving on, and the state's thresholds (quiet, inactive, dormant).
"""

from __future__ import annotations

from array import array
from bisect import bisect_left
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from monitor import cadence, views
from monitor.cadence import ActivityState
from monitor.records import PostTime

TICK = timedelta(microseconds=1)  # datetime's resolution: "after t" starts at t + TICK
WEEK = timedelta(weeks=1)
KIND_WINDOW = timedelta(days=30)  # ChannelView.posts_30d_by_kind
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_CONSTANT_STATES = frozenset({ActivityState.UNKNOWN, ActivityState.PARKED})


def next_change(
    view: views.ChannelView, posts: Iterable[PostTime], at: datetime
) -> datetime | None:
    """The first moment after ``at`` at which the judgement of these posts may differ from
    ``view`` (judged at ``at``) other than in the moment judged and the silence; None: never.

    Never later than the real change; it may be earlier (judging again then changes nothing).
    """
    if view.judged_at < at:  # judged as of its last successful poll: frozen until it is read
        return None
    now = view.judged_at
    kinds = set(view.policy.count_kinds)
    moments: list[datetime] = []
    every: list[datetime] = []
    counted: list[datetime] = []
    for post in posts:
        published = post.published_at
        if published > now:
            moments.append(published)  # dated ahead: it counts once it is due
            continue
        every.append(published)
        if post.kind in kinds:
            counted.append(published)
    every.sort()
    counted.sort()
    # the oldest post inside each window leaves it a tick after it is the window's length old
    for period in (*cadence.WINDOWS.values(), view.policy.target_period):
        moments.extend(_leaves(counted, now, period))
    moments.extend(_leaves(every, now, KIND_WINDOW))
    # each post on the chart moves one bar left when it is a whole number of weeks old
    chart = views.CHART_WEEKS * WEEK
    for published in counted[bisect_left(counted, now - chart) :]:
        age = now - published
        if age < chart:
            moments.append(published + (age // WEEK + 1) * WEEK)
    assessed = view.cadence
    if assessed.state not in _CONSTANT_STATES and assessed.last_post_at is not None:
        moments.append(assessed.last_post_at + view.policy.inactive_after)
        moments.append(assessed.last_post_at + view.policy.dormant_after)
        if assessed.quiet_after is not None:
            moments.append(assessed.quiet_after + TICK)
    return min((m for m in moments if m > now), default=None)


def _leaves(ordered: Sequence[datetime], now: datetime, period: timedelta) -> list[datetime]:
    """When the oldest of the sorted ``ordered`` inside [now - period, now] leaves it."""
    inside = bisect_left(ordered, now - period)
    return [ordered[inside] + period + TICK] if inside < len(ordered) else []


@dataclass(frozen=True, slots=True)
class PostLog:
    """A channel's dated posts, held compactly (8 bytes and one for the kind, per post)."""

    micros: array[int]  # publication times, microseconds since the epoch
    kinds: bytes  # an index into ``_KINDS`` per post

    @classmethod
    def of(cls, posts: Iterable[PostTime]) -> PostLog:
        micros: array[int] = array("q")
        kinds = bytearray()
        for post in posts:
            micros.append((post.published_at - _EPOCH) // TICK)
            kinds.append(_kind_index(post.kind))
        return cls(micros, bytes(kinds))

    def posts(self) -> list[PostTime]:
        names = _KINDS
        return [
            PostTime(_EPOCH + timedelta(microseconds=us), names[k])
            for us, k in zip(self.micros, self.kinds, strict=True)
        ]


EMPTY = PostLog(array("q"), b"")
_KINDS: list[str] = ["post", "reply", "repost"]  # grows with any other kind a platform names


def _kind_index(kind: str) -> int:
    try:
        return _KINDS.index(kind)
    except ValueError:
        if len(_KINDS) >= 256:
            raise ValueError(f"too many kinds of posts to hold: {kind!r}") from None
        _KINDS.append(kind)
        return len(_KINDS) - 1
