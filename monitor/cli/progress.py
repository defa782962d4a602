"""``check``'s progress bar: on a terminal only, so pipes, files and JSON get the result alone."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)

from monitor.explain import platform_name
from monitor.jobs import PollReport
from monitor.settings import ChannelSettings
from monitor.untrusted import plain

Done = Callable[[ChannelSettings, PollReport], None]


def wanted(fmt: str, enabled: bool) -> bool:
    """A bar only for a table on a terminal: stdout and stderr both a tty, and not switched off."""
    return enabled and fmt == "table" and sys.stdout.isatty() and sys.stderr.isatty()


@contextlib.contextmanager
def polling(total: int, *, show: bool) -> Iterator[Done | None]:
    """A bar on stderr counting finished polls (cleared at the end); yields the callback each
    finished poll calls, or None when no bar is shown."""
    if not show:
        yield None
        return
    progress = Progress(
        TextColumn("checking channels"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[last]}", style="dim"),
        console=Console(stderr=True, highlight=False),
        transient=True,
    )
    task = progress.add_task("check", total=total, last="")

    def done(channel: ChannelSettings, report: PollReport) -> None:
        outcome = "ok" if report.ok else (report.reason or "failed")
        last = f"{plain(channel.organisation)} · {platform_name(channel.platform)}: {outcome}"
        progress.update(task, advance=1, last=last[:60])

    with progress:
        yield done
