"""Bluesky accounts through the public AppView (``public.api.bsky.app``), without a token.

``app.bsky.actor.getProfile`` gives the name, followers and ``postsCount``, which is the
probe: while the DID and ``postsCount`` are unchanged the poll is that one request. Reposts
do not move ``postsCount``, so the feed is also read when it was last read a day ago or more
(by the response ``Date`` header).

``app.bsky.feed.getAuthorFeed?filter=posts_no_replies`` is read newest first with its cursor.
Reposts (``reasonRepost``) are kind ``repost``, dated when reposted. A pinned post
(``reasonPin``) is listed once, dated as itself, and its place at the top of the feed never
counts as reaching ``since``. ``createdAt`` is client-supplied: the feed is ordered by
``min(createdAt, indexedAt)``, and a post is dated ``indexedAt`` when ``createdAt`` is later
(a future date) or earlier than the network itself (an import).
"""

from __future__ import annotations

import email.utils
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, TypeVar

import httpx
from pydantic import AwareDatetime, BaseModel, Field, TypeAdapter, ValidationError

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
    Malformed,
    RateLimited,
    error_for_status,
    parse_retry_after,
    safe_url,
    transport_errors,
)

DEFAULT_BASE_URL = "https://public.api.bsky.app"
FULL_PAGE = 100  # getAuthorFeed's maximum ``limit``: first poll and catching up
HEAD_PAGE = 25  # when ``since`` is known
FEED_EVERY = timedelta(days=1)
NETWORK_OPENED = datetime(2022, 11, 1, tzinfo=UTC)  # no Bluesky post is older than this
QUOTA_ATTRIBUTE = "quota_used_ratio"  # read by the daemon with getattr() on errors
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


@dataclass
class _Page:
    posts: list[Post]
    order: list[datetime]  # the times the feed is sorted by (pins left out)
    next: str | None


@dataclass
class _Walk:
    posts: list[Post] = field(default_factory=list)
    pages: int = 0
    pending: str | None = None


@dataclass(frozen=True)
class _Resume:
    position: str  # a cursor
    bound: datetime | None

    @classmethod
    def from_extra(cls, extra: Mapping[str, str]) -> _Resume | None:
        position = extra.get("resume")
        if not position:
            return None
        return cls(position, _from_unix(extra.get("resume_since")))

    def to_extra(self) -> dict[str, str]:
        bound = {"resume_since": _unix(self.bound)} if self.bound else {}
        return {"resume": self.position, **bound}


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
        poll = _Poll(self._client, self._base)
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
        previous = _Resume.from_extra(extra) if same_account else None
        now = poll.server_time
        last_read = _from_unix(extra.get("feed_at"))
        feed_due = now is not None and (last_read is None or now - last_read >= FEED_EVERY)
        count = str(found.postsCount) if found.postsCount is not None else None
        if (
            same_account
            and count is not None
            and extra.get("posts_count") == count
            and previous is None
            and not feed_due
        ):
            return FetchResult(
                profile=profile,
                checkpoint=Checkpoint(extra=extra),
                not_modified=True,
                quota_used_ratio=poll.quota_used_ratio,
            )

        feed = _AuthorFeed(poll, found.did)
        head = await self._walk(feed, None, since, self._page_limit, HEAD_PAGE if since else None)
        posts = head.posts
        if head.pending is not None:
            bound = since if previous is None else _wider(previous.bound, since)
            resume: _Resume | None = _Resume(head.pending, bound)
        elif previous is not None:  # the gap gets a page even when the head used the budget
            budget = max(1, self._page_limit - head.pages)
            try:
                rest = await self._walk(feed, previous.position, previous.bound, budget, None)
            except Malformed:  # a cursor the AppView no longer takes: give the gap up
                rest = _Walk()
            posts = posts + rest.posts
            resume = _Resume(rest.pending, previous.bound) if rest.pending else None
        else:
            resume = None
        new_extra = {"did": found.did}
        if count is not None:
            new_extra["posts_count"] = count
        if now is not None:
            new_extra["feed_at"] = _unix(now)
        elif "feed_at" in extra:
            new_extra["feed_at"] = extra["feed_at"]
        new_extra.update(resume.to_extra() if resume else {})
        return FetchResult(
            posts=_unique(posts),
            profile=profile,
            checkpoint=Checkpoint(extra=new_extra),
            quota_used_ratio=poll.quota_used_ratio,
        )

    async def _walk(
        self,
        feed: _AuthorFeed,
        position: str | None,
        bound: datetime | None,
        budget: int,
        limit: int | None,
    ) -> _Walk:
        """Read pages newest first until one reaches ``bound``, the end, or the budget."""
        done = _Walk()
        while True:
            page = await feed.page(position, limit or FULL_PAGE)
            done.pages += 1
            done.posts.extend(
                p
                for p in page.posts
                if bound is None or not p.published_at or p.published_at >= bound
            )
            reached = bound is not None and any(t <= bound for t in page.order)
            if reached or page.next is None:
                return done
            if done.pages >= budget:
                done.pending = page.next
                return done
            position = page.next


class _Poll:
    """The requests of one ``fetch``: error translation, rate-limit headers, server clock."""

    def __init__(self, client: httpx.AsyncClient, base: str) -> None:
        self._client = client
        self._base = base
        self.quota_used_ratio: float | None = None
        self.server_time: datetime | None = None
        self._spent: RateLimited | None = None  # the AppView said no request is left

    async def get(self, method: str, params: Mapping[str, str]) -> Any:
        """GET ``{base}/xrpc/{method}`` and return its JSON body."""
        if self._spent is not None:  # asking again would only be refused
            raise self._spent
        with transport_errors():
            response = await self._client.get(f"{self._base}/xrpc/{method}", params=params)
        self.server_time = self.server_time or _date(response)
        ratio = _quota(response.headers)
        if ratio is not None:
            self.quota_used_ratio = ratio
        error = _error(response)
        if error is None and ratio == 1.0:
            self._spent = RateLimited(
                f"no requests left at {safe_url(response.request.url)} (RateLimit-Remaining: 0)",
                retry_after=_until_reset(response),
            )
            setattr(self._spent, QUOTA_ATTRIBUTE, 1.0)
        if error is not None:
            setattr(error, QUOTA_ATTRIBUTE, self.quota_used_ratio)
            raise error
        try:
            return response.json()
        except ValueError:
            raise Malformed(
                f"expected JSON from {safe_url(response.request.url)}", status=response.status_code
            ) from None


class _AuthorFeed:
    """Pages of one account's author feed, replies to other accounts left out."""

    def __init__(self, poll: _Poll, did: str) -> None:
        self._poll = poll
        self._did = did

    async def page(self, cursor: str | None, limit: int) -> _Page:
        params = {"actor": self._did, "filter": "posts_no_replies", "limit": str(limit)}
        if cursor is not None:
            params["cursor"] = cursor
        body = _parse(_FEED, await self._poll.get("app.bsky.feed.getAuthorFeed", params), "feed")
        page = _Page(posts=[], order=[], next=body.cursor if body.feed else None)
        for item in body.feed:
            post, order = self._read(item)
            if post is not None:
                page.posts.append(post)
            if order is not None:
                page.order.append(order)
        return page

    def _read(self, item: _Item) -> tuple[Post | None, datetime | None]:
        """The post an item stands for (None: not the account's) and its place in the feed."""
        view, reason = item.post, item.reason
        indexed = view.indexedAt.astimezone(UTC)
        if reason is not None and reason.type == REPOST:
            when = reason.indexedAt.astimezone(UTC) if reason.indexedAt else indexed
            post_id = reason.uri or f"{view.uri}#repost-{_unix(when)}"
            return Post(post_id=post_id, published_at=when, kind="repost"), when
        created = _created(view.record) or indexed
        order = min(created, indexed)
        kind: PostKind = "post"
        parent = _reply_parent(view.record)
        if parent is not None:
            if not parent.startswith(f"at://{self._did}/"):
                return None, order  # a reply to someone else: posts_no_replies, applied again
            kind = "reply"
        published = indexed if created < NETWORK_OPENED else order
        post = Post(post_id=view.uri, published_at=published, kind=kind)
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
        retry = parse_retry_after(response.headers.get("retry-after"))
        if retry is None:
            retry = _until_reset(response)
        return RateLimited(detail, status=429, retry_after=retry)
    return error_for_status(response, text or None)


def _error_body(response: httpx.Response) -> tuple[str, str]:
    try:
        body = response.json()
    except ValueError:
        return "", ""
    if not isinstance(body, dict):
        return "", ""
    return str(body.get("error") or "")[:100], str(body.get("message") or "")[:300]


def _quota(headers: httpx.Headers) -> float | None:
    """``1 - remaining/limit`` from the ``RateLimit-*`` headers."""
    try:
        limit = float(headers["ratelimit-limit"])
        remaining = float(headers["ratelimit-remaining"])
    except (KeyError, ValueError):
        return None
    if limit <= 0:
        return None
    return min(1.0, max(0.0, 1.0 - remaining / limit))


def _until_reset(response: httpx.Response) -> float | None:
    """Seconds until ``RateLimit-Reset`` (unix seconds), by the server's clock if it sent one."""
    raw = response.headers.get("ratelimit-reset", "")
    try:
        reset = datetime.fromtimestamp(float(raw), UTC)
    except (ValueError, OverflowError, OSError):
        return None
    now = _date(response) or datetime.now(UTC)
    return max(0.0, (reset - now).total_seconds())


def _date(response: httpx.Response) -> datetime | None:
    try:
        when = email.utils.parsedate_to_datetime(response.headers.get("date", ""))
    except (TypeError, ValueError, IndexError):
        return None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def _parse(adapter: TypeAdapter[T], payload: object, where: str) -> T:
    """Validate a payload; a mismatch is ``Malformed`` naming the fields, never their values."""
    try:
        return adapter.validate_python(payload)
    except ValidationError as exc:
        fields = sorted({".".join(str(p) for p in e["loc"]) or "(root)" for e in exc.errors()})
        raise Malformed(f"unexpected Bluesky {where} payload: {', '.join(fields[:5])}") from None


def _unique(posts: list[Post]) -> tuple[Post, ...]:
    """Each post once: a pinned post also appears at its own place in the feed."""
    seen: dict[str, Post] = {}
    for post in posts:
        seen.setdefault(post.post_id, post)
    return tuple(seen.values())


def _unix(value: datetime) -> str:
    return str(int(value.timestamp()))


def _from_unix(value: str | None) -> datetime | None:
    if value is None or not value.isdigit():
        return None
    return datetime.fromtimestamp(int(value), UTC)


def _wider(a: datetime | None, b: datetime | None) -> datetime | None:
    return None if a is None or b is None else min(a, b)
