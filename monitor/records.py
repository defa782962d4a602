"""The values the store hands out and takes in: what a poll did, a channel's stored state."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from connectors.base import Checkpoint, FetchResult

ChannelKey = tuple[str, str, str]  # organisation, platform, label
DbCall = Callable[..., Awaitable[Any]]  # runs a Store method on the database thread


@dataclass(frozen=True, slots=True)
class PollOutcome:
    """What one poll did, as the shell hands it to the store."""

    started_at: datetime
    finished_at: datetime
    requests: int
    result: FetchResult | None = None  # set when the poll succeeded
    error_reason: str | None = None  # the ConnectorError kind when it failed
    error_detail: str | None = None  # already redacted

    @property
    def ok(self) -> bool:
        return self.result is not None


@dataclass(frozen=True, slots=True)
class ChannelRecord:
    """A channel's stored metadata and poll health."""

    id: int
    organisation: str
    platform: str
    handle: str
    name: str | None
    url: str | None
    followers: int | None
    last_poll_at: datetime | None
    last_poll_ok: bool | None
    last_success_at: datetime | None
    last_error_reason: str | None
    last_error_detail: str | None
    consecutive_failures: int
    profile_note: str | None = None  # what of the metadata the last profile read could not read
    moved_to: str | None = None  # the address a permanent redirect leads to (sealed, see redact)


@dataclass(frozen=True, slots=True)
class PostTime:
    """A dated post: when, and of which kind."""

    published_at: datetime
    kind: str


@dataclass(frozen=True, slots=True)
class PollContext:
    """What the next poll of a channel starts from."""

    newest_post_at: datetime | None
    checkpoint: Checkpoint
    last_poll_at: datetime | None
    last_poll_ok: bool | None
    consecutive_failures: int
    last_success_at: datetime | None = None  # None: never read successfully
    failing_since: datetime | None = None  # when the current run of failed polls began


@dataclass(frozen=True, slots=True)
class Retention:
    """Which of a channel's posts judging it reads (see ``cadence.assess``), so pruning keeps
    them: every post ``window`` before the moment it is judged; the counted posts less than
    ``reach`` older than the newest one, with the ``intervals`` distinct ones before those; and
    the ``newest`` dated posts of each kind, which every snapshot reads."""

    window: timedelta
    reach: timedelta
    intervals: int
    kinds: tuple[str, ...]  # the kinds that count
    newest: int


@dataclass(frozen=True, slots=True)
class StoreFault:
    """Polls of one channel that could not be stored since its last stored poll.

    Kept in memory while the store refuses them and laid over the stored record, so the
    channel shows a failing poll (reason ``storage``) instead of a success it never recorded.
    """

    since: datetime  # the first poll that could not be stored
    at: datetime  # the latest one
    failures: int
    detail: str

    def over(self, record: ChannelRecord) -> ChannelRecord:
        """``record`` as it would read had the failed polls been stored."""
        return replace(
            record,
            last_poll_at=self.at,
            last_poll_ok=False,
            last_error_reason=STORAGE_REASON,
            last_error_detail=self.detail,
            consecutive_failures=record.consecutive_failures + self.failures,
        )


STORAGE_REASON = "storage"
"""The poll error reason when the channel was read but the result could not be stored."""
