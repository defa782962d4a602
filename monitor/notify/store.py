"""The event log and its deliveries: recorded atomically, claimed atomically, never lost.

- ``record`` writes an evaluation in one transaction: the events, one delivery per event and
  webhook, and the channels' alert states, each updated only if its revision is still the one
  evaluated (compare-and-set). A crash before the commit records nothing, so the next
  evaluation finds the same change again; a crash after it leaves the deliveries pending.
- ``claim`` takes pending deliveries with one conditional UPDATE (Healthchecks' pattern): only
  rows not sent and not claimed, or whose claim's lease expired, so two senders never take the
  same row. ``mark_sent``, ``release``, ``give_up`` and ``give_back`` act only on rows still
  holding the claim's token.
- ``give_up`` ends a delivery the webhook refused for good (a 4xx other than 408 and 429, a few
  times): it is *failed*, kept for ``/api/events`` with its error, and never claimed again.
  Failed is written without a column of its own: not sent, ``next_attempt_at = GIVEN_UP``.

Delivery is at least once: a crash after a webhook accepted a message but before ``mark_sent``
committed sends that message again when the lease expires.
"""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from monitor.models import AlertEvent, ChannelAlert, Delivery
from monitor.notify.events import AlertState, Event, EventKind, NewEvent
from monitor.settings import WebhookSettings

LEASE = timedelta(minutes=5)  # a claim older than this is abandoned (its sender died)
GIVEN_UP = datetime(9999, 12, 31, tzinfo=UTC)  # next_attempt_at of a failed delivery: never


@dataclass(frozen=True, slots=True)
class ClaimedDelivery:
    """A delivery this sender holds: send its event to its webhook, then mark or release it."""

    id: int
    webhook: str
    attempts: int  # including this one
    event: Event


@dataclass(frozen=True, slots=True)
class Claim:
    """What one ``claim`` took, and the token that proves it."""

    token: str
    deliveries: tuple[ClaimedDelivery, ...]


@dataclass(frozen=True, slots=True)
class DeliveryStatus:
    """How one event's delivery to one webhook stands."""

    webhook: str
    attempts: int
    sent_at: datetime | None
    next_attempt_at: datetime
    last_error: str | None

    @property
    def failed(self) -> bool:
        """Given up: the webhook refused it for good, it is not tried again."""
        return self.sent_at is None and self.next_attempt_at >= GIVEN_UP


@dataclass(frozen=True, slots=True)
class LoggedEvent:
    """An event with its deliveries, as ``/api/events`` shows it."""

    event: Event
    deliveries: tuple[DeliveryStatus, ...]


class NotificationStore:
    """Synchronous access to the notification tables (call it from the database thread)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def alerts(self, channel_ids: Iterable[int]) -> dict[int, AlertState]:
        """The recorded alert state of the given channels (absent: never evaluated)."""
        wanted = list(channel_ids)
        if not wanted:
            return {}
        with Session(self.engine) as session:
            rows = session.exec(
                select(ChannelAlert).where(col(ChannelAlert.channel_id).in_(wanted))
            ).all()
            return {
                row.channel_id: AlertState(
                    channel_id=row.channel_id,
                    state=row.state,
                    stale_since=row.stale_since,
                    failing=row.failing,
                    failing_since=row.failing_since,
                    reminded_at=row.reminded_at,
                    created_at=row.created_at,
                    revision=row.revision,
                )
                for row in rows
            }

    def recorded_keys(self, keys: Iterable[str]) -> set[str]:
        """Which of ``keys`` (``NewEvent.dedup_key``) are already in the log."""
        wanted = list(keys)
        if not wanted:
            return set()
        with Session(self.engine) as session:
            found = session.exec(
                select(AlertEvent.dedup_key).where(col(AlertEvent.dedup_key).in_(wanted))
            ).all()
            return {key for key in found if key is not None}

    def record(
        self,
        events: Sequence[NewEvent],
        alerts: Sequence[AlertState],
        webhooks: Sequence[WebhookSettings],
        now: datetime,
    ) -> bool:
        """Write an evaluation in one transaction; False (nothing written) if another writer
        changed one of the alert states or recorded one of the events first."""
        with Session(self.engine) as session:
            try:
                for alert in alerts:
                    if not self._write_alert(session, alert, now):
                        session.rollback()
                        return False
                for new in events:
                    row = AlertEvent(
                        channel_id=new.channel_id,
                        organisation=new.organisation,
                        at=now,
                        kind=new.kind.value,
                        old_state=new.old_state,
                        new_state=new.new_state,
                        detail=json.dumps(new.detail, sort_keys=True, ensure_ascii=False),
                        dedup_key=new.dedup_key,
                    )
                    session.add(row)
                    session.flush()
                    assert row.id is not None
                    for webhook in webhooks:
                        if webhook.wants(new.organisation):
                            session.add(
                                Delivery(
                                    event_id=row.id,
                                    webhook=webhook.name,
                                    created_at=now,
                                    next_attempt_at=now,
                                )
                            )
                session.commit()
            except sa.exc.IntegrityError:  # a concurrent writer inserted the same row first
                session.rollback()
                return False
        return True

    @staticmethod
    def _write_alert(session: Session, alert: AlertState, now: datetime) -> bool:
        values: dict[str, Any] = {
            "state": alert.state,
            "stale_since": alert.stale_since,
            "failing": alert.failing,
            "failing_since": alert.failing_since,
            "reminded_at": alert.reminded_at,
            "updated_at": now,
        }
        if alert.revision == 0:
            session.add(
                ChannelAlert(
                    channel_id=alert.channel_id,
                    created_at=alert.created_at or now,
                    revision=1,
                    **values,
                )
            )
            session.flush()
            return True
        table = ChannelAlert.__table__  # type: ignore[attr-defined]
        result = session.execute(
            sa.update(table)
            .where(
                table.c.channel_id == alert.channel_id,
                table.c.revision == alert.revision,
            )
            .values(revision=table.c.revision + 1, **values)
        )
        return int(getattr(result, "rowcount", 0)) == 1

    # -- sending -------------------------------------------------------------------------------

    def claim(
        self,
        webhooks: Iterable[str],
        now: datetime,
        *,
        lease: timedelta = LEASE,
        limit: int = 500,
    ) -> Claim:
        """Atomically take the pending deliveries that are due, for the given webhooks."""
        token = uuid.uuid4().hex
        names = list(webhooks)
        if not names:
            return Claim(token, ())
        table = Delivery.__table__  # type: ignore[attr-defined]
        claimable = sa.and_(
            table.c.sent_at.is_(None),
            sa.or_(table.c.claimed_at.is_(None), table.c.claimed_at < now - lease),
        )
        due = (
            sa.select(table.c.id)
            .where(claimable, table.c.webhook.in_(names), table.c.next_attempt_at <= now)
            .order_by(table.c.id)
            .limit(limit)
        )
        with Session(self.engine) as session:
            # the condition is repeated on the row itself: under READ COMMITTED a concurrent
            # claimer's committed update makes it false, so the row is skipped, not taken twice
            session.execute(
                sa.update(table)
                .where(table.c.id.in_(due.scalar_subquery()), claimable)
                .values(claimed_at=now, claim_token=token, attempts=table.c.attempts + 1)
            )
            session.commit()
            rows = session.exec(
                select(Delivery, AlertEvent)
                .join(AlertEvent, col(AlertEvent.id) == Delivery.event_id)
                .where(Delivery.claim_token == token)
                .order_by(col(Delivery.id))
            ).all()
            return Claim(
                token,
                tuple(
                    ClaimedDelivery(_id(d.id), d.webhook, d.attempts, _event(e)) for d, e in rows
                ),
            )

    def mark_sent(self, claim: Claim, delivery_ids: Sequence[int], now: datetime) -> int:
        """Record deliveries as sent (only those this claim still holds)."""
        return self._settle(claim, delivery_ids, sent_at=now, last_error=None)

    def release(
        self, claim: Claim, delivery_ids: Sequence[int], *, retry_at: datetime, error: str
    ) -> int:
        """Give deliveries back after a failed send, to be tried again from ``retry_at``."""
        return self._settle(claim, delivery_ids, next_attempt_at=retry_at, last_error=error[:500])

    def give_up(self, claim: Claim, delivery_ids: Sequence[int], *, error: str) -> int:
        """Record deliveries as failed: refused for good, never claimed or retried again."""
        return self._settle(claim, delivery_ids, next_attempt_at=GIVEN_UP, last_error=error[:500])

    def give_back(self, claim: Claim, delivery_ids: Sequence[int]) -> int:
        """Return deliveries that were claimed but not tried (out of time): due again as they
        were, and their claim not counted as an attempt."""
        table = Delivery.__table__  # type: ignore[attr-defined]
        return self._settle(claim, delivery_ids, attempts=table.c.attempts - 1)

    def _settle(self, claim: Claim, delivery_ids: Sequence[int], **values: Any) -> int:
        if not delivery_ids:
            return 0
        table = Delivery.__table__  # type: ignore[attr-defined]
        with Session(self.engine) as session:
            result = session.execute(
                sa.update(table)
                .where(table.c.id.in_(list(delivery_ids)), table.c.claim_token == claim.token)
                .values(claimed_at=None, claim_token=None, **values)
            )
            session.commit()
            return int(getattr(result, "rowcount", 0))

    def retry_now(self, webhooks: Iterable[str], now: datetime) -> int:
        """Make every pending, unclaimed delivery due now (after a start: the URL may be fixed).

        Failed deliveries stay failed."""
        names = list(webhooks)
        table = Delivery.__table__  # type: ignore[attr-defined]
        with Session(self.engine) as session:
            result = session.execute(
                sa.update(table)
                .where(
                    table.c.sent_at.is_(None),
                    table.c.claimed_at.is_(None),
                    table.c.webhook.in_(names),
                    table.c.next_attempt_at > now,
                    table.c.next_attempt_at < GIVEN_UP,
                )
                .values(next_attempt_at=now)
            )
            session.commit()
            return int(getattr(result, "rowcount", 0))

    def pending(self, webhooks: Iterable[str]) -> dict[str, int]:
        """Deliveries not sent yet and not failed, per webhook (every given name, 0 included)."""
        names = list(webhooks)
        counts = dict.fromkeys(names, 0)
        with Session(self.engine) as session:
            rows = session.exec(
                select(Delivery.webhook, sa.func.count())
                .where(
                    col(Delivery.sent_at).is_(None),
                    col(Delivery.next_attempt_at) < GIVEN_UP,
                    col(Delivery.webhook).in_(names),
                )
                .group_by(col(Delivery.webhook))
            ).all()
        counts.update({name: int(count) for name, count in rows})
        return counts

    # -- reading -------------------------------------------------------------------------------

    def events(self, limit: int = 100, *, channel_id: int | None = None) -> list[LoggedEvent]:
        """The newest events first (of one channel, if given), each with its deliveries."""
        query = select(AlertEvent)
        if channel_id is not None:
            query = query.where(AlertEvent.channel_id == channel_id)
        with Session(self.engine) as session:
            rows = session.exec(query.order_by(col(AlertEvent.id).desc()).limit(limit)).all()
            ids = [_id(r.id) for r in rows]
            deliveries: dict[int, list[DeliveryStatus]] = defaultdict(list)
            if ids:
                for d in session.exec(
                    select(Delivery)
                    .where(col(Delivery.event_id).in_(ids))
                    .order_by(col(Delivery.webhook))
                ).all():
                    deliveries[d.event_id].append(
                        DeliveryStatus(
                            d.webhook, d.attempts, d.sent_at, d.next_attempt_at, d.last_error
                        )
                    )
            return [LoggedEvent(_event(r), tuple(deliveries[_id(r.id)])) for r in rows]


def _event(row: AlertEvent) -> Event:
    return Event(
        id=_id(row.id),
        at=row.at,
        kind=EventKind(row.kind),
        organisation=row.organisation,
        channel_id=row.channel_id,
        old_state=row.old_state,
        new_state=row.new_state,
        detail=json.loads(row.detail or "{}"),
    )


def _id(value: int | None) -> int:
    assert value is not None
    return value
