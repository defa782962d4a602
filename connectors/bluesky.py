"""Bluesky accounts through the public AppView (``public.api.bsky.app``), without a token.

``app.bsky.actor.getProfile`` gives the name, followers and ``postsCount``, which is the
probe: while the DID and ``postsCount`` are unchanged the poll is that one request. Reposts
do not move ``postsCount``, so the feed is also read when it was last read a day ago or more
(by the response ``Date`` header).

``app.bsky.feed.getAuthorFeed?filter=posts_no_replies`` is read newest first with its cursor.
Reposts (``reasonRepost``) are kind ``repost``, dated when reposted. A pinned post
(``reasonPin``) is listed once, dated as itself, and its place at the top of the feed never
counts as reaching ``since``. ``createdAt`` is client-supplied: the feed is ordered by
``min(createdAt, indexedAt)`` and a post is dated so, which is also what the AppView may serve as
``indexedAt`` (its ``sortedAt``): a future ``createdAt`` is dated when indexed, a backdated import
(a post "archived from" years ago) keeps its old date and is never a fresh post, whichever
``indexedAt`` is served.

The AppView filters a page after paging (blocks, deleted subjects) and keeps the cursor, so a
short or empty page is not the end: only a missing cursor is, or one that does not move.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, TypeVar

import httpx
from pydantic import AwareDatetime, BaseModel, Field, TypeAdapter

from connectors._paging import Page, Resume, catch_up, from_unix, resume_extra, unchanged, unix
from connectors._rest import Poll, retry_after, seconds_until, validated
from connectors.base import (
    ChannelRef,
    Checkpoint,
    FetchResult,
    PlatformOptions,
    Post,
    PostKind,
    Profile,
)
from connectors.errors import (
    AuthFailed,
    ChannelNotFound,
    ConnectorError,
    RateLimited,
    error_for_status,
    payload_guarded,
    safe_url,
)

DEFAULT_BASE_URL = "https://public.api.bsky.app"
FULL_PAGE = 100  # getAuthorFeed's maximum ``limit``: first poll and catching up
HEAD_PAGE = 25  # when ``since`` is known
FEED_EVERY = timedelta(days=1)
REPOST = "app.bsky.feed.defs#reasonRepost"
PIN = "app.bsky.feed.defs#reasonPin"
INVALID_HANDLE = "handle.invalid"  # what the AppView shows when a handle fails verification
_HANDLE = re.compile(
    r"@?((?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z][A-Za-z0-9-]*"
    r"|did:[a-z]+:[A-Za-z0-9._:%-]+)"
)
_GONE = {"AccountTakedown": "suspended", "AccountDeactivated": "deactivated"}

T = TypeVar("T")


class _Profile(BaseModel):
    did: str
    handle: str
    displayName: str | None = None
    followersCount: int | None = None
    postsCount: int | None = None


class _Author(BaseModel):
    did: str


class _PostView(BaseModel):
    uri: str
    author: _Author
    record: dict[str, Any]
    indexedAt: AwareDatetime


class _Reason(BaseModel):
    type: str = Field(default="", alias="$type")
    uri: str | None = None
    indexedAt: AwareDatetime | None = None


class _Item(BaseModel):
    post: _PostView
    reason: _Reason | None = None


class _Feed(BaseModel):
    feed: list[_Item]
    cursor: str | None = None


_PROFILE = TypeAdapter(_Profile)
_FEED = TypeAdapter(_Feed)


class BlueskyConnector:
    """Reads public Bluesky accounts (by handle or DID)."""

    platform: ClassVar[str] = "bluesky"

    def __init__(self, client: httpx.AsyncClient, options: PlatformOptions) -> None:
        self._client = client
        self._base = (options.base_url or DEFAULT_BASE_URL).rstrip("/")
        self._page_limit = max(1, options.page_limit)

    def public_url(self, channel: ChannelRef) -> str | None:
        """``https://bsky.app/profile/{handle}``."""
        match = _HANDLE.fullmatch(channel.handle.strip())
        return f"https://bsky.app/profile/{match[1]}" if match else None

    @payload_guarded
    async def fetch(
        self,
        channel: ChannelRef,
        *,
        since: datetime | None,
        checkpoint: Checkpoint | None = None,
    ) -> FetchResult:
        """Read the profile; read the feed at or after ``since`` if the probe moved."""
        match = _HANDLE.fullmatch(channel.handle.strip())
        if match is None:
            raise ChannelNotFound("not a Bluesky handle or DID")
        actor = match[1]
        poll = Poll(
            self._client,
            f"{self._base}/xrpc",
            _error,
            rate_limit="RateLimit",
            until_reset=_until_reset,
        )
        found = _parse(
            _PROFILE, await poll.get("app.bsky.actor.getProfile", {"actor": actor}), "profile"
        )
        profile = Profile(
            name=found.displayName or (actor if found.handle == INVALID_HANDLE else found.handle),
            url=f"https://bsky.app/profile/{actor}",
            followers=found.followersCount,
        )
        extra = dict(checkpoint.extra) if checkpoint else {}
        same_account = extra.get("did") == found.did
        previous = Resume.from_extra(extra) if same_account else None
        now = poll.server_time
        last_read = from_unix(extra.get("feed_at"))
        feed_due = now is not None and (last_read is None or now - last_read >= FEED_EVERY)
        count = str(found.postsCount) if found.postsCount is not None else None
        if (
            same_account
            and count is not None
            and extra.get("posts_count") == count
            and previous is None
            and not feed_due
        ):
            return unchanged(profile, extra, poll.quota_used_ratio)

        posts, resume = await catch_up(
            _AuthorFeed(poll, found.did).page,
            since=since,
            previous=previous,
            budget=self._page_limit,
            full_size=FULL_PAGE,
            head_size=HEAD_PAGE,
            give_up_unreadable_gap=True,  # a cursor the AppView no longer takes
        )
        new_extra = {"did": found.did}
        if count is not None:
            new_extra["posts_count"] = count
        if now is not None:
            new_extra["feed_at"] = unix(now)
        elif "feed_at" in extra:
            new_extra["feed_at"] = extra["feed_at"]
        new_extra.update(resume_extra(resume))
        return FetchResult(
            posts=posts,
            profile=profile,
            checkpoint=Checkpoint(extra=new_extra),
            quota_used_ratio=poll.quota_used_ratio,
        )


class _AuthorFeed:
    """Pages of one account's author feed, replies to other accounts left out."""

    def __init__(self, poll: Poll, did: str) -> None:
        self._poll = poll
        self._did = did

    async def page(self, cursor: str | None, limit: int) -> Page:
        params = {"actor": self._did, "filter": "posts_no_replies", "limit": str(limit)}
        if cursor is not None:
            params["cursor"] = cursor
        body = _parse(_FEED, await self._poll.get("app.bsky.feed.getAuthorFeed", params), "feed")
        posts: list[Post] = []
        times: list[datetime] = []  # the times the feed is sorted by (pins left out)
        for item in body.feed:
            post, order = self._read(item)
            if post is not None:
                posts.append(post)
            if order is not None:
                times.append(order)
        # getAuthorFeed.ts: filtered after paging, so short or empty pages keep their cursor;
        # util.ts fillPage: a cursor that comes back unchanged means the end
        more = body.cursor if body.cursor != cursor else None
        return Page(posts=posts, order=times, next=more)

    def _read(self, item: _Item) -> tuple[Post | None, datetime | None]:
        """The post an item stands for (None: not the account's) and its place in the feed."""
        view, reason = item.post, item.reason
        indexed = view.indexedAt.astimezone(UTC)
        if reason is not None and reason.type == REPOST:
            when = reason.indexedAt.astimezone(UTC) if reason.indexedAt else indexed
            post_id = reason.uri or f"{view.uri}#repost-{unix(when)}"
            return Post(post_id=post_id, published_at=when, kind="repost"), when
        created = _created(view.record) or indexed
        order = min(created, indexed)
        kind: PostKind = "post"
        parent = _reply_parent(view.record)
        if parent is not None:
            if not parent.startswith(f"at://{self._did}/"):
                return None, order  # a reply to someone else: posts_no_replies, applied again
            kind = "reply"
        # min() is also what an AppView serving sortedAt as indexedAt shows (views/index.ts)
        post = Post(post_id=view.uri, published_at=order, kind=kind)
        return post, (None if reason is not None and reason.type == PIN else order)


def _created(record: Mapping[str, Any]) -> datetime | None:
    raw = record.get("createdAt")
    if not isinstance(raw, str):
        return None
    try:
        when = datetime.fromisoformat(raw)
    except ValueError:
        return None
    return when.astimezone(UTC) if when.tzinfo is not None else when.replace(tzinfo=UTC)


def _reply_parent(record: Mapping[str, Any]) -> str | None:
    """The URI a post replies to, or None for a top-level post."""
    reply = record.get("reply")
    if not isinstance(reply, dict):
        return None
    parent = reply.get("parent")
    uri = parent.get("uri") if isinstance(parent, dict) else None
    return uri if isinstance(uri, str) else ""


def _error(response: httpx.Response) -> ConnectorError | None:
    status = response.status_code
    if response.is_success:
        return None
    where = safe_url(response.request.url)
    name, message = _error_body(response)
    text = ": ".join(x for x in (name, message) if x)
    detail = f"Bluesky HTTP {status} from {where}" + (f": {text}" if text else "")
    if name in _GONE:
        return ChannelNotFound(f"{detail} — the account is {_GONE[name]}", status=status)
    if status == 400 and "not found" in message.lower():
        return ChannelNotFound(detail, status=status)
    if status in (401, 403):
        return AuthFailed(
            f"{detail} — the public AppView needs no token; whatever answered asks for one",
            status=status,
        )
    if status == 429:
        return RateLimited(detail, status=429, retry_after=retry_after(response, _until_reset))
    return error_for_status(response, text or None)


def _error_body(response: httpx.Response) -> tuple[str, str]:
    try:
        body = response.json()
    except ValueError:
        return "", ""
    if not isinstance(body, dict):
        return "", ""
    return str(body.get("error") or "")[:100], str(body.get("message") or "")[:300]


def _until_reset(response: httpx.Response) -> float | None:
    """Seconds until ``RateLimit-Reset`` (unix seconds), by the server's clock if it sent one."""
    raw = response.headers.get("ratelimit-reset", "")
    try:
        reset = datetime.fromtimestamp(float(raw), UTC)
    except (ValueError, OverflowError, OSError):
        return None
    return seconds_until(reset, response)


def _parse(adapter: TypeAdapter[T], payload: object, where: str) -> T:
    """Validate a payload; a mismatch is ``Malformed`` naming the fields, never their values."""
    return validated(adapter.validate_python, payload, f"unexpected Bluesky {where} payload")
