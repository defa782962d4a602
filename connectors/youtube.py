"""YouTube channels, through their public Atom feed (the latest 15 uploads, no token)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import ClassVar

import httpx

from connectors._feed import FeedEntry, entry_id, read_feed
from connectors.base import (
    ChannelRef,
    Checkpoint,
    FetchResult,
    PlatformOptions,
    Post,
    Profile,
    unique_posts,
)
from connectors.errors import ChannelNotFound

DEFAULT_BASE_URL = "https://www.youtube.com"
_CHANNEL_ID = re.compile(r"UC[0-9A-Za-z_-]{22}")


class YouTubeConnector:
    """Reads ``{base_url}/feeds/videos.xml?channel_id=UC…``; the handle is the channel id."""

    platform: ClassVar[str] = "youtube"

    def __init__(self, client: httpx.AsyncClient, options: PlatformOptions) -> None:
        self._client = client
        self._base_url = (options.base_url or DEFAULT_BASE_URL).rstrip("/")

    def feed_url(self, channel: ChannelRef) -> str:
        """Where the channel's feed is read."""
        return f"{self._base_url}/feeds/videos.xml?channel_id={_channel_id(channel)}"

    async def fetch(
        self,
        channel: ChannelRef,
        *,
        since: datetime | None,
        checkpoint: Checkpoint,
    ) -> FetchResult:
        """Read the channel's latest uploads; ``since`` is ignored, the feed is that short."""
        feed, kept = await read_feed(self._client, self.feed_url(channel), checkpoint)
        if feed is None:
            return FetchResult(not_modified=True, checkpoint=kept)
        # <published> only: an entry's <updated> moves on every title edit or view-count refresh.
        posts = [Post(_video_id(e), e.published) for e in feed.entries]
        return FetchResult(
            posts=unique_posts(posts),
            profile=Profile(name=feed.title, url=self.public_url(channel) or feed.link),
            checkpoint=kept,
        )

    def public_url(self, channel: ChannelRef) -> str | None:
        """The channel page on youtube.com, whatever ``base_url`` the feed is read from."""
        handle = channel.handle.strip()
        if not _CHANNEL_ID.fullmatch(handle):
            return None
        return f"https://www.youtube.com/channel/{handle}"


def _channel_id(channel: ChannelRef) -> str:
    handle = channel.handle.strip()
    if not _CHANNEL_ID.fullmatch(handle):
        raise ChannelNotFound("not a YouTube channel id (UC followed by 22 characters)")
    return handle


def _video_id(entry: FeedEntry) -> str:
    if entry.video_id:
        return entry.video_id
    if entry.id and entry.id.startswith("yt:video:") and len(entry.id) > len("yt:video:"):
        return entry.id.removeprefix("yt:video:")
    return entry_id(entry)
