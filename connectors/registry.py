"""Which connector class reads which platform. One line per platform."""

from __future__ import annotations

from connectors.base import Connector
from connectors.rss import RssConnector
from connectors.youtube import YouTubeConnector

CONNECTORS: dict[str, type[Connector]] = {
    "rss": RssConnector,
    "youtube": YouTubeConnector,
}


def supported_platforms() -> frozenset[str]:
    """Platforms that have a connector today."""
    return frozenset(CONNECTORS)
