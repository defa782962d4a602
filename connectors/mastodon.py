"""Mastodon accounts through the public REST API, without a token.

The account is looked up on its own server (``/api/v1/accounts/lookup?acct=user``: lookup
skips WebFinger, so only the home server reliably knows it), or on ``base_url`` when set (a
proxy or a test server, asked for ``user@server``). The lookup is also the probe: when the
account id, ``statuses_count`` and ``last_status_at`` (a date, never used as a post time) are
unchanged, the poll ends there — one request.

Otherwise ``/api/v1/accounts/{id}/statuses?exclude_replies=true`` is read newest first,
following the ``Link`` header's ``next`` only for its ``max_id``: the request is rebuilt with
our own filters, which the server does not always carry over. Boosts are kind ``repost``,
the account's replies in its own threads kind ``reply``.
"""

from __future__ import annotations

import email.utils
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar, TypeVar

import httpx
from pydantic import AwareDatetime, BaseModel, TypeAdapter, ValidationError

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

FULL_PAGE = 40  # the server's maximum ``limit``: first poll and catching up
HEAD_PAGE = 20  # when ``since`` is known
QUOTA_ATTRIBUTE = "quota_used_ratio"  # read by the daemon with getattr() on errors
PROBE_KEYS = ("account_id", "statuses_count", "last_status_at")
_HANDLE = re.compile(r"@?([A-Za-z0-9_][A-Za-z0-9_.-]*)@([A-Za-z0-9.-]+\.[A-Za-z0-9-]+(?::\d+)?)")

T = TypeVar("T")


class _Moved(BaseModel):
    acct: str | None = None


class _Account(BaseModel):
    id: str
    username: str | None = None
    display_name: str | None = None
    url: str | None = None
    followers_count: int | None = None
    statuses_count: int
    last_status_at: str | None = None  # YYYY-MM-DD (older servers: a datetime)
    suspended: bool = False
    moved: _Moved | None = None


class _Status(BaseModel):
    id: str
    created_at: AwareDatetime
    in_reply_to_id: str | None = None
    in_reply_to_account_id: str | None = None
    reblog: dict[str, Any] | None = None


_ACCOUNT = TypeAdapter(_Account)
_STATUSES = TypeAdapter(list[_Status])


@dataclass
class _Page:
    posts: list[Post]
    order: list[datetime]  # the times the timeline is sorted by, for "reached since"
    next: str | None


@dataclass
class _Walk:
    posts: list[Post] = field(default_factory=list)
    pages: int = 0
    pending: str | None = None


@dataclass(frozen=True)
class _Resume:
    position: str  # a max_id
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


class MastodonConnector:
    """Reads public Mastodon accounts (``@user@server``)."""

    platform: ClassVar[str] = "mastodon"

    def __init__(self, client: httpx.AsyncClient, options: PlatformOptions) -> None:
        self._client = client
        self._base = options.base_url.rstrip("/") if options.base_url else None
        self._page_limit = max(1, options.page_limit)

    def public_url(self, channel: ChannelRef) -> str | None:
        """``https://{server}/@{user}``."""
        match = _HANDLE.fullmatch(channel.handle.strip())
        return f"https://{match[2]}/@{match[1]}" if match else None

    async def fetch(
        self,
        channel: ChannelRef,
        *,
        since: datetime | None,
        checkpoint: Checkpoint | None = None,
    ) -> FetchResult:
        """Look the account up; read its statuses at or after ``since`` if the probe moved."""
        match = _HANDLE.fullmatch(channel.handle.strip())
        if match is None:
            raise ChannelNotFound("not a Mastodon handle (@user@server)")
        user, server = match[1], match[2]
        poll = _Poll(self._client, self._base or f"https://{server}")
        acct = f"{user}@{server}" if self._base else user
        account = _parse(_ACCOUNT, await poll.get("accounts/lookup", {"acct": acct}), "account")
        if account.suspended:
            raise ChannelNotFound(f"@{user}@{server} is suspended on {server}")
        if account.moved is not None:
            target = f"@{account.moved.acct}" if account.moved.acct else "another account"
            raise ChannelNotFound(f"@{user}@{server} has moved to {target}")
        profile = Profile(
            name=account.display_name or account.username or user,
            url=account.url or f"https://{server}/@{user}",
            followers=account.followers_count,
        )
        extra = dict(checkpoint.extra) if checkpoint else {}
        probe = {
            "account_id": account.id,
            "statuses_count": str(account.statuses_count),
            "last_status_at": account.last_status_at or "",
        }
        previous = _Resume.from_extra(extra) if extra.get("account_id") == account.id else None
        if previous is None and all(extra.get(k) == probe[k] for k in PROBE_KEYS):
            return FetchResult(
                profile=profile,
                checkpoint=Checkpoint(extra=extra),
                not_modified=True,
                quota_used_ratio=poll.quota_used_ratio,
            )

        statuses = _Statuses(poll, account.id)
        head = await self._walk(
            statuses, None, since, self._page_limit, HEAD_PAGE if since else None
        )
        posts = head.posts
        if head.pending is not None:
            bound = since if previous is None else _wider(previous.bound, since)
            resume: _Resume | None = _Resume(head.pending, bound)
        elif previous is not None:  # the gap gets a page even when the head used the budget
            budget = max(1, self._page_limit - head.pages)
            rest = await self._walk(statuses, previous.position, previous.bound, budget, None)
            posts = posts + rest.posts
            resume = _Resume(rest.pending, previous.bound) if rest.pending else None
        else:
            resume = None
        return FetchResult(
            posts=_unique(posts),
            profile=profile,
            checkpoint=Checkpoint(extra={**probe, **(resume.to_extra() if resume else {})}),
            quota_used_ratio=poll.quota_used_ratio,
        )

    async def _walk(
        self,
        statuses: _Statuses,
        position: str | None,
        bound: datetime | None,
        budget: int,
        limit: int | None,
    ) -> _Walk:
        """Read pages newest first until one reaches ``bound``, the end, or the budget."""
        done = _Walk()
        while True:
            page = await statuses.page(position, limit or FULL_PAGE)
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
    """The requests of one ``fetch``: error translation and the rate-limit headers."""

    def __init__(self, client: httpx.AsyncClient, base: str) -> None:
        self._client = client
        self._base = base
        self.quota_used_ratio: float | None = None
        self._spent: RateLimited | None = None  # the server said no request is left

    async def get(self, path: str, params: Mapping[str, str]) -> Any:
        return (await self.response(path, params))[1]

    async def response(self, path: str, params: Mapping[str, str]) -> tuple[httpx.Response, Any]:
        """GET ``{base}/api/v1/{path}``; the response and its JSON body."""
        if self._spent is not None:  # asking again would only be refused
            raise self._spent
        with transport_errors():
            response = await self._client.get(f"{self._base}/api/v1/{path}", params=params)
        ratio = _quota(response.headers)
        if ratio is not None:
            self.quota_used_ratio = ratio
        error = _error(response)
        if error is None and ratio == 1.0:
            self._spent = RateLimited(
                f"no requests left at {safe_url(response.request.url)} (X-RateLimit-Remaining: 0)",
                retry_after=_until_reset(response),
            )
            setattr(self._spent, QUOTA_ATTRIBUTE, 1.0)
        if error is not None:
            setattr(error, QUOTA_ATTRIBUTE, self.quota_used_ratio)
            raise error
        try:
            return response, response.json()
        except ValueError:
            raise Malformed(
                f"expected JSON from {safe_url(response.request.url)}", status=response.status_code
            ) from None


class _Statuses:
    """Pages of one account's statuses, replies to other accounts left out."""

    def __init__(self, poll: _Poll, account_id: str) -> None:
        self._poll = poll
        self._account_id = account_id

    async def page(self, max_id: str | None, limit: int) -> _Page:
        params = {"exclude_replies": "true", "limit": str(limit)}
        if max_id is not None:
            params["max_id"] = max_id
        path = f"accounts/{self._account_id}/statuses"
        response, body = await self._poll.response(path, params)
        statuses = _parse(_STATUSES, body, "statuses")
        posts = [p for s in statuses if (p := self._post(s)) is not None]
        order = [s.created_at.astimezone(UTC) for s in statuses]
        return _Page(posts=posts, order=order, next=_next(response, statuses))

    def _post(self, status: _Status) -> Post | None:
        kind: PostKind = "post"
        if status.reblog is not None:
            kind = "repost"
        elif status.in_reply_to_id is not None:
            if status.in_reply_to_account_id not in (None, self._account_id):
                return None  # a reply to someone else: exclude_replies, applied again
            kind = "reply"
        return Post(post_id=status.id, published_at=status.created_at.astimezone(UTC), kind=kind)


def _next(response: httpx.Response, statuses: list[_Status]) -> str | None:
    """The ``max_id`` of the ``Link`` header's ``next``; None at the end."""
    link = response.links.get("next", {}).get("url")
    if not link or not statuses:
        return None
    try:
        max_id: str | None = httpx.URL(link).params.get("max_id")
    except httpx.InvalidURL:
        max_id = None
    return max_id or statuses[-1].id


def _error(response: httpx.Response) -> ConnectorError | None:
    status = response.status_code
    if response.is_success:
        return None
    where = safe_url(response.request.url)
    text = _error_text(response)
    detail = f"Mastodon HTTP {status} from {where}" + (f": {text}" if text else "")
    if status == 401:
        return AuthFailed(
            f"{detail} — this server does not let its public posts be read without a token",
            status=401,
        )
    if status in (404, 410):
        return ChannelNotFound(f"{detail} — no such account on this server", status=status)
    if status == 429:
        retry = parse_retry_after(response.headers.get("retry-after"))
        if retry is None:
            retry = _until_reset(response)
        return RateLimited(detail, status=429, retry_after=retry)
    return error_for_status(response, text)


def _error_text(response: httpx.Response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    text = body.get("error") if isinstance(body, dict) else None
    return str(text)[:300] if text else None


def _quota(headers: httpx.Headers) -> float | None:
    """``1 - remaining/limit`` from the ``X-RateLimit-*`` headers."""
    try:
        limit = float(headers["x-ratelimit-limit"])
        remaining = float(headers["x-ratelimit-remaining"])
    except (KeyError, ValueError):
        return None
    if limit <= 0:
        return None
    return min(1.0, max(0.0, 1.0 - remaining / limit))


def _until_reset(response: httpx.Response) -> float | None:
    """Seconds until ``X-RateLimit-Reset`` (ISO 8601), by the server's clock if it sent one."""
    raw = response.headers.get("x-ratelimit-reset")
    if not raw:
        return None
    try:
        reset = datetime.fromisoformat(raw.strip())
    except ValueError:
        return None
    if reset.tzinfo is None:
        reset = reset.replace(tzinfo=UTC)
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
        raise Malformed(f"unexpected Mastodon {where} payload: {', '.join(fields[:5])}") from None


def _unique(posts: list[Post]) -> tuple[Post, ...]:
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
