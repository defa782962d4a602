"""RSS 2.0 and Atom feeds: the channel handle is the feed's URL."""

from __future__ import annotations

import functools
from datetime import datetime
from typing import ClassVar

import httpx

from connectors._feed import entry_id, read_feed
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


class RssConnector:
    """Reads any RSS 2.0 or Atom feed, conditionally (ETag / Last-Modified)."""

    platform: ClassVar[str] = "rss"

    def __init__(self, client: httpx.AsyncClient, options: PlatformOptions) -> None:
        self._client = client  # options: feeds are full URLs and need no token or base_url

    async def fetch(
        self,
        channel: ChannelRef,
        *,
        since: datetime | None,
        checkpoint: Checkpoint,
    ) -> FetchResult:
        """Read the feed; ``since`` is ignored, a feed always carries its latest entries."""
        url = _feed_url(channel.handle)
        feed, kept = await read_feed(self._client, url, checkpoint)
        if feed is None:
            return FetchResult(not_modified=True, checkpoint=kept)
        # A feed's own publication date, else its last change: Atom feeds may carry only <updated>.
        posts = [Post(entry_id(e), e.published or e.updated) for e in feed.entries]
        return FetchResult(
            posts=unique_posts(posts),
            profile=Profile(name=feed.title, url=feed.link),
            checkpoint=kept,
        )

    def public_url(self, channel: ChannelRef) -> str | None:
        """The feed's address: its site link is only known once the feed has been read."""
        return channel.handle.strip()


@functools.lru_cache(maxsize=1 << 17)  # checked at every poll
def _feed_url(handle: str) -> str:
    url = handle.strip()
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        raise ChannelNotFound("the feed address is not a valid URL") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ChannelNotFound("the feed address is not an http(s) URL")
    return url
