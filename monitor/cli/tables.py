"""What ``check``, ``status`` and ``validate`` print: compact tables for people, JSON for scripts.

Every cell is a ``Text`` of plain outside text: names, handles and error details come from
platforms and the configuration, and "[/bold]" in them is text, not rich markup.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Sequence
from datetime import timedelta

from rich.console import Console
from rich.table import Table
from rich.text import Text

from monitor.api import channel_json
from monitor.cadence import STATES
from monitor.config import format_duration
from monitor.explain import health, platform_name, reason, state_name
from monitor.records import ChannelKey
from monitor.report.render import days
from monitor.settings import Settings
from monitor.untrusted import plain
from monitor.views import ChannelView, moved_label

STYLES = {
    "active": "green",
    "below_target": "yellow",
    "quiet": "dark_orange",
    "inactive": "red",
    "dormant": "bold red",
    "never_posted": "magenta",
    "parked": "dim",
    "unknown": "dim",
}
PIPE_WIDTH = 1000  # a table sent to a pipe or file: one line per channel, nothing folds


def console(*, stderr: bool = False) -> Console:
    """A console for tables: the terminal's width, or a wide one when output goes to a pipe."""
    stream = sys.stderr if stderr else sys.stdout
    return Console(highlight=False, stderr=stderr, width=None if stream.isatty() else PIPE_WIDTH)


def cell(text: str) -> Text:
    """Outside text as a table shows it: no rich markup, no terminal escapes, one line."""
    return Text(plain(text))


def print_views(
    views: Sequence[ChannelView], fmt: str, *, verbose: bool = False, simulated: bool = False
) -> None:
    """Each channel's state: a table (compact, or wider with ``verbose``) or JSON."""
    if fmt == "json":
        json.dump([channel_json(v) for v in views], sys.stdout, indent=2)
        sys.stdout.write("\n")
        return
    title = "Channel activity" + (" (simulated data)" if simulated else "")
    out = console()
    fit = out.is_terminal  # share a terminal's width out; in a pipe, one line per channel
    table = Table(pad_edge=False)
    if fit:  # the organisation with its channel's name under it, when that says more
        table.add_column("organisation / channel", overflow="ellipsis", max_width=36)
    else:
        table.add_column("organisation")
        table.add_column("channel")
    table.add_column("platform", no_wrap=True)
    if verbose:
        table.add_column("handle", overflow="fold")
    table.add_column("state", no_wrap=True)
    table.add_column("why", ratio=1 if fit else None, min_width=20)
    table.add_column("silence", justify="right", no_wrap=True)
    table.add_column("posts 30 d", justify="right")
    if verbose:
        table.add_column("usual gap", justify="right")
    table.add_column(
        "poll",
        ratio=1 if verbose and fit else None,
        max_width=24 if fit and not verbose else None,
        min_width=10,
    )
    for v in views:
        state = v.state.value
        name = plain(v.record.name or v.handle)
        if fit:
            who = [Text(plain(v.organisation))]
            if name != who[0].plain:
                who[0].append("\n" + name, style="dim")
        else:
            who = [cell(v.organisation), cell(name)]
        row = [
            *who,
            cell(platform_name(v.platform)),
            *([cell(v.handle)] if verbose else []),
            Text(state_name(v.state), style=STYLES.get(state, "")),
            cell(reason(v).text("en")),
            cell(_silence(v)),
            cell(str(v.cadence.recent_posts.get("30d", 0))),
            *([cell(days(_seconds(v.cadence.usual_gap)))] if verbose else []),
            Text(plain(health(v).text("en")), style="" if v.record.last_poll_ok else "yellow"),
        ]
        table.add_row(*row)
    out.print(Text(title, style="bold"))
    out.print(table)
    out.print(cell(_summary(views)))
    if verbose:
        _print_problems(out, views)
    print_moves(out, [(v.organisation, v.platform, v.handle, v.moved_to) for v in views])


def _silence(view: ChannelView) -> str:
    return days(_seconds(view.cadence.silence))


def _seconds(value: timedelta | None) -> float | None:
    return value.total_seconds() if value is not None else None


def _summary(views: Sequence[ChannelView]) -> str:
    """One line under the table: "20 channels: 17 active, 2 inactive, 1 unknown"."""
    counts = Counter(v.state for v in views)
    parts = [f"{counts[s]} {state_name(s)}" for s in reversed(STATES) if counts[s]]
    failing = sum(1 for v in views if v.record.last_poll_ok is False)
    text = f"{len(views)} channel{'s' if len(views) != 1 else ''}"
    if parts:
        text += ": " + ", ".join(parts)
    if failing:
        text += f"; {failing} could not be read (--verbose says why)"
    return text


def _print_problems(out: Console, views: Sequence[ChannelView]) -> None:
    """Each channel whose poll needs a look, in full: what the platform said, what to do."""
    for v in views:
        how = health(v)
        if v.record.last_poll_ok is not False and not how.profile_note:
            continue
        lines = [f"{v.organisation} · {platform_name(v.platform)} · {v.handle}: {how.text('en')}"]
        if how.detail:
            lines.append(f"  the platform said: {how.detail}")
        if (todo := how.action("en")) is not None:
            lines.append(f"  what to do: {todo}")
        for line in lines:
            out.print(cell(line), style="yellow", overflow="fold")


def print_moves(out: Console, moves: Sequence[tuple[str, str, str, str | None]]) -> None:
    """Channels whose address moved for good (a feed's 301 or 308), and where to."""
    for organisation, platform, handle, moved_to in moves:
        if moved_to:
            out.print(
                cell(
                    f"{organisation} {platform} {handle} moved to {moved_to}: update the "
                    "configuration"
                ),
                style="yellow",
            )


def print_validation(settings: Settings, moved: dict[ChannelKey, str], protection: str) -> None:
    """What ``validate`` prints: every channel with its resolved thresholds, then a summary."""
    out = console()
    table = Table(title=cell(f"{settings.source}: valid"), title_justify="left")
    for column in (
        "organisation",
        "platform",
        "channel",
        "every",
        "inactive after",
        "dormant after",
        "target",
    ):
        table.add_column(column, overflow="fold")
    for c in settings.channels:
        p = c.policy
        target = (
            f"{p.target_posts} per {format_duration(p.target_period)}" if p.target_posts else "none"
        )
        cells = (
            c.organisation,
            c.platform,
            c.label + (" (parked)" if c.parked else ""),
            format_duration(c.poll_interval),
            format_duration(p.inactive_after),
            format_duration(p.dormant_after),
            target,
        )
        table.add_row(*map(cell, cells))
    out.print(table)
    print_moves(out, [(*c.key, moved_label(moved.get(c.key))) for c in settings.channels])
    platforms = sorted({c.platform for c in settings.channels})
    out.print(
        f"{len(settings.organisations)} organisations, {len(settings.channels)} channels"
        + (f" on {', '.join(platforms)}" if platforms else "")
        + f"; database {settings.monitor.database.split('://')[0]}, listening on "
        f"{settings.monitor.listen}{protection}",
        markup=False,
    )
