"""Polling one channel: fetch → store → count. The imperative shell around a connector.

This is the only place that catches connector errors, decides on backoff, and meters
requests; connectors stay pure adapters.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from connectors.base import ChannelRef, Connector, FetchResult, Post
from connectors.errors import ConnectorError, Malformed, RateLimited, Transient
from monitor.http_client import RequestTally, current_tally
from monitor.metrics import Instruments
from monitor.pacing import Pacing, gate_key
from monitor.records import DbCall, PollContext, PollOutcome
from monitor.redact import Redactor
from monitor.settings import ChannelSettings
from monitor.storage import Store
from monitor.writer import PollWriter

log = logging.getLogger("channel_monitor.poll")

Clock = Callable[[], datetime]

FUTURE_TOLERANCE = timedelta(hours=1)
FIRST_RETRY = timedelta(minutes=1)
MAX_RETRY_AFTER = timedelta(days=1)


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class PollReport:
    """How a poll went, for the scheduler: when to try again, if sooner than usual."""

    ok: bool
    new_posts: int = 0
    error: ConnectorError | None = None
    retry_in: timedelta | None = None  # None: keep the regular interval
    deferred_until: datetime | None = None  # not polled: the platform asked us to pause


def backoff(failures: int, interval: timedelta, retry_after: float | None) -> timedelta:
    """When to retry after ``failures`` retryable failures in a row: doubling from a minute,
    never beyond the channel's interval, never sooner than the platform asked."""
    delay = min(FIRST_RETRY * (1 << min(max(0, failures - 1), 20)), interval)
    if retry_after is not None and math.isfinite(retry_after):
        # a platform-wide pause follows from this: never longer than a day, whatever was asked
        delay = max(delay, timedelta(seconds=min(retry_after, MAX_RETRY_AFTER.total_seconds())))
    return delay * random.uniform(1.0, 1.1)  # noqa: S311  (spreading, not security)


def settle_future_posts(posts: tuple[Post, ...], now: datetime) -> tuple[Post, ...]:
    """A post dated in the future (scheduled events, wrong clocks) counts as published now."""
    limit = now + FUTURE_TOLERANCE
    return tuple(
        replace(p, published_at=now) if p.published_at is not None and p.published_at > limit else p
        for p in posts
    )


def advance(context: PollContext, outcome: PollOutcome) -> PollContext:
    """The context the next poll starts from, as the store would now read it."""
    if outcome.result is None:
        return replace(
            context,
            last_poll_at=outcome.finished_at,
            last_poll_ok=False,
            consecutive_failures=context.consecutive_failures + 1,
        )
    dated = [p.published_at for p in outcome.result.posts if p.published_at is not None]
    newest = max(
        [*dated, *([context.newest_post_at] if context.newest_post_at else [])], default=None
    )
    return PollContext(
        newest_post_at=newest,
        checkpoint=outcome.result.checkpoint,
        last_poll_at=outcome.finished_at,
        last_poll_ok=True,
        consecutive_failures=0,
    )


class Poller:
    """Polls channels with one connector per platform and a concurrency limit per platform."""

    def __init__(
        self,
        *,
        connectors: Mapping[str, Connector],
        store: Store,
        db: DbCall,
        instruments: Instruments,
        redactor: Redactor,
        concurrency: Mapping[str, int],
        poll_timeout: timedelta,
        pacing: Pacing | None = None,
        clock: Clock = utcnow,
    ) -> None:
        self._connectors = connectors
        self._store = store
        self._db = db
        self._instruments = instruments
        self._redact = redactor
        self._limits = {p: asyncio.Semaphore(n) for p, n in concurrency.items()}
        self._timeout = poll_timeout.total_seconds()
        self._clock = clock
        self.pacing = pacing or Pacing({})
        self._writer = PollWriter(store, db)
        self._contexts: dict[int, PollContext] = {}  # read once, then kept up to date here

    async def poll(self, channel: ChannelSettings, channel_id: int) -> PollReport:
        """Poll one channel once and record the outcome; never raises a connector error."""
        async with self._limits.setdefault(channel.platform, asyncio.Semaphore(4)):
            paused = self.pacing.paused_for(channel.platform, channel.handle, self._clock())
            if paused is not None:
                return PollReport(ok=False, deferred_until=paused)
            return await self._poll(channel, channel_id, gate_key(channel.platform, channel.handle))

    async def _poll(self, channel: ChannelSettings, channel_id: int, key: str) -> PollReport:
        platform = channel.platform
        context = self._contexts.get(channel_id)
        if context is None:
            context = await self._db(self._store.poll_context, channel_id)
        tally = RequestTally(platform)
        token = current_tally.set(tally)
        started = self._clock()
        t0 = time.perf_counter()
        result: FetchResult | None = None
        error: ConnectorError | None = None
        try:
            async with asyncio.timeout(self._timeout):
                result = await self._connectors[platform].fetch(
                    ChannelRef(channel.handle),
                    since=context.newest_post_at,
                    checkpoint=context.checkpoint,
                )
        except ConnectorError as exc:
            error = exc
        except TimeoutError:
            error = Transient(f"poll took longer than {self._timeout:.0f}s")
        except Exception as exc:  # a bug or an unforeseen payload: one channel, not the daemon
            log.exception("unexpected error polling %s %s", platform, channel.label)
            error = Malformed(f"unexpected {type(exc).__name__} while reading the response")
        finally:
            current_tally.reset(token)
        finished = self._clock()

        detail = self._redact(str(error)) if error else None
        if result is not None:
            result = replace(result, posts=settle_future_posts(result.posts, finished))
        outcome = PollOutcome(
            started_at=started,
            finished_at=finished,
            requests=tally.total,
            result=result,
            error_reason=error.kind if error else None,
            error_detail=detail,
        )
        try:
            new_posts = await self._writer.record(channel_id, outcome)
        except Exception:  # the database, not the platform: try again at the next interval
            log.exception("could not store the poll of %s %s", platform, channel.label)
            self._contexts.pop(channel_id, None)  # re-read what was stored next time
            return PollReport(ok=False, error=Transient("the poll could not be stored"))
        self._contexts[channel_id] = advance(context, outcome)
        ratio = self._observe(platform, tally, time.perf_counter() - t0, result, error)
        if ratio is not None:
            self.pacing.observe_quota(key, ratio)

        fields = {
            "organisation": channel.organisation,
            "platform": platform,
            "channel": channel.label,
            "requests": tally.total,
        }
        stretched = self.pacing.interval(key, platform, channel.poll_interval)
        if error is None:
            log.info("polled: %d new posts", new_posts, extra={"fields": fields})
            later = stretched if stretched > channel.poll_interval else None
            return PollReport(ok=True, new_posts=new_posts, retry_in=later)
        log.warning("poll failed (%s): %s", error.kind, detail, extra={"fields": fields})
        retry_in = None
        if error.retryable:
            retry_after = error.retry_after if isinstance(error, RateLimited) else None
            retry_in = backoff(context.consecutive_failures + 1, stretched, retry_after)
        if isinstance(error, RateLimited):
            # a throttle holds for everything behind the same limit, as far as it says
            pause = self.pacing.throttled(
                platform,
                channel.handle,
                finished + (retry_in or FIRST_RETRY),
                scope=error.scope,
                scope_id=error.scope_id,
            )
            for affected in pause.platforms:
                latest = self.pacing.latest(affected, pause.scope) or pause.until
                self._instruments.paused_until.labels(affected, pause.scope).set(latest.timestamp())
            log.warning(
                "pausing %s until %s",
                pause.key,
                pause.until.isoformat(timespec="seconds"),
                extra={"fields": {"platform": platform, "scope": pause.scope}},
            )
        return PollReport(ok=False, error=error, retry_in=retry_in)

    def _observe(
        self,
        platform: str,
        tally: RequestTally,
        seconds: float,
        result: FetchResult | None,
        error: ConnectorError | None,
    ) -> float | None:
        instruments = self._instruments
        instruments.poll_duration.labels(platform).observe(seconds)
        for code, count in tally.codes.items():
            instruments.api_requests.labels(platform, code).inc(count)
        if error is not None:
            instruments.poll_errors.labels(platform, error.kind).inc()
        ratio = result.quota_used_ratio if result else getattr(error, "quota_used_ratio", None)
        if isinstance(ratio, float | int):
            instruments.quota_used.labels(platform).set(float(ratio))
            return float(ratio)
        return None
