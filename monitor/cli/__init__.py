"""The command line: ``channel-monitor run|check|status|report|validate|demo``."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import sqlalchemy as sa
from rich.console import Console
from rich.table import Table
from rich.text import Text
from sqlalchemy.engine import make_url

from connectors.registry import supported_platforms
from monitor import __version__
from monitor.api import EXIT_OK, EXIT_USAGE, channel_json, exit_status
from monitor.app import StartupError, open_runtime, serve
from monitor.config import (
    ConfigError,
    format_duration,
    listen_address,
    load_settings,
    resolve_config_path,
)
from monitor.jobs import utcnow
from monitor.logs import configure as configure_logging
from monitor.records import ChannelKey
from monitor.redact import Redactor
from monitor.report import REPORT_FORMATS, days, render
from monitor.settings import Settings
from monitor.storage import StorageError, Store
from monitor.untrusted import plain
from monitor.views import ChannelView, moved_label

_STYLES = {
    "active": "green",
    "below_target": "yellow",
    "quiet": "dark_orange",
    "inactive": "red",
    "dormant": "bold red",
    "never_posted": "magenta",
    "parked": "dim",
    "unknown": "dim",
}


log = logging.getLogger("channel_monitor")


class UsageError(Exception):
    """A usage or configuration mistake: one line on stderr, exit 2."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="channel-monitor",
        description="Which of an organisation's social media channels have gone quiet?",
    )
    parser.add_argument("--version", action="version", version=f"channel-monitor {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=text, description=text)
        sub.add_argument(
            "--config",
            metavar="PATH",
            help="configuration file (default: $CHANNEL_MONITOR_CONFIG, else ./config.toml)",
        )
        return sub

    run = command("run", "run the daemon: schedule polls, serve metrics and the status page")
    run.add_argument("--listen", metavar="HOST:PORT", help="override [monitor] listen")
    run.add_argument(
        "--web.config.file",
        dest="web_config_file",
        metavar="PATH",
        help="TLS and basic auth (exporter-toolkit's format); overrides [monitor] web_config_file",
    )
    for name, text in (
        ("check", "poll every channel once, now, and print each channel's state"),
        ("status", "print the states from the database, without polling"),
    ):
        sub = command(name, text)
        sub.add_argument("--format", choices=("table", "json"), default="table")
    report = command("report", "the organisations × platforms report")
    report.add_argument("--format", choices=REPORT_FORMATS, default="md")
    report.add_argument("--output", metavar="FILE", help="write to FILE instead of stdout")
    command("validate", "check the configuration and say what it would monitor")
    demo = commands.add_parser(
        "demo", help="run the daemon against simulated platforms, no tokens or network"
    )
    demo.add_argument("--listen", metavar="HOST:PORT", default="127.0.0.1:9184")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script and ``python -m monitor``."""
    args = _parser().parse_args(argv)
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    try:
        if getattr(args, "listen", None):
            try:
                listen_address(args.listen)
            except ValueError as exc:
                raise UsageError(f"--listen {args.listen}: {exc}") from None
        if args.command == "demo":
            from monitor.demo import run_demo  # noqa: PLC0415  (only the demo needs the fakes)

            return run_demo(args.listen)
        web_config_file = getattr(args, "web_config_file", None)
        settings = _load(args.config, web_config_file)
        if not settings.channels and args.command != "run":  # run logs it, in its log format
            err.print(Text(f"warning: {_no_channels(settings)}", style="yellow"))
        if args.command == "validate":
            return _validate(settings)
        if getattr(args, "listen", None):
            settings = dataclasses.replace(
                settings, monitor=dataclasses.replace(settings.monitor, listen=args.listen)
            )
        redactor = Redactor(settings.secrets, settings.secret_params)
        configure_logging(
            "warning" if args.command != "run" else settings.monitor.log_level,
            settings.monitor.log_format,
            redactor,
        )
        if args.command == "run":
            if not settings.channels:
                log.warning("%s", _no_channels(settings))
            listen = args.listen

            def reload() -> Settings:
                fresh = _load(args.config, web_config_file)
                redactor.learn(fresh.secrets, fresh.secret_params)  # before anything is logged
                if listen:  # the command line still wins
                    monitor = dataclasses.replace(fresh.monitor, listen=listen)
                    fresh = dataclasses.replace(fresh, monitor=monitor)
                return fresh

            asyncio.run(serve(settings, reload=reload))
            return EXIT_OK
        if args.command in ("check", "status"):
            views = asyncio.run(_views(settings, poll=args.command == "check"))
            _print_views(views, args.format)
            return exit_status(views)
        if args.command == "report":
            views = asyncio.run(_views(settings, poll=False))
            text = render(views, args.format, utcnow())
            if args.output:
                Path(args.output).write_text(text, encoding="utf-8")
            else:
                sys.stdout.write(text)
            return EXIT_OK
    except ConfigError as exc:
        for problem in exc.problems:  # they may quote the configuration: plain text
            err.print(Text.assemble(("error", "red"), " ", plain(str(problem))))
        err.print(f"{len(exc.problems)} problem(s) in the configuration", style="bold")
        return EXIT_USAGE
    except (StartupError, UsageError) as exc:
        err.print(f"channel-monitor: error: {exc}", markup=False)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    except OSError as exc:
        err.print(f"channel-monitor: error: {exc}", markup=False)
        return 1
    return EXIT_OK


def _no_channels(settings: Settings) -> str:
    # valid, as a first step (add organisations, then SIGHUP), but maybe the wrong file
    return f"{settings.source} configures no channels: nothing is monitored"


def _protection(settings: Settings) -> str:
    """How the web configuration file protects HTTP, for ``validate``."""
    web = settings.monitor.web
    if web is None:
        return ""
    parts = ["HTTPS" if web.tls is not None else "plain HTTP"]
    if web.tls is not None and web.client_auth != "NoClientCert":
        parts.append(f"client certificates ({web.client_auth})")
    if web.users:
        parts.append(f"basic auth for {len(web.users)} user(s)")
    return f" ({', '.join(parts)}, from {web.source})"


def _console() -> Console:
    """A console for tables: the terminal's width, or a wide one when output goes to a pipe."""
    return Console(highlight=False, width=None if sys.stdout.isatty() else 200)


def _load(explicit: str | None, web_config_file: str | None = None) -> Settings:
    path = resolve_config_path(explicit, os.environ)
    return load_settings(
        path, os.environ, supported=supported_platforms(), web_config_file=web_config_file
    )


async def _views(settings: Settings, *, poll: bool) -> list[ChannelView]:
    async with open_runtime(settings) as runtime:
        if poll:
            await runtime.poll_all()
        return await runtime.snapshot()


def _print_views(views: Sequence[ChannelView], fmt: str) -> None:
    if fmt == "json":
        json.dump([channel_json(v) for v in views], sys.stdout, indent=2)
        sys.stdout.write("\n")
        return
    # Every cell is a Text: names, handles and error details come from platforms and the
    # configuration, and "[/bold]" in them is text, not rich markup.
    table = Table(title="Channel activity", title_justify="left")
    for column in (
        "organisation",
        "platform",
        "channel",
        "state",
        "silence",
        "posts 30 d",
        "usual gap",
        "poll",
    ):
        table.add_column(
            column,
            justify="right" if column.startswith(("posts", "silence", "usual")) else "left",
            overflow="fold",  # never cut a handle or URL short
        )
    for v in views:
        record = v.record
        poll = (
            "not polled"
            if record.last_poll_at is None
            else f"ok; {record.profile_note}"
            if record.last_poll_ok and record.profile_note
            else "ok"
            if record.last_poll_ok
            else f"{record.last_error_reason}: {record.last_error_detail or ''}".strip()
        )
        state = v.state.value
        table.add_row(
            *map(_cell, (v.organisation, v.platform, v.handle)),
            Text(state, style=_STYLES.get(state, "")),
            *map(_cell, (days(v.cadence.silence), str(v.cadence.recent_posts.get("30d", 0)))),
            *map(_cell, (days(v.cadence.usual_gap), poll)),
        )
    console = _console()
    console.print(table)
    _print_moves(console, [(v.organisation, v.platform, v.handle, v.moved_to) for v in views])


def _print_moves(console: Console, moves: Sequence[tuple[str, str, str, str | None]]) -> None:
    """Channels whose address moved for good (a feed's 301 or 308), and where to."""
    for organisation, platform, handle, moved_to in moves:
        if moved_to:
            console.print(
                f"{organisation} {platform} {handle} moved to {moved_to}: update the configuration",
                style="yellow",
                markup=False,
            )


def _cell(text: str) -> Text:
    """Outside text as a table shows it: no rich markup, no terminal escapes, one line."""
    return Text(plain(text))


def _validate(settings: Settings) -> int:
    out = _console()
    table = Table(title=_cell(f"{settings.source}: valid"), title_justify="left")
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
        table.add_row(*map(_cell, cells))
    out.print(table)
    moved = _stored_moves(settings)
    _print_moves(out, [(*c.key, moved_label(moved.get(c.key))) for c in settings.channels])
    platforms = sorted({c.platform for c in settings.channels})
    out.print(
        f"{len(settings.organisations)} organisations, {len(settings.channels)} channels"
        + (f" on {', '.join(platforms)}" if platforms else "")
        + f"; database {settings.monitor.database.split('://')[0]}, listening on "
        f"{settings.monitor.listen}{_protection(settings)}",
        markup=False,
    )
    return EXIT_OK


def _stored_moves(settings: Settings) -> dict[ChannelKey, str]:
    """The moves the database has recorded, if it can be read as it is (never created or
    migrated here): validating must work before the daemon ever ran."""
    url = make_url(settings.monitor.database)
    if url.get_backend_name() == "sqlite" and not Path(url.database or "").expanduser().is_file():
        return {}
    try:
        store = Store(settings.monitor.database)
    except (StorageError, sa.exc.SQLAlchemyError, ImportError):
        return {}
    try:
        return store.moved_channels()
    except sa.exc.SQLAlchemyError:  # not migrated yet, or not reachable: nothing to add
        return {}
    finally:
        store.close()


def entry() -> None:
    logging.captureWarnings(True)
    sys.exit(main())
