"""The one interface every platform connector implements, and the values it returns.

Connectors are thin adapters: they receive an ``httpx.AsyncClient`` and a channel, talk to
one platform, and return frozen values. They never build clients, read the environment,
sleep, retry, log secrets or touch the database; the daemon does all of that.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import ClassVar, Literal, Protocol

import httpx

RESUME_KEY = "resume"  # Checkpoint.extra: where an unfinished read of older posts goes on

PostKind = Literal["post", "reply", "repost"]
POST_KINDS: tuple[PostKind, ...] = ("post", "reply", "repost")


@dataclass(frozen=True, slots=True)
class Post:
    """One publication on a channel; only its identity, time and kind are kept."""

    post_id: str
    published_at: datetime | None  # timezone-aware UTC; None when the platform gives no date
    kind: PostKind = "post"

    def __post_init__(self) -> None:
        if self.published_at is not None and self.published_at.utcoffset() is None:
            raise ValueError("Post.published_at must be timezone-aware")


@dataclass(frozen=True, slots=True)
class Profile:
    """Public metadata of a channel, where the platform reports it."""

    name: str | None = None
    url: str | None = None
    followers: int | None = None
    note: str | None = None  # for people: what of the above could not be read, and why


MOVED_TO = "moved_to"
"""A ``Checkpoint.extra`` key: the channel's new address after a permanent move (a feed's 301 or
308), read from then on. The daemon shows it so that people update the configuration."""


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """What a connector remembers between polls of one channel.

    ``etag``/``last_modified`` drive conditional requests; ``extra`` holds small
    platform-specific probes (a media count, a cursor) as strings. The daemon stores it with
    the posts of the same poll, in one transaction, and hands it back on the next poll.
    """

    etag: str | None = None
    last_modified: str | None = None
    extra: Mapping[str, str] = field(default_factory=dict)

    @property
    def backlog(self) -> bool:
        """Older posts remain unread: the poll stopped at its page budget, and the next poll
        picks up at the position kept under ``RESUME_KEY``."""
        return bool(self.extra.get(RESUME_KEY))


@dataclass(frozen=True, slots=True)
class ChannelRef:
    """The channel to read: its handle as configured (a URL for ``rss``)."""

    handle: str


@dataclass(frozen=True, slots=True)
class FetchResult:
    """The outcome of one successful poll."""

    posts: tuple[Post, ...] = ()
    profile: Profile | None = None
    checkpoint: Checkpoint = field(default_factory=Checkpoint)
    not_modified: bool = False  # the platform said nothing changed (HTTP 304 or a cheap probe)
    quota_used_ratio: float | None = None  # from the platform's usage headers, 0..1


@dataclass(frozen=True, slots=True)
class PlatformOptions:
    """Per-platform settings a connector needs; secrets stay out of ``repr``."""

    base_url: str | None = None
    api_version: str | None = None
    access_token: str | None = field(default=None, repr=False)
    app_secret: str | None = field(default=None, repr=False)  # Graph: signs every request
    account_id: str | None = None
    page_limit: int = 5  # most pages read in one poll; the rest is picked up next time


class Connector(Protocol):
    """Reads one platform. One instance serves every channel of that platform."""

    platform: ClassVar[str]

    def __init__(self, client: httpx.AsyncClient, options: PlatformOptions) -> None: ...

    async def fetch(
        self,
        channel: ChannelRef,
        *,
        since: datetime | None,
        checkpoint: Checkpoint,
    ) -> FetchResult:
        """Read the channel's profile and posts newer than ``since`` (all recent posts if None)."""
        ...

    def public_url(self, channel: ChannelRef) -> str | None:
        """The channel's public web address, for people; never carries a token."""
        ...


def unique_posts(posts: Iterable[Post]) -> tuple[Post, ...]:
    """Each post once, where it was first seen (feeds repeat a guid, pages shift, a pinned
    post comes twice)."""
    seen: dict[str, Post] = {}
    for post in posts:
        seen.setdefault(post.post_id, post)
    return tuple(seen.values())


def utc(value: datetime) -> datetime:
    """Return ``value`` as timezone-aware UTC (naive values are taken to be UTC)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)
