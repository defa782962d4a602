"""Facebook Pages through the Graph API: the Page's profile, its ``posts`` and its Reels.

The ``posts`` edge "does not return Reels" (Page Post reference): they come from the Page's
``video_reels`` edge. One request per poll for an unchanged Page: the Page node is read with
both edges expanded into it (``posts.since(T).limit(N){id,created_time}`` and the same for
``video_reels``), so profile, newest posts and newest Reels come back together. Older pages of
each edge follow its own ``paging.next`` up to ``page_limit`` pages in all (posts first, Reels
get what is left, at least the page already read); where reading stopped early is kept in the
checkpoint per edge and picked up on the next poll: for posts as a timestamp (``until``), for
Reels as the ``after`` cursor (the edge pages by cursor; a time filter is not documented for it).

Every post and Reel counts as kind ``post``: Graph has no cheap, documented field that tells a
reshare from the Page's own publication (``status_type`` mixes links and shares). A Reel keeps
its video id; post ids are ``{page-id}_{post-id}``, so the two cannot be taken for each other.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from datetime import datetime
from typing import ClassVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel

from connectors._graph import (
    Edge,
    GraphApi,
    GraphPoll,
    GraphTime,
    link_cursor,
    oldest,
    parse,
    read_posts,
)
from connectors._paging import Page, Resume, Walk, resume_extra, unix, walk
from connectors.base import ChannelRef, Checkpoint, FetchResult, PlatformOptions, Post, Profile
from connectors.errors import ChannelNotFound, payload_guarded

POSTS_PER_PAGE = 100
POST_FIELDS = "id,created_time"
REEL_FIELDS = "id,created_time"
PAGE_FIELDS = "id,name,link,followers_count,fan_count"
REELS = "reels_"  # prefix of the Reels edge's resume position in the checkpoint
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
    video_reels: Edge[_Post] | None = None  # Reels: a video id and its created_time


class FacebookConnector:
    """Reads public Facebook Pages (by username or numeric id)."""

    platform: ClassVar[str] = "facebook"

    def __init__(self, client: httpx.AsyncClient, options: PlatformOptions) -> None:
        self._api = GraphApi(client, options)

    def public_url(self, channel: ChannelRef) -> str | None:
        """``https://www.facebook.com/{handle}``."""
        return f"https://www.facebook.com/{quote(channel.handle.strip(), safe='')}"

    @payload_guarded
    async def fetch(
        self,
        channel: ChannelRef,
        *,
        since: datetime | None,
        checkpoint: Checkpoint | None = None,
    ) -> FetchResult:
        """Read the Page's profile, posts and Reels published at or after ``since``."""
        handle = channel.handle.strip()
        if not _HANDLE.fullmatch(handle):
            raise ChannelNotFound("not a Facebook Page username or id")
        poll = self._api.poll(handle if handle.isdigit() else None)
        mods = ("" if since is None else f".since({unix(since)})") + f".limit({POSTS_PER_PAGE})"
        fields = f"{PAGE_FIELDS},posts{mods}{{{POST_FIELDS}}},video_reels{mods}{{{REEL_FIELDS}}}"
        page = parse(_Page, await poll.get(handle, {"fields": fields}), "the Page")
        poll.subject = page.id  # the object its usage and throttles are keyed by
        extra = checkpoint.extra if checkpoint else {}
        budget = self._api.page_limit
        more = functools.partial(_follow, poll)
        posts, posts_resume = await read_posts(
            _posts_page(page.posts),
            more,
            since=since,
            previous=Resume.from_extra(extra),
            budget=budget,
            backfill=lambda gap, left: self._backfill(poll, handle, gap, left),
            position=_oldest_time,
        )
        reels, reels_resume = await read_posts(
            _posts_page(page.video_reels),
            more,
            since=since,
            previous=Resume.from_extra(_unprefixed(extra)),
            budget=max(1, budget - poll.requests + 1),  # the first page came with the Page
            backfill=lambda gap, left: self._reels_backfill(poll, handle, gap, left),
            position=lambda done: link_cursor(done.pending),
        )
        return FetchResult(
            posts=(*posts, *reels),
            profile=Profile(
                name=page.name,
                url=page.link or self.public_url(channel),
                followers=page.followers_count
                if page.followers_count is not None
                else page.fan_count,
            ),
            checkpoint=Checkpoint(
                extra={
                    **resume_extra(posts_resume),
                    **{REELS + k: v for k, v in resume_extra(reels_resume).items()},
                }
            ),
            quota_used_ratio=poll.quota_used_ratio,
        )

    async def _backfill(self, poll: GraphPoll, handle: str, resume: Resume, budget: int) -> Walk:
        params = {"fields": POST_FIELDS, "limit": str(POSTS_PER_PAGE), "until": resume.position}
        if resume.bound is not None:
            params["since"] = unix(resume.bound)
        return await _walk_edge(poll, f"{handle}/posts", params, resume, budget)

    async def _reels_backfill(
        self, poll: GraphPoll, handle: str, resume: Resume, budget: int
    ) -> Walk:
        params = {"fields": REEL_FIELDS, "limit": str(POSTS_PER_PAGE), "after": resume.position}
        return await _walk_edge(poll, f"{handle}/video_reels", params, resume, budget)


async def _walk_edge(
    poll: GraphPoll, path: str, params: Mapping[str, str], resume: Resume, budget: int
) -> Walk:
    first = parse(Edge[_Post], await poll.get(path, params), f"{path.rpartition('/')[2]} edge")
    more = functools.partial(_follow, poll)
    return await walk(_posts_page(first), more, bound=resume.bound, budget=budget)


def _unprefixed(extra: Mapping[str, str]) -> dict[str, str]:
    """The Reels edge's own entries of a checkpoint, under the names ``Resume`` reads."""
    return {k.removeprefix(REELS): v for k, v in extra.items() if k.startswith(REELS)}


async def _follow(poll: GraphPoll, link: str) -> Page:
    return _posts_page(parse(Edge[_Post], await poll.follow(link), "a paging.next link"))


def _posts_page(edge: Edge[_Post] | None) -> Page:
    if edge is None:  # the edge is left out when the Page has no posts in range
        return Page(posts=[], next=None)
    posts = [Post(post_id=p.id, published_at=p.created_time) for p in edge.data]
    return Page(posts=posts, next=edge.paging.next if edge.paging else None)


def _oldest_time(done: Walk) -> str | None:
    """Facebook resumes by time (``until``): cursors die with the post they point at."""
    when = oldest(done.posts)
    return unix(when) if when else None
