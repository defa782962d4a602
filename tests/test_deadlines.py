"""When a judgement runs out (``monitor.judgement.deadlines``): each kind of deadline, and a
property against ``views.judge`` itself: up to the deadline, judging again changes nothing
but the moment judged and the silence."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.judgement.cache import seen_at
from monitor.judgement.deadlines import TICK, PostLog, next_change
from monitor.records import ChannelRecord, PostTime
from monitor.settings import ChannelSettings, Policy
from monitor.views import judge
from tests.conftest import NOW

MINUTE, HOUR, DAY, WEEK = (
    timedelta(minutes=1),
    timedelta(hours=1),
    timedelta(days=1),
    timedelta(weeks=1),
)
LONG = Policy(inactive_after=400 * DAY, dormant_after=800 * DAY, target_posts=0)


def record(*, ok: bool | None = True, last_success: datetime | None = NOW) -> ChannelRecord:
    return ChannelRecord(
        id=1,
        organisation="Org",
        platform="rss",
        handle="https://a.example/rss",
        name=None,
        url=None,
        followers=None,
        last_poll_at=NOW if ok is not None else None,
        last_poll_ok=ok,
        last_success_at=last_success,
        last_error_reason=None if ok else "transient",
        last_error_detail=None,
        consecutive_failures=0 if ok else 1,
    )


def deadline(
    posts: list[PostTime],
    policy: Policy = LONG,
    *,
    at: datetime = NOW,
    shown: ChannelRecord | None = None,
    parked: bool = False,
) -> datetime | None:
    channel = ChannelSettings("Org", "rss", "https://a.example/rss", policy, HOUR, parked=parked)
    view = judge(channel, shown or record(), posts, at)
    return next_change(view, posts, at)


def post(at: datetime, kind: str = "post") -> PostTime:
    return PostTime(at, kind)


@pytest.mark.parametrize(
    ("posts", "policy", "expected", "why"),
    [
        ([post(NOW - 29 * DAY)], LONG, NOW + DAY + TICK, "leaves the 30-day counts"),
        ([post(NOW - 89 * DAY)], LONG, NOW + DAY + TICK, "leaves the 90-day count"),
        (
            [post(NOW - 9 * DAY)],
            Policy(inactive_after=400 * DAY, dormant_after=800 * DAY, target_period=10 * DAY),
            NOW + DAY + TICK,
            "leaves the KPI's target period",
        ),
        ([post(NOW - 84 * HOUR)], LONG, NOW + 84 * HOUR, "moves one bar on the weekly chart"),
        ([post(NOW - 13 * DAY, "reply")], LONG, NOW + 17 * DAY + TICK, "a reply: by-kind count"),
        (
            [post(NOW - 61 * MINUTE - 59 * timedelta(seconds=1))],
            Policy(inactive_after=62 * MINUTE, dormant_after=180 * DAY),
            NOW + timedelta(seconds=1),
            "turns inactive",
        ),
        (
            [post(NOW - 90 * MINUTE)],
            Policy(inactive_after=HOUR, dormant_after=2 * HOUR),
            NOW + 30 * MINUTE,
            "turns dormant",
        ),
        ([post(NOW + 30 * MINUTE)], LONG, NOW + 30 * MINUTE, "a post dated ahead comes due"),
        ([], LONG, None, "never posted: nothing moves"),
    ],
)
def test_each_kind_of_deadline(
    posts: list[PostTime], policy: Policy, expected: datetime | None, why: str
) -> None:
    assert deadline(posts, policy) == expected, why


def test_quiet_a_tick_after_its_moment() -> None:
    hourly = [post(NOW - k * HOUR) for k in range(1, 12)]
    policy = Policy(inactive_after=400 * DAY, dormant_after=800 * DAY, quiet_factor=3)
    # quiet once silence passes 3 × the usual gap (1 h) after the newest post, an hour ago
    assert deadline(hourly, policy) == NOW + 2 * HOUR + TICK


def test_a_failing_channel_is_frozen_at_its_last_success() -> None:
    failing = record(ok=False, last_success=NOW - DAY)
    assert deadline([post(NOW - 29 * DAY)], shown=failing) is None
    never_read = record(ok=False, last_success=None)  # unknown: counts still move
    assert deadline([post(NOW - 29 * DAY)], shown=never_read) == NOW + DAY + TICK


def test_unknown_and_parked_have_no_state_deadline() -> None:
    silent = [post(NOW - 61 * MINUTE)]
    short = Policy(inactive_after=62 * MINUTE, dormant_after=180 * DAY, target_posts=0)
    assert deadline(silent, short) == NOW + MINUTE
    assert deadline(silent, short, parked=True) == NOW - 61 * MINUTE + WEEK  # the chart only
    never_read = record(ok=None, last_success=None)
    assert deadline(silent, short, shown=never_read) == NOW - 61 * MINUTE + WEEK


def test_post_log_holds_posts_as_they_were() -> None:
    posts = [post(NOW - DAY), post(NOW + TICK, "reply"), post(NOW, "story")]
    assert PostLog.of(posts).posts() == posts


# -- the property: nothing but the clock's own figures moves before the deadline -----------

KINDS = st.sampled_from(["post", "reply", "repost"])
OFFSETS = st.integers(min_value=-200 * 24 * 60, max_value=90)  # minutes from NOW


@st.composite
def histories(draw: st.DrawFn) -> tuple[list[PostTime], Policy, ChannelRecord]:
    posts = [
        post(NOW + timedelta(minutes=draw(OFFSETS), microseconds=draw(st.integers(0, 3))), k)
        for k in draw(st.lists(KINDS, max_size=30))
    ]
    inactive = draw(st.integers(1, 60 * 24 * 60))
    policy = Policy(
        inactive_after=timedelta(minutes=inactive),
        dormant_after=timedelta(minutes=draw(st.integers(1, 90 * 24 * 60))),
        quiet_factor=draw(st.sampled_from([1.0, 1.5, 3.0])),
        target_posts=draw(st.integers(0, 4)),
        target_period=timedelta(minutes=draw(st.integers(1, 30 * 24 * 60))),
        count_kinds=tuple(draw(st.sets(KINDS, min_size=1))),
    )
    ok = draw(st.sampled_from([True, False, None]))
    last_success = None if ok is None else NOW - timedelta(minutes=draw(st.integers(0, 600)))
    if ok is False and draw(st.booleans()):
        last_success = None  # failing, never read
    return posts, policy, record(ok=ok, last_success=last_success)


@settings(max_examples=400, deadline=None)
@given(histories(), st.lists(st.floats(0, 1), min_size=1, max_size=5), st.booleans())
def test_the_view_holds_until_its_deadline(
    history: tuple[list[PostTime], Policy, ChannelRecord],
    fractions: list[float],
    parked: bool,
) -> None:
    posts, policy, shown = history
    channel = ChannelSettings("Org", "rss", "https://a.example/rss", policy, HOUR, parked=parked)
    view = judge(channel, shown, posts, NOW)
    until = next_change(view, posts, NOW)
    end = until if until is not None else NOW + 400 * DAY
    moments = [end - TICK, *(NOW + (end - NOW) * f for f in fractions)]
    for moment in moments:
        if NOW <= moment < end:
            assert judge(channel, shown, posts, moment) == seen_at(view, moment), moment
