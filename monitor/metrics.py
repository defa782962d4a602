"""Prometheus metrics: a collector over the stored state, plus the daemon's own instruments.

Per-channel series are rebuilt from a fresh snapshot at every scrape, so a channel removed
from the configuration disappears at once and nothing is poked from all over the code.
Values are cached in the sense of the Prometheus exporter guidelines: they come from the
last poll of each channel, made on the daemon's own schedule.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

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
from monitor import __version__, cadence
from monitor.timetable import PollingStatus
from monitor.views import ChannelView

PREFIX = "channel_monitor"
_CHANNEL_LABELS = ("organisation", "platform", "channel")
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
            "Until when polls of the platform are paused after it throttled us.",
            ("platform",),
            registry=registry,
        )
        self.leader = Gauge(
            f"{PREFIX}_leader",
            "1 if this daemon polls the channels; 0 while another one on the same database does.",
            registry=registry,
        )
        for platform in platforms:  # series known in advance are exported as 0
            for reason in ERROR_KINDS:
                self.poll_errors.labels(platform, reason)
            self.poll_duration.labels(platform)


class ChannelCollector(Collector):
    """Per-channel gauges from a snapshot of the stored state, taken at scrape time."""

    def __init__(self, snapshot: Callable[[], Sequence[ChannelView]]) -> None:
        self._snapshot = snapshot

    def describe(self) -> list[Metric]:
        return []  # collected lazily: never query the database at registration time

    def collect(self) -> Iterator[Metric]:
        views = self._snapshot()
        build = GaugeMetricFamily(
            f"{PREFIX}_build_info", "channel-monitor's version.", labels=("version",)
        )
        build.add_metric((__version__,), 1)
        yield build

        def family(name: str, doc: str, extra: Sequence[str] = ()) -> GaugeMetricFamily:
            return GaugeMetricFamily(f"{PREFIX}_{name}", doc, labels=(*_CHANNEL_LABELS, *extra))

        info = family("channel_info", "Display name and public URL of a channel.", ("name", "url"))
        state = family("state", "1 for the channel's current activity state" + _CACHED, ("state",))
        last_post = family(
            "last_post_timestamp_seconds", "Unix time of the newest known post" + _CACHED
        )
        recent = family("recent_posts", "Posts in the last window" + _CACHED, ("window",))
        gap = family("usual_gap_seconds", "The usual gap between posts used by 'quiet'.")
        followers = family("followers", "Followers, where the platform reports it" + _CACHED)
        inactive = family("inactive_after_seconds", "Silence after which a channel is inactive.")
        dormant = family("dormant_after_seconds", "Silence after which a channel is dormant.")
        target = family("target_posts", "KPI: posts wanted per target period (0: no target).")
        period = family("target_period_seconds", "KPI: the target period.")
        success = family("poll_success", "1 if the channel's last poll succeeded.")
        last_poll = family("last_poll_timestamp_seconds", "Unix time of the last poll.")
        last_success = family(
            "last_success_timestamp_seconds", "Unix time of the last successful poll."
        )
        failures = family("consecutive_failures", "Failed polls since the last success.")

        for view in views:
            labels = (view.organisation, view.platform, view.handle)
            record, assessed, policy = view.record, view.cadence, view.policy
            url = safe_url(record.url) if record.url else ""  # no query string in a label
            info.add_metric((*labels, record.name or view.handle, url), 1)
            for name in cadence.STATES:
                state.add_metric((*labels, name.value), 1 if name == assessed.state else 0)
            if assessed.last_post_at is not None:
                last_post.add_metric(labels, assessed.last_post_at.timestamp())
            for window, count in assessed.recent_posts.items():
                recent.add_metric((*labels, window), count)
            if assessed.usual_gap is not None:
                gap.add_metric(labels, assessed.usual_gap.total_seconds())
            if record.followers is not None:
                followers.add_metric(labels, record.followers)
            inactive.add_metric(labels, policy.inactive_after.total_seconds())
            dormant.add_metric(labels, policy.dormant_after.total_seconds())
            target.add_metric(labels, policy.target_posts)
            period.add_metric(labels, policy.target_period.total_seconds())
            if record.last_poll_at is not None:
                success.add_metric(labels, 1 if record.last_poll_ok else 0)
                last_poll.add_metric(labels, record.last_poll_at.timestamp())
            if record.last_success_at is not None:
                last_success.add_metric(labels, record.last_success_at.timestamp())
            failures.add_metric(labels, record.consecutive_failures)

        yield from (info, state, last_post, recent, gap, followers, inactive, dormant)
        yield from (target, period, success, last_poll, last_success, failures)


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
