"""``channel-monitor report``: the survey's view of a set of organisations.

First, per platform, how many organisations have a channel and how many channels are active,
below target, quiet, inactive, dormant, never posted, parked or unknown; then the organisation ×
platform grid; then each channel's silence, posts per week, usual gap, target and actual; for a
period, the KPI scorecard against the period before. ``model`` builds it from judged views
(pure); ``render`` lays it out as Markdown, HTML (Jinja2 templates) or CSV.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from monitor import views
from monitor.discovery.compare import Finding
from monitor.records import ChannelKey
from monitor.report.model import Report, Scorecard, build, scorecard, survey
from monitor.report.render import TEXT_FORMATS, render
from monitor.report.websites import WEBSITE_HEADER, WebsiteCounts, website_counts, website_rows
from monitor.settings import ChannelSettings
from monitor.storage import Store

REPORT_FORMATS = TEXT_FORMATS

__all__ = [
    "REPORT_FORMATS",
    "WEBSITE_HEADER",
    "Report",
    "Scorecard",
    "WebsiteCounts",
    "build",
    "gather",
    "render",
    "scorecard",
    "survey",
    "website_counts",
    "website_rows",
]


def gather(
    store: Store,
    channels: Sequence[ChannelSettings],
    ids: Mapping[ChannelKey, int],
    now: datetime,
    *,
    period: timedelta | None = None,
    simulated: bool = False,
    websites: Sequence[Finding] = (),
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
    return build(current, now, simulated=simulated, score=score, websites=websites)
