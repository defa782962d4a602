"""Instagram professional accounts through the Graph API (Instagram API with Facebook Login).

Which account is read how:

- a handle equal to ``account_id`` (your own professional account's IG user id) is read
  directly: ``/{id}?fields=…,media.limit(N){…}``, then ``/{id}/media`` pages via ``paging.next``;
- any other handle is a username, read through Business Discovery run by ``account_id``:
  ``/{account_id}?fields=business_discovery.username(X){…,media.limit(N){…}}``; further pages
  via ``media.after(CURSOR)`` (nested paging has cursors, no ``next`` link: the listing ends
  only where a page has no after-cursor; a short or empty page that has one is not the end).
  This also works for your own account when it is configured by username.

Every request runs as ``account_id`` (Business Discovery counts against the account that asks),
so a throttle naming that account holds back every Instagram channel.

``media_count`` is a cheap probe: when the checkpoint says the daemon already knows the
newest post, one small request (``media.limit(1)``) tells whether the count and the newest
media id are unchanged, and the poll ends there. Either way an unchanged account costs one
request. Every media item counts as kind ``post``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import ClassVar

import httpx
from pydantic import BaseModel

from connectors._graph import (
    Edge,
    GraphApi,
    GraphPoll,
    GraphTime,
    link_cursor,
    parse,
    read_posts,
)
from connectors._paging import Page, Resume, Walk, from_unix, resume_extra, unchanged, unix, walk
from connectors.base import ChannelRef, Checkpoint, FetchResult, PlatformOptions, Post, Profile
from connectors.errors import AuthFailed, ChannelNotFound, payload_guarded

MEDIA_PER_PAGE = 50
OWN_MEDIA_FIELDS = "id,timestamp,media_type,permalink"
DISCOVERY_MEDIA_FIELDS = "id,timestamp,media_type"
PROFILE_FIELDS = "username,name,followers_count,media_count"
_USERNAME = re.compile(r"[A-Za-z0-9._]{1,30}")
_CURSOR = re.compile(r"[A-Za-z0-9_=%.-]{1,500}")


class _Media(BaseModel):
    id: str
    timestamp: GraphTime


class _Account(BaseModel):
    username: str | None = None
    name: str | None = None
    followers_count: int | None = None
    media_count: int | None = None
    media: Edge[_Media] | None = None


class _Discovery(BaseModel):
    business_discovery: _Account


class _Source:
    """How one account is read: directly (own account) or through Business Discovery."""

    def __init__(self, poll: GraphPoll, account_id: str, username: str | None) -> None:
        self.poll = poll
        self.account_id = account_id
        self.username = username  # None: the own account, read directly

    async def first(self, limit: int) -> _Account:
        if self.username is None:
            fields = f"{PROFILE_FIELDS},media.limit({limit}){{{OWN_MEDIA_FIELDS}}}"
            return parse(_Account, await self._get(fields), "the account")
        media = f"media.limit({limit}){{{DISCOVERY_MEDIA_FIELDS}}}"
        return await self._discover(f"{PROFILE_FIELDS},{media}")

    def page(self, edge: Edge[_Media] | None) -> Page:
        if edge is None:
            return Page(posts=[], next=None)
        posts = [Post(post_id=m.id, published_at=m.timestamp) for m in edge.data]
        paging = edge.paging
        if self.username is None:
            return Page(posts=posts, next=paging.next if paging else None)
        # Nested paging has no next link: the end is a missing after-cursor. An empty page that
        # has one is not the end ("a page may be empty but contain a next paging link").
        after = paging.cursors.after if paging and paging.cursors else None
        return Page(posts=posts, next=after)

    async def more(self, ref: str) -> Page:
        if self.username is None:
            edge = parse(Edge[_Media], await self.poll.follow(ref), "the media edge")
            return self.page(edge)
        return await self.after(ref)

    async def after(self, cursor: str) -> Page:
        """The page after ``cursor`` (used to resume where an earlier poll stopped)."""
        if not _CURSOR.fullmatch(cursor):
            return Page(posts=[], next=None)
        if self.username is None:
            params = {"fields": OWN_MEDIA_FIELDS, "limit": str(MEDIA_PER_PAGE), "after": cursor}
            payload = await self.poll.get(f"{self.account_id}/media", params)
            return self.page(parse(Edge[_Media], payload, "the media edge"))
        media = f"media.after({cursor}).limit({MEDIA_PER_PAGE}){{{DISCOVERY_MEDIA_FIELDS}}}"
        page = self.page((await self._discover(media)).media)
        if page.next == cursor:  # no way forward: the listing cannot go on from here
            page.next = None
        return page

    def cursor(self, done: Walk) -> str | None:
        """A resumable position from where ``done`` stopped (never a token-bearing link)."""
        if self.username is None:
            return link_cursor(done.pending)
        return done.pending

    async def backfill(self, gap: Resume, budget: int) -> Walk:
        first = await self.after(gap.position)
        return await walk(first, self.more, bound=gap.bound, budget=budget)

    async def _discover(self, inner: str) -> _Account:
        fields = f"business_discovery.username({self.username}){{{inner}}}"
        return parse(_Discovery, await self._get(fields), "business discovery").business_discovery

    async def _get(self, fields: str) -> dict[str, object]:
        return await self.poll.get(self.account_id, {"fields": fields})


class InstagramConnector:
    """Reads Instagram professional accounts (own by id, others by username)."""

    platform: ClassVar[str] = "instagram"

    def __init__(self, client: httpx.AsyncClient, options: PlatformOptions) -> None:
        self._account_id = (options.account_id or "").strip() or None
        acting_as = [self._account_id] if self._account_id else []
        self._api = GraphApi(client, options, acting_as=acting_as)

    def public_url(self, channel: ChannelRef) -> str | None:
        """``https://www.instagram.com/{username}/``; None for the own account's numeric id."""
        handle = _handle(channel)
        if handle == self._account_id or not _USERNAME.fullmatch(handle):
            return None
        return f"https://www.instagram.com/{handle}/"

    @payload_guarded
    async def fetch(
        self,
        channel: ChannelRef,
        *,
        since: datetime | None,
        checkpoint: Checkpoint | None = None,
    ) -> FetchResult:
        """Read the account's profile and its media published at or after ``since``."""
        handle = _handle(channel)
        if self._account_id is None:
            raise AuthFailed("instagram needs account_id (the account running Business Discovery)")
        if handle != self._account_id and not _USERNAME.fullmatch(handle):
            raise ChannelNotFound("not an Instagram username")
        poll = self._api.poll(self._account_id)
        source = _Source(poll, self._account_id, None if handle == self._account_id else handle)
        extra: Mapping[str, str] = checkpoint.extra if checkpoint else {}
        previous = Resume.from_extra(extra)

        probing = previous is None and _probe_allowed(extra, since)
        account = await source.first(1 if probing else MEDIA_PER_PAGE)
        if probing:
            newest = _newest(source.page(account.media))
            if str(account.media_count) == extra.get("media_count") and (
                (newest.post_id if newest else None) == extra.get("newest_id")
            ):
                return unchanged(self._profile(account, channel), extra, poll.quota_used_ratio)
            account = await source.first(MEDIA_PER_PAGE)

        first = source.page(account.media)
        posts, resume = await read_posts(
            first,
            source.more,
            since=since,
            previous=previous,
            budget=self._api.page_limit,
            backfill=source.backfill,
            position=source.cursor,
        )
        return FetchResult(
            posts=tuple(posts),
            profile=self._profile(account, channel),
            checkpoint=Checkpoint(extra=_extra(account, _newest(first), resume)),
            quota_used_ratio=poll.quota_used_ratio,
        )

    def _profile(self, account: _Account, channel: ChannelRef) -> Profile:
        url = (
            f"https://www.instagram.com/{account.username}/"
            if account.username and _USERNAME.fullmatch(account.username)
            else self.public_url(channel)
        )
        return Profile(
            name=account.name or account.username, url=url, followers=account.followers_count
        )


def _handle(channel: ChannelRef) -> str:
    return channel.handle.strip().removeprefix("@")


def _newest(page: Page) -> Post | None:
    dated = [(p.published_at, p) for p in page.posts if p.published_at is not None]
    return max(dated, key=lambda pair: pair[0])[1] if dated else None


def _probe_allowed(extra: Mapping[str, str], since: datetime | None) -> bool:
    """The probe is enough only when the daemon already holds the newest post we last saw."""
    if "media_count" not in extra:
        return False
    if "newest_id" not in extra:
        return extra["media_count"] == "0"
    newest_at = from_unix(extra.get("newest_at"))
    return since is not None and newest_at is not None and since >= newest_at


def _extra(account: _Account, newest: Post | None, resume: Resume | None) -> dict[str, str]:
    extra = resume_extra(resume)
    if account.media_count is not None:
        extra["media_count"] = str(account.media_count)
    if newest is not None and newest.published_at is not None:
        extra["newest_id"] = newest.post_id
        extra["newest_at"] = unix(newest.published_at)
    return extra
