"""``channel-monitor report``: the survey's view of a set of organisations.

First, per platform, how many organisations have a channel and how many channels are active,
below target, quiet, inactive, dormant, never posted, parked or unknown; then the organisation ×
platform grid; then each channel's silence, posts per week, usual gap, target and actual; for a
period, the KPI scorecard against the period before. ``model`` builds it from judged views
(pure); ``render`` lays it out as Markdown, HTML (Jinja2 templates) or CSV.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from monitor import views
from monitor.cadence import STATES
from monitor.records import ChannelKey
from monitor.report.model import Report, Scorecard, build, scorecard, survey
from monitor.report.render import TEXT_FORMATS, render
from monitor.settings import ChannelSettings
from monitor.storage import Store
from monitor.views import ChannelView

REPORT_FORMATS = TEXT_FORMATS

__all__ = [
    "REPORT_FORMATS",
    "Report",
    "Scorecard",
    "build",
    "gather",
    "render",
    "scorecard",
    "survey",
]


# The status page in monitor/web.py still draws its per-platform table with these; they go
# when that page has its own templates.
SUMMARY_HEADER = ["platform", "organisations", *(s.value for s in STATES)]


def summary_rows(views: Sequence[ChannelView]) -> list[list[str]]:
    return [
        [r.platform, str(r.organisations), *(str(r.states[s]) for s in STATES)]
        for r in survey(views)
    ]


def days(value: timedelta | None) -> str:
    return "–" if value is None else f"{value.total_seconds() / 86400:.1f} d"


def html_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def gather(
    store: Store,
    channels: Sequence[ChannelSettings],
    ids: Mapping[ChannelKey, int],
    now: datetime,
    *,
    period: timedelta | None = None,
    simulated: bool = False,
) -> Report:
    """The report over the stored channels, judged at ``now`` (synchronous: a worker thread).

    With ``period``, the scorecard too: the channels judged again at ``now - period``, and
    their posts over the last two periods.
    """
    current = views.snapshot(store, channels, ids, now)
    score = None
    if period is not None:
        previous = views.snapshot(store, channels, ids, now - period)
        posts = store.post_times([v.record.id for v in current], since=now - 2 * period, newest=0)
        score = scorecard(current, previous, posts, period, now)
    return build(current, now, simulated=simulated, score=score)
