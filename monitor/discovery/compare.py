"""The website's channels against the configuration: the three lists of ``discover``.

A linked channel and a configured one are the same when one of their names matches on the same
platform: the handle as configured, the handle as linked (a username, ``@handle``, a vanity
name, a UC… id once resolved), and the channel's public URL as its last poll stored it (so a
Facebook Page configured by numeric id matches the username the website links, and a LinkedIn
organization id the vanity name). Comparing again costs nothing, so a channel added to the
configuration leaves the "not monitored" list at the next reload, without reading the site.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from monitor.discovery.handles import aliases, url_aliases
from monitor.discovery.model import LinkedChannel, WebsiteCheck
from monitor.records import ChannelKey
from monitor.settings import PLATFORMS, ChannelSettings


@dataclass(frozen=True, slots=True)
class Comparison:
    """One organisation: what its website links against what is monitored."""

    organisation: str
    website: str
    check: WebsiteCheck | None  # the last successful check; None: never read
    both: tuple[tuple[LinkedChannel, ChannelSettings], ...] = ()
    unmonitored: tuple[LinkedChannel, ...] = ()  # linked, not monitored
    not_linked: tuple[ChannelSettings, ...] = ()  # monitored, not linked from the site
    unresolved: tuple[LinkedChannel, ...] = ()  # linked, but could not be checked now
    missing: tuple[LinkedChannel, ...] = ()  # linked, but the platform has no such channel

    def unmonitored_by_platform(self) -> dict[str, int]:
        """How many linked channels are not monitored, for every platform (0 included)."""
        counts = Counter(c.platform for c in self.unmonitored)
        return {platform: counts[platform] for platform in PLATFORMS}


@dataclass(frozen=True, slots=True)
class Finding:
    """One organisation: its latest check and the comparison with the configuration."""

    check: WebsiteCheck  # the latest attempt (with its error, when it failed)
    comparison: Comparison  # from the last successful check


def compare(
    organisation: str,
    website: str,
    check: WebsiteCheck | None,
    channels: Sequence[ChannelSettings],
    urls: Mapping[ChannelKey, str | None] | None = None,
) -> Comparison:
    """Compare one organisation's last successful check with its configured channels.

    ``urls`` holds the public URL each channel's last poll stored (``Channel.url``), by key.
    """
    mine = [c for c in channels if c.organisation == organisation]
    if check is None or not check.ok:
        return Comparison(organisation, website, None)
    names = {
        id(c): aliases(c.platform, c.handle) | url_aliases(c.platform, (urls or {}).get(c.key))
        for c in mine
    }
    both: list[tuple[LinkedChannel, ChannelSettings]] = []
    unmonitored: list[LinkedChannel] = []
    matched: set[int] = set()
    for linked in check.channels:
        if not linked.counts:
            continue
        linked_names = aliases(linked.platform, linked.name)
        if linked.handle:
            linked_names |= aliases(linked.platform, linked.handle)
        same = [c for c in mine if c.platform == linked.platform and names[id(c)] & linked_names]
        if same:
            both.extend((linked, c) for c in same)
            matched.update(id(c) for c in same)
        else:
            unmonitored.append(linked)
    return Comparison(
        organisation,
        website,
        check,
        both=tuple(both),
        unmonitored=tuple(unmonitored),
        not_linked=tuple(c for c in mine if id(c) not in matched),
        unresolved=tuple(c for c in check.channels if c.status == "unresolved"),
        missing=tuple(c for c in check.channels if c.status == "missing"),
    )
