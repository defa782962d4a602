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

import re
from datetime import UTC, datetime
from typing import Any, ClassVar, TypeVar

import httpx
from pydantic import AwareDatetime, BaseModel, TypeAdapter

from connectors._paging import Page, Resume, catch_up, resume_extra, unchanged
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
    safe_url,
)

FULL_PAGE = 40  # the server's maximum ``limit``: first poll and catching up
HEAD_PAGE = 20  # when ``since`` is known
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
        api = self._base or f"https://{server}"
        poll = Poll(
            self._client,
            f"{api}/api/v1",
            _error,
            rate_limit="X-RateLimit",
            until_reset=_until_reset,
        )
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
        previous = Resume.from_extra(extra) if extra.get("account_id") == account.id else None
        if previous is None and all(extra.get(k) == probe[k] for k in PROBE_KEYS):
            return unchanged(profile, extra, poll.quota_used_ratio)

        posts, resume = await catch_up(
            _Statuses(poll, account.id).page,
            since=since,
            previous=previous,
            budget=self._page_limit,
            full_size=FULL_PAGE,
            head_size=HEAD_PAGE,
        )
        return FetchResult(
            posts=posts,
            profile=profile,
            checkpoint=Checkpoint(extra={**probe, **resume_extra(resume)}),
            quota_used_ratio=poll.quota_used_ratio,
        )


class _Statuses:
    """Pages of one account's statuses, replies to other accounts left out."""

    def __init__(self, poll: Poll, account_id: str) -> None:
        self._poll = poll
        self._account_id = account_id

    async def page(self, max_id: str | None, limit: int) -> Page:
        params = {"exclude_replies": "true", "limit": str(limit)}
        if max_id is not None:
            params["max_id"] = max_id
        path = f"accounts/{self._account_id}/statuses"
        response, body = await self._poll.response(path, params)
        statuses = _parse(_STATUSES, body, "statuses")
        posts = [p for s in statuses if (p := self._post(s)) is not None]
        order = [s.created_at.astimezone(UTC) for s in statuses]
        return Page(posts=posts, order=order, next=_next(response, statuses))

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
        return RateLimited(detail, status=429, retry_after=retry_after(response, _until_reset))
    return error_for_status(response, text)


def _error_text(response: httpx.Response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    text = body.get("error") if isinstance(body, dict) else None
    return str(text)[:300] if text else None


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
    return seconds_until(reset, response)


def _parse(adapter: TypeAdapter[T], payload: object, where: str) -> T:
    """Validate a payload; a mismatch is ``Malformed`` naming the fields, never their values."""
    return validated(adapter.validate_python, payload, f"unexpected Mastodon {where} payload")
