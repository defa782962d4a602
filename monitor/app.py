"""The daemon: one place owns every resource and closes them in order."""

from __future__ import annotations

import asyncio
import contextlib
import functools
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
from monitor.discovery.job import DiscoveryJob
from monitor.exposition import ChannelExposition
from monitor.http_client import build_client
from monitor.jobs import Poller, PollReport, utcnow
from monitor.judgement import Judgements
from monitor.leader import leases_for, startup_lock
from monitor.memory import freeze_loaded, keep_trimmed
from monitor.metrics import Instruments, PollingCollector, WebsiteCollector
from monitor.notify.job import event_feed, start_notifier
from monitor.pacing import Pacing, shared_credentials
from monitor.records import ChannelKey, DbCall
from monitor.redact import Redactor
from monitor.reload import Listener, Reload, Reloader, StartupError
from monitor.replicas import Share
from monitor.scheduler import PollScheduler
from monitor.settings import PLATFORMS, ChannelSettings, Settings
from monitor.singleflight import SingleFlight
from monitor.storage import POST_HISTORY, StorageError, Store, describe_error
from monitor.web import build_app
from monitor.web.history import read_history
from monitor.web.pages import PageOptions

__all__ = ["Runtime", "StartupError", "open_runtime", "run_daemon", "serve"]

log = logging.getLogger("channel_monitor")

SHUTDOWN_GRACE = 5.0  # seconds polls in flight get to finish on SIGTERM (Docker waits 10)
POLL_RETENTION = timedelta(days=400)
READY_TIMEOUT = 5.0  # seconds /readyz waits for the database to answer


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

    async def housekeeping(self) -> tuple[int, int]:
        """The daily pruning: poll rows older than POLL_RETENTION, and each channel's posts that
        judging no longer reads and that are past the kept history (``Store.prune_posts``), one
        channel per transaction. Returns how many polls and posts were deleted."""
        now = self.clock()
        polls = await self.db(self.store.prune_polls, now - POLL_RETENTION)
        # a digest counts the posts of the last complete period: up to two periods back
        history = max(POST_HISTORY, 2 * self.settings.notify.digest_every)
        posts = 0
        for channel, channel_id in self.channels():
            retention = views.retention(channel.policy)
            prune = functools.partial(self.store.prune_posts, history=history)
            posts += await self.db(prune, channel_id, retention, now)
        log.info("housekeeping: pruned %d polls and %d posts", polls, posts)
        return polls, posts

    async def poll_all(
        self, done: Callable[[ChannelSettings, PollReport], None] | None = None
    ) -> list[PollReport]:
        """Poll every channel once, now (the poll limits still apply); ``done`` is told of
        each poll as it finishes (a progress bar).

        Parked channels are polled too: their name and metadata stay current, and a parked
        channel is only shown as parked once it has been read (the contract's precedence).
        """

        async def poll(channel: ChannelSettings, channel_id: int) -> PollReport:
            report = await self.poller.poll(channel, channel_id)
            if done is not None:
                done(channel, report)
            return report

        return list(await asyncio.gather(*(poll(c, i) for c, i in self.channels())))


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

    def prepare(store: Store) -> dict[ChannelKey, int]:
        with startup_lock(settings.monitor.database, store.engine):  # one daemon at a time
            store.migrate()
            return store.sync(settings.organisations, settings.channels, clock())

    try:
        store = await db(Store, settings.monitor.database)
        ids = await db(prepare, store)
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
            connections=settings.monitor.max_in_flight,
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
        max_in_flight=settings.monitor.max_in_flight,
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


async def serve(
    settings: Settings,
    *,
    reload: Callable[[], Settings] | None = None,
    clock: Callable[[], datetime] = utcnow,
    own_process: bool = False,
) -> None:
    """The daemon until SIGTERM/SIGINT; on SIGHUP, ``reload()`` reads the configuration again.
    ``own_process``: the daemon is the process (``run``), and tunes its garbage collector.

    A new configuration the daemon can run on restarts it in-process (polls in flight finish,
    the schedule is rebuilt from the stored poll times, HTTP keeps its sockets); an invalid or
    unusable one is logged and the daemon carries on unchanged (``monitor.reload``).
    """
    listener = await asyncio.to_thread(Listener.open, settings.monitor.listen)
    current, last_good = settings, None
    try:
        while True:
            try:
                change = await run_daemon(
                    current, reload=reload, clock=clock, listener=listener, own_process=own_process
                )
            except StartupError as exc:
                if last_good is None:
                    raise
                # checked before the switch, yet failed on the way (a race): back to the old one
                log.error("configuration not reloaded: %s; back on the last good one", exc)  # noqa: TRY400
                current, last_good = last_good, None
                if listener.address != current.monitor.listen:
                    listener.close()
                    listener = await asyncio.to_thread(Listener.open, current.monitor.listen)
                continue
            if change is None:
                return
            current, last_good = change.settings, current
            if change.listener is not listener:
                listener.close()
                listener = change.listener
    finally:
        listener.close()


async def run_daemon(
    settings: Settings,
    *,
    stop: asyncio.Event | None = None,
    reload: Callable[[], Settings] | None = None,
    clock: Callable[[], datetime] = utcnow,
    listener: Listener | None = None,
    own_process: bool = False,
) -> Reload | None:
    """Schedule polls and serve HTTP until SIGTERM/SIGINT (or ``stop`` is set).

    Serves on ``listener`` (left open), else on sockets of its own. Returns the configuration
    to restart on when SIGHUP brought a usable new one, else None. ``own_process``: as ``serve``.
    """
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    reloader = Reloader(reload, settings, stop) if reload is not None else None
    terminating = asyncio.Event()  # SIGTERM/SIGINT: stop, even if a reload came too

    def terminate() -> None:
        terminating.set()
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, terminate)
    with contextlib.suppress(NotImplementedError, RuntimeError):  # without reload: ignored
        loop.add_signal_handler(signal.SIGHUP, reloader.hang_up if reloader else lambda: None)

    # Threads of their own, apart from feed parsing on the default pool and from the database
    # writer: snapshots and /metrics (one snapshot at a time, shared), and the readiness ping.
    pages = ThreadPoolExecutor(max_workers=2, thread_name_prefix="web")
    pinger = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ready")

    def on_pages(fn: Callable[..., Any], *args: Any) -> Awaitable[Any]:
        return loop.run_in_executor(pages, fn, *args)

    async with open_runtime(settings, clock=clock) as runtime:
        judgements = await runtime.judge_on_change()
        # the kept judgement's views, taken off the loop and shared by requests meanwhile
        snapshots = SingleFlight(runtime.snapshot_now, pages)
        ping = SingleFlight(runtime.store.ping, pinger)
        for collector in (ProcessCollector, PlatformCollector, GCCollector):
            collector(registry=runtime.registry)
        scheduler = PollScheduler(
            runtime.poller,
            runtime.channels(),
            jitter=settings.monitor.jitter,
            clock=clock,
            daily=lambda: _housekeeping(runtime, share.coordinates),
        )
        runtime.registry.register(PollingCollector(scheduler.status))
        share = Share(  # the shards of the channels this daemon polls
            leases_for(settings.monitor.database, runtime.store.engine),
            runtime.channels(),
            scheduler=scheduler,
            poller=runtime.poller,
            store=runtime.store,
            db=runtime.db,
            instruments=runtime.instruments,
            judgements=judgements,
        )
        # each channel's series from the daemon that polls it: replicas add up to each once
        exposition = ChannelExposition(judgements.current, judgements.changed, share.exported)

        async def ready() -> bool:
            if runtime.poller.store_failing_since is not None:
                return False  # polls are read but cannot be recorded
            try:  # its own thread, one ping at a time: never behind pages or parsing
                await asyncio.wait_for(ping(), timeout=READY_TIMEOUT)
            except (StorageError, TimeoutError):
                return False
            return True

        app = build_app(
            registry=runtime.registry,
            snapshot=snapshots,
            live=scheduler.health,
            ready=ready,
            clock=clock,
            events=event_feed(runtime.store, on_pages),  # a read: not behind the writer
            protect=settings.monitor.web,
            history=lambda channel_id: on_pages(read_history, runtime.store, channel_id),
            next_polls=scheduler.next_polls,
            pages=PageOptions.from_settings(settings.monitor),
            offload=on_pages,
            exposition=exposition.pieces,
        )
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        protect = settings.monitor.web
        tls = protect.tls if protect is not None else None
        sockets, own = listener, listener is None  # alone (the demo): sockets of its own
        try:
            if sockets is None:
                sockets = await asyncio.to_thread(Listener.open, settings.monitor.listen)
        except StartupError:
            await runner.cleanup()
            raise
        frozen = freeze_loaded() if own_process else 0  # before any request or poll: memory.py
        for site in sockets.sites(runner, tls):
            await site.start()
        if reloader is not None:
            reloader.serving(sockets)
        scheduler.start(poll=False)
        judging = asyncio.create_task(judgements.run(), name="judgement-deadlines")
        rendering = asyncio.create_task(exposition.keep_prepared(), name="metrics-lines")
        trimming = asyncio.create_task(keep_trimmed(), name="malloc-trim")
        sharing = asyncio.create_task(share.run(stop), name="shard-leases")
        notifier = start_notifier(  # None unless [notify] has a webhook
            settings,
            store=runtime.store,
            ids=runtime.ids,
            db=runtime.db,
            registry=runtime.registry,
            clock=clock,
            leading=share.coordinates.is_set,  # one daemon per database records and sends
            store_faults=lambda: runtime.poller.store_faults,  # refused polls count as failed
            judged=judgements.views,
            refresh=lambda: judgements.refresh(skip=scheduler.scheduled()),
        )
        discovery = None  # reads the websites with [discovery] every
        if settings.discovery.every is not None:
            discovery = DiscoveryJob(
                settings, runtime.store, runtime.db, clock=clock, leads=share.coordinates
            )
            findings = discovery.findings  # exported by the coordinator alone: once per database
            runtime.registry.register(
                WebsiteCollector(lambda: findings() if share.coordinates.is_set() else [])
            )
        discovering = asyncio.create_task(discovery.run(stop)) if discovery else None
        log.info(
            "channel-monitor started",
            extra={
                "fields": {
                    "listen": settings.monitor.listen,
                    "tls": tls is not None,
                    "basic_auth_users": len(protect.users) if protect is not None else 0,
                    "channels": len(settings.channels),
                    "database": _safe_db(settings.monitor.database),
                    "objects_frozen": frozen,
                }
            },
        )
        try:
            await stop.wait()
        finally:
            log.info("stopping")
            if reloader is not None:
                await reloader.close()
            if notifier is not None:
                notifier.stop()  # first: it sends no further message while polls drain
            background = [sharing, judging, rendering, trimming]
            background += [discovering] if discovering else []
            for task in background:  # a website half read is read again next time
                task.cancel()
            await asyncio.gather(*background, return_exceptions=True)
            await asyncio.gather(  # polls and sending drain together, within one grace
                scheduler.shutdown(grace=SHUTDOWN_GRACE),
                *([notifier.shutdown(grace=SHUTDOWN_GRACE)] if notifier is not None else []),
            )
            await share.close()  # every shard let go, now that no poll is in flight
            await runner.cleanup()
            if own:
                sockets.close()
            for executor in (pages, pinger):
                executor.shutdown(wait=False, cancel_futures=True)
    change = reloader.result if reloader is not None else None
    if change is not None and not terminating.is_set():
        return change
    if change is not None and change.listener is not sockets:
        change.listener.close()
    log.info("stopped")
    return None


async def _housekeeping(runtime: Runtime, coordinates: asyncio.Event) -> None:
    if coordinates.is_set():  # one daemon prunes, by its configuration; the others leave it be
        await runtime.housekeeping()


def _safe_db(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)
