"""``[discovery] every``: the daemon checks the websites on a schedule and keeps the findings.

Each organisation's website is read when ``every`` has passed since its last check (at once
when it was never checked, or its website changed; a failed read is tried again after at most
``RETRY``). Checks are stored (``monitor.discovery.store``), so a restart or a reload does not
read every site again and the metric carries on where it was; only the daemon that leads the
database reads websites, a standby exports what the leader stored. The comparison with the
configuration is refreshed from the store every ``REFRESH`` and after each run, and kept in
memory: a scrape never reads the database or a website.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from monitor.discovery.check import check_websites
from monitor.discovery.compare import Finding
from monitor.discovery.store import StoredCheck, load_checks, save_checks, stored_findings
from monitor.http_client import build_client
from monitor.records import DbCall
from monitor.settings import Settings
from monitor.storage import Store

log = logging.getLogger("channel_monitor.discovery")

REFRESH = timedelta(minutes=10)  # the comparison picks up newly stored channel URLs
RETRY = timedelta(hours=6)  # a website that could not be read is tried again this soon
PAUSE = timedelta(minutes=1)  # at least this between two runs, whatever is due


class DiscoveryJob:
    """Checks the websites that are due while ``leads`` is set; ``findings()`` for the metric."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        db: DbCall,
        *,
        clock: Callable[[], datetime],
        leads: asyncio.Event,
    ) -> None:
        assert settings.discovery.every is not None
        self._settings = settings
        self._every = settings.discovery.every
        self._store = store
        self._db = db
        self._clock = clock
        self._leads = leads  # set while this daemon leads the database
        self._stored: dict[str, StoredCheck] = {}
        self._findings: list[Finding] = []

    def findings(self) -> list[Finding]:
        """Every checked organisation's latest check and comparison, as last refreshed."""
        return self._findings

    async def run(self, stop: asyncio.Event) -> None:
        """Until ``stop``: refresh, check what is due (when leading), sleep until more is."""
        while not stop.is_set():
            wait = REFRESH
            try:
                await self.refresh()
                if self._leads.is_set():  # a standby only refreshes what the leader stores
                    if due := self.due():
                        await self.check(due)
                    wait = min(REFRESH, max(PAUSE, self.next_due() - self._clock()))
            except Exception:  # a bug here must not stop the daemon; the next round retries
                log.exception("website discovery failed")
            wake = [stop.wait()] if self._leads.is_set() else [stop.wait(), self._leads.wait()]
            tasks = [asyncio.ensure_future(waiting) for waiting in wake]  # a new leader starts
            await asyncio.wait(tasks, timeout=wait.total_seconds(), return_when="FIRST_COMPLETED")
            for task in tasks:
                task.cancel()

    async def check(self, names: list[str]) -> None:
        """Read these organisations' websites now, store the checks and refresh."""
        log.info("reading the websites of %d organisation(s) for their channels", len(names))
        async with build_client() as client:
            checks = await check_websites(self._settings, client, self._clock, names)
        await self._db(save_checks, self._store, checks)
        for check in checks:
            if check.error:
                log.warning("website of %s not read: %s", check.organisation, check.error)
        await self.refresh()

    async def refresh(self) -> None:
        """Compare the stored checks with the configuration again."""
        self._stored = await self._db(load_checks, self._store)
        self._findings = await self._db(stored_findings, self._store, self._settings)

    def due(self) -> list[str]:
        """The organisations whose website should be read now."""
        now = self._clock()
        return [name for name in self._settings.websites if self._due_at(name) <= now]

    def next_due(self) -> datetime:
        times = [self._due_at(name) for name in self._settings.websites]
        return min(times, default=self._clock() + REFRESH)

    def _due_at(self, name: str) -> datetime:
        stored = self._stored.get(name)
        if stored is None or stored.website != self._settings.websites[name]:
            return datetime.min.replace(tzinfo=self._clock().tzinfo)
        return stored.checked_at + (min(self._every, RETRY) if stored.error else self._every)
