"""The cadence core: tables of cases for every state and boundary, and properties of the model."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import assume, event, given, settings
from hypothesis import strategies as st

from monitor.cadence import (
    FLAGGED,
    GAP_PERCENTILE,
    MAX_INTERVALS,
    MIN_INTERVALS,
    STATES,
    WINDOWS,
    ActivityState,
    Cadence,
    assess,
    badness,
    count_since,
    intervals,
    usual_gap,
)
from monitor.settings import Policy

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
MICRO = timedelta(microseconds=1)
SECOND = timedelta(seconds=1)
MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
S = ActivityState


def judge(
    posts: Sequence[datetime],
    policy: Policy | None = None,
    now: datetime = NOW,
    *,
    polled_ok: bool = True,
    parked: bool = False,
) -> Cadence:
    return assess(posts, policy or Policy(), now, polled_ok=polled_ok, parked=parked)


def spaced(newest: datetime, gaps: Sequence[timedelta]) -> list[datetime]:
    """Posts ending at ``newest`` whose intervals, oldest first, are ``gaps``."""
    posts = [newest]
    for gap in reversed(gaps):
        posts.append(posts[-1] - gap)
    return posts[::-1]


def daily(newest: datetime, count: int) -> list[datetime]:
    """``count`` posts one day apart, the newest at ``newest``."""
    return spaced(newest, [DAY] * (count - 1))


# --- The states, their order and rank ---------------------------------------------------------


def test_states_are_the_contracts_in_its_order() -> None:
    assert [s.value for s in STATES] == [
        "unknown",
        "parked",
        "never_posted",
        "dormant",
        "inactive",
        "quiet",
        "below_target",
        "active",
    ]
    assert {S.NEVER_POSTED, S.DORMANT, S.INACTIVE, S.QUIET, S.BELOW_TARGET} == FLAGGED


def test_badness_ranks_judged_states_and_refuses_the_others() -> None:
    ranked = [S.ACTIVE, S.BELOW_TARGET, S.QUIET, S.INACTIVE, S.DORMANT, S.NEVER_POSTED]
    assert [badness(s) for s in ranked] == list(range(6))
    for state in (S.UNKNOWN, S.PARKED):
        with pytest.raises(ValueError, match=state.value):
            badness(state)


# --- One table row per state and boundary ------------------------------------------------------

REGULAR = daily(NOW - DAY, 60)  # a post a day for two months: usual gap 1 day, quiet after 3
CASES: list[tuple[str, list[datetime], Policy, dict[str, bool], ActivityState]] = [
    # unknown and parked come first
    ("unknown-even-with-posts", REGULAR, Policy(), {"polled_ok": False}, S.UNKNOWN),
    ("unknown-beats-parked", [], Policy(), {"polled_ok": False, "parked": True}, S.UNKNOWN),
    ("parked-beats-never-posted", [], Policy(), {"parked": True}, S.PARKED),
    ("parked-beats-dormant", [NOW - 400 * DAY], Policy(), {"parked": True}, S.PARKED),
    ("parked-while-active", REGULAR, Policy(), {"parked": True}, S.PARKED),
    # never posted
    ("never-posted", [], Policy(), {}, S.NEVER_POSTED),
    ("only-future-posts", [NOW + SECOND, NOW + DAY], Policy(), {}, S.NEVER_POSTED),
    ("post-exactly-now", [NOW], Policy(target_posts=1), {}, S.ACTIVE),
    # dormant and inactive: silence >= the threshold
    ("dormant-at-threshold", [NOW - 180 * DAY], Policy(), {}, S.DORMANT),
    ("inactive-a-second-before-dormant", [NOW - 180 * DAY + SECOND], Policy(), {}, S.INACTIVE),
    ("inactive-at-threshold", [NOW - 30 * DAY], Policy(), {}, S.INACTIVE),
    ("not-inactive-a-second-before", [NOW - 30 * DAY + SECOND], Policy(), {}, S.BELOW_TARGET),
    ("not-inactive-no-target", [NOW - 30 * DAY + SECOND], Policy(target_posts=0), {}, S.ACTIVE),
    ("dormant-beats-inactive", [NOW - 20 * DAY], Policy(dormant_after=10 * DAY), {}, S.DORMANT),
    # quiet: silence strictly greater than factor x usual gap
    ("not-quiet-at-3-gaps", daily(NOW - 3 * DAY, 60), Policy(), {}, S.ACTIVE),
    ("quiet-just-past-3-gaps", daily(NOW - 3 * DAY - MICRO, 60), Policy(), {}, S.QUIET),
    ("factor-is-policy", daily(NOW - 3 * DAY - MICRO, 60), Policy(quiet_factor=4), {}, S.ACTIVE),
    ("inactive-beats-quiet", daily(NOW - 30 * DAY, 60), Policy(), {}, S.INACTIVE),
    ("quiet-beats-below-target", daily(NOW - 10 * DAY, 60), Policy(target_posts=9), {}, S.QUIET),
    # a short history is judged by the same rule once its newest post has 5 intervals behind it
    ("quiet-8-daily-posts-9-days-silent", daily(NOW - 9 * DAY, 8), Policy(), {}, S.QUIET),
    (
        "quiet-20-posts-36h-apart-6-days",
        spaced(NOW - 6 * DAY, [36 * HOUR] * 19),
        Policy(),
        {},
        S.QUIET,
    ),
    ("short-not-quiet-at-3-gaps", daily(NOW - 3 * DAY, 6), Policy(), {}, S.ACTIVE),
    ("short-quiet-just-past-3-gaps", daily(NOW - 3 * DAY - MICRO, 6), Policy(), {}, S.QUIET),
    # below target: fewer than target_posts posts with t >= now - target_period
    ("one-short", [NOW - DAY, NOW - 2 * DAY], Policy(target_posts=3), {}, S.BELOW_TARGET),
    ("target-met", [NOW - DAY, NOW - 2 * DAY, NOW - 3 * DAY], Policy(target_posts=3), {}, S.ACTIVE),
    ("post-at-period-start-counts", [NOW - DAY, NOW - 14 * DAY], Policy(), {}, S.ACTIVE),
    ("post-before-period-start", [NOW - DAY, NOW - 14 * DAY - MICRO], Policy(), {}, S.BELOW_TARGET),
    ("period-is-policy", [NOW - DAY, NOW - 20 * DAY], Policy(target_period=21 * DAY), {}, S.ACTIVE),
    ("target-zero-disables", [NOW - 20 * DAY], Policy(target_posts=0), {}, S.ACTIVE),
    ("future-posts-do-not-count", [NOW - DAY, NOW + SECOND], Policy(), {}, S.BELOW_TARGET),
    ("repeated-times-are-posts", [NOW - DAY, NOW - DAY], Policy(), {}, S.ACTIVE),
    ("active", REGULAR, Policy(), {}, S.ACTIVE),
]


@pytest.mark.parametrize(
    ("posts", "policy", "flags", "expected"),
    [pytest.param(*case[1:], id=case[0]) for case in CASES],
)
def test_state(
    posts: list[datetime], policy: Policy, flags: dict[str, bool], expected: ActivityState
) -> None:
    polled_ok, parked = flags.get("polled_ok", True), flags.get("parked", False)
    assert judge(posts, policy, polled_ok=polled_ok, parked=parked).state == expected


def test_every_state_has_a_case() -> None:
    assert {case[-1] for case in CASES} == set(STATES)


def test_quiet_needs_five_intervals() -> None:
    # Six posts, the first five a day apart, then six days, then 25 days of silence: the usual
    # gap of 5 intervals is their largest, 6 days, and 25 > 3 x 6. Without the oldest post
    # only 4 intervals are known: no usual gap, so the same silence is not quiet.
    posts = spaced(NOW - 25 * DAY, [DAY, DAY, DAY, DAY, 6 * DAY])
    no_target = Policy(target_posts=0)
    assert judge(posts, no_target).usual_gap == 6 * DAY
    assert judge(posts, no_target).state == S.QUIET
    assert judge(posts[1:], no_target).usual_gap is None
    assert judge(posts[1:], no_target).quiet_after is None
    assert judge(posts[1:], no_target).state == S.ACTIVE


def test_the_figures_of_a_regular_channel() -> None:
    cadence = judge(REGULAR)
    assert cadence.last_post_at == NOW - DAY
    assert cadence.silence == DAY
    assert cadence.usual_gap == DAY
    assert cadence.quiet_after == NOW + 2 * DAY  # the contract's rule: newest + 3 x usual gap
    assert cadence.posts_in_target_period == 14
    assert cadence.recent_posts == {"7d": 7, "14d": 14, "30d": 30, "90d": 60}


def test_nothing_to_show_for_a_channel_without_posts() -> None:
    assert judge([NOW + DAY]) == Cadence(
        state=S.NEVER_POSTED,
        last_post_at=None,
        silence=None,
        recent_posts=dict.fromkeys(WINDOWS, 0),
        usual_gap=None,
        posts_in_target_period=0,
        quiet_after=None,
    )


def test_figures_are_computed_for_unknown_and_parked_channels_too() -> None:
    active = judge(REGULAR)
    for other in (judge(REGULAR, polled_ok=False), judge(REGULAR, parked=True)):
        assert (other.last_post_at, other.recent_posts) == (
            active.last_post_at,
            active.recent_posts,
        )


def test_recent_posts_windows_include_their_start_and_end() -> None:
    posts = [
        NOW,
        NOW - 7 * DAY,
        NOW - 7 * DAY - MICRO,
        NOW - 14 * DAY,
        NOW - 30 * DAY,
        NOW - 30 * DAY - MICRO,
        NOW - 90 * DAY,
        NOW - 90 * DAY - MICRO,
        NOW + MICRO,
    ]
    assert judge(posts).recent_posts == {"7d": 2, "14d": 4, "30d": 5, "90d": 7}
    assert list(judge(posts).recent_posts) == list(WINDOWS)


def test_count_since_includes_both_ends_and_repeats() -> None:
    posts = [NOW - 2 * DAY, NOW - DAY, NOW - DAY, NOW, NOW + MICRO]
    assert count_since(posts, NOW - DAY, NOW) == 3
    assert count_since(posts, NOW - DAY + MICRO, NOW) == 1
    assert count_since([], NOW - DAY, NOW) == 0


# --- Intervals and the usual gap ---------------------------------------------------------------


def test_intervals_are_between_distinct_posts_in_time_order() -> None:
    posts = [NOW, NOW - 3 * HOUR, NOW - HOUR, NOW - 3 * HOUR, NOW]
    assert intervals(posts) == [2 * HOUR, HOUR]
    assert intervals([NOW]) == []
    assert intervals([]) == []


@pytest.mark.parametrize(
    ("hours", "expected"),
    [
        pytest.param([1, 2, 3, 4], None, id="4-intervals-none"),
        pytest.param([3, 1, 5, 2, 4], 5, id="5-intervals-the-largest"),
        pytest.param(list(range(1, 10)), 9, id="9-the-largest"),
        pytest.param(list(range(1, 11)), 9, id="10-the-9th"),
        pytest.param(list(range(1, 12)), 10, id="11-the-10th"),
        pytest.param(list(range(1, 21)), 18, id="20-the-18th"),
        pytest.param(list(range(1, 51)), 45, id="50-the-45th"),
        pytest.param([7, 7, 7, 7, 7, 7], 7, id="all-equal"),
    ],
)
def test_usual_gap_is_the_nearest_rank_90th_percentile(
    hours: list[int], expected: int | None
) -> None:
    posts = spaced(NOW, [h * HOUR for h in random.Random(len(hours)).sample(hours, len(hours))])
    assert usual_gap(posts) == (None if expected is None else expected * HOUR)


def test_usual_gap_uses_only_the_newest_50_intervals() -> None:
    # Ten slow intervals are more than 10% of any window that holds them; these fall outside.
    assert usual_gap(spaced(NOW, [1000 * HOUR] * 10 + [HOUR] * MAX_INTERVALS)) == HOUR
    assert usual_gap(spaced(NOW, [1000 * HOUR] * 10 + [HOUR] * 44)) == 1000 * HOUR


def test_usual_gap_ignores_repeats_and_order() -> None:
    posts = spaced(NOW, [HOUR, 2 * HOUR, 3 * HOUR, 4 * HOUR, 5 * HOUR])
    assert usual_gap(posts) == 5 * HOUR
    assert usual_gap(posts[::-1] + posts) == 5 * HOUR
    assert judge(posts[::-1] + posts, now=NOW).usual_gap == 5 * HOUR


def test_the_constants_match_the_contract() -> None:
    assert (MAX_INTERVALS, MIN_INTERVALS, GAP_PERCENTILE) == (50, 5, 0.9)
    assert WINDOWS == {"7d": 7 * DAY, "14d": 14 * DAY, "30d": 30 * DAY, "90d": 90 * DAY}


# --- The quiet rule's refinements --------------------------------------------------------------


def test_a_quiet_deadline_past_inactive_means_never_quiet() -> None:
    # Weekly posts with factor 5: five weeks of silence would be 35 days, past inactive (30).
    weekly = spaced(NOW - 29 * DAY, [7 * DAY] * 20)
    policy = Policy(quiet_factor=5, target_posts=0)
    assert judge(weekly, policy).quiet_after is None
    assert judge(weekly, policy).state == S.ACTIVE
    assert judge(weekly, policy, NOW + DAY).state == S.INACTIVE


def test_an_older_posts_deadline_is_capped_just_before_it_would_turn_inactive() -> None:
    # Six posts 20 days apart give a usual gap of 20 days (60 days at factor 3, far past
    # inactive); then an hourly burst of 60 posts. The newest usual gap is an hour, but the
    # burst's first posts still stood at 20 days: their deadlines are capped just before the
    # moment the channel would have turned inactive after them, which is inside the 30 days
    # after the newest post. Uncapped, they would reach past it and the channel would never
    # be quiet.
    burst = spaced(NOW - 10 * DAY, [HOUR] * 59)
    posts = [*spaced(burst[0], [20 * DAY] * 5), *burst[1:]]
    cadence = judge(posts, Policy(target_posts=0))
    assert cadence.usual_gap == HOUR
    assert cadence.quiet_after is not None
    assert burst[0] + 30 * DAY - MICRO <= cadence.quiet_after < burst[-1] + 30 * DAY - MICRO
    assert judge(posts, Policy(target_posts=0), cadence.quiet_after).state == S.ACTIVE
    assert judge(posts, Policy(target_posts=0), cadence.quiet_after + MICRO).state == S.QUIET


def test_posts_before_the_fifth_interval_set_no_deadline() -> None:
    # Ten daily posts, the newest ten days ago. The first five had no usual gap, so the quiet
    # rule did not apply to them; from the sixth on it does, and it says what the contract
    # says: silence (10 days) > 3 x usual gap (1 day).
    posts = daily(NOW - 10 * DAY, 10)
    cadence = judge(posts, Policy(target_posts=0))
    assert cadence.usual_gap == DAY
    assert cadence.quiet_after == posts[-1] + 3 * DAY
    assert cadence.state == S.QUIET


def test_the_post_that_brings_the_fifth_interval_starts_the_quiet_rule() -> None:
    # Five posts a minute apart, a day ago, are active: no usual gap, so never quiet. A sixth
    # a minute later gives the channel its usual gap (a minute), and the day of silence since
    # is quiet, as the contract says. This is the one post that can make a channel quiet:
    # before it the quiet rule does not apply at all.
    posts = spaced(NOW - DAY - MINUTE, [MINUTE] * 4)
    assert judge(posts).state == S.ACTIVE
    assert judge([*posts, NOW - DAY]).state == S.QUIET
    assert judge([*posts, NOW - DAY]).quiet_after == NOW - DAY + 3 * MINUTE


def test_a_quick_post_after_a_pause_does_not_make_a_channel_quiet() -> None:
    # Nine intervals: eight of an hour and a pause of 10 days; the usual gap is the largest,
    # 10 days. A post an hour after the pause makes ten intervals, whose usual gap (the 9th
    # smallest) is an hour: by the contract's rule alone the channel would be quiet three
    # hours later. The deadline the post after the pause set (30 days on) is kept.
    posts = spaced(NOW - 2 * DAY, [HOUR] * 8 + [10 * DAY])
    assert judge(posts).quiet_after is None  # 3 x 10 days of silence is inactive first
    later = [*posts, posts[-1] + HOUR]
    assert judge(later).usual_gap == HOUR
    assert judge(later).quiet_after == posts[-1] + 30 * DAY - MICRO
    assert judge(later, Policy(target_posts=0)).state == S.ACTIVE


def test_a_post_does_not_push_an_older_later_deadline_out() -> None:
    # Six ten-day intervals then 44 hourly ones: at that post the usual gap is still ten days
    # (6 of 50 intervals), so its deadline is 30 days on. At the next one it is an hour. A
    # deadline that only counted the newest 50 posts would lose that 30-day deadline once 50
    # more posts follow, and a post would turn an active channel quiet.
    slow = spaced(NOW - 3 * DAY - 49 * HOUR, [10 * DAY] * 6 + [HOUR] * 44)
    posts = slow + [slow[-1] + k * HOUR for k in range(1, 50)]
    assert judge(posts).state == S.ACTIVE
    assert judge(posts).quiet_after == slow[-1] + 30 * DAY - MICRO
    assert judge([*posts, posts[-1] + HOUR]).state == S.ACTIVE
    # Had the channel stopped at `slow[-1]`, it would be inactive from 30 days on: from that
    # very moment the channel with the hourly posts since is quiet, as the contract says.
    no_target = Policy(target_posts=0)
    assert judge(posts, no_target, slow[-1] + 30 * DAY - MICRO).state == S.ACTIVE
    assert judge(posts, no_target, slow[-1] + 30 * DAY).state == S.QUIET


# --- Properties --------------------------------------------------------------------------------

SCALES = (SECOND, MINUTE, HOUR, DAY)


def durations(low: int, high: int) -> st.SearchStrategy[timedelta]:
    return st.builds(lambda n, scale: n * scale, st.integers(low, high), st.sampled_from(SCALES))


# Histories as channels have them: runs of a steady rhythm (so that the usual gap shifts from
# one rhythm to the next, a window's worth of posts later), a rhythm that speeds up (the usual
# gap shrinks once the quicker rhythm is more than a tenth of the newest intervals, or once
# the slower one leaves the window of 50), or irregular, short or long.
rhythms = st.lists(st.tuples(st.integers(1, 60), durations(1, 120)), max_size=4).map(
    lambda runs: [gap for count, gap in runs for _ in range(count)]
)
speeding_up = st.builds(
    lambda slow, slow_count, quicker, quick_count: (
        [slow] * slow_count + [slow / quicker] * quick_count
    ),
    durations(1, 120),
    st.integers(1, 12),
    st.integers(2, 100),
    st.integers(1, 60),
)
irregular = st.lists(durations(1, 120), max_size=8) | st.lists(durations(1, 120), max_size=150)
histories = st.builds(
    lambda silence, gaps: spaced(NOW - silence, gaps),
    durations(0, 400),
    rhythms | speeding_up | irregular,
)
policies = st.builds(
    Policy,
    inactive_after=st.integers(1, 60).map(lambda d: d * DAY),
    dormant_after=st.integers(1, 400).map(lambda d: d * DAY),
    quiet_factor=st.floats(1.0, 5.0),
    target_posts=st.integers(0, 5),
    target_period=st.integers(1, 30).map(lambda d: d * DAY),
)
later = durations(0, 400)


@given(histories | st.just([]), policies, later)
def test_silence_never_shrinks_as_time_passes(
    posts: list[datetime], policy: Policy, wait: timedelta
) -> None:
    before, after = judge(posts, policy), judge(posts, policy, NOW + wait)
    if before.silence is None:
        assert after.silence is None
    else:
        assert after.silence == before.silence + wait


@given(histories, policies, later)
def test_a_channel_never_improves_as_time_passes_without_posts(
    posts: list[datetime], policy: Policy, wait: timedelta
) -> None:
    # True because each rule, once it holds, keeps holding as now grows with no new post:
    # silence grows, the quiet moment is fixed, and the target period's count only drops.
    before, after = judge(posts, policy), judge(posts, policy, NOW + wait)
    assert badness(after.state) >= badness(before.state)


@settings(deadline=None)  # judges every prefix of the history: quadratic, on purpose
@given(histories, policies, later)
def test_a_new_post_never_makes_a_channel_worse(
    posts: list[datetime], policy: Policy, wait: timedelta
) -> None:
    # The history (oldest first) posted one post at a time. Each new post is judged the moment
    # it appears, `wait` later, and the moment the channel with it would turn quiet. Posts
    # before the channel has a usual gap are left out: the quiet rule does not apply before
    # it, and the post that brings the fifth interval is judged by the contract's rule (see
    # test_the_post_that_brings_the_fifth_interval_starts_the_quiet_rule).
    for k in range(MIN_INTERVALS + 1, len(posts)):
        new, before, after = posts[k], posts[:k], posts[: k + 1]
        quiet_after = judge(after, policy, new).quiet_after
        moments = {new, new + wait}
        if quiet_after is not None:
            moments.add(quiet_after + MICRO)
        for now in moments:
            was, now_is = judge(before, policy, now), judge(after, policy, now)
            assert badness(now_is.state) <= badness(was.state), now
            if was.quiet_after is not None and now_is.quiet_after is not None:
                assert now_is.quiet_after >= was.quiet_after


@given(histories, policies)
def test_recent_post_windows_nest(posts: list[datetime], policy: Policy) -> None:
    counts = judge(posts, policy).recent_posts
    assert counts["7d"] <= counts["14d"] <= counts["30d"] <= counts["90d"] <= len(posts)


def contract_usual_gap(posts: Sequence[datetime]) -> timedelta | None:
    """The contract's usual gap, read plainly: nearest-rank 90th percentile of the last 50."""
    times = sorted(set(posts))
    last_50 = [times[k] - times[k - 1] for k in range(1, len(times))][-50:]
    if len(last_50) < 5:
        return None
    rank = -(-9 * len(last_50) // 10)  # ceil(0.9 n), in whole numbers
    return sorted(last_50)[rank - 1]


def contract_state(
    posts: Sequence[datetime], policy: Policy, now: datetime, *, quiet_rule: bool = True
) -> ActivityState:
    """The contract's state table read literally, top to bottom: the oracle of the tests below."""
    seen = [t for t in posts if t <= now]
    if not seen:
        return S.NEVER_POSTED
    silence = now - max(seen)
    if silence >= policy.dormant_after:
        return S.DORMANT
    if silence >= policy.inactive_after:
        return S.INACTIVE
    gap = contract_usual_gap(seen)
    if quiet_rule and gap is not None and silence > policy.quiet_factor * gap:
        return S.QUIET
    if sum(1 for t in seen if t >= now - policy.target_period) < policy.target_posts:
        return S.BELOW_TARGET
    return S.ACTIVE


def contract_quiet_after(posts: Sequence[datetime], policy: Policy) -> datetime | None:
    """The moment past which the contract's rule alone says quiet, if nothing is posted."""
    gap = contract_usual_gap(posts)
    return None if gap is None or not posts else max(posts) + policy.quiet_factor * gap


def spared_by_an_earlier_post(posts: Sequence[datetime], policy: Policy, now: datetime) -> bool:
    """Whether, by the contract, the channel would be neither quiet nor worse at ``now`` had
    it stopped posting earlier, with a usual gap already (at least 6 posts, 5 intervals)."""
    times = sorted({t for t in posts if t <= now})
    return any(
        badness(contract_state(times[:kept], policy, now)) < badness(S.QUIET)
        for kept in range(6, len(times))  # without the newest len(times) - kept posts
    )


@settings(max_examples=1000, deadline=None)  # judges every prefix of the history
@given(histories, policies, later)
def test_the_quiet_rule_departs_from_the_contract_only_where_a_post_would_make_it_quiet(
    posts: list[datetime], policy: Policy, wait: timedelta
) -> None:
    # The code says what the contract says, except where the contract would call the channel
    # quiet though an earlier moment of its history (the same channel without its newest
    # posts, with a usual gap already) would not be quiet or worse now: there a post would
    # have made the channel quiet, and the code keeps it as it was. And only there.
    moments = {NOW, NOW + wait}
    for moment in (judge(posts, policy).quiet_after, contract_quiet_after(posts, policy)):
        if moment is not None:
            moments |= {moment, moment + MICRO}
    for now in moments:
        code, contract = judge(posts, policy, now).state, contract_state(posts, policy, now)
        event(f"{code.value} / {contract.value}")
        if code != contract:
            assert contract == S.QUIET, now
            assert code == contract_state(posts, policy, now, quiet_rule=False), now
            assert spared_by_an_earlier_post(posts, policy, now), now
        elif code == S.QUIET:
            assert not spared_by_an_earlier_post(posts, policy, now), now


@given(histories, policies)
def test_quiet_only_when_the_contracts_rule_holds(posts: list[datetime], policy: Policy) -> None:
    # The refinements only ever postpone quiet, never bring it forward.
    cadence = judge(posts, policy)
    if cadence.state == S.QUIET:
        assert cadence.usual_gap is not None
        assert cadence.silence is not None
        assert cadence.silence > policy.quiet_factor * cadence.usual_gap


@given(histories, policies)
def test_the_usual_gap_reported_is_the_newest(posts: list[datetime], policy: Policy) -> None:
    assert judge(posts, policy).usual_gap == usual_gap(posts)


@given(
    histories, policies, st.lists(later.map(lambda d: NOW + SECOND + d), max_size=5), st.randoms()
)
def test_order_and_future_posts_do_not_matter(
    posts: list[datetime], policy: Policy, future: list[datetime], rng: random.Random
) -> None:
    shuffled = [*posts, *future]
    rng.shuffle(shuffled)
    assert judge(shuffled, policy) == judge(posts, policy)


@given(histories, policies)
def test_repeated_times_count_as_posts_but_add_no_interval(
    posts: list[datetime], policy: Policy
) -> None:
    once, twice = judge(posts, policy), judge(posts + posts, policy)
    assert twice.recent_posts == {window: 2 * n for window, n in once.recent_posts.items()}
    assert twice.posts_in_target_period == 2 * once.posts_in_target_period
    assert (twice.usual_gap, twice.quiet_after, twice.silence) == (
        once.usual_gap,
        once.quiet_after,
        once.silence,
    )


@given(histories, policies)
def test_judging_the_past_ignores_what_came_after(posts: list[datetime], policy: Policy) -> None:
    assume(posts)
    then = posts[len(posts) // 2]
    assert judge(posts, policy, then) == judge([t for t in posts if t <= then], policy, then)


@given(histories, policies)
def test_older_posts_than_assess_documents_it_needs_change_nothing(
    posts: list[datetime], policy: Policy
) -> None:
    assume(posts)
    times = sorted(set(posts))
    flagged_anyway = min(policy.inactive_after, policy.dormant_after)
    first_deadline = next(k for k, t in enumerate(times) if t > times[-1] - flagged_anyway)
    needed = min(
        NOW - max(WINDOWS.values()),
        NOW - policy.target_period,
        times[max(0, first_deadline - MAX_INTERVALS)],
    )
    assert judge([t for t in posts if t >= needed], policy) == judge(posts, policy)


def test_a_channel_is_parked_only_when_told() -> None:
    assert assess(daily(NOW, 10), Policy(), NOW, polled_ok=True).state == S.ACTIVE
