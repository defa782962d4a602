"""The report in its formats: Markdown and HTML from Jinja2 templates, CSV in plain units.

HTML is autoescaped and self-contained (one stylesheet inline, charts as inline SVG, no script),
so it can be mailed or printed as it is. Markdown cells are plain one-line text with ``|``
escaped. CSV cells are numbers in base units (seconds) or days as plain numbers, never "0.5 d"
or "–"; text cells that a spreadsheet would read as a formula get a quote first.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from functools import cache

import jinja2

from monitor.cadence import STATES, ActivityState
from monitor.explain import platform_name, state_meaning, state_name
from monitor.report.model import NOT_KEPT_UP, RATE_WINDOWS, PlatformRow, Report
from monitor.untrusted import plain

TEXT_FORMATS = ("md", "html", "csv")

STATE_COLOURS: dict[ActivityState, str] = {
    ActivityState.ACTIVE: "#2e7d32",
    ActivityState.BELOW_TARGET: "#b7950b",
    ActivityState.QUIET: "#e67e22",
    ActivityState.INACTIVE: "#c0392b",
    ActivityState.DORMANT: "#7b241c",
    ActivityState.NEVER_POSTED: "#7d3c98",
    ActivityState.PARKED: "#95a5a6",
    ActivityState.UNKNOWN: "#bdc3c7",
}
DAY = 86400.0
SHOWN_STATES: tuple[ActivityState, ...] = tuple(reversed(STATES))
"""The states as the survey lists them: active first, unknown last."""


def render(report: Report, fmt: str) -> str:
    """The report as text in ``fmt`` (one of TEXT_FORMATS)."""
    if fmt == "csv":
        return to_csv(report)
    if fmt not in TEXT_FORMATS:
        raise ValueError(f"unknown report format {fmt!r}")
    return _environment().get_template(f"report.{fmt}").render(report=report)


# --- CSV ------------------------------------------------------------------------------------------

CSV_HEADER = (
    "organisation",
    "platform",
    "channel",
    "state",
    "name",
    "url",
    "reason",
    "poll_ok",
    "poll",
    "silence_seconds",
    "silence_days",
    *(f"posts_per_week_{w}" for w in RATE_WINDOWS),
    "usual_gap_seconds",
    "usual_gap_days",
    "target_posts",
    "target_period_days",
    "posts_in_target_period",
)
SCORE_HEADER = (
    "period_days",
    "posts_in_period",
    "posts_in_previous_period",
    "change",
    "period_target",
    "target_met",
    "previous_state",
)
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def to_csv(report: Report) -> str:
    """One row per channel; with a scorecard, its columns too (blank for unscored channels)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    score = report.scorecard
    writer.writerow(CSV_HEADER + (SCORE_HEADER if score else ()))
    scored = {(r.organisation, r.platform, r.channel): r for r in score.channels} if score else {}
    for row in report.channels:
        cells: list[str | int | float | None] = [
            *map(_text, (row.organisation, row.platform, row.channel, row.state.value)),
            *map(_text, (row.name or "", row.url or "", row.reason)),
            _flag(row.poll_ok),
            _text(row.poll),
            _number(row.silence_seconds, 0),
            _days(row.silence_seconds),
            *(_number(row.posts_per_week[w], 2) for w in RATE_WINDOWS),
            _number(row.usual_gap_seconds, 0),
            _days(row.usual_gap_seconds),
            row.target_posts,
            _days(row.target_period_seconds),
            row.posts_in_target_period,
        ]
        if score:
            s = scored.get((row.organisation, row.platform, row.channel))
            cells.append(_days(score.period.total_seconds()))
            if s is None:
                cells.extend([None] * (len(SCORE_HEADER) - 1))
            else:
                cells.extend(
                    [
                        s.posts,
                        s.previous_posts,
                        s.change,
                        _number(s.target, 2),
                        _flag(s.met) if s.target > 0 else None,
                        s.previous_state.value,
                    ]
                )
        writer.writerow(["" if c is None else c for c in cells])
    return out.getvalue()


def _text(value: str) -> str:
    """A cell a spreadsheet reads as text: one starting like a formula gets a single quote
    before it (OWASP, "CSV Injection"). Organisation names come from anyone's CSV."""
    value = plain(value)
    return "'" + value if value.startswith(_FORMULA_STARTS) else value


def _number(value: float | None, digits: int) -> int | float | None:
    if value is None:
        return None
    rounded = round(value, digits)
    return int(rounded) if digits == 0 or rounded == int(rounded) else rounded


def _days(seconds: float | None) -> int | float | None:
    return None if seconds is None else _number(seconds / DAY, 2)


def _flag(value: bool | None) -> str | None:
    return None if value is None else ("true" if value else "false")


# --- Markdown and HTML ----------------------------------------------------------------------------


@cache
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("monitor.report", "templates"),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default=False),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(
        cell=md_cell,
        days=days,
        percent=percent,
        signed=signed,
        state=state_name,
        platform=platform_name,
        rate=lambda value: f"{value:.1f}",
        period=period_words,
    )
    env.globals.update(
        STATES=SHOWN_STATES,
        NOT_KEPT_UP=NOT_KEPT_UP,
        RATE_WINDOWS=RATE_WINDOWS,
        COLOURS=STATE_COLOURS,
        meaning=state_meaning,
        stack=stack,
        sparkline=sparkline,
        kept_up_words=kept_up_words,
        percent=percent,
    )
    return env


def md_cell(value: object) -> str:
    """Outside text as one Markdown table cell: no control characters, no line breaks, ``|``
    escaped."""
    return plain(str(value)).replace("\\", "\\\\").replace("|", "\\|")


def days(seconds: float | None) -> str:
    """A duration for people: "41 d", "2.5 d", "5 h", or "–" when there is none."""
    if seconds is None:
        return "–"
    if seconds < DAY:
        return f"{seconds / 3600:.0f} h"
    value = seconds / DAY
    return f"{value:.0f} d" if value >= 10 else f"{value:.1f} d"


def percent(count: int, total: int) -> str:
    return f"{100 * count / total:.0f}%" if total else "–"


def signed(value: float) -> str:
    return f"{value:+.0f}" if value else "±0"


def kept_up_words(row: PlatformRow) -> str:
    """The survey's sentence: "6 of 20 Instagram channels not kept up (30%)"."""
    return (
        f"{row.not_kept_up} of {row.channels} {platform_name(row.platform)} "
        f"channel{'s' if row.channels != 1 else ''} not kept up "
        f"({percent(row.not_kept_up, row.channels)})"
    )


@dataclass(frozen=True, slots=True)
class Segment:
    """One state's part of a stacked bar."""

    state: ActivityState
    count: int
    x: float
    width: float


def stack(row: PlatformRow, width: float = 300) -> list[Segment]:
    """A platform's channels by state as segments of a bar ``width`` wide (contract order)."""
    segments, x = [], 0.0
    for state in SHOWN_STATES:
        count = row.states[state]
        if count:
            part = width * count / row.channels
            segments.append(Segment(state, count, round(x, 2), round(part, 2)))
            x += part
    return segments


@dataclass(frozen=True, slots=True)
class Bar:
    """One week's bar in a sparkline."""

    x: float
    y: float
    width: float
    height: float
    count: int


@dataclass(frozen=True, slots=True)
class Sparkline:
    """Weekly posts as bars, scaled to the largest week (``top``, labelled on the chart)."""

    bars: tuple[Bar, ...]
    top: int
    width: float
    height: float


def sparkline(values: Sequence[int], width: float = 104, height: float = 24) -> Sparkline:
    """Bars for ``values`` (oldest first) in a ``width`` × ``height`` box, one pixel apart."""
    top = max(values, default=0)
    step = width / max(1, len(values))
    bars = tuple(
        Bar(
            x=round(i * step, 2),
            y=round(height - (height * v / top if top else 0), 2),
            width=round(max(1.0, step - 1), 2),
            height=round(height * v / top if top else 0, 2),
            count=v,
        )
        for i, v in enumerate(values)
    )
    return Sparkline(bars, top, width, height)


def period_words(period: timedelta) -> str:
    """A period for headings: "14 days"."""
    return f"{period.total_seconds() / DAY:g} days"
