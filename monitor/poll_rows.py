"""A poll as rows: what storing a batch of polls writes, and the record it leaves.

Written with SQLAlchemy Core, not the ORM: most polls change nothing (a 304, a probe that
finds no new post), and for those storing is one channel UPDATE and one poll INSERT, sent for
the whole batch as one ``executemany`` each. No channel is read first: what a poll sets depends
on the poll alone (a failure counts up in SQL, a profile field the platform left out keeps the
stored value with COALESCE).

Values from platforms are fitted to their columns here: PostgreSQL refuses longer values and
SQLite ignores the sizes, so both store the same.
"""

from __future__ import annotations

import enum
import hashlib
import json
import unicodedata
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import UTC
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from connectors.base import MOVED_TO, FetchResult
from monitor.models import Channel, Poll, Post
from monitor.records import ChannelRecord, PollOutcome
from monitor.redact import mask_userinfo

# Column sizes (models.py). SQLite ignores them, PostgreSQL refuses longer values, so values
# from platforms are fitted before they are stored.
POST_ID_MAX, NAME_MAX, URL_MAX, ETAG_MAX, LAST_MODIFIED_MAX = 500, 500, 2000, 500, 100
COUNT_MAX = 2**53
NOTE_MAX = 500

CHANNEL_TABLE: sa.Table = Channel.__table__  # type: ignore[attr-defined]
POLL_TABLE: sa.Table = Poll.__table__  # type: ignore[attr-defined]
POST_TABLE: sa.Table = Post.__table__  # type: ignore[attr-defined]


class UnknownChannel(LookupError):
    """A poll names a channel the store does not hold."""


class _Status(enum.Enum):
    """The three shapes of a channel's status update: one UPDATE statement each."""

    FAILED = enum.auto()
    READ = enum.auto()
    READ_WITH_PROFILE = enum.auto()


def _status_updates() -> dict[_Status, sa.Update]:
    c = CHANNEL_TABLE.c
    # the other columns come from each poll's parameters (keys named after them)
    by_id = sa.update(CHANNEL_TABLE).where(c.id == sa.bindparam("channel"))
    return {
        _Status.FAILED: by_id.values(consecutive_failures=c.consecutive_failures + 1),
        _Status.READ: by_id,
        _Status.READ_WITH_PROFILE: by_id.values(
            name=sa.func.coalesce(sa.bindparam("new_name", type_=c.name.type), c.name),
            url=sa.func.coalesce(sa.bindparam("new_url", type_=c.url.type), c.url),
            followers=sa.func.coalesce(
                sa.bindparam("new_followers", type_=c.followers.type), c.followers
            ),
        ),
    }


_UPDATES = _status_updates()


def write_polls(connection: sa.Connection, polls: Sequence[tuple[int, PollOutcome]]) -> list[int]:
    """Write a batch of polls on ``connection`` (inside the caller's transaction); the number of
    new posts of each.

    One UPDATE of channel status per shape for the whole batch (a poll of a channel the store
    does not hold is refused there), each poll's posts with their own existence check, then one
    INSERT of poll rows. A channel polled twice in one batch has its
    polls written in turn, so the later one's status wins.
    """
    counts: list[int] = []
    for part in _distinct_channels(polls):
        counts.extend(_write(connection, part))
    return counts


def _distinct_channels(
    polls: Sequence[tuple[int, PollOutcome]],
) -> Iterator[Sequence[tuple[int, PollOutcome]]]:
    """The batch in consecutive parts where no channel comes twice."""
    start, seen = 0, set[int]()
    for i, (channel_id, _) in enumerate(polls):
        if channel_id in seen:
            yield polls[start:i]
            start, seen = i, set[int]()
        seen.add(channel_id)
    yield polls[start:]


def _write(connection: sa.Connection, polls: Sequence[tuple[int, PollOutcome]]) -> list[int]:
    by_shape: dict[_Status, list[dict[str, Any]]] = defaultdict(list)
    for channel_id, outcome in polls:
        shape, values = channel_status(outcome)
        by_shape[shape].append({"channel": channel_id, **values})
    for shape, rows in by_shape.items():
        updated = connection.execute(_UPDATES[shape], rows).rowcount
        if updated != len(rows):
            _refuse_unknown(connection, [row["channel"] for row in rows])
    counts = [
        _insert_posts(connection, channel_id, outcome.result, outcome)
        if outcome.result is not None
        else 0
        for channel_id, outcome in polls
    ]
    connection.execute(
        sa.insert(POLL_TABLE),
        [poll_row(c, o, n) for (c, o), n in zip(polls, counts, strict=True)],
    )
    return counts


def _refuse_unknown(connection: sa.Connection, ids: list[int]) -> None:
    query = sa.select(CHANNEL_TABLE.c.id).where(CHANNEL_TABLE.c.id.in_(ids))
    known = set(connection.execute(query).scalars())
    missing = sorted(set(ids) - known)
    if missing:
        raise UnknownChannel(f"no channel with id {', '.join(map(str, missing))}")


def channel_status(outcome: PollOutcome) -> tuple[_Status, dict[str, Any]]:
    """What a poll sets on its channel's row: the statement's shape and its values."""
    values: dict[str, Any] = {"last_poll_at": outcome.finished_at, "last_poll_ok": outcome.ok}
    result = outcome.result
    if result is None:
        values.update(
            last_error_reason=outcome.error_reason, last_error_detail=clip(outcome.error_detail)
        )
        return _Status.FAILED, values
    checkpoint = result.checkpoint
    values.update(
        # validators too long for their columns are dropped: the next poll is a full read
        etag=fits(checkpoint.etag, ETAG_MAX),
        last_modified=fits(checkpoint.last_modified, LAST_MODIFIED_MAX),
        checkpoint_extra=(
            json.dumps(dict(checkpoint.extra), sort_keys=True) if checkpoint.extra else None
        ),
        last_success_at=outcome.finished_at,
        last_error_reason=None,
        last_error_detail=None,
        consecutive_failures=0,
    )
    profile = result.profile
    if profile is None:
        return _Status.READ, values
    values.update(
        new_name=clip(profile.name, NAME_MAX) or None,  # None (or empty) keeps the stored one
        new_url=web_url(profile.url),
        new_followers=count(profile.followers),
        profile_note=clip(profile.note, NOTE_MAX),
    )
    return _Status.READ_WITH_PROFILE, values


def poll_row(channel_id: int, outcome: PollOutcome, new_posts: int) -> dict[str, Any]:
    """The poll's own row."""
    return {
        "channel_id": channel_id,
        "started_at": outcome.started_at,
        "finished_at": outcome.finished_at,
        "ok": outcome.ok,
        "not_modified": bool(outcome.result and outcome.result.not_modified),
        "error_reason": outcome.error_reason,
        "error_detail": clip(outcome.error_detail),
        "new_posts": new_posts,
        "requests": outcome.requests,
    }


def _insert_posts(
    connection: sa.Connection, channel_id: int, result: FetchResult, outcome: PollOutcome
) -> int:
    incoming = {fit_id(p.post_id): p for p in result.posts}  # a page may repeat a post
    if not incoming:
        return 0
    known: set[str] = set()
    ids = list(incoming)
    mine = POST_TABLE.c.channel_id == channel_id
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        query = sa.select(POST_TABLE.c.post_id).where(mine, POST_TABLE.c.post_id.in_(chunk))
        known.update(connection.execute(query).scalars())
    # the existence check keeps ids from being spent on conflicts (PostgreSQL draws a sequence
    # value for every row offered); ON CONFLICT still guards against a concurrent writer
    rows = [
        {
            "channel_id": channel_id,
            "post_id": post_id,
            "kind": p.kind,
            "published_at": p.published_at,
            "first_seen_at": outcome.finished_at,
        }
        for post_id, p in incoming.items()
        if post_id not in known
    ]
    if rows:
        connection.execute(_insert_ignoring_duplicates(connection.dialect.name), rows)
    return len(rows)


def _insert_ignoring_duplicates(dialect: str) -> Any:
    key = ["channel_id", "post_id"]
    if dialect == "sqlite":
        return sqlite_insert(POST_TABLE).on_conflict_do_nothing(index_elements=key)
    if dialect == "postgresql":
        return pg_insert(POST_TABLE).on_conflict_do_nothing(index_elements=key)
    return sa.insert(POST_TABLE)  # others: the existence check above already filtered


def stored_record(record: ChannelRecord, outcome: PollOutcome) -> ChannelRecord:
    """``record`` as ``Store.channels`` reads it once ``outcome`` is stored (``record_poll``).

    Lets the daemon keep its judgement current without reading back what it just wrote; a
    test holds it to the store's own round trip.
    """
    finished = outcome.finished_at.astimezone(UTC)
    changes: dict[str, Any] = {"last_poll_at": finished, "last_poll_ok": outcome.ok}
    result = outcome.result
    if result is None:
        changes.update(
            last_error_reason=outcome.error_reason,
            last_error_detail=clip(outcome.error_detail),
            consecutive_failures=record.consecutive_failures + 1,
        )
        return replace(record, **changes)
    profile = result.profile
    if profile is not None:
        followers = count(profile.followers)
        changes.update(
            name=clip(profile.name, NAME_MAX) or record.name,
            url=web_url(profile.url) or record.url,
            followers=record.followers if followers is None else followers,
            profile_note=clip(profile.note, NOTE_MAX),
        )
    moved = result.checkpoint.extra.get(MOVED_TO)
    changes.update(
        moved_to=moved if isinstance(moved, str) else None,
        last_success_at=finished,
        last_error_reason=None,
        last_error_detail=None,
        consecutive_failures=0,
    )
    return replace(record, **changes)


def _size(text: str) -> int:
    # UTF-8 bytes: a column's length is in characters on a UTF-8 database but in bytes on a
    # SQL_ASCII one, and the byte count is never the smaller of the two
    return len(text.encode())


def fit_id(post_id: str) -> str:
    """A post id that fits its column: over-long ids (feed guids full of tracking parameters)
    are replaced by a stable digest, so the post is still stored once."""
    if _size(post_id) <= POST_ID_MAX:
        return post_id
    return "sha256:" + hashlib.sha256(post_id.encode()).hexdigest()


def fits(value: str | None, limit: int) -> str | None:
    """``value`` if it fits a column of ``limit`` bytes, else None."""
    return value if value is None or _size(value) <= limit else None


def web_url(url: str | None) -> str | None:
    """Only a well-formed http(s) URL that fits is kept: it is shown as a link and in a label.

    Platforms supply it (a feed's ``<link>``, an account's ``url``), so it is checked as it
    comes in: a port that is not a number or a control character would otherwise break every
    place that shows it. Without credentials: a feed's relative link is resolved against the
    (configured) feed address.
    """
    if not url or not url.lower().startswith(("https://", "http://")):
        return None
    if any(ch.isspace() or unicodedata.category(ch) == "Cc" for ch in url):
        return None
    url = mask_userinfo(url, mask="")
    if _size(url) > URL_MAX:
        return None
    try:
        parsed = httpx.URL(url)
        _ = parsed.port
    except (httpx.InvalidURL, ValueError, TypeError):
        return None
    return url if parsed.host else None


def count(value: int | None) -> int | None:
    """A platform's count (followers) if it is one a column holds: never negative, never
    beyond 2**53 (a double holds it exactly; no real account comes near it)."""
    if value is None or isinstance(value, bool) or not 0 <= value <= COUNT_MAX:
        return None
    return value


def clip(text: str | None, limit: int = 1000) -> str | None:
    """``text`` cut to ``limit`` UTF-8 bytes on a character boundary, ending in an ellipsis."""
    if text is None or _size(text) <= limit:
        return text
    cut = text.encode()[: limit - len("…".encode())].decode(errors="ignore")
    return cut + "…"
