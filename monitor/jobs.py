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
from bisect import bisect_right
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from operator import attrgetter
from typing import Protocol

import sqlalchemy as sa

from connectors.base import MOVED_TO, ChannelRef, Connector, FetchResult, Post, unique_posts
from connectors.errors import ChannelNotFound, ConnectorError, Malformed, RateLimited, Transient
from monitor import cadence
from monitor.contexts import ContextReader
from monitor.http_client import RequestTally, current_tally
from monitor.limits import MAX_IN_FLIGHT, PollLimits, Slot
from monitor.metrics import Instruments
from monitor.pacing import Pacing, gate_key
from monitor.records import STORAGE_REASON, DbCall, PollContext, PollOutcome, StoreFault
from monitor.redact import Redactor, seal_checkpoint, unseal_checkpoint
from monitor.settings import ChannelSettings, Policy, channel_label
from monitor.storage import Store, describe_error
from monitor.writer import PollWriter

log = logging.getLogger("channel_monitor.poll")

Clock = Callable[[], datetime]

FUTURE_TOLERANCE = timedelta(hours=1)
FIRST_RETRY = timedelta(minutes=1)
MAX_RETRY_AFTER = timedelta(days=1)
FIRST_READ_MAX_REQUESTS = 50
"""A first read asks for more pages, past ``page_limit``, until it has made this many requests."""
MAX_POSTS_PER_POLL = 10_000
"""Posts one poll stores at most: more than any real poll reads (``page_limit`` is at most 100
pages of at most 100 posts; a feed poll reads 500 entries). A platform listing more keeps only
its newest dated posts, then undated ones as listed; the rest is not stored."""
_WIDEST_WINDOW = max(cadence.WINDOWS.values())
NOTE_EVERY = timedelta(days=1)  # a profile read only in part is logged at most this often
# a flaky "not found" (see ChannelNotFound.flaky) is believed after this many failed polls in a
# row over this long: YouTube's feed outages have healed within hours (RSS-Bridge #2113)
NOT_FOUND_POLLS = 3
NOT_FOUND_AFTER = timedelta(hours=24)


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
    store_failed: bool = False  # read (or not), but the store refused the poll

    @property
    def reason(self) -> str | None:
        """The poll error reason, as in the metrics: the error's kind, or ``storage``."""
        if self.store_failed:
            return STORAGE_REASON
        return self.error.kind if self.error else None


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


def newest_posts(posts: tuple[Post, ...], limit: int = MAX_POSTS_PER_POLL) -> tuple[Post, ...]:
    """At most ``limit`` posts: the newest dated ones first, then undated ones in their order."""
    if len(posts) <= limit:
        return posts
    dated = sorted((p for p in posts if p.published_at), key=attrgetter("published_at"))
    return (*reversed(dated), *(p for p in posts if p.published_at is None))[:limit]


def _describe(exc: Exception) -> str:
    """One line on why the store refused a poll (the database's words, not a traceback)."""
    if isinstance(exc, sa.exc.SQLAlchemyError):
        return describe_error(exc)
    return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:300]


def judging_horizon_reached(posts: Sequence[Post], policy: Policy, now: datetime) -> bool:
    """Whether ``posts`` reach back far enough to judge the channel as its whole history would.

    Either they reach past ``dormant_after`` (nothing older can change the state), or every post
    the rules weigh is there with the intervals behind it: the posts in the widest window and
    the target period, those less than min(inactive_after, dormant_after) older than the newest
    (the quiet rule's reach), and more than ``cadence.MAX_INTERVALS`` posts older than all that.
    """
    dated = [p.published_at for p in posts if p.published_at is not None]
    if dated and min(dated) <= now - policy.dormant_after:
        return True
    kinds = set(policy.count_kinds)
    times = sorted({p.published_at for p in posts if p.published_at and p.kind in kinds})
    if not times:
        return False
    reach = min(policy.inactive_after, policy.dormant_after)
    weighed_from = min(now - max(_WIDEST_WINDOW, policy.target_period), times[-1] - reach)
    return bisect_right(times, weighed_from) > cadence.MAX_INTERVALS


def confirm_not_found(error: ConnectorError, context: PollContext, now: datetime) -> ConnectorError:
    """A not-found answer the platform is known to give wrongly at times (``flaky``) is believed
    only once it persists: from a channel read before, it counts as transient until the channel
    has failed NOT_FOUND_POLLS polls in a row over at least NOT_FOUND_AFTER."""
    if not isinstance(error, ChannelNotFound) or not error.flaky or context.last_success_at is None:
        return error
    failed = context.consecutive_failures + 1
    since = context.failing_since or now
    if failed >= NOT_FOUND_POLLS and now - since >= NOT_FOUND_AFTER:
        return error
    hours = NOT_FOUND_AFTER.total_seconds() / 3600
    return Transient(
        f"{error} (failing since {since:%Y-%m-%d %H:%M} UTC, {failed}× in a row); taken as "
        f"passing until it lasts {NOT_FOUND_POLLS} polls over {hours:.0f} h",
        status=error.status,
    )


def advance(context: PollContext, outcome: PollOutcome) -> PollContext:
    """The context the next poll starts from, as the store would now read it."""
    if outcome.result is None:
        return replace(
            context,
            last_poll_at=outcome.finished_at,
            last_poll_ok=False,
            consecutive_failures=context.consecutive_failures + 1,
            failing_since=context.failing_since or outcome.started_at,
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
        last_success_at=outcome.finished_at,
    )


class PollWatcher(Protocol):
    """Told of what polls left in the store: the judgement that keeps itself current."""

    async def stored(self, channel_id: int, outcome: PollOutcome, new_posts: int) -> None: ...

    def store_fault(self, channel_id: int, fault: StoreFault | None) -> None: ...


class Poller:
    """Polls channels with one connector per platform, within the limits of ``PollLimits``."""

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
        max_in_flight: int = MAX_IN_FLIGHT,
    ) -> None:
        self._connectors = connectors
        self._store = store
        self._db = db
        self._instruments = instruments
        self._redact = redactor
        self._timeout = poll_timeout.total_seconds()
        self._clock = clock
        self.pacing = pacing or Pacing({})
        self.limits = PollLimits(concurrency, max_in_flight=max_in_flight, apps=self.pacing.apps)
        self.active: set[int] = set()  # polls that got their slots and have not ended
        self._reading: set[int] = set()  # channels whose poll has not reached the writer yet
        self._writer = PollWriter(store, db, coming=lambda: len(self._reading), room=max_in_flight)
        self._contexts: dict[int, PollContext] = {}  # read once, then kept up to date here
        self._context_reader = ContextReader(store, db)
        self.store_faults: Mapping[int, StoreFault] = {}  # polls the store refused, by channel
        self.store_failing_since: datetime | None = None  # the last write failed, since then
        self._noted: dict[int, tuple[str, datetime]] = {}  # profile note last logged, and when
        self.watcher: PollWatcher | None = None  # told of every stored poll and store fault

    async def poll(self, channel: ChannelSettings, channel_id: int) -> PollReport:
        """Poll one channel once and record the outcome; never raises a connector error.

        A poll waits for its host, server or app first, then for one of the daemon's slots
        (``PollLimits``): one waiting on a busy host holds none of the daemon's slots. The
        first poll since the start reads its context from the store before it waits, together
        with the other polls asking at the same moment (``ContextReader``).
        """
        context = self._contexts.get(channel_id)
        if context is None:
            try:
                context = await self._context_reader.read(channel_id)
            except Exception as exc:  # the database, not the platform
                return self._store_failed(channel, channel_id, exc)
            secrets = self._redact.secrets_in(channel.handle)
            context = replace(context, checkpoint=unseal_checkpoint(context.checkpoint, secrets))
        async with self.limits.slot(channel.platform, channel.handle) as slot:
            self.active.add(channel_id)
            self._reading.add(channel_id)
            try:
                paused = self.pacing.paused_for(channel.platform, channel.handle, self._clock())
                if paused is not None:
                    return PollReport(ok=False, deferred_until=paused)
                key = gate_key(channel.platform, channel.handle)
                return await self._poll(channel, channel_id, context, key, slot)
            finally:
                self.active.discard(channel_id)
                self._reading.discard(channel_id)

    def forget(self, channel_ids: Iterable[int]) -> None:
        """Read these channels' poll context from the store at their next poll: another daemon
        may have polled them meanwhile."""
        for channel_id in channel_ids:
            self._contexts.pop(channel_id, None)

    async def _poll(
        self,
        channel: ChannelSettings,
        channel_id: int,
        context: PollContext,
        key: str,
        slot: Slot,
    ) -> PollReport:
        platform = channel.platform
        secrets = self._redact.secrets_in(channel.handle)
        tally = RequestTally(platform)
        token = current_tally.set(tally)
        started = self._clock()
        t0 = time.perf_counter()
        result: FetchResult | None = None
        error: ConnectorError | None = None
        try:
            async with asyncio.timeout(self._timeout):
                result = await self._read(channel, context, tally)
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
        slot.read_done()  # the platform has answered: storing it holds up no other poll of it

        if error is not None:
            error = confirm_not_found(error, context, finished)
        detail = self._redact(str(error)) if error else None
        if result is not None:
            listed = settle_future_posts(result.posts, finished)
            result = replace(result, posts=newest_posts(listed))
            if len(listed) > MAX_POSTS_PER_POLL:
                log.warning(
                    "%d posts in one poll; only the newest %d are stored",
                    len(listed),
                    MAX_POSTS_PER_POLL,
                    extra={"fields": {"platform": platform, "channel": channel.label}},
                )
        outcome = PollOutcome(
            started_at=started,
            finished_at=finished,
            requests=tally.total,
            result=result,
            error_reason=error.kind if error else None,
            error_detail=detail,
        )
        stored = outcome
        if result is not None:  # secrets from the handle (a feed's key) stay out of the database
            sealed = seal_checkpoint(result.checkpoint, secrets)
            stored = replace(outcome, result=replace(result, checkpoint=sealed))
        self._reading.discard(channel_id)
        try:
            new_posts = await self._writer.record(channel_id, stored, queued=slot.handed_over)
        except Exception as exc:  # the database, not the platform
            return self._store_failed(channel, channel_id, exc)
        self._stored(channel_id)
        self._contexts[channel_id] = advance(context, outcome)
        if self.watcher is not None:
            try:
                await self.watcher.stored(channel_id, stored, new_posts)
            except Exception:  # the poll is stored: a judging bug must not fail it
                log.exception("could not judge %s %s after its poll", platform, channel.label)
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
            # a poll that found nothing new is routine: at thousands of channels, one INFO line
            # per poll would be most of the log
            level = logging.INFO if new_posts else logging.DEBUG
            log.log(level, "polled: %d new posts", new_posts, extra={"fields": fields})
            self._log_note(channel_id, result, finished, fields)
            moved = result.checkpoint.extra.get(MOVED_TO) if result else None
            if moved and moved != context.checkpoint.extra.get(MOVED_TO):
                where = channel_label(moved, secrets)
                log.warning(
                    "moved for good to %s: update the configuration",
                    where,
                    extra={"fields": fields},
                )
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

    def _store_failed(
        self, channel: ChannelSettings, channel_id: int, exc: Exception
    ) -> PollReport:
        """A poll the store refused is a failed poll (reason ``storage``), never a success.

        Nothing of it counts: the channel keeps its last stored state, shown as failing, and
        the poll is tried again with backoff, from what the store holds.
        """
        now = self._clock()
        detail = "the poll could not be stored: " + self._redact(_describe(exc))
        fault = self.store_faults.get(channel_id)
        fault = StoreFault(
            since=fault.since if fault else now,
            at=now,
            failures=(fault.failures if fault else 0) + 1,
            detail=detail[:500],
        )
        # replaced, never changed in place: snapshots read it from other threads
        self.store_faults = {**self.store_faults, channel_id: fault}
        if self.watcher is not None:
            self.watcher.store_fault(channel_id, fault)
        self.store_failing_since = self.store_failing_since or now
        self._contexts.pop(channel_id, None)  # re-read what was stored next time
        self._instruments.poll_errors.labels(channel.platform, STORAGE_REASON).inc()
        self._instruments.store_write_errors.inc()
        self._instruments.store_ok.set(0)
        log.error(
            "poll failed (storage): %s",
            detail,
            extra={"fields": {"platform": channel.platform, "channel": channel.label}},
        )
        retry_in = backoff(fault.failures, channel.poll_interval, None)
        return PollReport(ok=False, store_failed=True, retry_in=retry_in)

    def _stored(self, channel_id: int) -> None:
        if channel_id in self.store_faults:
            self.store_faults = {k: v for k, v in self.store_faults.items() if k != channel_id}
        if self.store_failing_since is not None:
            log.info("the store takes polls again")
        self.store_failing_since = None
        self._instruments.store_ok.set(1)

    async def _read(
        self, channel: ChannelSettings, context: PollContext, tally: RequestTally
    ) -> FetchResult:
        """One fetch; the first read of a channel goes on until it can be judged.

        A first read that stopped at the page budget with older posts unread continues (each
        further fetch starts from the newest post read and picks up the backlog) until the
        posts reach the judging horizon, the listing ends, or ``FIRST_READ_MAX_REQUESTS``. It is
        stored as one poll: until then the channel is not judged, and a failure part-way fails
        the poll, so a channel is never judged on a read cut short.
        """
        connector = self._connectors[channel.platform]
        ref = ChannelRef(channel.handle)
        first = await connector.fetch(
            ref, since=context.newest_post_at, checkpoint=context.checkpoint
        )
        if context.last_success_at is not None:  # read before: one fetch
            return first
        result, posts = first, list(first.posts)
        while (
            result.checkpoint.backlog
            and tally.total < FIRST_READ_MAX_REQUESTS
            and not judging_horizon_reached(posts, channel.policy, self._clock())
        ):
            newest = max((p.published_at for p in posts if p.published_at), default=None)
            more = await connector.fetch(ref, since=newest, checkpoint=result.checkpoint)
            known = len(unique_posts(posts))
            posts.extend(more.posts)
            stuck = more.checkpoint == result.checkpoint and len(unique_posts(posts)) == known
            result = more
            if stuck:  # the platform gave nothing new: asking again would not either
                break
        if result is first:
            return first
        return replace(
            result,
            posts=unique_posts(posts),
            profile=result.profile or first.profile,
            not_modified=False,
        )

    def _log_note(
        self,
        channel_id: int,
        result: FetchResult | None,
        now: datetime,
        fields: Mapping[str, object],
    ) -> None:
        """What a profile read could not read is a warning, once a day per channel (the poll
        itself succeeded, and the note is shown with the channel)."""
        if result is None or result.profile is None:
            return
        note = result.profile.note
        last = self._noted.get(channel_id)
        if note is None:
            self._noted.pop(channel_id, None)
        elif last is None or last[0] != note or now - last[1] >= NOTE_EVERY:
            self._noted[channel_id] = (note, now)
            log.warning("polled, but %s", self._redact(note), extra={"fields": fields})

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
