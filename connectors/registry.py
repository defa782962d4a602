"""Which connector class reads which platform. One line per platform."""

from __future__ import annotations

from connectors.base import Connector
from connectors.bluesky import BlueskyConnector
from connectors.facebook import FacebookConnector
from connectors.instagram import InstagramConnector
from connectors.linkedin import LinkedInConnector
from connectors.mastodon import MastodonConnector
from connectors.rss import RssConnector
from connectors.youtube import YouTubeConnector

CONNECTORS: dict[str, type[Connector]] = {
    "facebook": FacebookConnector,
    "instagram": InstagramConnector,
    "linkedin": LinkedInConnector,
    "mastodon": MastodonConnector,
    "bluesky": BlueskyConnector,
    "rss": RssConnector,
    "youtube": YouTubeConnector,
}


def supported_platforms() -> frozenset[str]:
    """Platforms that have a connector today."""
    return frozenset(CONNECTORS)
