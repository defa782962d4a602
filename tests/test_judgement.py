"""The kept judgement (``monitor.judgement``) against judging from scratch.

The oracle is ``views.snapshot``: every channel judged from the store at the moment asked,
with the store faults laid over. A history of polls landing (with new, old, repeated and
future-dated posts), failed polls, polls the store refused, time passing (also to just before,
at and just after each deadline the cache holds) and the wall clock stepping back must leave
the kept judgement equal to it at every step.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from prometheus_client import CollectorRegistry, generate_latest

from connectors.base import MOVED_TO, Checkpoint, FetchResult, Post, Profile
from monitor import views
from monitor.exposition import ChannelExposition
from monitor.judgement import Judgements
from monitor.judgement.deadlines import TICK
from monitor.poll_rows import stored_record
from monitor.records import PollOutcome, StoreFault
from monitor.settings import ChannelSettings, Policy
from monitor.storage import Store
from tests.conftest import NOW
from tests.test_store_faults import CHANNEL as FAULT_CHANNEL
from tests.test_store_faults import setup as fault_setup

HOUR, DAY = timedelta(hours=1), timedelta(days=1)
CHANNELS = [
    ChannelSettings(  # thresholds of hours: states change within a short history
        "Org A",
        "rss",
        "https://a.example/rss",
        Policy(
            inactive_after=2 * HOUR,
            dormant_after=8 * HOUR,
            quiet_factor=1.5,
            target_posts=2,
            target_period=6 * HOUR,
        ),
        HOUR,
    ),
    ChannelSettings(
        "Org B",
        "mastodon",
        "@b@b.example",
        Policy(
            inactive_after=DAY,
            dormant_after=3 * DAY,
            target_posts=3,
            target_period=2 * DAY,
            count_kinds=("post", "reply"),
        ),
        HOUR,
    ),
    ChannelSettings("Org C", "rss", "https://c.example/rss", Policy(), HOUR, parked=True),
    ChannelSettings("Org D", "rss", "https://d.example/rss", Policy(), HOUR),  # defaults
]
_TEMPLATE = Path(tempfile.mkdtemp(prefix="judgement-")) / "template.db"


def _template() -> Path:
    """One migrated, synced database, copied for each history (migrating takes a while)."""
    if not _TEMPLATE.exists():
        store = Store(f"sqlite:///{_TEMPLATE}")
        store.migrate()
        store.sync(sorted({c.organisation for c in CHANNELS}), CHANNELS, NOW)
        store.close()
    return _TEMPLATE


async def direct(fn: Callable[..., Any], *args: Any) -> Any:
    """The database thread, in a test: the call, made at once."""
    return fn(*args)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


MINUTES = st.integers(min_value=0, max_value=60 * 24 * 3)
KINDS = st.sampled_from(["post", "reply", "repost"])


class History(RuleBasedStateMachine):
    """Polls, faults and time, applied to the store and the kept judgement alike."""

    def __init__(self) -> None:
        super().__init__()
        self.path = Path(tempfile.mkdtemp(prefix="history-")) / "monitor.db"
        shutil.copy(_template(), self.path)
        self.store = Store(f"sqlite:///{self.path}")
        self.ids = self.store.sync(
            sorted({c.organisation for c in CHANNELS}), CHANNELS, NOW
        )  # as the daemon does at start
        self.clock = Clock(NOW)
        self.faults: dict[int, StoreFault] = {}
        self.judgements = Judgements(
            CHANNELS, self.ids, store=self.store, db=direct, clock=self.clock
        )
        self.judgements.load()
        self.serial = 0
        self.seen = self.judgements.current()

    def teardown(self) -> None:
        self.store.close()
        shutil.rmtree(self.path.parent, ignore_errors=True)

    def channel_id(self, index: int) -> int:
        return self.ids[CHANNELS[index].key]

    # -- what happens ------------------------------------------------------------------------

    @rule(
        index=st.integers(0, len(CHANNELS) - 1),
        posts=st.lists(
            st.tuples(st.integers(-60 * 24 * 100, 60), KINDS, st.booleans()), max_size=6
        ),
        profile=st.booleans(),
        moved=st.booleans(),
    )
    def poll_lands(
        self, index: int, posts: list[tuple[int, str, bool]], profile: bool, moved: bool
    ) -> None:
        """A successful poll: posts of any age, some read before (the same id again)."""
        now = self.clock.now
        found = []
        for minutes, kind, again in posts:
            if not again:
                self.serial += 1
            found.append(Post(f"p{self.serial}", now + timedelta(minutes=minutes), kind))  # type: ignore[arg-type]
        result = FetchResult(
            posts=tuple(found),
            profile=Profile(name=f"Channel {self.serial}", followers=self.serial)
            if profile
            else None,
            checkpoint=Checkpoint(
                etag=f'"{self.serial}"', extra={MOVED_TO: "https://new.example/"} if moved else {}
            ),
        )
        self.land(index, PollOutcome(now - timedelta(seconds=2), now, 1, result=result))

    @rule(index=st.integers(0, len(CHANNELS) - 1))
    def poll_fails(self, index: int) -> None:
        now = self.clock.now
        self.land(
            index,
            PollOutcome(
                now - timedelta(seconds=2),
                now,
                1,
                error_reason="transient",
                error_detail="HTTP 503",
            ),
        )

    @rule(index=st.integers(0, len(CHANNELS) - 1))
    def store_refuses_a_poll(self, index: int) -> None:
        channel_id, now = self.channel_id(index), self.clock.now
        old = self.faults.get(channel_id)
        fault = StoreFault(
            since=old.since if old else now,
            at=now,
            failures=(old.failures if old else 0) + 1,
            detail="the poll could not be stored: database or disk is full",
        )
        self.faults[channel_id] = fault
        self.judgements.store_fault(channel_id, fault)

    @rule(minutes=st.integers(-60 * 24 * 10, 0))
    def polls_land_together(self, minutes: int) -> None:
        """Every channel's poll stored in one batch, each with a new post: their posts are
        read again together (one query, from the earliest moment any of them needs)."""
        now = self.clock.now
        outcomes = []
        for index in range(len(CHANNELS)):
            self.serial += 1
            post = Post(f"p{self.serial}", now + timedelta(minutes=minutes))
            outcome = PollOutcome(now - timedelta(seconds=2), now, 1, FetchResult(posts=(post,)))
            channel_id = self.channel_id(index)
            outcomes.append((channel_id, outcome, self.store.record_poll(channel_id, outcome)))
            self.faults.pop(channel_id, None)

        async def told() -> None:
            await asyncio.gather(*(self.judgements.stored(*landed) for landed in outcomes))

        asyncio.run(told())

    def land(self, index: int, outcome: PollOutcome) -> None:
        channel_id = self.channel_id(index)
        new_posts = self.store.record_poll(channel_id, outcome)
        self.faults.pop(channel_id, None)  # a stored poll ends its channel's store fault
        asyncio.run(self.judgements.stored(channel_id, outcome, new_posts))

    @rule(minutes=MINUTES, micros=st.integers(0, 10**6))
    def time_passes(self, minutes: int, micros: int) -> None:
        self.clock.now += timedelta(minutes=minutes, microseconds=micros)

    @rule(days=st.integers(1, 40))
    def days_pass(self, days: int) -> None:
        self.clock.now += timedelta(days=days)

    @precondition(lambda self: self.judgements.next_deadline() is not None)
    @rule(offset=st.sampled_from([-TICK, timedelta(0), TICK]))
    def to_a_deadline(self, offset: timedelta) -> None:
        """Just before, at or just after the next moment some judgement runs out."""
        due = self.judgements.next_deadline()
        assert due is not None
        self.clock.now = max(self.clock.now, due + offset)

    @rule(minutes=st.integers(1, 60 * 24))
    def clock_steps_back(self, minutes: int) -> None:
        self.clock.now -= timedelta(minutes=minutes)

    @rule()
    def the_timer_fires(self) -> None:
        """The deadline timer's work: judge again whatever ran out (as a read also does)."""
        self.judgements.current()

    # -- what must hold ----------------------------------------------------------------------

    @invariant()
    def kept_equals_from_scratch(self) -> None:
        now = self.clock.now
        fresh = views.snapshot(self.store, CHANNELS, self.ids, now, self.faults)
        kept = self.judgements.views(now)
        assert [v.settings for v in kept] == CHANNELS
        for was, is_ in zip(fresh, kept, strict=True):
            assert is_ == was, (now, is_.handle)

    @invariant()
    def changes_are_told(self) -> None:
        """``changed`` names every channel whose view is not the one last seen."""
        version, views_then = self.seen
        told = self.judgements.changed(version)
        self.seen = now = self.judgements.current()
        assert told is not None and told[0] == now[0]
        was = dict(views_then)
        moved = {c for c, view in now[1] if was.get(c) is not view}
        assert moved <= {c for c, _ in told[1]}


TestHistory = History.TestCase
TestHistory.settings = settings(
    max_examples=150,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


# -- the record kept from what a poll stored ------------------------------------------------


def test_stored_record_reads_as_the_store_reads_it(store: Store) -> None:
    """``stored_record`` against the store's own round trip, for what platforms send oddly."""
    channel = CHANNELS[0]
    [channel_id] = store.sync(["Org A"], [channel], NOW).values()
    odd = [
        Profile(name="A" * 600, url="https://a.example/x?k=1", followers=12, note="n" * 600),
        Profile(name="", url="javascript:alert(1)", followers=-3, note=None),
        Profile(name=None, url="https://user:pw@a.example/", followers=2**60),
        None,
    ]
    now = NOW
    for profile in odd:
        for outcome in (
            PollOutcome(
                now,
                now + TICK,
                1,
                result=FetchResult(
                    profile=profile, checkpoint=Checkpoint(extra={MOVED_TO: "https://b.example/"})
                ),
            ),
            PollOutcome(now, now + 2 * TICK, 1, error_reason="auth", error_detail="x" * 2000),
        ):
            before = store.channels([channel_id])[channel_id]
            store.record_poll(channel_id, outcome)
            assert stored_record(before, outcome) == store.channels([channel_id])[channel_id]
            now += HOUR


def test_a_standby_reads_what_the_leader_stored(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/shared.db"
    leader, standby = Store(url), Store(url)
    leader.migrate()
    ids = leader.sync(["Org A"], CHANNELS[:1], NOW)
    clock = Clock(NOW)
    kept = Judgements(CHANNELS[:1], ids, store=standby, db=direct, clock=clock)
    kept.load()
    assert kept.views()[0].state.value == "unknown"
    [channel_id] = ids.values()
    posts = tuple(Post(f"p{k}", NOW - k * HOUR) for k in range(3))
    leader.record_poll(channel_id, PollOutcome(NOW, NOW, 1, result=FetchResult(posts=posts)))
    assert kept.views()[0].state.value == "unknown"  # not read yet

    assert asyncio.run(kept.refresh()) == 1
    assert kept.views() == views.snapshot(standby, CHANNELS[:1], ids, NOW)
    assert kept.views()[0].state.value == "active"
    assert asyncio.run(kept.refresh()) == 0  # nothing new: nothing read again


def test_a_replica_reads_again_only_the_channels_the_others_poll(tmp_path: Path) -> None:
    """The channels this daemon polls are told to it as their polls land (``stored``); read
    again from the store as well, a failed poll would count twice."""
    url = f"sqlite:///{tmp_path}/shared.db"
    store = Store(url)
    store.migrate()
    ids = store.sync(sorted({c.organisation for c in CHANNELS[:2]}), CHANNELS[:2], NOW)
    kept = Judgements(CHANNELS[:2], ids, store=store, db=direct, clock=Clock(NOW))
    kept.load()
    ours, theirs = (ids[c.key] for c in CHANNELS[:2])
    posts = (Post("p1", NOW - HOUR),)
    for channel_id in (ours, theirs):
        store.record_poll(channel_id, PollOutcome(NOW, NOW, 1, result=FetchResult(posts=posts)))
    assert asyncio.run(kept.refresh(skip={ours})) == 1
    states = {v.record.id: v.state.value for v in kept.views()}
    assert states[ours] == "unknown"  # it waits for ``stored``
    assert states[theirs] != "unknown"  # read: judged on its post
    statements: list[str] = []
    sa.event.listen(store.engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    assert asyncio.run(kept.refresh(skip={ours, theirs})) == 0
    assert statements == []  # polling every channel itself, a daemon reads nothing


def test_posts_of_polls_stored_together_are_read_in_one_query(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path}/together.db")
    store.migrate()
    ids = store.sync(sorted({c.organisation for c in CHANNELS}), CHANNELS, NOW)
    kept = Judgements(CHANNELS, ids, store=store, db=direct, clock=Clock(NOW))
    kept.load()
    landed = []
    for n, channel_id in enumerate(ids.values()):
        outcome = PollOutcome(NOW, NOW, 1, FetchResult(posts=(Post(f"p{n}", NOW - HOUR),)))
        landed.append((channel_id, outcome, store.record_poll(channel_id, outcome)))
    statements: list[str] = []
    sa.event.listen(store.engine, "before_cursor_execute", lambda *a: statements.append(a[2]))

    async def told() -> None:
        await asyncio.gather(*(kept.stored(*poll) for poll in landed))

    asyncio.run(told())
    assert len(statements) == 1  # three channels with new posts, one read
    assert kept.views() == views.snapshot(store, CHANNELS, ids, NOW)
    assert {v.state.value for v in kept.views()} != {"unknown"}


def test_a_failed_read_of_new_posts_is_made_again_at_the_next_poll(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path}/behind.db")
    store.migrate()
    ids = store.sync(["Org A"], CHANNELS[:1], NOW)
    [channel_id] = ids.values()
    failing = True

    async def db(fn: Callable[..., Any], *args: Any) -> Any:
        if failing and fn.__name__ == "_read":
            raise sa.exc.OperationalError("SELECT", {}, Exception("database is locked"))
        return fn(*args)

    kept = Judgements(CHANNELS[:1], ids, store=store, db=db, clock=Clock(NOW))
    kept.load()
    first = PollOutcome(NOW, NOW, 1, FetchResult(posts=(Post("p1", NOW - HOUR),)))
    asyncio.run(kept.stored(channel_id, first, store.record_poll(channel_id, first)))
    assert kept.views()[0].cadence.last_post_at is None  # judged without the post it missed
    failing = False
    later = NOW + HOUR
    unchanged = PollOutcome(later, later, 1, FetchResult(posts=()))
    asyncio.run(kept.stored(channel_id, unchanged, store.record_poll(channel_id, unchanged)))
    assert kept.views(later) == views.snapshot(store, CHANNELS[:1], ids, later)
    assert kept.views(later)[0].cadence.last_post_at == NOW - HOUR


def test_a_scrape_and_a_read_never_query_the_database(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path}/quiet.db")
    store.migrate()
    ids = store.sync(sorted({c.organisation for c in CHANNELS}), CHANNELS, NOW)
    clock = Clock(NOW)
    kept = Judgements(CHANNELS, ids, store=store, db=direct, clock=clock)
    kept.load()
    statements: list[str] = []
    sa.event.listen(store.engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    exposition = ChannelExposition(kept.current)
    for _ in range(3):
        clock.now += 40 * DAY
        kept.views()
        exposition.render(generate_latest, CollectorRegistry())
    assert statements == []


async def test_the_poller_tells_the_judgement_of_polls_and_store_faults(tmp_path: Path) -> None:
    """Through the real poller: stored polls and refused ones reach the kept judgement."""
    store, poller, clock, channel_id, _ = fault_setup(tmp_path)
    kept = Judgements(
        [FAULT_CHANNEL], {FAULT_CHANNEL.key: channel_id}, store=store, db=direct, clock=clock
    )
    kept.load()
    poller.watcher = kept

    def agree() -> views.ChannelView:
        [fresh] = views.snapshot(
            store, [FAULT_CHANNEL], {FAULT_CHANNEL.key: channel_id}, clock.now, poller.store_faults
        )
        assert kept.views() == [fresh]
        return fresh

    assert (await poller.poll(FAULT_CHANNEL, channel_id)).ok
    assert agree().state.value == "below_target"
    store.failing = True
    clock.now += HOUR
    assert (await poller.poll(FAULT_CHANNEL, channel_id)).store_failed
    assert agree().record.last_error_reason == "storage"
    store.failing = False
    clock.now += HOUR
    assert (await poller.poll(FAULT_CHANNEL, channel_id)).ok
    assert agree().record.last_poll_ok is True


async def test_the_deadline_timer_stops_when_cancelled_as_a_poll_wakes_it(tmp_path: Path) -> None:
    """The daemon stops (the timer's task is cancelled) just as a stored poll wakes the timer:
    with ``asyncio.wait_for`` Python 3.11 lost that cancellation and the timer ran on, so the
    stop waited for it for ever."""
    store = Store(f"sqlite:///{tmp_path}/stop.db")
    store.migrate()
    ids = store.sync(["Org A"], CHANNELS[:1], NOW)
    kept = Judgements(CHANNELS[:1], ids, store=store, db=direct, clock=Clock(NOW))
    kept.load()
    task = asyncio.create_task(kept.run())
    for _ in range(5):  # the timer starts and sleeps
        await asyncio.sleep(0)
    assert kept._wake is not None and not task.done()
    kept._wake.set()  # as ``_nudge`` does when a poll lands
    task.cancel()  # as the daemon stops, in the same turn of the loop
    done, _ = await asyncio.wait({task}, timeout=5)
    assert done == {task} and task.cancelled()
