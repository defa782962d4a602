"""The daemon: one place owns every resource and closes them in order."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
import sqlalchemy as sa
from aiohttp import web
from prometheus_client import CollectorRegistry, GCCollector, PlatformCollector, ProcessCollector
from sqlalchemy.engine import make_url

from connectors.base import Connector
from connectors.registry import CONNECTORS
from monitor import views
from monitor.config import ConfigError
from monitor.exposition import ChannelExposition
from monitor.http_client import build_client
from monitor.jobs import Poller, PollReport, utcnow
from monitor.judgement import Judgements
from monitor.leader import Leadership, leadership_for
from monitor.metrics import Instruments, PollingCollector
from monitor.notify_job import event_feed, start_notifier
from monitor.pacing import Pacing, shared_credentials
from monitor.records import ChannelKey, DbCall
from monitor.redact import Redactor
from monitor.scheduler import PollScheduler
from monitor.settings import PLATFORMS, ChannelSettings, Settings
from monitor.storage import StorageError, Store, describe_error
from monitor.web import build_app

log = logging.getLogger("channel_monitor")

SHUTDOWN_GRACE = 5.0  # seconds polls in flight get to finish on SIGTERM (Docker waits 10)
POLL_RETENTION = timedelta(days=400)
LEADER_CHECK = timedelta(seconds=5)  # how often a standby tries the lock (and a leader checks it)


class StartupError(Exception):
    """The daemon cannot start; the message says why in one line."""


@dataclass
class Runtime:
    """Store, HTTP client, connectors and poller, shared by ``run`` and ``check``."""

    settings: Settings
    store: Store
    ids: dict[ChannelKey, int]
    clients: dict[str, httpx.AsyncClient]  # one per platform: its own timeout and pool
    poller: Poller
    instruments: Instruments
    registry: CollectorRegistry
    executor: ThreadPoolExecutor
    clock: Callable[[], datetime]
    db: DbCall  # runs a Store method on the single database thread (one writer, not the loop)
    judgements: Judgements | None = None  # the daemon's judgement, kept current; None: one-shot

    def channels(self) -> list[tuple[ChannelSettings, int]]:
        return [(c, self.ids[c.key]) for c in self.settings.channels]

    def snapshot_now(self) -> list[views.ChannelView]:
        """Every channel judged now: the daemon's kept judgement, or (one-shot commands) judged
        from the store (synchronous; call from a worker thread)."""
        if self.judgements is not None:
            return self.judgements.views(self.clock())
        return views.snapshot(
            self.store, self.settings.channels, self.ids, self.clock(), self.poller.store_faults
        )

    async def judge_on_change(self) -> Judgements:
        """Judge every channel once from the store and keep it current from then on: polls
        landing and store faults are told to it (``Poller.watcher``)."""
        judgements = Judgements(
            self.settings.channels, self.ids, store=self.store, db=self.db, clock=self.clock
        )
        await self.db(judgements.load, self.poller.store_faults)
        self.judgements = judgements
        self.poller.watcher = judgements
        return judgements

    async def snapshot(self) -> list[views.ChannelView]:
        return await asyncio.to_thread(self.snapshot_now)

    async def poll_all(self) -> list[PollReport]:
        """Poll every channel once, now (per-platform limits still apply).

        Parked channels are polled too: their name and metadata stay current, and a parked
        channel is only shown as parked once it has been read (the contract's precedence).
        """
        return list(await asyncio.gather(*(self.poller.poll(c, i) for c, i in self.channels())))


@contextlib.asynccontextmanager
async def open_runtime(
    settings: Settings,
    *,
    clock: Callable[[], datetime] = utcnow,
    transport: Callable[[], httpx.AsyncBaseTransport] | None = None,
) -> AsyncIterator[Runtime]:
    """Open the database (migrated, synced with the configuration) and the HTTP clients."""
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="db")
    loop = asyncio.get_running_loop()

    def db(fn: Callable[..., Any], *args: Any) -> Awaitable[Any]:
        return loop.run_in_executor(executor, fn, *args)

    try:
        store = await db(Store, settings.monitor.database)
        await db(store.migrate)
        ids = await db(store.sync, settings.organisations, settings.channels, clock())
    except (StorageError, sa.exc.SQLAlchemyError) as exc:
        executor.shutdown(wait=False)
        message = str(exc) if isinstance(exc, StorageError) else describe_error(exc)
        raise StartupError(message) from None
    registry = CollectorRegistry()
    used = sorted({c.platform for c in settings.channels})
    instruments = Instruments(registry, used or list(PLATFORMS))
    clients = {
        p: build_client(
            timeout=settings.platforms[p].timeout.total_seconds(),
            transport=transport() if transport else None,
        )
        for p in used
    }
    connectors: dict[str, Connector] = {
        p: CONNECTORS[p](clients[p], settings.platforms[p].options) for p in used
    }
    apps, tokens = shared_credentials({p: s.options for p, s in settings.platforms.items()})
    poller = Poller(
        connectors=connectors,
        store=store,
        db=db,
        instruments=instruments,
        redactor=Redactor(settings.secrets, settings.secret_params),
        concurrency={p: settings.platforms[p].concurrency for p in used},
        poll_timeout=settings.monitor.poll_timeout,
        pacing=Pacing(
            {p: s.slow_down_at for p, s in settings.platforms.items()}, apps=apps, tokens=tokens
        ),
        clock=clock,
    )
    runtime = Runtime(
        settings, store, ids, clients, poller, instruments, registry, executor, clock, db
    )
    try:
        yield runtime
    finally:
        for client in clients.values():
            await client.aclose()
        await loop.run_in_executor(executor, store.close)
        executor.shutdown(wait=True)


def parse_listen(listen: str) -> tuple[str, int]:
    host, _, port = listen.rpartition(":")
    return host.strip("[]") or "0.0.0.0", int(port)  # noqa: S104  (an explicit ":9184")


async def serve(
    settings: Settings,
    *,
    reload: Callable[[], Settings] | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> None:
    """The daemon until SIGTERM/SIGINT; on SIGHUP, ``reload()`` reads the configuration again.

    A valid new configuration restarts the daemon in-process on it (polls in flight finish,
    the schedule is rebuilt from the stored poll times, HTTP is back within a second); an
    invalid one is logged, problem by problem, and the daemon carries on unchanged.
    """
    current: Settings | None = settings
    while current is not None:
        current = await run_daemon(current, reload=reload, clock=clock)


async def run_daemon(
    settings: Settings,
    *,
    stop: asyncio.Event | None = None,
    reload: Callable[[], Settings] | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> Settings | None:
    """Schedule polls and serve HTTP until SIGTERM/SIGINT (or ``stop`` is set).

    Returns the new settings when SIGHUP brought a valid new configuration, else None.
    """
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    reloaded: list[Settings] = []

    def on_hangup() -> None:
        if reload is None:
            return
        try:
            reloaded[:] = [reload()]
        except ConfigError as exc:
            for problem in exc.problems:
                log.error("configuration not reloaded: %s", problem)  # noqa: TRY400  (no traceback)
            return
        log.info("configuration reloaded; restarting the schedule")
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    with contextlib.suppress(NotImplementedError, RuntimeError):
        loop.add_signal_handler(signal.SIGHUP, on_hangup)

    async with open_runtime(settings, clock=clock) as runtime:
        judgements = await runtime.judge_on_change()
        exposition = ChannelExposition(judgements.current, judgements.changed)
        for collector in (ProcessCollector, PlatformCollector, GCCollector):
            collector(registry=runtime.registry)
        scheduler = PollScheduler(
            runtime.poller,
            runtime.channels(),
            jitter=settings.monitor.jitter,
            clock=clock,
            daily=lambda: runtime.db(runtime.store.prune_polls, clock() - POLL_RETENTION),
        )
        runtime.registry.register(PollingCollector(scheduler.status))
        lock = leadership_for(settings.monitor.database, runtime.store.engine)

        async def ready() -> bool:
            if runtime.poller.store_failing_since is not None:
                return False  # polls are read but cannot be recorded
            try:
                await asyncio.wait_for(asyncio.to_thread(runtime.store.ping), timeout=5)
            except (StorageError, TimeoutError):
                return False
            return True

        app = build_app(
            registry=runtime.registry,
            snapshot=runtime.snapshot,
            live=scheduler.health,
            ready=ready,
            clock=clock,
            events=event_feed(runtime.store, runtime.db),
            protect=settings.monitor.web,
            exposition=exposition.render,
        )
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        host, port = parse_listen(settings.monitor.listen)
        protect = settings.monitor.web
        tls = protect.tls if protect is not None else None
        site = web.TCPSite(runner, host, port, reuse_address=True, ssl_context=tls)
        try:
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            raise StartupError(
                f"cannot listen on {settings.monitor.listen}: {exc.strerror}"
            ) from None
        scheduler.start(poll=False)
        judging = asyncio.create_task(judgements.run(), name="judgement-deadlines")
        rendering = asyncio.create_task(exposition.keep_prepared(), name="metrics-lines")
        leads = asyncio.Event()  # set while this daemon holds the leader lock
        leading = asyncio.create_task(_lead(runtime, scheduler, lock, stop, leads))
        notifier = start_notifier(  # None unless [notify] has a webhook
            settings,
            store=runtime.store,
            ids=runtime.ids,
            db=runtime.db,
            registry=runtime.registry,
            clock=clock,
            leading=leads.is_set,  # a standby records and sends nothing
            store_faults=lambda: runtime.poller.store_faults,  # refused polls count as failed
            judged=judgements.views,
        )
        log.info(
            "channel-monitor started",
            extra={
                "fields": {
                    "listen": settings.monitor.listen,
                    "tls": tls is not None,
                    "basic_auth_users": len(protect.users) if protect is not None else 0,
                    "channels": len(settings.channels),
                    "database": _safe_db(settings.monitor.database),
                }
            },
        )
        try:
            await stop.wait()
        finally:
            log.info("stopping")
            if notifier is not None:
                notifier.stop()  # first: it sends no further message while polls drain
            leading.cancel()
            judging.cancel()
            rendering.cancel()
            await asyncio.gather(leading, judging, rendering, return_exceptions=True)
            await asyncio.gather(  # polls and sending drain together, within one grace
                scheduler.shutdown(grace=SHUTDOWN_GRACE),
                *([notifier.shutdown(grace=SHUTDOWN_GRACE)] if notifier is not None else []),
            )
            await asyncio.to_thread(lock.release)
            await runner.cleanup()
    if reloaded:
        return reloaded[0]
    log.info("stopped")
    return None


async def _lead(
    runtime: Runtime,
    scheduler: PollScheduler,
    lock: Leadership,
    stop: asyncio.Event,
    leads: asyncio.Event | None = None,
) -> None:
    """Poll while this daemon holds the database's leader lock; stand by otherwise."""
    leading: bool | None = None  # unknown until the first check
    while not stop.is_set():
        try:
            holds = await asyncio.to_thread(lock.hold)
        except Exception:
            log.exception("could not check the leader lock")
            holds = False
        judgements = runtime.judgements
        if judgements is not None and (not holds or not leading):
            try:  # a standby polls nothing: it reads what the leader stored
                await judgements.refresh()
            except Exception:
                log.exception("could not read the channels polled by the leading daemon")
        if holds and not leading:
            last_polls = await runtime.db(runtime.store.last_successful_polls)
            scheduler.schedule(last_polls)
            log.info("leading: this daemon polls the channels")
        elif not holds and leading is not False:
            scheduler.unschedule()
            log.warning(
                "standing by: another channel-monitor polls this database; this one serves "
                "what it stores and takes over if it stops"
            )
        leading = holds
        runtime.instruments.leader.set(1 if holds else 0)
        if leads is not None:
            leads.set() if holds else leads.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), LEADER_CHECK.total_seconds())


def _safe_db(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)
