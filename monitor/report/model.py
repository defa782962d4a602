"""The report as data: the survey's table, the organisation × platform grid, one row per channel
and, for a period, the KPI scorecard against the period before. Pure: views and post times in,
frozen values out; the formats (``monitor.report.render``) only lay them out."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from monitor.cadence import STATES, ActivityState
from monitor.discovery.compare import Finding
from monitor.explain import health, reason
from monitor.records import PostTime
from monitor.report.websites import WebsiteCounts, website_counts
from monitor.settings import PLATFORMS
from monitor.views import ChannelView

NOT_KEPT_UP: tuple[ActivityState, ...] = (
    ActivityState.INACTIVE,
    ActivityState.DORMANT,
    ActivityState.NEVER_POSTED,
)
"""The survey's "not kept up": no post within the channel's inactive_after, or none at all."""

WEEK = timedelta(weeks=1)
RATE_WINDOWS: tuple[str, ...] = ("14d", "30d", "90d")
"""The windows of the posts-per-week columns (``Cadence.recent_posts`` keys)."""


@dataclass(frozen=True, slots=True)
class PlatformRow:
    """One platform in the survey's table: who has a channel there, and how the channels are."""

    platform: str
    organisations: int  # organisations with at least one channel on the platform
    channels: int
    states: Mapping[ActivityState, int]

    @property
    def not_kept_up(self) -> int:
        return sum(self.states[s] for s in NOT_KEPT_UP)

    def share(self, count: int) -> float:
        """``count`` as a fraction of the platform's channels (0 when it has none)."""
        return count / self.channels if self.channels else 0.0


@dataclass(frozen=True, slots=True)
class GridRow:
    """One organisation across the platforms: its channels' states per platform."""

    organisation: str
    cells: Mapping[str, tuple[ActivityState, ...]]  # platform → the states of its channels there


@dataclass(frozen=True, slots=True)
class ChannelRow:
    """One channel's figures, in plain units (seconds, counts) and its reason in words."""

    organisation: str
    platform: str
    channel: str  # the handle as configured (masked)
    name: str | None
    url: str | None
    state: ActivityState
    reason: str
    poll: str  # poll health in words
    poll_ok: bool | None
    silence_seconds: float | None
    posts_per_week: Mapping[str, float]  # by RATE_WINDOWS
    usual_gap_seconds: float | None
    target_posts: int
    target_period_seconds: float
    posts_in_target_period: int
    weekly_posts: tuple[int, ...]  # oldest first

    @property
    def display_name(self) -> str:
        return self.name or self.channel


@dataclass(frozen=True, slots=True)
class ScoreRow:
    """One channel's posts in the period against the period before, and against its target."""

    organisation: str
    platform: str
    channel: str
    name: str | None
    posts: int
    previous_posts: int
    target: float  # the channel's target scaled to the period
    state: ActivityState
    previous_state: ActivityState

    @property
    def change(self) -> int:
        return self.posts - self.previous_posts

    @property
    def met(self) -> bool:
        return self.target > 0 and self.posts >= self.target

    @property
    def previously_met(self) -> bool:
        return self.target > 0 and self.previous_posts >= self.target


@dataclass(frozen=True, slots=True)
class PlatformScore:
    """A platform's channels with a target, and how many met it, now and the period before."""

    platform: str
    channels: int  # channels with a target (parked and unread ones left out)
    met: int
    previously_met: int
    posts: int
    previous_posts: int


@dataclass(frozen=True, slots=True)
class Scorecard:
    """The KPI over ``period`` ending at the report's moment, against the period before."""

    period: timedelta
    start: datetime
    previous_start: datetime
    platforms: tuple[PlatformScore, ...]
    channels: tuple[ScoreRow, ...]


@dataclass(frozen=True, slots=True)
class Report:
    """Everything a report shows, judged at ``generated_at``."""

    generated_at: datetime
    simulated: bool
    platforms: tuple[PlatformRow, ...]
    grid_platforms: tuple[str, ...]
    grid: tuple[GridRow, ...]
    channels: tuple[ChannelRow, ...]
    scorecard: Scorecard | None = None
    websites: tuple[WebsiteCounts, ...] = ()  # discovery's findings, where websites were read


def survey(views: Sequence[ChannelView]) -> tuple[PlatformRow, ...]:
    """Per platform (in the contract's order), organisations with a channel and states."""
    organisations: dict[str, set[str]] = defaultdict(set)
    states: dict[str, dict[ActivityState, int]] = defaultdict(lambda: dict.fromkeys(STATES, 0))
    for view in views:
        organisations[view.platform].add(view.organisation)
        states[view.platform][view.state] += 1
    return tuple(
        PlatformRow(p, len(organisations[p]), sum(states[p].values()), states[p])
        for p in PLATFORMS
        if p in organisations
    )


def grid(views: Sequence[ChannelView]) -> tuple[tuple[str, ...], tuple[GridRow, ...]]:
    """The platforms in use and, per organisation (first seen first), its states on each."""
    cells: dict[str, dict[str, list[ActivityState]]] = {}
    for view in views:
        cells.setdefault(view.organisation, {}).setdefault(view.platform, []).append(view.state)
    used = tuple(p for p in PLATFORMS if any(p in row for row in cells.values()))
    rows = tuple(
        GridRow(org, {p: tuple(states) for p, states in row.items()}) for org, row in cells.items()
    )
    return used, rows


def channel_row(view: ChannelView) -> ChannelRow:
    """A channel's figures for the report."""
    assessed = view.cadence

    def per_week(window: str) -> float:
        weeks = int(window.removesuffix("d")) / 7
        return assessed.recent_posts.get(window, 0) / weeks

    return ChannelRow(
        organisation=view.organisation,
        platform=view.platform,
        channel=view.handle,
        name=view.record.name,
        url=view.record.url,
        state=view.state,
        reason=reason(view).text("en"),
        poll=health(view).text("en"),
        poll_ok=view.record.last_poll_ok,
        silence_seconds=_seconds(assessed.silence),
        posts_per_week={w: per_week(w) for w in RATE_WINDOWS},
        usual_gap_seconds=_seconds(assessed.usual_gap),
        target_posts=view.policy.target_posts,
        target_period_seconds=view.policy.target_period.total_seconds(),
        posts_in_target_period=assessed.posts_in_target_period,
        weekly_posts=view.weekly_posts,
    )


def scorecard(
    views: Sequence[ChannelView],
    previous: Sequence[ChannelView],
    posts: Mapping[int, Sequence[PostTime]],
    period: timedelta,
    now: datetime,
) -> Scorecard:
    """The KPI over ``period`` before ``now`` and the period before that.

    ``previous`` are the same channels judged at ``now - period``; ``posts`` are each channel's
    (by record id) post times reaching back at least two periods. A channel's target is its
    ``target_posts`` per ``target_period`` scaled to ``period``. Parked channels and channels
    never read are left out: they have no posting to score.
    """
    start, previous_start = now - period, now - 2 * period
    before = {(v.organisation, v.platform, v.handle): v for v in previous}
    rows = []
    for view in views:
        if view.settings.parked or view.record.last_success_at is None:
            continue
        kinds = set(view.policy.count_kinds)
        times = [p.published_at for p in posts.get(view.record.id, ()) if p.kind in kinds]
        then = before.get((view.organisation, view.platform, view.handle))
        policy = view.policy
        rows.append(
            ScoreRow(
                organisation=view.organisation,
                platform=view.platform,
                channel=view.handle,
                name=view.record.name,
                posts=sum(1 for t in times if start < t <= now),
                previous_posts=sum(1 for t in times if previous_start < t <= start),
                target=policy.target_posts * (period / policy.target_period),
                state=view.state,
                previous_state=then.state if then is not None else ActivityState.UNKNOWN,
            )
        )
    platforms = []
    for platform in PLATFORMS:
        mine = [r for r in rows if r.platform == platform and r.target > 0]
        if mine:
            platforms.append(
                PlatformScore(
                    platform=platform,
                    channels=len(mine),
                    met=sum(r.met for r in mine),
                    previously_met=sum(r.previously_met for r in mine),
                    posts=sum(r.posts for r in mine),
                    previous_posts=sum(r.previous_posts for r in mine),
                )
            )
    return Scorecard(period, start, previous_start, tuple(platforms), tuple(rows))


def build(
    views: Sequence[ChannelView],
    now: datetime,
    *,
    simulated: bool = False,
    score: Scorecard | None = None,
    websites: Sequence[Finding] = (),
) -> Report:
    """The report over ``views`` (judged at ``now``); ``websites``: discovery's findings."""
    platforms, rows = grid(views)
    return Report(
        generated_at=now,
        simulated=simulated,
        platforms=survey(views),
        grid_platforms=platforms,
        grid=rows,
        channels=tuple(channel_row(v) for v in views),
        scorecard=score,
        websites=website_counts(websites),
    )


def _seconds(value: timedelta | None) -> float | None:
    return value.total_seconds() if value is not None else None
