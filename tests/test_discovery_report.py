"""The report's website table: channels found on each organisation's website vs monitored."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from monitor.discovery.compare import Finding, compare
from monitor.discovery.model import LinkedChannel, WebsiteCheck
from monitor.report import build, render, website_counts, website_rows
from monitor.settings import ChannelSettings, Policy

NOW = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)
SITE = "https://www.voorbeeld.nl/"


def channel(platform: str, handle: str, organisation: str = "Gemeente A") -> ChannelSettings:
    return ChannelSettings(organisation, platform, handle, Policy(), timedelta(hours=6))


def linked(platform: str, name: str, handle: str | None = None) -> LinkedChannel:
    return LinkedChannel(platform, handle or name, name, f"https://{platform}.example/{name}", ())


def test_found_on_the_website_vs_monitored() -> None:
    read = WebsiteCheck(
        "Gemeente A",
        SITE,
        NOW - timedelta(days=2),
        channels=(
            linked("facebook", "gemeentea"),
            linked("instagram", "gemeentea"),
            linked("youtube", "@gemeentea", "UCgemeenteVoorbeeld00000"),
            LinkedChannel("youtube", None, "@weg", "https://…", (), status="missing"),
        ),
    )
    configured = (channel("facebook", "GemeenteA"), channel("rss", "https://a.example/feed"))
    never = WebsiteCheck("Gemeente B", "https://b.example/", NOW, error="HTTP 503 from …")
    findings = [
        Finding(read, compare("Gemeente A", SITE, read, configured)),
        Finding(never, compare("Gemeente B", never.website, None, ())),
    ]
    counts = website_counts(findings)
    assert [(c.found, c.monitored, c.unmonitored, c.not_linked) for c in counts] == [
        (3, 1, 2, 1),  # a dead link is not a channel found
        (None, 0, 0, 0),
    ]
    assert website_rows(counts) == [
        ["Gemeente A", "3", "1", "2", "1", "2026-12-03"],
        ["Gemeente B", "–", "0", "0", "0", "never"],
    ]
    markdown = render(build([], NOW, websites=findings), "md")
    assert "| organisation | found on the website | monitored of those |" in markdown
    assert "| Gemeente A | 3 | 1 | 2 | 1 | 2026-12-03 |" in markdown
    assert "found on the website" not in render(build([], NOW), "md")  # no website read: no table
    html = render(build([], NOW, websites=findings), "html")
    assert '<td>Gemeente B</td><td class="n">–</td>' in html
