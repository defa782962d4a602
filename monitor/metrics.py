"""Prometheus metrics: the per-channel series over the judged state, plus the daemon's own
instruments.

Per-channel series come from the judgement (``monitor.judgement``), never poked from all over
the code; the daemon serves them from ``monitor.exposition``, which renders a channel's lines
again only when what they show changed. Values are cached in the sense of the Prometheus
exporter guidelines: they come from the last poll of each channel, made on the daemon's own
schedule.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from connectors.errors import ERROR_KINDS, safe_url
from monitor import cadence
from monitor.build import REVISION, VERSION
from monitor.discovery.compare import Finding
from monitor.records import STORAGE_REASON
from monitor.settings import ChannelSettings
from monitor.timetable import PollingStatus
from monitor.views import ChannelView

log = logging.getLogger("channel_monitor.metrics")

PREFIX = "channel_monitor"
CHANNEL_LABELS = ("organisation", "platform", "channel")
_CACHED = " (as of the channel's last poll)"

disable_created_metrics()  # type: ignore[no-untyped-call]  # `_created` series only add noise for a long-running daemon


class Instruments:
    """The daemon's own counters and histograms, registered on an injected registry."""

    def __init__(self, registry: CollectorRegistry, platforms: Sequence[str]) -> None:
        self.poll_errors = Counter(
            f"{PREFIX}_poll_errors",
            "Failed polls by platform and reason.",
            ("platform", "reason"),
            registry=registry,
        )
        self.poll_duration = Histogram(
            f"{PREFIX}_poll_duration_seconds",
            "Time to poll one channel, from first request to stored result.",
            ("platform",),
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
            registry=registry,
        )
        self.api_requests = Counter(
            f"{PREFIX}_api_requests",
            "HTTP requests to platforms by status code ('error' when no response came back).",
            ("platform", "code"),
            registry=registry,
        )
        self.quota_used = Gauge(
            f"{PREFIX}_api_quota_used_ratio",
            "Share of the platform's API quota in use, from its usage headers, where given.",
            ("platform",),
            registry=registry,
        )
        self.paused_until = Gauge(
            f"{PREFIX}_api_paused_until_timestamp_seconds",
            "Until when polls are paused after a throttle, by what it holds back: the whole "
            "platform, a server, the app, the token, or an object (a Page, an account); for "
            "servers and objects, the latest end of any such pause.",
            ("platform", "scope"),
            registry=registry,
        )
        self.leader = Gauge(
            f"{PREFIX}_leader",
            "1 while this daemon polls channels (it holds at least one shard of them); 0 while "
            "the other daemons on the same database poll them all.",
            registry=registry,
        )
        self.shards_held = Gauge(
            f"{PREFIX}_shards_held",
            "Shards of the channels this daemon polls and exports (of 64; on SQLite all or none).",
            registry=registry,
        )
        self.coordinator = Gauge(
            f"{PREFIX}_coordinator",
            "1 if this daemon sends the notifications, prunes the database and reads the "
            "websites (one daemon per database).",
            registry=registry,
        )
        self.store_write_errors = Counter(
            f"{PREFIX}_store_write_errors",
            "Polls the database refused to store (disk full, read-only, locked, unreachable).",
            registry=registry,
        )
        self.store_ok = Gauge(
            f"{PREFIX}_store_write_ok",
            "1 while the last write of a poll to the database succeeded (or none was tried).",
            registry=registry,
        )
        self.store_ok.set(1)
        for platform in platforms:  # series known in advance are exported as 0
            for reason in (*ERROR_KINDS, STORAGE_REASON):
                self.poll_errors.labels(platform, reason)
            self.poll_duration.labels(platform)


CHANNEL_FAMILIES: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    # (key, name after the prefix, help, labels after organisation, platform, channel)
    ("info", "channel_info", "Display name and public URL of a channel.", ("name", "url")),
    ("state", "state", "1 for the channel's current activity state" + _CACHED, ("state",)),
    (
        "last_post",
        "last_post_timestamp_seconds",
        "Unix time of the newest known post" + _CACHED,
        (),
    ),
    ("recent", "recent_posts", "Posts in the last window" + _CACHED, ("window",)),
    ("gap", "usual_gap_seconds", "The usual gap between posts used by 'quiet'.", ()),
    ("followers", "followers", "Followers, where the platform reports it" + _CACHED, ()),
    ("inactive", "inactive_after_seconds", "Silence after which a channel is inactive.", ()),
    ("dormant", "dormant_after_seconds", "Silence after which a channel is dormant.", ()),
    ("target", "target_posts", "KPI: posts wanted per target period (0: no target).", ()),
    ("period", "target_period_seconds", "KPI: the target period.", ()),
    ("success", "poll_success", "1 if the channel's last poll succeeded.", ()),
    ("last_poll", "last_poll_timestamp_seconds", "Unix time of the last poll.", ()),
    (
        "last_success",
        "last_success_timestamp_seconds",
        "Unix time of the last successful poll.",
        (),
    ),
    ("failures", "consecutive_failures", "Failed polls since the last success.", ()),
)
"""The per-channel families, in the order they are exported."""


def build_info() -> GaugeMetricFamily:
    build = GaugeMetricFamily(
        f"{PREFIX}_build_info",
        "channel-monitor's version and the source revision it was built from.",
        labels=("version", "revision"),
    )
    build.add_metric((VERSION, REVISION), 1)
    return build


def channel_families() -> dict[str, GaugeMetricFamily]:
    """The per-channel families, empty, by key."""
    return {
        key: GaugeMetricFamily(f"{PREFIX}_{name}", doc, labels=(*CHANNEL_LABELS, *extra))
        for key, name, doc, extra in CHANNEL_FAMILIES
    }


@dataclass(frozen=True, slots=True)
class Shown:
    """What ``/metrics`` shows of a channel besides its settings: equal values, equal series."""

    name: str | None
    url: str | None
    followers: int | None
    last_poll_at: datetime | None
    last_poll_ok: bool | None
    last_success_at: datetime | None
    consecutive_failures: int
    state: cadence.ActivityState
    last_post_at: datetime | None
    recent_posts: tuple[tuple[str, int], ...]
    usual_gap: timedelta | None

    @classmethod
    def of(cls, view: ChannelView) -> Shown:
        record, assessed = view.record, view.cadence
        return cls(
            record.name,
            record.url,
            record.followers,
            record.last_poll_at,
            record.last_poll_ok,
            record.last_success_at,
            record.consecutive_failures,
            assessed.state,
            assessed.last_post_at,
            tuple(assessed.recent_posts.items()),
            assessed.usual_gap,
        )


class ChannelCollector(Collector):
    """Per-channel gauges from a snapshot of the judged state, taken at scrape time."""

    def __init__(self, snapshot: Callable[[], Sequence[ChannelView]]) -> None:
        self._snapshot = snapshot

    def describe(self) -> list[Metric]:
        return []  # collected lazily: never judge at registration time

    def collect(self) -> Iterator[Metric]:
        views = self._snapshot()
        yield build_info()
        families = channel_families()
        for view in views:
            try:  # one channel's odd data never costs the others their series
                rows = list(channel_rows(view.settings, Shown.of(view)))
            except Exception:
                log.exception("channel %s left out of /metrics", view.handle)
                continue
            for name, values, value in rows:
                families[name].add_metric(values, value)
        yield from families.values()


def channel_rows(
    settings: ChannelSettings, shown: Shown
) -> Iterator[tuple[str, tuple[str, ...], float]]:
    """One channel's samples: (family key, label values, value)."""
    labels = (settings.organisation, settings.platform, settings.label)
    policy = settings.policy
    yield "info", (*labels, shown.name or settings.label, _label_url(shown.url)), 1
    for name in cadence.STATES:
        yield "state", (*labels, name.value), 1 if name == shown.state else 0
    if shown.last_post_at is not None:
        yield "last_post", labels, shown.last_post_at.timestamp()
    for window, count in shown.recent_posts:
        yield "recent", (*labels, window), count
    if shown.usual_gap is not None:
        yield "gap", labels, shown.usual_gap.total_seconds()
    if shown.followers is not None:
        yield "followers", labels, shown.followers
    yield "inactive", labels, policy.inactive_after.total_seconds()
    yield "dormant", labels, policy.dormant_after.total_seconds()
    yield "target", labels, policy.target_posts
    yield "period", labels, policy.target_period.total_seconds()
    if shown.last_poll_at is not None:
        yield "success", labels, 1 if shown.last_poll_ok else 0
        yield "last_poll", labels, shown.last_poll_at.timestamp()
    if shown.last_success_at is not None:
        yield "last_success", labels, shown.last_success_at.timestamp()
    yield "failures", labels, shown.consecutive_failures


@functools.lru_cache(maxsize=1 << 17)  # a channel's lines are rendered again at every poll
def _label_url(url: str | None) -> str:
    """The URL without query string (it may carry a key); empty when it cannot be read."""
    try:
        return safe_url(url) if url else ""
    except (httpx.InvalidURL, ValueError, TypeError):
        return ""


class WebsiteCollector(Collector):
    """Discovery's findings: channels each organisation's website links that are not monitored,
    and whether the website could be read (``[discovery] every``)."""

    def __init__(self, findings: Callable[[], Sequence[Finding]]) -> None:
        self._findings = findings

    def collect(self) -> Iterator[Metric]:
        unmonitored = GaugeMetricFamily(
            f"{PREFIX}_unmonitored_channels",
            "Channels the organisation's website links as its own that are not monitored, by "
            "platform (as of the website's last successful read).",
            labels=("organisation", "platform"),
        )
        success = GaugeMetricFamily(
            f"{PREFIX}_website_check_success",
            "1 if the organisation's website could be read at its last check.",
            labels=("organisation",),
        )
        read_at = GaugeMetricFamily(
            f"{PREFIX}_website_read_timestamp_seconds",
            "Unix time of the last successful read of the organisation's website.",
            labels=("organisation",),
        )
        for finding in self._findings():
            organisation, comparison = finding.check.organisation, finding.comparison
            success.add_metric((organisation,), 0 if finding.check.error else 1)
            if comparison.check is None:
                continue  # never read: nothing is known about what it links
            read_at.add_metric((organisation,), comparison.check.checked_at.timestamp())
            for platform, count in comparison.unmonitored_by_platform().items():
                unmonitored.add_metric((organisation, platform), count)
        yield from (unmonitored, success, read_at)


class PollingCollector(Collector):
    """The scheduler's heartbeat and watchdog limit (only while it polls) and clock steps."""

    def __init__(self, status: Callable[[], PollingStatus]) -> None:
        self._status = status

    def collect(self) -> Iterator[Metric]:
        status = self._status()
        steps = CounterMetricFamily(
            f"{PREFIX}_clock_steps",
            "Wall-clock steps this daemon noticed (polls run on the monotonic clock regardless).",
        )
        steps.add_metric((), status.clock_steps)
        yield steps
        if not status.polling or status.last_completed is None:
            return  # a standby polls nothing, so it has no heartbeat to report
        yield GaugeMetricFamily(
            f"{PREFIX}_last_poll_completed_timestamp_seconds",
            "Unix time the newest poll of this daemon finished (before the first one, when it "
            "began polling); exported while it polls.",
            value=status.last_completed.timestamp(),
        )
        yield GaugeMetricFamily(
            f"{PREFIX}_poll_stall_after_seconds",
            "How late a due poll may finish before /healthz fails: max(3 x the shortest poll "
            "interval, 15 minutes); exported while the daemon polls.",
            value=status.stall_after.total_seconds(),
        )
