"""The database tables (SQLModel). Times are stored as UTC and always read back timezone-aware."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlmodel import Field, SQLModel


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """A timestamp stored as naive UTC (portable across SQLite and PostgreSQL), read back aware."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("refusing to store a naive datetime")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):  # raw SQLite text, e.g. from an aggregate
            value = datetime.fromisoformat(value)
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _ts(*, nullable: bool = True, index: bool = False) -> Any:
    return Field(default=None, sa_type=UTCDateTime, nullable=nullable, index=index)


class Organisation(SQLModel, table=True):
    """A public body with channels."""

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True, max_length=300)
    created_at: datetime = Field(sa_type=UTCDateTime)


class Channel(SQLModel, table=True):
    """One account of one organisation on one platform, with its latest poll health."""

    __table_args__ = (sa.UniqueConstraint("organisation_id", "platform", "handle"),)

    id: int | None = Field(default=None, primary_key=True)
    organisation_id: int = Field(foreign_key="organisation.id", index=True)
    platform: str = Field(max_length=32)
    handle: str = Field(max_length=2000)
    configured: bool = True  # false once removed from the configuration; history is kept
    created_at: datetime = Field(sa_type=UTCDateTime)
    removed_at: datetime | None = _ts()
    # public metadata, from the last successful poll
    name: str | None = Field(default=None, max_length=500)
    url: str | None = Field(default=None, max_length=2000)
    followers: int | None = None
    profile_note: str | None = Field(default=None, max_length=500)  # what could not be read
    # poll health
    last_poll_at: datetime | None = _ts()
    last_poll_ok: bool | None = None
    last_success_at: datetime | None = _ts()
    last_error_reason: str | None = Field(default=None, max_length=32)
    last_error_detail: str | None = Field(default=None, max_length=1000)
    consecutive_failures: int = 0
    # conditional-request state (see connectors.base.Checkpoint)
    etag: str | None = Field(default=None, max_length=500)
    last_modified: str | None = Field(default=None, max_length=100)
    checkpoint_extra: str | None = Field(default=None, max_length=4000)  # JSON object of strings


class WebsiteCheck(SQLModel, table=True):
    """The last reads of an organisation's website by discovery: the last attempt, and what the
    last successful one found (JSON of ``monitor.discovery.model.WebsiteCheck``)."""

    __tablename__ = "website_check"

    organisation_id: int = Field(foreign_key="organisation.id", primary_key=True)
    website: str = Field(max_length=2000)  # as configured when it was read
    checked_at: datetime = Field(sa_type=UTCDateTime)  # the last attempt
    error: str | None = Field(default=None, max_length=1000)  # why the last attempt failed
    found_at: datetime | None = _ts()  # the last successful read
    found: str | None = Field(default=None, sa_type=sa.Text)


class Replica(SQLModel, table=True):
    """A daemon sharing the channels of this database, by its heartbeat (``monitor.leader``):
    written and read with the database's clock, in plain SQL, on PostgreSQL only."""

    id: str = Field(primary_key=True, max_length=32)
    name: str = Field(max_length=200)  # host and process id, for people
    started_at: datetime = Field(sa_type=UTCDateTime)
    seen_at: datetime = Field(sa_type=UTCDateTime)  # its latest heartbeat
    backend_pid: int  # the server process of its lock session: gone when the session is


class Post(SQLModel, table=True):
    """One post's identity and time. Never its text."""

    __table_args__ = (
        sa.UniqueConstraint("channel_id", "post_id"),
        sa.Index("ix_post_channel_published", "channel_id", "published_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    channel_id: int = Field(foreign_key="channel.id")
    post_id: str = Field(max_length=500)
    kind: str = Field(default="post", max_length=16)
    published_at: datetime | None = _ts()  # None: the platform gave no date; never counted
    first_seen_at: datetime = Field(sa_type=UTCDateTime)


class Poll(SQLModel, table=True):
    """One read of one channel: when, whether it worked, what it found, what it cost."""

    __table_args__ = (sa.Index("ix_poll_channel_started", "channel_id", "started_at"),)

    id: int | None = Field(default=None, primary_key=True)
    channel_id: int = Field(foreign_key="channel.id")
    started_at: datetime = Field(sa_type=UTCDateTime)
    finished_at: datetime = Field(sa_type=UTCDateTime)
    ok: bool
    not_modified: bool = False
    error_reason: str | None = Field(default=None, max_length=32)
    error_detail: str | None = Field(default=None, max_length=1000)  # redacted
    new_posts: int = 0
    requests: int = 0


class ChannelAlert(SQLModel, table=True):
    """What the event log last recorded for a channel: the state people were told about.

    Evaluation compares each channel's judged state with this row and records the difference
    as events; ``revision`` makes the update a compare-and-set, so two evaluators never record
    one change twice.
    """

    __tablename__ = "channel_alert"

    channel_id: int = Field(foreign_key="channel.id", primary_key=True)
    state: str | None = Field(default=None, max_length=32)  # last judged state; None: not yet
    stale_since: datetime | None = _ts()  # set while the state calls for attention
    failing: bool = False  # "cannot be read" was recorded and the channel is not readable yet
    failing_since: datetime | None = _ts()
    reminded_at: datetime | None = _ts()  # the last event telling people about the problem
    created_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)
    revision: int = 0


class AlertEvent(SQLModel, table=True):
    """One entry in the event log: a state change, a poll failure or recovery, a reminder, a
    digest. ``detail`` is a JSON object of public facts (never a secret or a webhook URL)."""

    __tablename__ = "alert_event"
    __table_args__ = (sa.Index("ix_alert_event_at", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    channel_id: int | None = Field(default=None, foreign_key="channel.id", index=True)
    organisation: str = Field(max_length=300)
    at: datetime = Field(sa_type=UTCDateTime)
    kind: str = Field(max_length=32)
    old_state: str | None = Field(default=None, max_length=32)
    new_state: str | None = Field(default=None, max_length=32)
    detail: str = Field(default="{}", sa_type=sa.Text)
    dedup_key: str | None = Field(default=None, max_length=500, unique=True)  # digests


class Delivery(SQLModel, table=True):
    """One event to one webhook: pending until sent, claimed by whoever is sending it."""

    __tablename__ = "delivery"
    __table_args__ = (
        sa.UniqueConstraint("event_id", "webhook"),
        sa.Index("ix_delivery_pending", "sent_at", "next_attempt_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    event_id: int = Field(foreign_key="alert_event.id")
    webhook: str = Field(max_length=100)  # the webhook's name, never its URL
    created_at: datetime = Field(sa_type=UTCDateTime)
    next_attempt_at: datetime = Field(sa_type=UTCDateTime)
    attempts: int = 0
    claimed_at: datetime | None = _ts()
    claim_token: str | None = Field(default=None, max_length=64)
    sent_at: datetime | None = _ts()
    last_error: str | None = Field(default=None, max_length=500)  # redacted
