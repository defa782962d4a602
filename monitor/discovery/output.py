"""``discover`` for people and scripts: a table, JSON, or the TOML lines to add."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from monitor.discovery.compare import Finding
from monitor.discovery.model import LinkedChannel
from monitor.timestamps import rfc3339
from monitor.untrusted import plain

FORMATS = ("table", "json", "toml")
GROUPS = {  # the three lists, and the others, as people read them
    "both": "monitored and linked",
    "unmonitored": "linked, not monitored",
    "not_linked": "monitored, not linked",
    "unresolved": "linked, could not be checked",
    "missing": "linked, does not exist",
}
PARKED = '# a channel kept only to hold its name: give it as { handle = "…", parked = true }'


def as_json(findings: Sequence[Finding]) -> list[dict[str, Any]]:
    """Plain data, one object per organisation."""
    return [_json(f) for f in findings]


def _json(finding: Finding) -> dict[str, Any]:
    check, comparison = finding.check, finding.comparison
    shown = comparison.check or check
    return {
        "organisation": check.organisation,
        "website": check.website,
        "checked_at": rfc3339(check.checked_at),
        "error": check.error,
        "read_at": rfc3339(shown.checked_at) if comparison.check else None,
        "final_url": shown.final_url,
        "pages": list(shown.pages),
        "monitored_and_linked": [
            {**_linked(linked), "channel": channel.label} for linked, channel in comparison.both
        ],
        "linked_not_monitored": [
            {**_linked(linked), "toml": toml_line(linked)} for linked in comparison.unmonitored
        ],
        "monitored_not_linked": [
            {"platform": c.platform, "channel": c.label, "parked": c.parked}
            for c in comparison.not_linked
        ],
        "could_not_check": [_linked(linked) for linked in comparison.unresolved],
        "does_not_exist": [_linked(linked) for linked in comparison.missing],
        "elsewhere": [{"platform": a.reason, "url": a.url} for a in shown.elsewhere],
        "ignored": [{"url": a.url, "reason": a.reason} for a in shown.ignored],
        "notes": list(shown.notes),
    }


def _linked(linked: LinkedChannel) -> dict[str, Any]:
    return {
        "platform": linked.platform,
        "handle": linked.handle,
        "linked_as": linked.name,
        "url": linked.url,
        "sources": list(linked.sources),
        "note": linked.note,
    }


def toml_line(linked: LinkedChannel) -> str:
    """The configuration line for a linked channel (a comment while its handle is unknown)."""
    where = "; ".join(linked.sources[:2])
    if linked.handle is None:
        return f'# {linked.platform} = "…"  # {linked.url}: {linked.note or "handle unknown"}'
    named = f"{linked.name}, " if linked.name not in (linked.handle, linked.url) else ""
    return f"{linked.platform} = {json.dumps(linked.handle)}  # {named}{where}"


def as_toml(findings: Sequence[Finding]) -> str:
    """The lines to add to each organisation's ``[[organisation]]`` table."""
    blocks = []
    for finding in findings:
        comparison = finding.comparison
        if not comparison.unmonitored:
            continue
        configured = {c.platform for _, c in comparison.both}
        configured |= {c.platform for c in comparison.not_linked}
        lines = [
            f"# {plain(comparison.organisation)} ({comparison.website}): linked, not monitored.",
            "# Add to its [[organisation]] table (or its row of the CSV):",
        ]
        by_platform: dict[str, list[LinkedChannel]] = {}
        for linked in comparison.unmonitored:
            by_platform.setdefault(linked.platform, []).append(linked)
        for platform, found in by_platform.items():
            known = [f for f in found if f.handle]
            handles = ", ".join(json.dumps(f.handle) for f in known)
            if known and platform in configured:
                lines.append(f"# {platform}: add to the channels already there: {handles}")
            elif len(known) > 1:
                lines.append(f"{platform} = [{handles}]  # {', '.join(f.name for f in known)}")
            else:
                lines.extend(toml_line(f) for f in known)
            lines.extend(toml_line(f) for f in found if not f.handle)
        lines.append(PARKED)
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + ("\n" if blocks else "")


def print_table(console: Console, findings: Sequence[Finding]) -> None:
    """One table per organisation, then the TOML lines to add."""
    for finding in findings:
        check, comparison = finding.check, finding.comparison
        title = f"{check.organisation}: {check.website}"
        if check.error:
            console.print(Text(f"{title}: could not be read: {check.error}", style="red"))
            if comparison.check is None:
                continue
            console.print(Text(f"  as last read on {comparison.check.checked_at:%Y-%m-%d}:"))
        table = Table(title=Text(plain(title)), title_justify="left")
        for column in ("", "platform", "channel", "where / why"):
            table.add_column(column, overflow="fold")
        for linked, channel in comparison.both:
            table.add_row(*_cells(GROUPS["both"], linked.platform, channel.label, linked))
        for linked in comparison.unmonitored:
            name = linked.handle or linked.name
            if linked.handle and linked.name not in (linked.handle, linked.url):
                name = f"{linked.handle} ({linked.name})"  # the id, and the name as linked
            row = _cells(GROUPS["unmonitored"], linked.platform, name, linked)
            table.add_row(*row, style="yellow")
        for channel in comparison.not_linked:
            label = channel.label + (" (parked)" if channel.parked else "")
            table.add_row(*map(_cell, (GROUPS["not_linked"], channel.platform, label, "")))
        for key in ("unresolved", "missing"):
            for linked in getattr(comparison, key):
                table.add_row(*_cells(GROUPS[key], linked.platform, linked.name, linked, note=True))
        console.print(table)
        shown = comparison.check or check
        if shown.elsewhere:
            platforms = ", ".join(sorted({a.reason for a in shown.elsewhere}))
            console.print(Text(f"  also linked, on platforms not monitored: {platforms}"))
        for note in shown.notes:
            console.print(Text(f"  note: {plain(note)}", style="dim"))
        if shown.ignored:
            console.print(
                Text(f"  {len(shown.ignored)} other link(s) to platforms ignored (--format json)")
            )
    if toml := as_toml(findings):
        console.print()
        console.print(Text(toml.rstrip("\n")), soft_wrap=True)  # a wrapped line is not TOML


def _cells(
    group: str, platform: str, channel: str, linked: LinkedChannel, *, note: bool = False
) -> list[Text]:
    where = linked.note if note and linked.note else ", ".join(linked.sources)
    if not note and linked.note:
        where += f" ({linked.note})"
    return [_cell(group), _cell(platform), _cell(channel), _cell(where)]


def _cell(text: str) -> Text:
    return Text(plain(text))
