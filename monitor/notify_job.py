"""Native notifications, the shell: every ``evaluate_every``, record what changed, then send it.

One round: on the database thread, judge every channel, diff against the recorded alert
states and record the events (``monitor.notify``, ``monitor.notify_store``), digests
included; then claim the pending deliveries, group them per webhook and organisation, POST
one message per group, and mark them sent, or give them back to be retried with backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import httpx
from prometheus_client import CollectorRegistry, Counter, Gauge

from monitor import notify, views
from monitor.http_client import USER_AGENT
from monitor.metrics import PREFIX
from monitor.notify_message import body, logged_json
from monitor.notify_store import Claim, ClaimedDelivery, NotificationStore
from monitor.records import ChannelKey, DbCall
from monitor.redact import Redactor
from monitor.settings import Settings, WebhookSettings
from monitor.storage import Store

log = logging.getLogger("channel_monitor.notify")

WEBHOOK_TIMEOUT = 10.0  # seconds for one POST


class NotifyInstruments:
    """The notifier's own metrics, on the daemon's registry."""

    def __init__(self, registry: CollectorRegistry, webhooks: Sequence[str]) -> None:
        self.messages = Counter(
            f"{PREFIX}_notifications",
            "Notification messages POSTed to webhooks, by webhook and result (sent, failed).",
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
            for result in ("sent", "failed"):
                self.messages.labels(name, result)
            self.pending.labels(name)
        for kind in notify.EventKind:
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
    ) -> None:
        self._settings = settings
        self._rules = settings.notify
        self._store = store
        self._log_store = NotificationStore(store.engine)
        self._ids = ids
        self._db = db
        self._client = client
        self._clock = clock
        self._redact = Redactor(settings.secrets)
        self._webhooks = {w.name: w for w in self._rules.webhooks}
        self.instruments = NotifyInstruments(registry, list(self._webhooks))
        self._status_page = self._rules.status_page_url or _listen_url(settings.monitor.listen)

    # -- one round -----------------------------------------------------------------------------

    async def round(self) -> None:
        """Evaluate, record, then send what is pending."""
        recorded = await self._db(self.evaluate, self._clock())
        for event in recorded:
            self.instruments.events.labels(event.kind.value).inc()
        await self.deliver()
        pending = await self._db(self._log_store.pending, list(self._webhooks))
        for name, count in pending.items():
            self.instruments.pending.labels(name).set(count)
        self.instruments.evaluations.inc()

    def evaluate(self, now: datetime) -> list[notify.NewEvent]:
        """Judge every channel at ``now`` and record what changed (database thread)."""
        channels = self._settings.channels
        judged = views.snapshot(self._store, channels, self._ids, now)
        ids = [v.record.id for v in judged]
        alerts = self._log_store.alerts(ids)
        evaluation = notify.evaluate(judged, alerts, self._rules, now)
        events = list(evaluation.events)
        due = notify.digests_due(judged, alerts, self._rules.digest_every, now)
        if due:
            done = self._log_store.recorded_keys(d.key for d in due)
            due = [d for d in due if d.key not in done]
        if due:
            start = min(d.start for d in due)
            posts = self._store.post_times(ids, since=start, newest=0)
            events += [notify.digest_event(d, judged, posts) for d in due]
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
        """Send every due delivery: one message per webhook and organisation."""
        now = self._clock()
        claim: Claim = await self._db(self._log_store.claim, list(self._webhooks), now)
        groups: dict[tuple[str, str, bool], list[ClaimedDelivery]] = defaultdict(list)
        for delivery in claim.deliveries:
            event = delivery.event
            digest = event.kind is notify.EventKind.DIGEST
            groups[(delivery.webhook, event.organisation, digest)].append(delivery)
        for (name, organisation, _), deliveries in groups.items():
            webhook = self._webhooks[name]
            message = body(organisation, [d.event for d in deliveries], self._status_page)
            error = await self._post(webhook, message)
            ids = [d.id for d in deliveries]
            fields = {"webhook": name, "organisation": organisation, "events": len(ids)}
            if error is None:
                await self._db(self._log_store.mark_sent, claim, ids, self._clock())
                self.instruments.messages.labels(name, "sent").inc()
                log.info("notification sent", extra={"fields": fields})
                continue
            attempts = max(d.attempts for d in deliveries)
            delay = notify.retry_delay(attempts, self._rules.evaluate_every)
            retry_at = self._clock() + delay
            release = partial(self._log_store.release, retry_at=retry_at, error=error)
            await self._db(release, claim, ids)
            self.instruments.messages.labels(name, "failed").inc()
            log.warning(
                "notification not sent (%s); retrying in %s",
                error,
                _seconds(delay),
                extra={"fields": {**fields, "attempts": attempts}},
            )

    async def _post(self, webhook: WebhookSettings, message: dict[str, Any]) -> str | None:
        """POST one message; None when the webhook took it, else why not (no URL in it)."""
        try:
            response = await self._client.post(webhook.url, json=message)
        except httpx.HTTPError as exc:
            detail = self._redact(str(exc)).replace(webhook.url, "***")
            return f"{type(exc).__name__}: {detail}"[:300] if detail else type(exc).__name__
        if response.is_success:
            return None
        return f"HTTP {response.status_code}"

    # -- the loop ------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Rounds every ``evaluate_every`` until ``stop`` is set; a failed round is logged."""
        names = list(self._webhooks)
        with contextlib.suppress(Exception):
            await self._db(self._log_store.retry_now, names, self._clock())
        every = self._rules.evaluate_every.total_seconds()
        while not stop.is_set():
            try:
                await self.round()
            except Exception:
                log.exception("notification round failed; trying again in %ss", every)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=every)


class NotifierTask:
    """The running notifier and what it owns: its task and its HTTP client."""

    def __init__(self, notifier: Notifier, client: httpx.AsyncClient) -> None:
        self.notifier = notifier
        self._client = client
        self._stop = asyncio.Event()
        self._task = asyncio.create_task(notifier.run(self._stop), name="notifier")

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
) -> NotifierTask | None:
    """Start notifying in the background, if ``[notify]`` has a webhook; else None."""
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


def _listen_url(listen: str) -> str:
    host, _, port = listen.rpartition(":")
    if host in ("", "0.0.0.0", "[::]"):  # noqa: S104  (only naming the address in a link)
        host = "localhost"
    return f"http://{host}:{port}/"


def _seconds(delay: timedelta) -> str:
    return f"{delay.total_seconds():.0f}s"
