"""The product's judgement: how a channel is posting, from its post times, a policy and ``now``.

Pure: no clock, no I/O. ``posts`` are the publication times (timezone-aware UTC) of the posts
that count, in any order, possibly repeated. A post later than ``now`` does not exist yet at
``now`` and is ignored, so judging at a past moment gives what was true then.

The quiet rule refines the contract's "silence > quiet_factor * usual gap": once a channel has
a usual gap, a new post never makes it quiet. So it says quiet only where that rule does, and
departs from it only where that rule would not say quiet of the channel without some of its
newest posts (leaving it a usual gap): there the newer posts would have made the channel quiet.
"""

from __future__ import annotations

import enum
import math
from bisect import bisect_left, insort
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import pairwise

from monitor.settings import Policy


class ActivityState(enum.StrEnum):
    """A channel's activity state; the first that holds wins, in this order (see the contract)."""

    UNKNOWN = "unknown"
    PARKED = "parked"
    NEVER_POSTED = "never_posted"
    DORMANT = "dormant"
    INACTIVE = "inactive"
    QUIET = "quiet"
    BELOW_TARGET = "below_target"
    ACTIVE = "active"


STATES: tuple[ActivityState, ...] = tuple(ActivityState)
"""Every state, in the contract's order."""

FLAGGED: frozenset[ActivityState] = frozenset(
    {
        ActivityState.NEVER_POSTED,
        ActivityState.DORMANT,
        ActivityState.INACTIVE,
        ActivityState.QUIET,
        ActivityState.BELOW_TARGET,
    }
)
"""The states that call for attention."""

_BADNESS: Mapping[ActivityState, int] = {
    ActivityState.ACTIVE: 0,
    ActivityState.BELOW_TARGET: 1,
    ActivityState.QUIET: 2,
    ActivityState.INACTIVE: 3,
    ActivityState.DORMANT: 4,
    ActivityState.NEVER_POSTED: 5,
}


def badness(state: ActivityState) -> int:
    """How bad a judged state is, 0 for ``active``; ``unknown`` and ``parked`` raise ValueError."""
    try:
        return _BADNESS[state]
    except KeyError:
        raise ValueError(f"{state!s} is not a judgement of activity") from None


WINDOWS: dict[str, timedelta] = {
    "7d": timedelta(days=7),
    "14d": timedelta(days=14),
    "30d": timedelta(days=30),
    "90d": timedelta(days=90),
}
"""The windows of ``Cadence.recent_posts``, by their ``window`` label."""

MAX_INTERVALS = 50
"""The usual gap looks at no more than this many of the newest intervals."""
MIN_INTERVALS = 5
"""Fewer intervals than this and a channel has no usual gap (and is never quiet)."""
GAP_PERCENTILE = 0.9
"""The usual gap is this percentile of the intervals."""
_TICK = timedelta(microseconds=1)
"""The resolution of datetime: ``now > t - _TICK`` is ``now >= t``."""


@dataclass(frozen=True, slots=True)
class Cadence:
    """A channel's judged activity at one moment, and the figures it was judged on."""

    state: ActivityState
    last_post_at: datetime | None
    silence: timedelta | None  # now - last_post_at; None when there is no post
    recent_posts: Mapping[str, int]  # posts in each of WINDOWS, ending at now
    usual_gap: timedelta | None  # at the newest post; None below MIN_INTERVALS intervals
    posts_in_target_period: int
    quiet_after: datetime | None  # quiet past this if nothing is posted; None: never quiet


def intervals(posts: Iterable[datetime]) -> list[timedelta]:
    """The intervals between consecutive distinct posts, oldest first (all of them)."""
    times = sorted(set(posts))
    return [newer - older for older, newer in pairwise(times)]


def usual_gap(posts: Iterable[datetime]) -> timedelta | None:
    """The usual gap between posts: the 90th percentile of the newest 50 intervals.

    Nearest-rank method: the ceil(0.9 * n)-th smallest of the n intervals, so always one of
    the real intervals (the largest when n < 10). None with fewer than 5 intervals.
    """
    return _nearest_rank(sorted(intervals(posts)[-MAX_INTERVALS:]))


def count_since(posts: Iterable[datetime], start: datetime, now: datetime) -> int:
    """How many posts were published at or after ``start`` and not after ``now``."""
    return sum(1 for published in posts if start <= published <= now)


def assess(
    posts: Sequence[datetime],
    policy: Policy,
    now: datetime,
    *,
    polled_ok: bool,
    parked: bool = False,
) -> Cadence:
    """Judge a channel at ``now``: its state and the figures behind it.

    ``polled_ok`` is whether the channel was ever polled successfully. ``policy.count_kinds``
    is not read here: ``posts`` are already the posts that count. Older posts may be left out
    without changing the result, as long as these are given: the posts in the 90 days and in
    the target period before ``now``, and the posts less than min(inactive_after,
    dormant_after) older than the newest one, with the 50 (distinct) posts before those.
    """
    published = sorted(t for t in posts if t <= now)  # repeats kept: they are posts
    times = sorted(set(published))

    def count(period: timedelta) -> int:
        return len(published) - bisect_left(published, now - period)

    last_post_at = times[-1] if times else None
    silence = now - last_post_at if last_post_at is not None else None
    gap, quiet_after = _quiet_rule(times, policy)
    in_target_period = count(policy.target_period)

    if not polled_ok:
        state = ActivityState.UNKNOWN
    elif parked:
        state = ActivityState.PARKED
    elif silence is None:
        state = ActivityState.NEVER_POSTED
    elif silence >= policy.dormant_after:
        state = ActivityState.DORMANT
    elif silence >= policy.inactive_after:
        state = ActivityState.INACTIVE
    elif quiet_after is not None and now > quiet_after:
        state = ActivityState.QUIET
    elif in_target_period < policy.target_posts:
        state = ActivityState.BELOW_TARGET
    else:
        state = ActivityState.ACTIVE

    return Cadence(
        state=state,
        last_post_at=last_post_at,
        silence=silence,
        recent_posts={name: count(period) for name, period in WINDOWS.items()},
        usual_gap=gap,
        posts_in_target_period=in_target_period,
        quiet_after=quiet_after,
    )


def _nearest_rank(ordered: Sequence[timedelta]) -> timedelta | None:
    """The GAP_PERCENTILE of already sorted intervals, or None if there are too few."""
    if len(ordered) < MIN_INTERVALS:
        return None
    return ordered[math.ceil(GAP_PERCENTILE * len(ordered)) - 1]


def _usual_gaps(times: Sequence[datetime], start: int) -> list[timedelta | None]:
    """The usual gap as it stood at each of ``times[start:]`` (sorted, distinct), in one pass."""
    first = max(1, start - MAX_INTERVALS + 1)
    window = sorted(times[k] - times[k - 1] for k in range(first, start + 1))
    gaps = [_nearest_rank(window)]
    for k in range(start + 1, len(times)):
        insort(window, times[k] - times[k - 1])
        if k > MAX_INTERVALS:
            window.remove(times[k - MAX_INTERVALS] - times[k - MAX_INTERVALS - 1])
        gaps.append(_nearest_rank(window))
    return gaps


def _quiet_rule(
    times: Sequence[datetime], policy: Policy
) -> tuple[timedelta | None, datetime | None]:
    """The usual gap at the newest post, and when the channel turns quiet if nothing is posted.

    The moment is None when silence would make the channel inactive first. Each post with a
    usual gap sets a deadline: its time plus quiet_factor * the usual gap as it stood at that
    post. For the newest post alone, that is the contract's rule (silence > factor * usual gap).
    """
    if not times:
        return None, None
    # Silence this long makes the channel inactive or dormant, which outrank quiet: a deadline
    # reaching it could never show, so it is capped there, just before the moment the channel
    # would have turned inactive had it stopped at that post.
    flagged_anyway = min(policy.inactive_after, policy.dormant_after)
    cap = flagged_anyway - _TICK
    # The quiet moment is the latest deadline of any post, not just the newest one's: a new
    # post can shrink the usual gap, and it must never bring the quiet moment earlier, or
    # posting could make a channel quiet. A post `flagged_anyway` or more older than the
    # newest has a capped deadline before the newest post itself: it cannot be latest.
    # Posts without a usual gap set none: the quiet rule does not apply to them.
    start = bisect_left(times, times[-1] - flagged_anyway)
    gaps = _usual_gaps(times, start)
    deadlines = [
        published + min(policy.quiet_factor * gap, cap)
        for published, gap in zip(times[start:], gaps, strict=True)
        if gap is not None
    ]
    latest = max(deadlines, default=None)
    if latest is None or latest >= times[-1] + cap:
        return gaps[-1], None
    return gaps[-1], latest
