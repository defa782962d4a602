"""The status page (``/``): every channel grouped by organisation, worst first, with filters
that live in the query string, a legend, the reason for each state and its poll health."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from monitor.cadence import STATES
from monitor.explain import Health, health, platform_name, posts, reason
from monitor.report import survey
from monitor.settings import PLATFORMS
from monitor.views import CHART_WEEKS, ChannelView
from monitor.web.charts import Chart, bar_chart
from monitor.web.pages import WORST_FIRST, Page, needs_attention, rank, render, safe_link

ATTENTION = "attention"  # the state filter's "needs attention"


@dataclass(frozen=True, slots=True)
class Filters:
    """What the status page shows, from its query string: ``state``, ``platform``, ``org``."""

    state: str = ""  # "", ATTENTION or a state's value
    platform: str = ""
    organisation: str = ""

    @classmethod
    def parse(cls, query: Mapping[str, str]) -> Filters:
        state = query.get("state", "")
        known = {ATTENTION, *(s.value for s in STATES)}
        return cls(
            state=state if state in known else "",
            platform=query.get("platform", ""),
            organisation=query.get("org", ""),
        )

    @property
    def active(self) -> bool:
        return bool(self.state or self.platform or self.organisation)

    def keep(self, view: ChannelView) -> bool:
        if self.platform and view.platform != self.platform:
            return False
        if self.organisation and view.organisation != self.organisation:
            return False
        if self.state == ATTENTION:
            return needs_attention(view)
        return not self.state or view.state.value == self.state

    def query(self, lang: str | None = None) -> str:
        """The query string that shows the same, for links."""
        pairs = [("state", self.state), ("platform", self.platform), ("org", self.organisation)]
        pairs.append(("lang", lang or ""))
        return urlencode([(k, v) for k, v in pairs if v])


@dataclass(frozen=True, slots=True)
class ChannelRow:
    """One channel as the status page shows it."""

    id: int
    name: str
    handle: str
    url: str | None
    platform: str
    state: str
    state_name: str
    reason: str
    attention: bool
    last_post: str
    last_post_at: str
    target: str
    chart: Chart
    last_poll: str
    last_poll_at: str
    next_poll: str
    health: Health
    health_text: str
    action: str | None


@dataclass(frozen=True, slots=True)
class Group:
    organisation: str
    rows: tuple[ChannelRow, ...]
    attention: int  # channels that need attention


def weekly_chart(page: Page, view: ChannelView) -> Chart:
    """The last CHART_WEEKS weeks of posts, oldest first, ending when the channel was judged."""
    _ = page._
    starts = [view.judged_at - timedelta(weeks=CHART_WEEKS - i) for i in range(CHART_WEEKS)]
    counts = list(view.weekly_posts)
    return bar_chart(
        counts,
        titles=[
            _("week of {date}: {posts}", date=page.day(start), posts=posts(n, page.lang))
            for start, n in zip(starts, counts, strict=True)
        ],
        axis=[(0, page.day(starts[0])), (CHART_WEEKS - 1, _("now"))],
        summary=f"{_('posts per week')}, {page.day(starts[0])}–{_('now')}: "
        + ", ".join(map(str, counts)),
        bar_width=6,
        gap=2,
        height=56,
    )


def next_poll(page: Page, view: ChannelView, planned: datetime | None) -> str:
    """The scheduler's plan, or about one interval after the last poll when it has none here
    (a standby, or a channel not planned yet)."""
    _ = page._
    if planned is not None:
        return _("next poll {when}", when=page.ahead(planned))
    last = view.record.last_poll_at
    if last is None:
        return ""
    left = last + view.settings.poll_interval - page.now
    if left < timedelta(minutes=1):
        return _("next poll due now")
    return _("next poll in about {duration}", duration=page.duration(left))


def channel_row(page: Page, view: ChannelView, planned: datetime | None) -> ChannelRow:
    _ = page._
    record, assessed, policy = view.record, view.cadence, view.policy
    how = health(view)
    last = assessed.last_post_at
    return ChannelRow(
        id=record.id,
        name=record.name or view.handle,
        handle=view.handle,
        url=safe_link(record.url),
        platform=platform_name(view.platform),
        state=view.state.value,
        state_name=page.state(view.state),
        reason=reason(view).text(page.lang, page.options.timezone),
        attention=needs_attention(view),
        last_post=_("last post {when}", when=page.ago(last)) if last else _("no post yet"),
        last_post_at=page.at(last),
        target=_(
            "{count} in {period}, target {target}",
            count=posts(assessed.posts_in_target_period, page.lang),
            target=policy.target_posts,
            period=page.duration(policy.target_period),
        ),
        chart=weekly_chart(page, view),
        last_poll=(
            _("last poll {when}", when=page.ago(record.last_poll_at))
            if record.last_poll_at
            else _("not polled yet")
        ),
        last_poll_at=page.at(record.last_poll_at),
        next_poll=next_poll(page, view, planned),
        health=how,
        health_text=how.text(page.lang),
        action=how.action(page.lang),
    )


def groups(
    page: Page, views: Sequence[ChannelView], planned: Mapping[int, datetime]
) -> list[Group]:
    """Organisations worst first, each with its channels worst first."""
    by_org: dict[str, list[ChannelView]] = {}
    for view in sorted(views, key=rank):
        by_org.setdefault(view.organisation, []).append(view)
    ordered = sorted(by_org.items(), key=lambda item: (rank(item[1][0]), item[0].lower()))
    return [
        Group(
            organisation,
            tuple(channel_row(page, v, planned.get(v.record.id)) for v in members),
            sum(1 for v in members if needs_attention(v)),
        )
        for organisation, members in ordered
    ]


def summary(page: Page, views: Sequence[ChannelView]) -> dict[str, Any]:
    """The survey's view: per platform, organisations with a channel and channels per state."""
    return {
        "states": [(s.value, page.state(s)) for s in STATES],
        "rows": [
            (platform_name(s.platform), s.organisations, [s.states[state] for state in STATES])
            for s in survey(views)
        ],
    }


def status_page(
    views: Sequence[ChannelView],
    page: Page,
    query: Mapping[str, str] | None = None,
    planned: Mapping[int, datetime] | None = None,
) -> str:
    """The status page for ``views``, filtered by ``query``; ``planned`` are the next polls."""
    filters = Filters.parse(query or {})
    shown = [v for v in views if filters.keep(v)]
    platforms = [p for p in PLATFORMS if any(v.platform == p for v in views)]
    return render(
        "status.html",
        **page.common(),
        filters=filters,
        attention_filter=ATTENTION,
        state_options=[(s.value, page.state(s)) for s in WORST_FIRST],
        platform_options=[(p, platform_name(p)) for p in platforms],
        organisation_options=sorted({v.organisation for v in views}, key=str.lower),
        shown=len(shown),
        total=len(views),
        groups=groups(page, shown, planned or {}),
        summary=summary(page, views),
        legend=page.legend(),
        language_links=[
            (code, label, Filters.query(filters, code))
            for code, label in (("en", "English"), ("nl", "Nederlands"))
        ],
    )
