"""What every page shares: its options, its language, times in its time zone, the templates.

Templates are Jinja2 with autoescaping on: every name, URL and message a platform supplies is
escaped where it is written into the page.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

import jinja2

from monitor.cadence import FLAGGED, ActivityState
from monitor.explain import (
    Level,
    ago,
    ahead,
    duration,
    every,
    health,
    moment,
    state_meaning,
    state_name,
)
from monitor.settings import MonitorSettings
from monitor.views import ChannelView
from monitor.web.i18n import translator

CSP = (
    "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
"""The pages' Content-Security-Policy: their own stylesheet and script, nothing inline."""

WORST_FIRST: tuple[ActivityState, ...] = (
    ActivityState.NEVER_POSTED,
    ActivityState.DORMANT,
    ActivityState.INACTIVE,
    ActivityState.QUIET,
    ActivityState.UNKNOWN,
    ActivityState.BELOW_TARGET,
    ActivityState.ACTIVE,
    ActivityState.PARKED,
)
"""The order of the status page and its legend: what needs attention most comes first."""

_MONTHS = {
    "en": ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"],
    "nl": ["jan", "feb", "mrt", "apr", "mei", "jun", "jul", "aug", "sep", "okt", "nov", "dec"],
}


def _default_timezone() -> tzinfo:
    return ZoneInfo(MonitorSettings().timezone)


@dataclass(frozen=True, slots=True)
class PageOptions:
    """How the pages are shown: the time zone, the language, and whether the data are made up."""

    timezone: tzinfo = field(default_factory=_default_timezone)
    language: str = "auto"  # "en", "nl", or "auto": the browser's Accept-Language
    simulated: bool = False  # the demo's data: every page says so
    refresh: timedelta = timedelta(minutes=1)

    @classmethod
    def from_settings(cls, monitor: MonitorSettings) -> PageOptions:
        """The page options of ``[monitor]``: time zone, language, and whether the data is
        simulated (``simulated = true``, the demo's), which every page then says."""
        return cls(ZoneInfo(monitor.timezone), monitor.language, monitor.simulated)


@dataclass(frozen=True, slots=True)
class Page:
    """One request's page: its options, language and moment."""

    options: PageOptions
    lang: str
    now: datetime

    @property
    def _(self) -> Callable[..., str]:
        """The page's words: ``_("last poll {when}", when=…)``."""
        return translator(self.lang)

    def at(self, value: datetime | None) -> str:
        """A moment in the page's time zone, to the minute."""
        return moment(value, self.options.timezone) if value is not None else ""

    def ago(self, value: datetime) -> str:
        return ago(max(timedelta(0), self.now - value), self.lang)

    def ahead(self, value: datetime) -> str:
        return ahead(max(timedelta(0), value - self.now), self.lang)

    def duration(self, value: timedelta) -> str:
        return duration(value, self.lang)

    def day(self, value: datetime) -> str:
        """A date, short: "1 Jun", "1 jun"."""
        local = value.astimezone(self.options.timezone)
        return f"{local.day} {_MONTHS[self.lang][local.month - 1]}"

    def month(self, value: datetime) -> str:
        """A month: "Jun 2026"."""
        local = value.astimezone(self.options.timezone)
        return f"{_MONTHS[self.lang][local.month - 1]} {local.year}"

    def state(self, state: ActivityState) -> str:
        return state_name(state, self.lang)

    def legend(self) -> list[tuple[str, str, str]]:
        """(state, name, meaning) for every state, worst first."""
        return [(s.value, self.state(s), state_meaning(s, self.lang)) for s in WORST_FIRST]

    def common(self) -> dict[str, Any]:
        """What the base template needs."""
        return {
            "_": self._,
            "lang": self.lang,
            "simulated": self.options.simulated,
            "refresh_seconds": int(self.options.refresh.total_seconds()),
            "refresh_words": every(self.options.refresh, self.lang),
            "as_of": self.at(self.now),
            "as_of_iso": self.now.isoformat(),
        }


def needs_attention(view: ChannelView) -> bool:
    """A flagged state, or polls that fail (parked channels never need attention)."""
    if view.settings.parked:
        return False
    return view.state in FLAGGED or health(view).level in (Level.WARNING, Level.ERROR)


def rank(view: ChannelView) -> tuple[int, int, str]:
    """Worst first: by state, then failing polls, then name."""
    failing = 0 if view.poll_failing else 1
    return (WORST_FIRST.index(view.state), failing, (view.record.name or view.handle).lower())


def safe_link(url: str | None) -> str | None:
    """A platform's URL as a link target: http(s) only (the store keeps no other)."""
    return url if url and url.lower().startswith(("https://", "http://")) else None


_templates = jinja2.Environment(
    loader=jinja2.PackageLoader("monitor.web", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def render(template: str, **context: Any) -> str:
    """A page from ``templates/``, every value escaped unless marked safe."""
    return _templates.get_template(template).render(**context)
