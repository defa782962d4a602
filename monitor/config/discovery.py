"""The ``[discovery]`` section: how often the daemon reads the organisations' websites."""

from __future__ import annotations

from datetime import timedelta

from monitor.config.tables import _Table
from monitor.config.values import _duration, _whole
from monitor.settings import DiscoverySettings

MIN_EVERY = timedelta(hours=1)


def _discovery(top: _Table) -> DiscoverySettings:
    table = top.table("discovery")
    every = table.read("every", _duration)
    if every is not None and every < MIN_EVERY:
        table.fail("every", "at least 1h: a website is read politely, and changes seldom")
        every = None
    max_pages = table.read("max_pages", _whole(1, 20))
    table.unknown(("every", "max_pages"))
    return DiscoverySettings(every=every, max_pages=6 if max_pages is None else max_pages)
