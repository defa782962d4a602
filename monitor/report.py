"""The survey's view: per platform, how many organisations are active, quiet, inactive…;
per channel, silence, posts per week and the usual gap. Markdown, CSV or HTML."""

from __future__ import annotations

import csv
import html
import io
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from monitor.cadence import STATES, ActivityState
from monitor.discovery.compare import Finding
from monitor.settings import PLATFORMS
from monitor.views import ChannelView

REPORT_FORMATS = ("md", "html", "csv")


@dataclass(frozen=True, slots=True)
class PlatformSummary:
    """One platform's row: organisations with a channel there, and channels per state."""

    platform: str
    organisations: int
    states: dict[ActivityState, int]


def summarise(views: Sequence[ChannelView]) -> list[PlatformSummary]:
    """Per platform (in the contract's order), the organisations and channel states."""
    orgs: dict[str, set[str]] = defaultdict(set)
    states: dict[str, Counter[ActivityState]] = defaultdict(Counter)
    for view in views:
        orgs[view.platform].add(view.organisation)
        states[view.platform][view.state] += 1
    return [
        PlatformSummary(p, len(orgs[p]), {s: states[p][s] for s in STATES})
        for p in PLATFORMS
        if p in orgs
    ]


def days(value: timedelta | None) -> str:
    """A duration in days, for people."""
    if value is None:
        return "–"
    return f"{value.total_seconds() / 86400:.1f} d"


def per_week(view: ChannelView, window: str) -> str:
    count = view.cadence.recent_posts.get(window, 0)
    weeks = int(window.rstrip("d")) / 7
    return f"{count / weeks:.1f}"


def channel_rows(views: Sequence[ChannelView]) -> list[list[str]]:
    """One row per channel, the report's detail table."""
    return [
        [
            v.organisation,
            v.platform,
            v.handle,
            v.state.value,
            days(v.cadence.silence),
            per_week(v, "14d"),
            per_week(v, "30d"),
            per_week(v, "90d"),
            days(v.cadence.usual_gap),
            "ok" if v.record.last_poll_ok else (v.record.last_error_reason or "not polled"),
        ]
        for v in views
    ]


CHANNEL_HEADER = [
    "organisation",
    "platform",
    "channel",
    "state",
    "silence",
    "posts/week 14d",
    "posts/week 30d",
    "posts/week 90d",
    "usual gap",
    "poll",
]
SUMMARY_HEADER = ["platform", "organisations", *(s.value for s in STATES)]


def summary_rows(views: Sequence[ChannelView]) -> list[list[str]]:
    return [
        [s.platform, str(s.organisations), *(str(s.states[state]) for state in STATES)]
        for s in summarise(views)
    ]


def render(
    views: Sequence[ChannelView], fmt: str, now: datetime, websites: Sequence[Finding] = ()
) -> str:
    """The report in ``fmt`` (one of REPORT_FORMATS); ``websites``: discovery's findings."""
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(CHANNEL_HEADER)
        writer.writerows([_csv_cell(c) for c in row] for row in channel_rows(views))
        return out.getvalue()
    if fmt == "html":
        return (
            "<!doctype html><meta charset=utf-8><title>channel-monitor report</title>"
            f"<h1>Channel activity, {now:%Y-%m-%d %H:%M} UTC</h1>"
            + html_table(SUMMARY_HEADER, summary_rows(views))
            + html_table(CHANNEL_HEADER, channel_rows(views))
            + (html_table(WEBSITE_HEADER, website_rows(websites)) if websites else "")
        )
    lines = [f"# Channel activity, {now:%Y-%m-%d %H:%M} UTC", ""]
    tables = [(SUMMARY_HEADER, summary_rows(views)), (CHANNEL_HEADER, channel_rows(views))]
    if websites:
        tables.append((WEBSITE_HEADER, website_rows(websites)))
    for header, rows in tables:
        lines.append("| " + " | ".join(header) + " |")
        lines.append("|" + "---|" * len(header))
        lines.extend("| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in rows)
        lines.append("")
    return "\n".join(lines)


# --- discovery: the channels each organisation's website links, against those monitored --------

WEBSITE_HEADER = [
    "organisation",
    "found on the website",
    "monitored of those",
    "linked, not monitored",
    "monitored, not linked",
    "website read",
]


@dataclass(frozen=True, slots=True)
class WebsiteCounts:
    """One organisation's numbers: channels its website links, how many are monitored."""

    organisation: str
    found: int | None  # None: the website was never read
    monitored: int
    unmonitored: int
    not_linked: int
    read_at: datetime | None


def website_counts(findings: Sequence[Finding]) -> list[WebsiteCounts]:
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
    return result


def website_rows(findings: Sequence[Finding]) -> list[list[str]]:
    """The report's website table: found on the website vs monitored, per organisation."""
    return [
        [
            n.organisation,
            "–" if n.found is None else str(n.found),
            str(n.monitored),
            str(n.unmonitored),
            str(n.not_linked),
            f"{n.read_at:%Y-%m-%d}" if n.read_at else "never",
        ]
        for n in website_counts(findings)
    ]


_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _csv_cell(value: str) -> str:
    """A cell a spreadsheet reads as text: one starting like a formula gets a single quote
    before it (OWASP, "CSV Injection"). Organisation names come from anyone's CSV."""
    return "'" + value if value.startswith(_FORMULA_STARTS) else value


def html_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
