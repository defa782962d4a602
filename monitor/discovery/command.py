"""``channel-monitor discover``: read the websites now, compare, print, remember."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from collections.abc import Callable, Sequence
from datetime import datetime

import sqlalchemy as sa
from rich.console import Console

from monitor.api import EXIT_FLAGGED, EXIT_OK, EXIT_UNREADABLE
from monitor.discovery.check import check_websites
from monitor.discovery.compare import Finding, compare
from monitor.discovery.model import WebsiteCheck
from monitor.discovery.output import as_json, as_toml, print_table
from monitor.discovery.store import channel_urls, save_checks
from monitor.http_client import build_client
from monitor.records import ChannelKey
from monitor.settings import Settings
from monitor.storage import StorageError, Store

log = logging.getLogger("channel_monitor.discovery")


class NothingToCheck(Exception):
    """No organisation (of those named) has a website; the message says which."""


def chosen(settings: Settings, names: Sequence[str] | None) -> list[str]:
    """The organisations to check: those named (each must exist and have a website), else all
    with a website."""
    if not names:
        found = [n for n in settings.organisations if n in settings.websites]
        if not found:
            raise NothingToCheck('no organisation has a website = "https://…" in the configuration')
        return found
    for name in names:
        if name not in settings.organisations:
            raise NothingToCheck(f"no organisation named {name!r} in the configuration")
        if name not in settings.websites:
            raise NothingToCheck(f'{name!r} has no website = "https://…" in the configuration')
    return list(dict.fromkeys(names))


def discover(
    settings: Settings,
    names: Sequence[str] | None,
    fmt: str,
    clock: Callable[[], datetime],
    console: Console,
) -> int:
    """Check, print in ``fmt``; 1 when a linked channel is not monitored, 3 when a website
    could not be read (and nothing is unmonitored), else 0."""
    organisations = chosen(settings, names)
    checks = asyncio.run(_checks(settings, organisations, clock))
    urls = _remember(settings, checks, clock())
    findings = [
        Finding(c, compare(c.organisation, c.website, c, settings.channels, urls)) for c in checks
    ]
    if fmt == "json":
        json.dump(as_json(findings), sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
    elif fmt == "toml":
        sys.stdout.write(as_toml(findings))
    else:
        print_table(console, findings)
    if any(f.comparison.unmonitored for f in findings):
        return EXIT_FLAGGED
    return EXIT_UNREADABLE if any(not c.ok for c in checks) else EXIT_OK


async def _checks(
    settings: Settings, names: list[str], clock: Callable[[], datetime]
) -> list[WebsiteCheck]:
    async with build_client() as client:
        return await check_websites(settings, client, clock, names)


def _remember(
    settings: Settings, checks: Sequence[WebsiteCheck], now: datetime
) -> dict[ChannelKey, str | None]:
    """Store the checks (for the daemon's metric and ``report``); the channels' stored URLs.

    The database is secondary here: when it cannot be used, discovery still answers.
    """
    try:
        store = Store(settings.monitor.database)
    except (StorageError, sa.exc.SQLAlchemyError, ImportError) as exc:
        log.warning("results not stored: %s", exc)
        return {}
    try:
        store.migrate()
        store.sync(settings.organisations, settings.channels, now)
        save_checks(store, checks)
        return channel_urls(store)
    except (StorageError, sa.exc.SQLAlchemyError) as exc:
        log.warning("results not stored: %s", exc)
        return {}
    finally:
        store.close()
