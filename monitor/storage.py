"""The store: organisations, channels, posts, polls and conditional-request state.

SQLite by default (WAL, a busy timeout, full sync: nothing committed is lost to a crash or a
power loss; README, "Durability"), any SQLAlchemy URL otherwise. The schema is migrated with
Alembic on start. Every poll is recorded in one transaction (its posts, its checkpoint and its
poll row), so a crash leaves either all of a poll or none of it, and posts are unique per
channel: a re-read never duplicates them.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy.engine import Engine, make_url
from sqlmodel import Session, col, select

from connectors.base import MOVED_TO, Checkpoint
from monitor.models import Channel, Organisation, Poll, Post, UTCDateTime
from monitor.poll_rows import CHANNEL_TABLE, POLL_TABLE, POST_TABLE, write_polls
from monitor.records import (
    ChannelKey,
    ChannelRecord,
    PollContext,
    PollOutcome,
    PostTime,
    Retention,
)
from monitor.settings import ChannelSettings

_MIGRATIONS = str(Path(__file__).with_name("migrations"))
POST_HISTORY = timedelta(days=400)
"""Posts of the last 400 days are kept whatever judging needs (a year's history, and room for
a wall clock that runs ahead when the daily pruning runs)."""
POST_HISTORY_POSTS = 1000
"""And each channel's newest 1,000 posts, however old."""


class StorageError(Exception):
    """The database cannot be opened or used; the message says which and why."""


def no_channel(channel_id: int) -> StorageError:
    """The error for a channel the store does not hold."""
    return StorageError(f"no channel with id {channel_id}")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def create_db_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite gets WAL, a busy timeout and its directory checked."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:" and not database.startswith("file:"):
            parent = Path(database).expanduser().resolve().parent
            if not parent.is_dir():
                raise StorageError(f"database directory {parent} does not exist")
        engine = sa.create_engine(url, connect_args={"timeout": 30})
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if parsed.get_backend_name() == "postgresql":
        # UTF-8 on the wire even from a SQL_ASCII database (initdb without a locale), where
        # text would otherwise come back as bytes
        return sa.create_engine(url, pool_pre_ping=True, connect_args={"client_encoding": "utf8"})
    return sa.create_engine(url, pool_pre_ping=True)


class Store:
    """Synchronous access to the database.

    The daemon writes from one worker thread (``DbCall``); reads for scrapes and pages run in
    other threads beside it (SQLite's WAL lets readers and the writer work at once).
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = create_db_engine(url)

    # -- lifecycle ---------------------------------------------------------------------

    def migrate(self) -> None:
        """Bring the schema up to date (Alembic), creating it on first use."""
        config = AlembicConfig()
        config.set_main_option("script_location", _MIGRATIONS)
        try:
            with self.engine.begin() as connection:
                config.attributes["connection"] = connection
                command.upgrade(config, "head")
        except sa.exc.SQLAlchemyError as exc:
            raise StorageError(f"cannot migrate the database: {describe_error(exc)}") from None

    def ping(self) -> None:
        """Raise ``StorageError`` unless the database answers."""
        try:
            with self.engine.connect() as connection:
                connection.execute(sa.text("SELECT 1"))
        except sa.exc.SQLAlchemyError as exc:
            raise StorageError(f"database does not answer: {describe_error(exc)}") from None

    def close(self) -> None:
        self.engine.dispose()

    # -- configuration -----------------------------------------------------------------

    def sync(
        self, organisations: Sequence[str], channels: Sequence[ChannelSettings], now: datetime
    ) -> dict[ChannelKey, int]:
        """Make the stored organisations and channels match the configuration.

        New ones are added; channels no longer configured are marked so (and stop being
        exported) but keep their history, and come back with it if configured again.
        """
        with Session(self.engine) as session:
            orgs = {o.name: o for o in session.exec(select(Organisation)).all()}
            for name in organisations:
                if name not in orgs:
                    orgs[name] = Organisation(name=name, created_at=now)
                    session.add(orgs[name])
            session.flush()
            names_by_id = {o.id: o.name for o in orgs.values()}
            stored = {
                (names_by_id[c.organisation_id], c.platform, c.handle): c
                for c in session.exec(select(Channel)).all()
            }
            wanted = {c.key for c in channels}
            for key in wanted:
                row = stored.get(key)
                if row is None:
                    org_id = orgs[key[0]].id
                    assert org_id is not None
                    row = Channel(
                        organisation_id=org_id, platform=key[1], handle=key[2], created_at=now
                    )
                    session.add(row)
                    stored[key] = row
                elif not row.configured:
                    row.configured, row.removed_at = True, None
            for key, row in stored.items():
                if key not in wanted and row.configured:
                    row.configured, row.removed_at = False, now
            session.commit()
            return {key: _id(stored[key]) for key in wanted}

    # -- polls -------------------------------------------------------------------------

    def poll_context(self, channel_id: int) -> PollContext:
        """The newest known post and the checkpoint the next poll starts from."""
        context = self.poll_contexts([channel_id]).get(channel_id)
        if context is None:
            raise no_channel(channel_id)
        return context

    def poll_contexts(self, ids: Iterable[int]) -> dict[int, PollContext]:
        """``poll_context`` of each of these channels (those the store holds), in three queries
        for every 500: at a start or a takeover, thousands of first polls ask at once."""
        wanted = list(dict.fromkeys(ids))
        contexts: dict[int, PollContext] = {}
        with self.engine.connect() as connection:
            for start in range(0, len(wanted), _IN_CHUNK):
                contexts.update(_poll_contexts(connection, wanted[start : start + _IN_CHUNK]))
        return contexts

    def record_poll(self, channel_id: int, outcome: PollOutcome) -> int:
        """Store a poll and what it found, in one transaction; return the number of new posts."""
        return self.record_polls([(channel_id, outcome)])[0]

    def record_polls(self, polls: Sequence[tuple[int, PollOutcome]]) -> list[int]:
        """Store several polls in one transaction (a group commit); new posts for each.

        Each poll stays whole: its posts, checkpoint and poll row are committed together, and a
        poll the database refuses fails the whole batch (``PollWriter`` then stores its polls
        one by one). Written with Core in a few statements for the batch (``poll_rows``).
        """
        with self.engine.begin() as connection:
            return write_polls(connection, polls)

    def last_polls(self, ids: Iterable[int]) -> dict[int, datetime | None]:
        """When each of the given channels was last polled (None: never); one light query."""
        wanted = set(ids)
        with Session(self.engine) as session:  # every row: no list of ids too long to bind
            rows = session.exec(select(Channel.id, Channel.last_poll_at)).all()
            return {int(i): at for i, at in rows if i in wanted}

    def last_successful_polls(self) -> dict[int, datetime]:
        """When each channel whose last poll succeeded was polled (to keep its rhythm)."""
        with Session(self.engine) as session:
            rows = session.exec(
                select(Channel.id, Channel.last_poll_at).where(
                    col(Channel.last_poll_ok).is_(True), col(Channel.last_poll_at).is_not(None)
                )
            ).all()
            return {int(i): at for i, at in rows if i is not None and at is not None}

    def prune_polls(self, before: datetime) -> int:
        """Delete poll rows older than ``before`` (posts are pruned by ``prune_posts``)."""
        with Session(self.engine) as session:
            deleted = session.execute(sa.delete(Poll).where(col(Poll.started_at) < before))
            session.commit()
            return int(getattr(deleted, "rowcount", 0) or 0)

    def prune_posts(
        self,
        channel_id: int,
        retention: Retention,
        now: datetime,
        *,
        history: timedelta = POST_HISTORY,
        keep_newest: int = POST_HISTORY_POSTS,
    ) -> int:
        """Delete a channel's posts that judging it will not read and that are past its kept
        history; return how many. One transaction.

        Kept: what ``retention`` says judging reads, as of the earliest moment the channel can
        still be judged at (now, or its last successful poll: a channel that fails is judged as
        of then); the newest ``keep_newest`` posts; and every post of the last ``history``. A
        post's time is its publication, or when it was first seen if the platform gave none.
        Later posts only move what judging reads forward, so nothing kept now is needed less.
        """
        with Session(self.engine) as session:
            channel = session.get(Channel, channel_id)
            if channel is None:
                return 0
            judged = min(now, channel.last_success_at or now)
            cutoff = min(judged - retention.window, now - history)
            mine = col(Post.channel_id) == channel_id
            counted = sa.and_(mine, col(Post.kind).in_(retention.kinds))
            newest = _aware(
                session.exec(
                    select(sa.func.max(Post.published_at)).where(
                        counted, col(Post.published_at) <= judged
                    )
                ).one()
            )
            if newest is not None:  # the quiet rule's reach, and the intervals before it
                cutoff = min(cutoff, newest - retention.reach)
                before = session.exec(
                    select(Post.published_at)
                    .distinct()
                    .where(counted, col(Post.published_at) < newest - retention.reach)
                    .order_by(col(Post.published_at).desc())
                    .limit(retention.intervals)
                ).all()
                if before:
                    cutoff = min(cutoff, _aware(before[-1]) or cutoff)
            time = sa.func.coalesce(col(Post.published_at), col(Post.first_seen_at))
            recent = (select(Post.id).where(mine).order_by(time.desc(), col(Post.id).desc())).limit(
                keep_newest
            )
            ranked = (
                sa.select(
                    col(Post.id),
                    sa.func.row_number()
                    .over(partition_by=col(Post.kind), order_by=col(Post.published_at).desc())
                    .label("rank"),
                )
                .where(mine, col(Post.published_at).is_not(None))
                .subquery()
            )
            newest_of_kind = sa.select(ranked.c.id).where(ranked.c.rank <= retention.newest)
            deleted = session.execute(
                sa.delete(Post).where(
                    mine,
                    time < cutoff,
                    col(Post.id).not_in(recent),
                    col(Post.id).not_in(newest_of_kind),
                )
            )
            session.commit()
            return int(getattr(deleted, "rowcount", 0) or 0)

    # -- reading -----------------------------------------------------------------------

    def channels(self, ids: Iterable[int]) -> dict[int, ChannelRecord]:
        """Stored metadata and poll health of the given channels."""
        wanted = list(ids)
        if not wanted:
            return {}
        with Session(self.engine) as session:
            rows = session.exec(
                select(Channel, Organisation.name)
                .join(Organisation, col(Organisation.id) == Channel.organisation_id)
                .where(col(Channel.id).in_(wanted))
            ).all()
            return {
                _id(c): ChannelRecord(
                    id=_id(c),
                    organisation=org,
                    platform=c.platform,
                    handle=c.handle,
                    name=c.name,
                    url=c.url,
                    followers=c.followers,
                    last_poll_at=c.last_poll_at,
                    last_poll_ok=c.last_poll_ok,
                    last_success_at=c.last_success_at,
                    last_error_reason=c.last_error_reason,
                    last_error_detail=c.last_error_detail,
                    consecutive_failures=c.consecutive_failures,
                    profile_note=c.profile_note,
                    moved_to=_moved_to(c.checkpoint_extra),
                )
                for c, org in rows
            }

    def moved_channels(self) -> dict[ChannelKey, str]:
        """Configured channels whose address moved permanently: the new address (sealed)."""
        with Session(self.engine) as session:
            rows = session.exec(
                select(
                    Organisation.name, Channel.platform, Channel.handle, Channel.checkpoint_extra
                )
                .join(Organisation, col(Organisation.id) == Channel.organisation_id)
                .where(
                    col(Channel.configured).is_(True), col(Channel.checkpoint_extra).is_not(None)
                )
            ).all()
            moved = {(org, p, h): _moved_to(extra) for org, p, h, extra in rows}
            return {key: address for key, address in moved.items() if address}

    def post_times(
        self, ids: Iterable[int], *, since: datetime, newest: int
    ) -> dict[int, list[PostTime]]:
        """Dated posts per channel: all published since ``since`` plus the ``newest`` of each kind.

        One query for every channel (a window function, on SQLite and PostgreSQL alike).
        """
        wanted = list(ids)
        result: dict[int, list[PostTime]] = defaultdict(list)
        if not wanted:
            return result
        ranked = (
            sa.select(
                col(Post.channel_id),
                col(Post.published_at),
                col(Post.kind),
                sa.func.row_number()
                .over(
                    partition_by=(col(Post.channel_id), col(Post.kind)),
                    order_by=col(Post.published_at).desc(),
                )
                .label("rank"),
            )
            .where(col(Post.channel_id).in_(wanted), col(Post.published_at).is_not(None))
            .subquery()
        )
        query = sa.select(ranked.c.channel_id, ranked.c.published_at, ranked.c.kind).where(
            sa.or_(ranked.c.rank <= newest, ranked.c.published_at >= since)
        )
        with Session(self.engine) as session:
            for channel_id, published_at, kind in session.execute(query):
                result[channel_id].append(PostTime(published_at=published_at, kind=kind))
        return result

    def recent_polls(self, channel_id: int, limit: int = 20) -> list[Poll]:
        """The latest polls of a channel, newest first."""
        with Session(self.engine) as session:
            return list(
                session.exec(
                    select(Poll)
                    .where(Poll.channel_id == channel_id)
                    .order_by(col(Poll.started_at).desc())
                    .limit(limit)
                ).all()
            )

    def count_posts(self, channel_id: int) -> int:
        """Every stored post of a channel, dated or not."""
        with Session(self.engine) as session:
            return int(
                session.exec(
                    select(sa.func.count()).select_from(Post).where(Post.channel_id == channel_id)
                ).one()
            )


def _moved_to(checkpoint_extra: str | None) -> str | None:
    extra = json.loads(checkpoint_extra) if checkpoint_extra else {}
    address = extra.get(MOVED_TO) if isinstance(extra, dict) else None
    return address if isinstance(address, str) else None


def _id(row: Channel) -> int:
    assert row.id is not None
    return row.id


_IN_CHUNK = 500  # ids in one IN (...): well within every database's limit on parameters


def _poll_contexts(connection: sa.Connection, ids: list[int]) -> dict[int, PollContext]:
    channel, post, poll = CHANNEL_TABLE, POST_TABLE, POLL_TABLE
    rows = connection.execute(
        sa.select(
            channel.c.id,
            channel.c.etag,
            channel.c.last_modified,
            channel.c.checkpoint_extra,
            channel.c.last_poll_at,
            channel.c.last_poll_ok,
            channel.c.consecutive_failures,
            channel.c.last_success_at,
        ).where(channel.c.id.in_(ids))
    ).all()
    if not rows:
        return {}
    newest = dict(
        connection.execute(
            sa.select(post.c.channel_id, sa.func.max(post.c.published_at))
            .where(post.c.channel_id.in_(ids))
            .group_by(post.c.channel_id)
        ).all()
    )
    failing = [row.id for row in rows if row.consecutive_failures]
    first_failures: dict[int, Any] = {}
    if failing:
        # the first failure after the last success (pruned polls: the last poll stands in)
        after_success = sa.or_(
            channel.c.last_success_at.is_(None), poll.c.started_at > channel.c.last_success_at
        )
        first_failures = dict(
            connection.execute(
                sa.select(poll.c.channel_id, sa.func.min(poll.c.started_at))
                .join(channel, channel.c.id == poll.c.channel_id)
                .where(poll.c.channel_id.in_(failing), poll.c.ok.is_(False), after_success)
                .group_by(poll.c.channel_id)
            ).all()
        )
    return {
        row.id: PollContext(
            newest_post_at=_aware(newest.get(row.id)),
            checkpoint=Checkpoint(
                etag=row.etag,
                last_modified=row.last_modified,
                extra=json.loads(row.checkpoint_extra) if row.checkpoint_extra else {},
            ),
            last_poll_at=row.last_poll_at,
            last_poll_ok=row.last_poll_ok,
            consecutive_failures=row.consecutive_failures,
            last_success_at=row.last_success_at,
            failing_since=(
                (_aware(first_failures.get(row.id)) or row.last_poll_at)
                if row.consecutive_failures
                else None
            ),
        )
        for row in rows
    }


def _aware(value: Any) -> datetime | None:
    return UTCDateTime().process_result_value(value, sa.engine.default.DefaultDialect())


def describe_error(exc: sa.exc.SQLAlchemyError) -> str:
    """The first line of what the database said, for one-line error messages."""
    original = getattr(exc, "orig", None)
    return str(original if original is not None else exc).splitlines()[0]
