"""Discovery's part of the report: the channels each organisation's website links, against
those monitored (from the last stored read of each website)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from monitor.discovery.compare import Finding

WEBSITE_HEADER = (
    "organisation",
    "found on the website",
    "monitored of those",
    "linked, not monitored",
    "monitored, not linked",
    "website read",
)


@dataclass(frozen=True, slots=True)
class WebsiteCounts:
    """One organisation's numbers: channels its website links, how many are monitored."""

    organisation: str
    found: int | None  # None: the website was never read
    monitored: int
    unmonitored: int
    not_linked: int
    read_at: datetime | None


def website_counts(findings: Sequence[Finding]) -> tuple[WebsiteCounts, ...]:
    """Per organisation, from discovery's last successful read of its website."""
    result = []
    for finding in findings:
        c = finding.comparison
        linked = {(linked.platform, linked.name) for linked, _ in c.both}
        found = None if c.check is None else len(linked) + len(c.unmonitored)
        read_at = c.check.checked_at if c.check is not None else None
        result.append(
            WebsiteCounts(
                c.organisation, found, len(linked), len(c.unmonitored), len(c.not_linked), read_at
            )
        )
    return tuple(result)


def website_rows(counts: Sequence[WebsiteCounts]) -> list[list[str]]:
    """The report's website table, as text cells."""
    return [
        [
            n.organisation,
            "–" if n.found is None else str(n.found),
            str(n.monitored),
            str(n.unmonitored),
            str(n.not_linked),
            f"{n.read_at:%Y-%m-%d}" if n.read_at else "never",
        ]
        for n in counts
    ]
