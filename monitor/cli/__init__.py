"""The command line: ``channel-monitor run|check|status|report|validate|discover|demo|completion``.

``parser`` holds the grammar and help, ``tables`` what check/status/validate print,
``progress`` check's progress bar and ``completion`` the shell completion scripts.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import sys
from collections.abc import Sequence
from datetime import timedelta
from functools import partial
from pathlib import Path

import sqlalchemy as sa
from rich.console import Console
from rich.text import Text
from sqlalchemy.engine import make_url

from connectors.registry import supported_platforms
from monitor.api import EXIT_OK, EXIT_USAGE, exit_status
from monitor.app import StartupError, open_runtime, serve
from monitor.cli import completion, progress
from monitor.cli.parser import parser
from monitor.cli.progress import polling
from monitor.cli.tables import console, print_validation, print_views
from monitor.config import (
    ConfigError,
    listen_address,
    load_settings,
    parse_duration,
    resolve_config_path,
)
from monitor.discovery.command import NothingToCheck, discover
from monitor.discovery.store import read_findings
from monitor.jobs import utcnow
from monitor.logs import configure as configure_logging
from monitor.memory import tune
from monitor.records import ChannelKey
from monitor.redact import Redactor
from monitor.report import Report, gather, render
from monitor.settings import Settings
from monitor.storage import StorageError, Store
from monitor.untrusted import plain
from monitor.views import ChannelView

log = logging.getLogger("channel_monitor")


class UsageError(Exception):
    """A usage or configuration mistake: one line on stderr, exit 2."""


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script and ``python -m monitor``."""
    args = parser().parse_args(argv)
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    try:
        if getattr(args, "listen", None):
            try:
                listen_address(args.listen)
            except ValueError as exc:
                raise UsageError(f"--listen {args.listen}: {exc}") from None
        if args.command == "completion":
            sys.stdout.write(completion.script(args.shell, parser()))
            return EXIT_OK
        if args.command == "demo":
            from monitor.demo import run_demo  # noqa: PLC0415  (only the demo needs the fakes)

            return run_demo(args.listen, Path(args.data) if args.data else None)
        web_config_file = getattr(args, "web_config_file", None)
        settings = _load(args.config, web_config_file)
        if not settings.channels and args.command not in ("run", "discover"):  # run logs it
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
            log.info("memory allocator: %s", tune())  # before any thread starts
            listen = args.listen

            def reload() -> Settings:
                fresh = _load(args.config, web_config_file)
                redactor.learn(fresh.secrets, fresh.secret_params)  # before anything is logged
                if listen:  # the command line still wins
                    monitor = dataclasses.replace(fresh.monitor, listen=listen)
                    fresh = dataclasses.replace(fresh, monitor=monitor)
                return fresh

            asyncio.run(serve(settings, reload=reload, own_process=True))
            return EXIT_OK
        if args.command in ("check", "status"):
            show = args.command == "check" and progress.wanted(args.format, args.progress)
            views = asyncio.run(_views(settings, poll=args.command == "check", progress=show))
            simulated = settings.monitor.simulated
            print_views(views, args.format, verbose=args.verbose, simulated=simulated)
            return exit_status(views)
        if args.command == "discover":
            try:
                return discover(settings, args.organisation, args.format, utcnow, console())
            except NothingToCheck as exc:
                raise UsageError(str(exc)) from None
        if args.command == "report":
            period = _period(args.period)
            text = render(asyncio.run(_report(settings, period)), args.format)
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


def _load(explicit: str | None, web_config_file: str | None = None) -> Settings:
    path = resolve_config_path(explicit, os.environ)
    return load_settings(
        path, os.environ, supported=supported_platforms(), web_config_file=web_config_file
    )


async def _views(settings: Settings, *, poll: bool, progress: bool = False) -> list[ChannelView]:
    async with open_runtime(settings) as runtime:
        if poll:
            with polling(len(settings.channels), show=progress) as done:
                await runtime.poll_all(done)
        return await runtime.snapshot()


def _period(text: str | None) -> timedelta | None:
    if text is None:
        return None
    try:
        period = parse_duration(text)
    except ValueError as exc:
        raise UsageError(f"--period {text}: {exc}") from None
    if period <= timedelta(0):
        raise UsageError(f"--period {text}: must be longer than 0s")
    return period


async def _report(settings: Settings, period: timedelta | None) -> Report:
    async with open_runtime(settings) as runtime:
        report: Report = await runtime.db(
            partial(
                gather,
                runtime.store,
                settings.channels,
                runtime.ids,
                runtime.clock(),
                period=period,
                simulated=settings.monitor.simulated,
                websites=read_findings(settings),
            )
        )
        return report


def _validate(settings: Settings) -> int:
    print_validation(settings, _stored_moves(settings), _protection(settings))
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
