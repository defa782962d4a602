"""Bounded ingestion: a poll stores at most its newest 10,000 posts, and the daily housekeeping
prunes posts that no judgement reads and that are past the kept history, never changing one."""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

from connectors.base import ChannelRef, Checkpoint, FetchResult, Post, PostKind
from connectors.registry import supported_platforms
from monitor import cadence
from monitor import views as judging
from monitor.app import open_runtime
from monitor.config import load_settings
from monitor.jobs import Poller
from monitor.metrics import Instruments
from monitor.records import PollOutcome
from monitor.redact import Redactor
from monitor.settings import ChannelSettings, Policy
from monitor.storage import Store
from monitor.views import snapshot
from tests.conftest import NOW

HISTORY = timedelta(days=400)  # the documented history (README, "How it works")
HISTORY_POSTS = 1000


def channel(name: str, policy: Policy | None = None) -> ChannelSettings:
    return ChannelSettings(
        name, "rss", f"https://{name}.example/rss", policy or Policy(), timedelta(hours=1)
    )


def polled(
    store: Store, settings: ChannelSettings, posts: Sequence[Post], *, at: datetime = NOW
) -> int:
    """A channel read once at ``at`` with ``posts``; its id."""
    cid = store.sync([settings.organisation], [settings], at)[settings.key]
    outcome = PollOutcome(at, at, 1, result=FetchResult(posts=tuple(posts)))
    store.record_poll(cid, outcome)
    return cid


def times(store: Store, cid: int) -> list[datetime]:
    dated = store.post_times([cid], since=NOW - timedelta(days=100_000), newest=0).get(cid, [])
    return sorted((p.published_at for p in dated), reverse=True)


# -- what pruning keeps ---------------------------------------------------------------------------


def test_pruning_keeps_400_days_or_the_newest_1000(store: Store) -> None:
    # a post a day for 3000 days: the newest 1000 reach further back than 400 days
    daily = channel("daily")
    cid = polled(
        store, daily, [Post(str(i), NOW - timedelta(days=i, hours=1)) for i in range(3000)]
    )
    # one a week for 3000 weeks: 400 days hold only 58 of them, the newest 1000 reach 19 years
    weekly = channel("weekly")
    wid = polled(
        store, weekly, [Post(str(i), NOW - timedelta(weeks=i, hours=1)) for i in range(3000)]
    )
    # a burst: 5000 posts in the last 200 days; all within 400 days
    burst = channel("burst")
    bid = polled(store, burst, [Post(str(i), NOW - timedelta(hours=1 + i)) for i in range(5000)])

    assert store.prune_posts(cid, judging.retention(daily.policy), NOW) == 2000
    assert store.prune_posts(wid, judging.retention(weekly.policy), NOW) == 2000
    assert store.prune_posts(bid, judging.retention(burst.policy), NOW) == 0
    assert times(store, cid) == [NOW - timedelta(days=i, hours=1) for i in range(1000)]
    assert len(times(store, wid)) == 1000
    assert store.count_posts(bid) == 5000


def test_pruning_keeps_what_a_failing_channel_is_judged_on(store: Store) -> None:
    # read until 500 days ago, failing since: it is judged as of then, so its posts then stay
    stuck = channel("stuck")
    then = NOW - timedelta(days=500)
    posts = [Post(str(i), then - timedelta(hours=i)) for i in range(24 * 200)]
    cid = polled(store, stuck, posts, at=then)
    store.record_poll(cid, PollOutcome(NOW, NOW, 1, error_reason="transient", error_detail="503"))
    before = snapshot(store, [stuck], {stuck.key: cid}, NOW)

    assert store.prune_posts(cid, judging.retention(stuck.policy), NOW) > 0
    kept = times(store, cid)
    assert min(kept) <= then - timedelta(days=90)  # the 90-day window before it was last read
    assert snapshot(store, [stuck], {stuck.key: cid}, NOW) == before


def test_pruning_keeps_the_newest_of_each_kind(store: Store) -> None:
    # 150 replies long ago, then 1200 posts: the newest 101 replies are read by every snapshot
    mixed = channel("mixed")
    old: list[Post] = [
        Post(f"r{i}", NOW - timedelta(days=2000 + i), kind="reply") for i in range(150)
    ]
    new = [Post(str(i), NOW - timedelta(days=1200 - i)) for i in range(1200)]
    cid = polled(store, mixed, [*old, *new])
    store.prune_posts(cid, judging.retention(mixed.policy), NOW)
    replies = store.post_times([cid], since=NOW, newest=1000)[cid]
    assert sum(1 for p in replies if p.kind == "reply") == 101


def test_undated_posts_are_kept_400_days_from_when_they_were_seen(store: Store) -> None:
    undated = channel("undated")
    cid = polled(store, undated, [Post(str(i), NOW - timedelta(hours=i)) for i in range(1000)])
    seen_long_ago = NOW - timedelta(days=401)
    store.record_poll(
        cid,
        PollOutcome(
            seen_long_ago, seen_long_ago, 1, result=FetchResult(posts=(Post("old", None),))
        ),
    )
    store.record_poll(cid, PollOutcome(NOW, NOW, 1, result=FetchResult(posts=(Post("new", None),))))
    assert store.count_posts(cid) == 1002
    assert store.prune_posts(cid, judging.retention(undated.policy), NOW) == 1
    assert store.count_posts(cid) == 1001


def test_pruning_is_idempotent_and_keeps_newer_posts_untouched(store: Store) -> None:
    daily = channel("daily")
    cid = polled(store, daily, [Post(str(i), NOW - timedelta(days=i)) for i in range(1500)])
    assert store.prune_posts(cid, judging.retention(daily.policy), NOW) == 500
    assert store.prune_posts(cid, judging.retention(daily.policy), NOW) == 0
    assert times(store, cid)[0] == NOW


# -- the judgement is the same before and after pruning -----------------------------------------


def test_a_dormant_channels_last_burst_is_kept_whole(store: Store) -> None:
    # long ago: ten posts two days apart, then 150 ten minutes apart, and nothing since. The
    # quiet moment comes from the burst's first posts (their usual gap still holds the two-day
    # intervals): past the newest 101, outside every window, but within the quiet rule's reach,
    # which cadence.assess documents it needs
    dormant = channel("dormant")
    start = NOW - timedelta(days=300)
    posts = [Post(f"a{i}", start + timedelta(days=2 * i)) for i in range(10)]
    posts += [Post(f"b{i}", start + timedelta(days=20, minutes=10 * i)) for i in range(150)]
    cid = polled(store, dormant, posts)
    whole = cadence.assess(times(store, cid), dormant.policy, NOW, polled_ok=True)
    assert whole.quiet_after is not None
    store.prune_posts(
        cid, judging.retention(dormant.policy), NOW, history=timedelta(0), keep_newest=0
    )
    assert cadence.assess(times(store, cid), dormant.policy, NOW, polled_ok=True) == whole


def test_a_snapshot_reads_the_same_rows_after_pruning(store: Store) -> None:
    # 300 replies a week apart: the newest 101 are read by every snapshot, old as they are
    replies = channel("replies")
    posts = [Post(f"r{i}", NOW - timedelta(weeks=i), kind="reply") for i in range(300)]
    cid = polled(store, replies, [*posts, Post("p", NOW - timedelta(hours=1))])
    since = NOW - timedelta(days=90)

    def read() -> list[object]:
        return sorted(store.post_times([cid], since=since, newest=101)[cid], key=repr)

    before = read()
    assert (
        store.prune_posts(
            cid, judging.retention(replies.policy), NOW, history=timedelta(0), keep_newest=0
        )
        > 0
    )
    assert read() == before


_KINDS: tuple[PostKind, ...] = ("post", "reply", "repost")
_NAMES = itertools.count()


@st.composite
def histories(draw: st.DrawFn) -> tuple[Policy, list[Post], timedelta, timedelta | None]:
    """A policy, posts (clustered, spread, repeated, of several kinds), when the channel was
    last read (before NOW) and, if its polls fail since, nothing else."""
    policy = Policy(
        inactive_after=timedelta(days=draw(st.integers(1, 120))),
        dormant_after=timedelta(days=draw(st.integers(1, 400))),
        quiet_factor=draw(st.sampled_from([1.0, 1.5, 3.0, 10.0])),
        target_posts=draw(st.integers(0, 20)),
        target_period=timedelta(days=draw(st.integers(1, 200))),
        count_kinds=tuple(
            sorted(set(draw(st.lists(st.sampled_from(_KINDS), min_size=1, max_size=3))))
        ),
    )
    offsets = draw(
        st.lists(
            st.one_of(
                st.integers(0, 48 * 3600),  # the last two days
                st.integers(0, 900 * 86400),
                st.sampled_from([86400 * d for d in (1, 7, 30, 90, 91, 180, 400)]),
            ),
            max_size=40,
        )
    )
    # and a bulk, so that there is more than judging reads (over 101 of a kind, years back)
    rnd = draw(st.randoms(use_true_random=False))
    spread = 86400 * draw(st.sampled_from([3, 30, 200, 900]))
    offsets += [rnd.randint(0, spread) for _ in range(draw(st.integers(0, 600)))]
    kinds = rnd.choices(_KINDS, weights=(6, 2, 1), k=len(offsets))
    read_ago = timedelta(hours=draw(st.sampled_from([0, 1, 30 * 24, 200 * 24])))
    posts = [
        Post(f"p{i}", NOW - read_ago - timedelta(seconds=s) + timedelta(minutes=30), kind)
        for i, (s, kind) in enumerate(zip(offsets, kinds, strict=True))
    ]
    failing = draw(st.booleans())
    return policy, posts, read_ago, (timedelta(hours=1) if failing else None)


@settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    history=histories(),
    later=st.sampled_from(
        [timedelta(0), timedelta(hours=1), timedelta(days=3), timedelta(days=45)]
    ),
    keep=st.integers(0, 5),
)
def test_the_judgement_is_the_same_after_pruning(
    store: Store,
    history: tuple[Policy, list[Post], timedelta, timedelta | None],
    later: timedelta,
    keep: int,
) -> None:
    """Pruning with (almost) no history kept, so only what judging reads protects a post; judged
    at the moment of pruning and later, alone and beside a channel that reads further back."""
    policy, posts, read_ago, failing = history
    name = f"c{next(_NAMES)}"
    judged = channel(name, policy)
    wide = channel(
        f"{name}-wide",
        Policy(inactive_after=timedelta(days=3000), dormant_after=timedelta(days=3000)),
    )
    read_at = NOW - read_ago
    ids = store.sync([judged.organisation, wide.organisation], [judged, wide], read_at)
    cid = ids[judged.key]
    store.record_poll(cid, PollOutcome(read_at, read_at, 1, result=FetchResult(posts=tuple(posts))))
    store.record_poll(ids[wide.key], PollOutcome(read_at, read_at, 1, result=FetchResult()))
    if failing:
        store.record_poll(cid, PollOutcome(NOW, NOW, 1, error_reason="transient", error_detail="x"))

    def views(at: datetime) -> list[Any]:
        return [
            snapshot(store, [judged], ids, at),
            snapshot(store, [judged, wide], ids, at)[0],
        ]

    before = views(NOW + later)
    pruned = store.prune_posts(
        cid, judging.retention(policy), NOW, history=timedelta(0), keep_newest=keep
    )
    event(f"pruned: {min(pruned, 1)}")
    assert views(NOW + later) == before


# -- one poll stores at most its newest 10,000 posts ----------------------------------------------


class Flood:
    """A connector listing more posts in one poll than any real channel has."""

    platform = "rss"

    def __init__(self, posts: Sequence[Post]) -> None:
        self.posts = tuple(posts)

    async def fetch(
        self, channel: ChannelRef, *, since: datetime | None, checkpoint: Checkpoint
    ) -> FetchResult:
        return FetchResult(posts=self.posts)

    def public_url(self, channel: ChannelRef) -> str | None:
        return channel.handle


def poller(store: Store, connector: Flood) -> Poller:
    async def db(fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.to_thread(fn, *args)

    return Poller(
        connectors={"rss": connector},
        store=store,
        db=db,
        instruments=Instruments(CollectorRegistry(), ["rss"]),
        redactor=Redactor([]),
        concurrency={"rss": 1},
        poll_timeout=timedelta(seconds=60),
        clock=lambda: NOW,
    )


async def test_a_poll_stores_only_its_newest_10000_posts(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    # a server listing 12,000 posts, oldest first, 2,000 of them undated
    posts = [Post(f"u{i}", None) for i in range(2000)]
    posts += [Post(str(i), NOW - timedelta(minutes=10_000 - i)) for i in range(10_000)]
    flood = channel("flood")
    cid = store.sync(["flood"], [flood], NOW)[flood.key]
    with caplog.at_level(logging.WARNING, "channel_monitor.poll"):
        report = await poller(store, Flood(posts)).poll(flood, cid)
    assert report.ok and report.new_posts == 10_000
    assert store.count_posts(cid) == 10_000
    assert len(times(store, cid)) == 10_000  # the dated ones first
    assert any("12000 posts" in r.getMessage() for r in caplog.records)


# -- the daily housekeeping prunes ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("notify", "kept"),
    [
        ("", 1000),
        (
            '[notify]\ndigest_every = "400d"\n[[notify.webhook]]\nurl = "https://hooks.example/t"\n',
            1600,
        ),
    ],
)
async def test_housekeeping_prunes_old_posts_and_polls(
    tmp_path: Path, notify: str, kept: int
) -> None:
    # two posts a day for 1600 days: the newest 1000 reach 500 days back; a digest every 400
    # days reads up to 800 days back
    config = tmp_path / "config.toml"
    config.write_text(
        f'[monitor]\ndatabase = "sqlite:///{tmp_path}/db.sqlite"\n{notify}'
        '[[organisation]]\nname = "Gemeente A"\nrss = "https://a.example/rss"\n'
    )
    settings_ = load_settings(config, {}, supported=supported_platforms())
    async with open_runtime(
        settings_,
        clock=lambda: NOW,
        transport=lambda: httpx.MockTransport(lambda r: httpx.Response(500)),
    ) as runtime:
        ((_, cid),) = runtime.channels()
        posts = [Post(str(i), NOW - timedelta(hours=12 * i + 1)) for i in range(3200)]
        long_ago = NOW - timedelta(days=500)
        await runtime.db(
            runtime.store.record_poll, cid, PollOutcome(long_ago, long_ago, 1, result=FetchResult())
        )
        await runtime.db(
            runtime.store.record_poll,
            cid,
            PollOutcome(NOW, NOW, 1, result=FetchResult(posts=tuple(posts))),
        )
        assert await runtime.housekeeping() == (1, 3200 - kept)
        assert runtime.store.count_posts(cid) == kept
