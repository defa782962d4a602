"""Facebook Pages through the Graph API: the Page's profile and its ``posts`` edge.

One request per poll for an unchanged Page: the Page node is read with the posts edge
expanded into it (``posts.since(T).limit(N){id,created_time}``), so profile and newest posts
come back together. Older pages follow ``paging.next`` (cursor or time-based alike) up to
``page_limit`` pages; where reading stopped early is kept in the checkpoint as a timestamp
(``until``), not a cursor, and picked up on the next poll.

Every post counts as kind ``post``: Graph has no cheap, documented field that tells a
reshare from the Page's own publication (``status_type`` mixes links and shares).
"""

from __future__ import annotations

import functools
import re
from datetime import datetime
from typing import ClassVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel

from connectors._graph import Edge, GraphApi, GraphPoll, GraphTime, oldest, parse, read_posts
from connectors._paging import Page, Resume, Walk, resume_extra, unix, walk
from connectors.base import ChannelRef, Checkpoint, FetchResult, PlatformOptions, Post, Profile
from connectors.errors import ChannelNotFound

POSTS_PER_PAGE = 100
POST_FIELDS = "id,created_time"
PAGE_FIELDS = "id,name,link,followers_count,fan_count"
_HANDLE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


class _Post(BaseModel):
    id: str
    created_time: GraphTime


class _Page(BaseModel):
    id: str
    name: str | None = None
    link: str | None = None
    followers_count: int | None = None
    fan_count: int | None = None
    posts: Edge[_Post] | None = None


class FacebookConnector:
    """Reads public Facebook Pages (by username or numeric id)."""

    platform: ClassVar[str] = "facebook"

    def __init__(self, client: httpx.AsyncClient, options: PlatformOptions) -> None:
        self._api = GraphApi(client, options)

    def public_url(self, channel: ChannelRef) -> str | None:
        """``https://www.facebook.com/{handle}``."""
        return f"https://www.facebook.com/{quote(channel.handle.strip(), safe='')}"

    async def fetch(
        self,
        channel: ChannelRef,
        *,
        since: datetime | None,
        checkpoint: Checkpoint | None = None,
    ) -> FetchResult:
        """Read the Page's profile and its posts published at or after ``since``."""
        handle = channel.handle.strip()
        if not _HANDLE.fullmatch(handle):
            raise ChannelNotFound("not a Facebook Page username or id")
        poll = self._api.poll()
        edge = "posts" + (f".since({unix(since)})" if since else "")
        fields = f"{PAGE_FIELDS},{edge}.limit({POSTS_PER_PAGE}){{{POST_FIELDS}}}"
        page = parse(_Page, await poll.get(handle, {"fields": fields}), "the Page")
        previous = Resume.from_extra(checkpoint.extra) if checkpoint else None
        posts, resume = await read_posts(
            _posts_page(page.posts),
            functools.partial(_follow, poll),
            since=since,
            previous=previous,
            budget=self._api.page_limit,
            backfill=lambda gap, budget: self._backfill(poll, handle, gap, budget),
            position=_oldest_time,
        )
        return FetchResult(
            posts=tuple(posts),
            profile=Profile(
                name=page.name,
                url=page.link or self.public_url(channel),
                followers=page.followers_count
                if page.followers_count is not None
                else page.fan_count,
            ),
            checkpoint=Checkpoint(extra=resume_extra(resume)),
            quota_used_ratio=poll.quota_used_ratio,
        )

    async def _backfill(self, poll: GraphPoll, handle: str, resume: Resume, budget: int) -> Walk:
        params = {"fields": POST_FIELDS, "limit": str(POSTS_PER_PAGE), "until": resume.position}
        if resume.bound is not None:
            params["since"] = unix(resume.bound)
        first = parse(Edge[_Post], await poll.get(f"{handle}/posts", params), "the posts edge")
        more = functools.partial(_follow, poll)
        return await walk(_posts_page(first), more, bound=resume.bound, budget=budget)


async def _follow(poll: GraphPoll, link: str) -> Page:
    return _posts_page(parse(Edge[_Post], await poll.follow(link), "the posts edge"))


def _posts_page(edge: Edge[_Post] | None) -> Page:
    if edge is None:  # the edge is left out when the Page has no posts in range
        return Page(posts=[], next=None)
    posts = [Post(post_id=p.id, published_at=p.created_time) for p in edge.data]
    return Page(posts=posts, next=edge.paging.next if edge.paging else None)


def _oldest_time(done: Walk) -> str | None:
    """Facebook resumes by time (``until``): cursors die with the post they point at."""
    when = oldest(done.posts)
    return unix(when) if when else None
