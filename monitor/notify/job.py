"""Native notifications, the shell: every ``evaluate_every``, record what changed, then send it.

One round: on the database thread, judge every channel, diff against the recorded alert
states and record the events (``monitor.notify.events``, ``monitor.notify.store``), digests
included; then claim the pending deliveries, group them per webhook and organisation, POST
one message per group (in parts of at most ``MAX_EVENTS`` events), and mark them sent, or give
them back to be retried with backoff. A webhook that refuses a message with a 4xx other than
408 and 429 ``REJECTED_AFTER`` times has it marked failed: it is not retried again.

Rounds run only on the daemon that coordinates the database (``leading``): one daemon
records and sends for every channel, whichever daemon polls it, so an organisation's reminders
and digests stay one message; it first reads again the channels the others polled (``refresh``).
A round stops sending once it has used half the claim's lease (``ROUND_BUDGET``), or when it
is told to stop, and gives the deliveries it has not tried back, so no other daemon takes over
a claim that is still being worked on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import httpx
from prometheus_client import CollectorRegistry, Counter, Gauge

from monitor import views
from monitor.http_client import USER_AGENT
from monitor.metrics import PREFIX
from monitor.notify.events import (
    EventKind,
    NewEvent,
    digest_event,
    digests_due,
    evaluate,
    retry_delay,
)
from monitor.notify.message import MAX_EVENTS, body, logged_json
from monitor.notify.store import LEASE, Claim, ClaimedDelivery, NotificationStore
from monitor.records import ChannelKey, DbCall, StoreFault
from monitor.redact import Redactor
from monitor.settings import Settings, WebhookSettings
from monitor.storage import Store

log = logging.getLogger("channel_monitor.notify")

WEBHOOK_TIMEOUT = 10.0  # seconds for each phase of a POST (connect, write, read)
POST_DEADLINE = 15.0  # seconds for one whole POST, however slowly its answer trickles in
REJECTED_AFTER = 3  # attempts refused with a 4xx (not 408, 429) before a delivery is failed
ROUND_BUDGET = LEASE / 2  # a round sends no further message after this; the rest waits
STANDBY_CHECK = 1.0  # seconds between checks whether this daemon coordinates, while it does not
Judged = Callable[[datetime], Sequence[views.ChannelView]]  # every channel judged at a moment
RESULTS = ("sent", "failed", "rejected")  # failed: to be retried; rejected: failed for good


@dataclass(frozen=True, slots=True)
class Answer:
    """How a POST went: ``error`` None when the webhook took the message."""

    error: str | None = None  # why not, never with the URL in it
    refused: bool = False  # a 4xx other than 408 and 429: sending it again will not help


def _always() -> bool:
    return True


class NotifyInstruments:
    """The notifier's own metrics, on the daemon's registry."""

    def __init__(self, registry: CollectorRegistry, webhooks: Sequence[str]) -> None:
        self.messages = Counter(
            f"{PREFIX}_notifications",
            "Notification messages POSTed to webhooks, by webhook and result (sent; failed, to"
            " be retried; rejected: refused with a 4xx too often, not retried).",
            ("webhook", "result"),
            registry=registry,
        )
        self.events = Counter(
            f"{PREFIX}_notification_events",
            "Events recorded in the event log, by kind.",
            ("kind",),
            registry=registry,
        )
        self.evaluations = Counter(
            f"{PREFIX}_notification_evaluations",
            "Completed notification rounds (evaluate, record, send).",
            registry=registry,
        )
        self.pending = Gauge(
            f"{PREFIX}_notifications_pending",
            "Events not yet delivered to a webhook (after the last round).",
            ("webhook",),
            registry=registry,
        )
        for name in webhooks:
            for result in RESULTS:
                self.messages.labels(name, result)
            self.pending.labels(name)
        for kind in EventKind:
            self.events.labels(kind.value)


class Notifier:
    """Evaluates and sends notifications; ``run`` loops until stopped."""

    def __init__(
        self,
        *,
        settings: Settings,
        store: Store,
        ids: Mapping[ChannelKey, int],
        db: DbCall,
        client: httpx.AsyncClient,
        registry: CollectorRegistry,
        clock: Callable[[], datetime],
        leading: Callable[[], bool] = _always,
        store_faults: Callable[[], Mapping[int, StoreFault]] = dict,
        judged: Judged | None = None,
        refresh: Callable[[], Awaitable[object]] | None = None,
    ) -> None:
        self._settings = settings
        self._refresh = refresh
        self._store_faults = store_faults
        self._judged = judged
        self._rules = settings.notify
        self._store = store
        self._log_store = NotificationStore(store.engine)
        self._ids = ids
        self._db = db
        self._client = client
        self._clock = clock
        self._leading = leading
        self._stop: asyncio.Event | None = None  # set by ``run``: stop sending further messages
        self._redact = Redactor(settings.secrets, settings.secret_params)
        self._webhooks = {w.name: w for w in self._rules.webhooks}
        self.instruments = NotifyInstruments(registry, list(self._webhooks))
        web = settings.monitor.web
        self._status_page = self._rules.status_page_url or _listen_url(
            settings.monitor.listen, https=web is not None and web.tls is not None
        )

    # -- one round -----------------------------------------------------------------------------

    async def round(self) -> None:
        """Evaluate, record, then send what is pending."""
        if self._refresh is not None:  # what the other daemons stored, up to this moment
            await self._refresh()
        recorded = await self._db(self.evaluate, self._clock())
        for event in recorded:
            self.instruments.events.labels(event.kind.value).inc()
        await self.deliver()
        pending = await self._db(self._log_store.pending, list(self._webhooks))
        for name, count in pending.items():
            self.instruments.pending.labels(name).set(count)
        self.instruments.evaluations.inc()

    def evaluate(self, now: datetime) -> list[NewEvent]:
        """Judge every channel at ``now`` and record what changed (database thread)."""
        if self._judged is not None:  # the daemon's judgement, kept current
            judged = self._judged(now)
        else:
            channels = self._settings.channels
            judged = views.snapshot(self._store, channels, self._ids, now, self._store_faults())
        ids = [v.record.id for v in judged]
        alerts = self._log_store.alerts(ids)
        evaluation = evaluate(judged, alerts, self._rules, now)
        events = list(evaluation.events)
        due = digests_due(judged, alerts, self._rules.digest_every, now)
        if due:
            done = self._log_store.recorded_keys(d.key for d in due)
            due = [d for d in due if d.key not in done]
        if due:
            start = min(d.start for d in due)
            posts = self._store.post_times(ids, since=start, newest=0)
            events += [digest_event(d, judged, posts) for d in due]
        if not events and not evaluation.alerts:
            return []
        if not self._log_store.record(events, evaluation.alerts, self._rules.webhooks, now):
            log.info("alert state changed by another writer; evaluating again next round")
            return []
        for event in events:
            log.info(
                "event: %s",
                event.kind.value,
                extra={
                    "fields": {
                        "organisation": event.organisation,
                        "channel": self._redact(str(event.detail.get("channel", ""))),
                        "state": event.new_state,
                    }
                },
            )
        return events

    async def deliver(self) -> None:
        """Send every due delivery: per webhook and organisation, messages of at most
        ``MAX_EVENTS`` events; what the round has no time for is given back, untried."""
        started = self._clock()
        claim: Claim = await self._db(self._log_store.claim, list(self._webhooks), started)
        groups: dict[tuple[str, str, bool], list[ClaimedDelivery]] = defaultdict(list)
        for delivery in claim.deliveries:
            event = delivery.event
            digest = event.kind is EventKind.DIGEST
            groups[(delivery.webhook, event.organisation, digest)].append(delivery)
        messages: list[tuple[str, str, tuple[int, int], list[ClaimedDelivery]]] = []
        for (name, organisation, _), deliveries in groups.items():
            ordered = sorted(deliveries, key=lambda d: (d.event.at, d.event.id))
            parts = [ordered[i : i + MAX_EVENTS] for i in range(0, len(ordered), MAX_EVENTS)]
            for number, chunk in enumerate(parts, 1):
                messages.append((name, organisation, (number, len(parts)), chunk))
        for index, (name, organisation, part, deliveries) in enumerate(messages):
            if (why := self._no_more_sending(started)) is not None:
                untried = [d.id for *_, rest in messages[index:] for d in rest]
                await self._db(self._log_store.give_back, claim, untried)
                log.warning(
                    "%s: %d deliveries wait for the next round, untried",
                    why,
                    len(untried),
                    extra={"fields": {"messages": len(messages) - index}},
                )
                return
            await self._send(claim, name, organisation, part, deliveries)

    def _no_more_sending(self, started: datetime) -> str | None:
        """Why this round sends no further message (None: it may go on)."""
        if self._stop is not None and self._stop.is_set():
            return "stopping"
        if not self._leading():
            return "no longer leading"
        if self._clock() - started >= ROUND_BUDGET:
            return f"this round has used {_seconds(ROUND_BUDGET)}, half the claim's lease"
        return None

    async def _send(
        self,
        claim: Claim,
        name: str,
        organisation: str,
        part: tuple[int, int],
        deliveries: Sequence[ClaimedDelivery],
    ) -> None:
        """POST one message, then mark its deliveries sent, failed, or to be retried."""
        webhook = self._webhooks[name]
        message = body(
            organisation,
            [d.event for d in deliveries],
            self._status_page,
            text_only=webhook.format == "text",
            part=part,
            markup=webhook.markup,
        )
        answer = await self._post(webhook, message)
        ids = [d.id for d in deliveries]
        fields: dict[str, object] = {
            "webhook": name,
            "organisation": organisation,
            "events": len(ids),
        }
        if part[1] > 1:
            fields["part"] = f"{part[0]} of {part[1]}"
        if answer.error is None:
            await self._db(self._log_store.mark_sent, claim, ids, self._clock())
            self.instruments.messages.labels(name, "sent").inc()
            log.info("notification sent", extra={"fields": fields})
            return
        # refused: each delivery refused REJECTED_AFTER times is failed; newer ones, sent in
        # the same message for the first time, still get their tries
        done = [d for d in deliveries if answer.refused and d.attempts >= REJECTED_AFTER]
        again = [d for d in deliveries if d not in done]
        if done:
            attempts = max(d.attempts for d in done)
            given_up = [d.id for d in done]
            await self._db(partial(self._log_store.give_up, error=answer.error), claim, given_up)
            log.error(
                "notification rejected by the webhook (%s, attempt %d); not retrying it:"
                " check the webhook's URL and its format",
                answer.error,
                attempts,
                extra={"fields": {**fields, "events": len(done), "attempts": attempts}},
            )
        if again:
            attempts = max(d.attempts for d in again)
            delay = retry_delay(attempts, self._rules.evaluate_every)
            retry_at = self._clock() + delay
            release = partial(self._log_store.release, retry_at=retry_at, error=answer.error)
            await self._db(release, claim, [d.id for d in again])
            log.warning(
                "notification not sent (%s); retrying in %s",
                answer.error,
                _seconds(delay),
                extra={"fields": {**fields, "events": len(again), "attempts": attempts}},
            )
        self.instruments.messages.labels(name, "rejected" if done else "failed").inc()

    async def _post(self, webhook: WebhookSettings, message: dict[str, Any]) -> Answer:
        """POST one message within ``POST_DEADLINE``; never a URL in what it says."""
        try:
            async with asyncio.timeout(POST_DEADLINE):
                response = await self._client.post(webhook.url, json=message)
        except TimeoutError:
            return Answer(f"no answer within {POST_DEADLINE:g}s")
        except httpx.HTTPError as exc:
            detail = self._redact(str(exc)).replace(webhook.url, "***")
            return Answer(f"{type(exc).__name__}: {detail}"[:300] if detail else type(exc).__name__)
        if response.is_success:
            return Answer()
        status = response.status_code
        return Answer(f"HTTP {status}", refused=400 <= status < 500 and status not in (408, 429))

    # -- the loop ------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Rounds every ``evaluate_every`` while this daemon coordinates, until ``stop`` is set.

        A failed round is logged. On becoming the coordinator (at the start, or taking over from
        another daemon) every waiting delivery is made due at once: the URL may be fixed.
        """
        self._stop = stop
        every = self._rules.evaluate_every.total_seconds()
        led = False
        while not stop.is_set():
            leading = self._leading()
            if leading and not led:
                await self._retry_waiting()
            if led and not leading:  # the daemon that coordinates now says what waits
                for name in self._webhooks:
                    self.instruments.pending.labels(name).set(0)
            led = leading
            if leading:
                try:
                    await self.round()
                except Exception:
                    log.exception("notification round failed; trying again in %ss", every)
            wait = every if leading else min(every, STANDBY_CHECK)
            with contextlib.suppress(TimeoutError):  # not wait_for: it may lose a cancellation
                async with asyncio.timeout(wait):
                    await stop.wait()

    async def _retry_waiting(self) -> None:
        try:
            await self._db(self._log_store.retry_now, list(self._webhooks), self._clock())
        except Exception:
            log.exception(
                "could not make the waiting notifications due now; they are retried as planned"
            )


class NotifierTask:
    """The running notifier and what it owns: its task and its HTTP client."""

    def __init__(self, notifier: Notifier, client: httpx.AsyncClient) -> None:
        self.notifier = notifier
        self._client = client
        self._stop = asyncio.Event()
        self._task = asyncio.create_task(notifier.run(self._stop), name="notifier")

    def stop(self) -> None:
        """Tell the notifier to stop: a round in progress sends no further message."""
        self._stop.set()

    async def shutdown(self, grace: float) -> None:
        """Let a round in progress finish for ``grace`` seconds, then cancel it."""
        self._stop.set()
        done, _ = await asyncio.wait({self._task}, timeout=grace)
        if not done:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        await self._client.aclose()


def start_notifier(
    settings: Settings,
    *,
    store: Store,
    ids: Mapping[ChannelKey, int],
    db: DbCall,
    registry: CollectorRegistry,
    clock: Callable[[], datetime],
    leading: Callable[[], bool] = _always,
    store_faults: Callable[[], Mapping[int, StoreFault]] = dict,
    judged: Judged | None = None,
    refresh: Callable[[], Awaitable[object]] | None = None,
) -> NotifierTask | None:
    """Start notifying in the background, if ``[notify]`` has a webhook; else None.

    Rounds run only while ``leading()`` (this daemon coordinates the database)."""
    if not settings.notify.enabled:
        return None
    client = httpx.AsyncClient(
        timeout=httpx.Timeout(WEBHOOK_TIMEOUT),
        headers={"User-Agent": USER_AGENT},
        follow_redirects=False,  # a moved webhook is a configuration to fix, not to follow
    )
    notifier = Notifier(
        settings=settings,
        store=store,
        ids=ids,
        db=db,
        client=client,
        registry=registry,
        clock=clock,
        leading=leading,
        store_faults=store_faults,
        judged=judged,
        refresh=refresh,
    )
    log.info(
        "notifications on",
        extra={"fields": {"webhooks": ",".join(w.name for w in settings.notify.webhooks)}},
    )
    return NotifierTask(notifier, client)


def event_feed(store: Store, db: DbCall) -> Callable[[int], Awaitable[list[dict[str, Any]]]]:
    """What ``/api/events`` serves: the newest events with their deliveries, as JSON."""
    event_log = NotificationStore(store.engine)

    async def events(limit: int) -> list[dict[str, Any]]:
        return [logged_json(e) for e in await db(event_log.events, limit)]

    return events


def _listen_url(listen: str, *, https: bool = False) -> str:
    host, _, port = listen.rpartition(":")
    if host in ("", "0.0.0.0", "[::]"):  # noqa: S104  (only naming the address in a link)
        host = "localhost"
    return f"{'https' if https else 'http'}://{host}:{port}/"


def _seconds(delay: timedelta) -> str:
    return f"{delay.total_seconds():.0f}s"
