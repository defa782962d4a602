"""Mastodon accounts through the public REST API, without a token.

Where an account is read: on ``base_url`` when set (a proxy or a test server, asked for
``user@server``); else on the server its handle names (``/api/v1/accounts/lookup?acct=user``:
lookup skips WebFinger, so only the home server reliably knows it); and when that answers as
no Mastodon API does (a website's 404 or HTML page: the handle's domain is the server's
``LOCAL_DOMAIN`` while it runs at ``WEB_DOMAIN``), on the host WebFinger on the handle's domain
names. The host is kept in the checkpoint; when it stops answering or no longer knows the
account, the account is looked up again, once.

The probe is the top of the account's statuses (``limit=1``): a new status always gets a larger
id than every older one, so a delete and a new post on one day cannot cancel out as they do in
``statuses_count`` and ``last_status_at`` (a date). The status brings its account, so name and
followers come with it and an unchanged poll is that one request.

Otherwise ``/api/v1/accounts/{id}/statuses?exclude_replies=true`` is read newest first, following
the ``Link`` header's ``next`` only for its ``max_id``: the request is rebuilt with our own
filters, which servers do not always carry over, and only a missing ``next`` ends the listing
(GoToSocial filters a page after paging and may send it short or empty, still linking on).
Boosts are kind ``repost``, the account's replies in its own threads kind ``reply``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar, TypeVar

import httpx
from pydantic import AwareDatetime, BaseModel, TypeAdapter, field_validator

from connectors import _webfinger as webfinger
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
    Malformed,
    RateLimited,
    Transient,
    error_for_status,
    payload_guarded,
    safe_url,
)

FULL_PAGE = 40  # the server's maximum ``limit``: first poll and catching up
HEAD_PAGE = 20  # when ``since`` is known
_HANDLE = re.compile(
    r"@?([A-Za-z0-9_][A-Za-z0-9_.-]*)@((?:[A-Za-z0-9.-]+\.[A-Za-z0-9-]+|localhost)(?::\d+)?)"
)

T = TypeVar("T")


class _Moved(BaseModel):
    acct: str | None = None


class _Account(BaseModel):
    id: str
    username: str | None = None
    acct: str | None = None  # no domain for the server's own accounts
    display_name: str | None = None
    url: str | None = None
    followers_count: int | None = None
    suspended: bool = False
    moved: _Moved | None = None

    @field_validator("followers_count")
    @classmethod
    def _hidden(cls, value: int | None) -> int | None:
        return None if value is not None and value < 0 else value  # -1: hidden by the owner


class _Status(BaseModel):
    id: str
    created_at: AwareDatetime
    in_reply_to_id: str | None = None
    in_reply_to_account_id: str | None = None
    reblog: dict[str, Any] | None = None
    account: _Account | None = None


_ACCOUNT = TypeAdapter(_Account)
_STATUSES = TypeAdapter(list[_Status])


@dataclass(frozen=True)
class _Home:
    """Where an account is read: the API's origin, and the ``acct`` it is known by there."""

    api: str
    acct: str


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

    @payload_guarded
    async def fetch(
        self,
        channel: ChannelRef,
        *,
        since: datetime | None,
        checkpoint: Checkpoint | None = None,
    ) -> FetchResult:
        """Probe the top of the statuses; if it moved, read those at or after ``since``."""
        match = _HANDLE.fullmatch(channel.handle.strip())
        if match is None:
            raise ChannelNotFound("not a Mastodon handle (@user@server)")
        user, server = match[1], match[2]
        extra = dict(checkpoint.extra) if checkpoint else {}
        home, account_id = self._remembered(extra, user, server)
        reader = self._reader(home)
        previous = Resume.from_extra(extra)
        account: _Account | None = None
        failure: ConnectorError | None = None
        top: str | None = None  # the top of the listing, when the probe saw it
        if account_id is not None:
            try:
                top, account = await _Statuses(reader, account_id).probe()
            except (ChannelNotFound, Transient) as exc:
                if isinstance(exc, Transient) and exc.status is not None:
                    raise  # a server error: the host is there, and so is the account
                failure = exc  # gone from there, or no answer: look it up again
            if account is not None:
                _usable(account, user, server)
            # no status shown for an unchanged top: GoToSocial may hide it after paging
            if previous is None and top and top == extra.get("newest"):
                profile = _profile(account, user, server) if account else None
                return unchanged(profile, extra, reader.quota_used_ratio)
        if account is None:
            home, account, reader = await self._locate(user, server, home, failure)
            _usable(account, user, server)
            if (extra.get("api"), extra.get("account_id")) != (home.api, account.id):
                previous = top = None
        profile = _profile(account, user, server)
        if previous is None and top == "" and extra.get("newest") == "":
            return unchanged(profile, extra, reader.quota_used_ratio)  # still no status at all
        return await self._read(reader, home, account, profile, since=since, previous=previous)

    def _remembered(
        self, extra: dict[str, str], user: str, server: str
    ) -> tuple[_Home, str | None]:
        """Where the account was read last time and its id there; the default home if unknown.

        A remembered host counts only where it could have been found now: ``base_url`` when set,
        else an https host (the handle's server or one WebFinger named).
        """
        default = (
            _Home(self._base, f"{user}@{server}")
            if self._base
            else _Home(f"https://{server}", user)
        )
        api, acct, account_id = extra.get("api"), extra.get("acct"), extra.get("account_id")
        if not (api and acct and account_id):
            return default, None
        if (api == self._base) if self._base else api.startswith("https://"):
            return _Home(api, acct), account_id
        return default, None

    def _reader(self, home: _Home) -> Poll:
        return Poll(
            self._client,
            f"{home.api}/api/v1",
            _error,
            rate_limit="X-RateLimit",
            until_reset=_until_reset,
        )

    async def _locate(
        self, user: str, server: str, home: _Home, failure: ConnectorError | None
    ) -> tuple[_Home, _Account, Poll]:
        """Look the account up at ``home``, else where WebFinger on ``server`` points.

        ``failure`` is why ``home`` did not serve an account known there (None: nothing was
        tried yet); a host that did not answer is not asked again. WebFinger is asked at most
        once, never with ``base_url``, and only when the answer so far could come from a host
        that is no Mastodon API; otherwise, and when it names no other host, the first error
        stands.
        """
        if not isinstance(failure, Transient):
            reader = self._reader(home)
            try:
                return home, await _look_up(reader, home.acct), reader
            except ConnectorError as exc:
                if self._base or not _maybe_elsewhere(exc):
                    raise
                failure = failure or exc
        if self._base or (home.api == f"https://{server}" and isinstance(failure, Transient)):
            raise failure  # WebFinger would ask the host that did not answer
        resolved = await webfinger.resolve(self._client, user, server)
        if resolved is None or resolved.origin == home.api:
            raise failure
        found = _Home(resolved.origin, resolved.acct)
        reader = self._reader(found)
        account = await _look_up(reader, found.acct)
        if account.acct and "@" in account.acct:  # a copy of an account from elsewhere
            raise ChannelNotFound(
                f"{found.api}, named by WebFinger, is not the home of {found.acct}"
            )
        return found, account, reader

    async def _read(
        self,
        reader: Poll,
        home: _Home,
        account: _Account,
        profile: Profile,
        *,
        since: datetime | None,
        previous: Resume | None,
    ) -> FetchResult:
        """Read the statuses at or after ``since`` and the gap a previous poll left open."""
        statuses = _Statuses(reader, account.id)
        posts, resume = await catch_up(
            statuses.page,
            since=since,
            previous=previous,
            budget=self._page_limit,
            full_size=FULL_PAGE,
            head_size=HEAD_PAGE,
        )
        extra = {
            "api": home.api,
            "acct": home.acct,
            "account_id": account.id,
            "newest": statuses.top or "",
            **resume_extra(resume),
        }
        return FetchResult(
            posts=posts,
            profile=profile,
            checkpoint=Checkpoint(extra=extra),
            quota_used_ratio=reader.quota_used_ratio,
        )


async def _look_up(reader: Poll, acct: str) -> _Account:
    return _parse(_ACCOUNT, await reader.get("accounts/lookup", {"acct": acct}), "account")


def _maybe_elsewhere(error: ConnectorError) -> bool:
    """Whether a lookup's failure may mean the host is no Mastodon API (a website, a CDN)."""
    return isinstance(error, ChannelNotFound | Malformed) or (
        isinstance(error, AuthFailed) and error.status == 403
    )


def _usable(account: _Account, user: str, server: str) -> None:
    if account.suspended:
        raise ChannelNotFound(f"@{user}@{server} is suspended on {server}")
    if account.moved is not None:
        target = f"@{account.moved.acct}" if account.moved.acct else "another account"
        raise ChannelNotFound(f"@{user}@{server} has moved to {target}")


def _profile(account: _Account, user: str, server: str) -> Profile:
    return Profile(
        name=account.display_name or account.username or user,
        url=account.url or f"https://{server}/@{user}",
        followers=account.followers_count,
    )


class _Statuses:
    """Pages of one account's statuses, replies to other accounts left out.

    ``top`` is what the top of the listing is known by: the ``prev`` link's ``min_id`` (the
    first row before any filtering), else the first status's id; "" for an empty account.
    """

    def __init__(self, poll: Poll, account_id: str) -> None:
        self._poll = poll
        self._account_id = account_id
        self.top: str | None = None

    async def probe(self) -> tuple[str, _Account | None]:
        """The top of the listing and, when a status is shown, its account."""
        statuses, _ = await self._get(None, 1)
        return self.top or "", statuses[0].account if statuses else None

    async def page(self, max_id: str | None, limit: int) -> Page:
        statuses, more = await self._get(max_id, limit)
        posts = [p for s in statuses if (p := self._post(s)) is not None]
        order = [s.created_at.astimezone(UTC) for s in statuses]
        return Page(posts=posts, order=order, next=more)

    async def _get(self, max_id: str | None, limit: int) -> tuple[list[_Status], str | None]:
        """One page of statuses and the ``max_id`` of the next (None at the end)."""
        params = {"exclude_replies": "true", "limit": str(limit)}
        if max_id is not None:
            params["max_id"] = max_id
        path = f"accounts/{self._account_id}/statuses"
        response, body = await self._poll.response(path, params)
        statuses = _parse(_STATUSES, body, "statuses")
        if max_id is None:
            first = statuses[0].id if statuses else ""
            self.top = _link_param(response, "prev", "min_id", "since_id") or first
        return statuses, _next(response, statuses)

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
    """The ``max_id`` of the ``Link`` header's ``next``; None only when there is no ``next``."""
    if "next" not in response.links:
        return None
    max_id = _link_param(response, "next", "max_id")
    if max_id:
        return max_id
    if statuses:
        return statuses[-1].id
    raise Malformed(f"a next link without max_id after an empty page from {safe_url(response.url)}")


def _link_param(response: httpx.Response, rel: str, *names: str) -> str | None:
    """The first of ``names`` in the query of the ``Link`` header's ``rel`` link."""
    link = response.links.get(rel, {}).get("url")
    if not link:
        return None
    try:
        params = httpx.URL(link).params
    except httpx.InvalidURL:
        return None
    return next((v for n in names if (v := params.get(n))), None)


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
