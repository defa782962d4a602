"""What a channel's page shows beyond its judgement: every post, recent polls and events."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from monitor.models import Poll
from monitor.notify.events import Event
from monitor.notify.store import NotificationStore
from monitor.records import PostTime
from monitor.storage import Store

RECENT_POLLS = 20
RECENT_EVENTS = 20
_EVERYTHING = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class ChannelHistory:
    """A channel's stored past, for its page."""

    posts: tuple[PostTime, ...]  # every dated post, oldest first
    polls: tuple[Poll, ...]  # the newest first
    events: tuple[Event, ...]  # notification events, the newest first


def read_history(store: Store, channel_id: int) -> ChannelHistory:
    """Read one channel's history (synchronous: call it from a worker thread)."""
    posts = store.post_times([channel_id], since=_EVERYTHING, newest=0).get(channel_id, [])
    logged = NotificationStore(store.engine).events(RECENT_EVENTS, channel_id=channel_id)
    return ChannelHistory(
        posts=tuple(sorted(posts, key=lambda p: p.published_at)),
        polls=tuple(store.recent_polls(channel_id, RECENT_POLLS)),
        events=tuple(e.event for e in logged),
    )
