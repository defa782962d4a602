"""The ``[discovery]`` section: how often the daemon reads the organisations' websites."""

from __future__ import annotations

from monitor.config.tables import _Table
from monitor.config.values import _duration, _whole
from monitor.settings import DiscoverySettings


def _discovery(top: _Table) -> DiscoverySettings:
    table = top.table("discovery")
    every = table.read("every", _duration)
    max_pages = table.read("max_pages", _whole(1, 20))
    table.unknown(("every", "max_pages"))
    return DiscoverySettings(every=every, max_pages=6 if max_pages is None else max_pages)
