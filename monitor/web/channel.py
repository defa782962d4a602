"""A channel's own page (``/channel/<id>``): its whole posting history, the intervals between
posts, the state's reasoning and thresholds, recent polls and notification events."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from monitor import cadence
from monitor.cadence import ActivityState
from monitor.explain import health, platform_name, posts, reason
from monitor.views import ChannelView
from monitor.web.charts import Chart, bar_chart
from monitor.web.history import ChannelHistory
from monitor.web.pages import Page, render, safe_link
from monitor.web.status import next_poll

WEEKLY_UP_TO = 156  # weeks of history shown week by week; a longer history month by month
WIDE = 900.0  # the wide charts' bars take about this many pixels together
_LABEL_WIDTH = 44.0  # room for one date under the bars

_EVENT_NAMES = {
    "state_changed": "state changed",
    "recovered": "recovered",
    "poll_failing": "cannot be read",
    "poll_recovered": "read again",
    "reminder": "reminder",
    "digest": "digest",
}


@dataclass(frozen=True, slots=True)
class PollRow:
    started: str
    result: str
    ok: bool
    new_posts: int
    requests: int
    seconds: str
    detail: str | None


def _counted(view: ChannelView, history: ChannelHistory) -> list[datetime]:
    """The posts that count, oldest first, up to the moment the channel was judged."""
    kinds = set(view.policy.count_kinds)
    return sorted(
        p.published_at
        for p in history.posts
        if p.kind in kinds and p.published_at <= view.judged_at
    )


def history_chart(page: Page, view: ChannelView, counted: Sequence[datetime]) -> Chart | None:
    """Posts per week since the first post (per month beyond WEEKLY_UP_TO weeks)."""
    if not counted:
        return None
    _ = page._
    end = view.judged_at
    weeks = int((end - counted[0]) / timedelta(weeks=1)) + 1
    if weeks <= WEEKLY_UP_TO:
        counts = [0] * weeks
        for published in counted:
            counts[weeks - 1 - int((end - published) / timedelta(weeks=1))] += 1
        starts = [end - timedelta(weeks=weeks - i) for i in range(weeks)]
        titles = [
            _("week of {date}: {posts}", date=page.day(s), posts=posts(n, page.lang))
            for s, n in zip(starts, counts, strict=True)
        ]
        labels = [page.day(s) for s in starts]
        what = _("posts per week since the first post")
    else:
        tz = page.options.timezone
        months = Counter(
            (p.astimezone(tz).year, p.astimezone(tz).month) for p in counted
        )  # calendar months in the page's time zone
        first, last = counted[0].astimezone(tz), end.astimezone(tz)
        keys = [
            (year, month)
            for year in range(first.year, last.year + 1)
            for month in range(1, 13)
            if (first.year, first.month) <= (year, month) <= (last.year, last.month)
        ]
        counts = [months[k] for k in keys]
        labels = [page.month(first.replace(year=y, month=m, day=1)) for y, m in keys]
        titles = [
            _("{month}: {posts}", month=label, posts=posts(n, page.lang))
            for label, n in zip(labels, counts, strict=True)
        ]
        what = _("posts per month since the first post")
    width, gap = _bars(len(counts))
    every = max(1, math.ceil(_LABEL_WIDTH / (width + gap)))
    newest = len(counts) - 1
    axis = [(i, labels[i]) for i in range(0, newest - every + 1, every)] + [(newest, _("now"))]
    return bar_chart(
        counts,
        titles=titles,
        axis=axis,
        summary=f"{what}: " + ", ".join(map(str, counts)),
        bar_width=width,
        gap=gap,
        height=140,
    )


def _bars(count: int) -> tuple[float, float]:
    """Bar width and gap so that ``count`` bars fill about WIDE pixels, within reason."""
    step = min(36.0, max(4.0, WIDE / max(1, count)))
    return round(step * 0.8, 1), round(step * 0.2, 1)


def interval_chart(page: Page, view: ChannelView, counted: Sequence[datetime]) -> Chart | None:
    """The newest intervals between posts, in days, with the usual gap and the quiet threshold."""
    gaps = cadence.intervals(counted)[-cadence.MAX_INTERVALS :]
    if not gaps:
        return None
    _ = page._
    days = [g.total_seconds() / 86400 for g in gaps]
    lines = []
    if view.cadence.usual_gap is not None:
        usual = view.cadence.usual_gap
        lines.append((usual.total_seconds() / 86400, _("usual gap"), "usual-gap"))
    quiet = reason(view).thresholds.quiet_after
    if quiet is not None:
        lines.append((quiet.total_seconds() / 86400, _("quiet after"), "quiet-after"))
    width, gap = _bars(len(days))
    return bar_chart(
        days,
        titles=[
            _("interval {n}: {days} days", n=i + 1, days=f"{d:.1f}") for i, d in enumerate(days)
        ],
        lines=lines,
        summary=_("Intervals between posts") + ": " + ", ".join(f"{d:.1f}" for d in days),
        bar_width=width,
        gap=gap,
        height=140,
        number="{:.3g}",
        whole=False,
    )


def poll_rows(page: Page, history: ChannelHistory) -> list[PollRow]:
    _ = page._
    rows = []
    for poll in history.polls:
        if poll.ok:
            result = _("not modified") if poll.not_modified else _("ok")
        else:
            result = f"{_('failed')}: {poll.error_reason or '?'}"
        rows.append(
            PollRow(
                started=page.at(poll.started_at),
                result=result,
                ok=poll.ok,
                new_posts=poll.new_posts,
                requests=poll.requests,
                seconds=f"{(poll.finished_at - poll.started_at).total_seconds():.1f}",
                detail=poll.error_detail,
            )
        )
    return rows


def event_rows(page: Page, history: ChannelHistory) -> list[tuple[str, str, str]]:
    """(when, what, change) for each event, the newest first."""
    _ = page._
    rows = []
    for event in history.events:
        change = ""
        if event.new_state:
            old = page.state(ActivityState(event.old_state)) if event.old_state else "–"
            change = f"{old} → {page.state(ActivityState(event.new_state))}"
        what = _(_EVENT_NAMES.get(event.kind.value, event.kind.value))
        rows.append((page.at(event.at), what, change))
    return rows


def channel_page(
    view: ChannelView, history: ChannelHistory, page: Page, planned: datetime | None
) -> str:
    """The page of one channel."""
    _ = page._
    record, assessed = view.record, view.cadence
    why = reason(view)
    how = health(view)
    counted = _counted(view, history)
    figures: list[tuple[str, Any]] = [
        (_("silence"), page.duration(assessed.silence) if assessed.silence is not None else "–"),
        (
            _("usual gap"),
            page.duration(assessed.usual_gap) if assessed.usual_gap is not None else "–",
        ),
    ]
    figures += [
        (_("posts in the last {period}", period=page.duration(cadence.WINDOWS[w])), n)
        for w, n in assessed.recent_posts.items()
    ]
    if record.followers is not None:
        figures.append((_("followers"), record.followers))
    limits = why.thresholds
    quiet = (
        _(
            "{factor} × the usual gap: {silence} of silence",
            factor=f"{limits.quiet_factor:g}",
            silence=page.duration(limits.quiet_after),
        )
        if limits.quiet_after is not None
        else _("too few posts to know a usual gap")
    )
    thresholds = [
        (_("inactive after"), page.duration(limits.inactive_after)),
        (_("dormant after"), page.duration(limits.dormant_after)),
        (_("quiet after"), quiet),
        (
            _("target posts"),
            _(
                "{target} in {period}",
                target=limits.target_posts,
                period=page.duration(limits.target_period),
            ),
        ),
        (_("counted"), ", ".join(limits.counted_kinds)),
    ]
    return render(
        "channel.html",
        **page.common(),
        name=record.name or view.handle,
        organisation=view.organisation,
        platform=platform_name(view.platform),
        handle=view.handle,
        url=safe_link(record.url),
        state=view.state.value,
        state_name=page.state(view.state),
        reason=why.text(page.lang, page.options.timezone),
        health=how,
        health_text=how.text(page.lang),
        action=how.action(page.lang),
        last_poll=(
            _("last poll {when}", when=page.ago(record.last_poll_at))
            if record.last_poll_at
            else _("not polled yet")
        ),
        last_poll_at=page.at(record.last_poll_at),
        next_poll=next_poll(page, view, planned),
        thresholds=thresholds,
        figures=figures,
        history=history_chart(page, view, counted),
        intervals=interval_chart(page, view, counted),
        interval_count=min(len(counted) - 1, cadence.MAX_INTERVALS) if counted else 0,
        polls=poll_rows(page, history),
        events=event_rows(page, history),
    )


def missing_page(page: Page) -> str:
    """The 404 page for a channel number that is not configured."""
    return render("missing.html", **page.common())
