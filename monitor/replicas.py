"""This daemon's share of the channels: the shards it holds, kept scheduled, judged and exported.

Every ``CHECK`` the leases are checked (``monitor.leader``), off the event loop. Then, in order:

- shards lost without letting go (the lock session broke) stop being polled at once;
- shards beyond the fair share stop being planned, and are let go only once their polls in
  flight are stored, so the daemon that takes one over plans each channel from its last stored
  poll and never polls it again within its interval;
- the channels polled elsewhere are read again where their stored poll moved (the judgement
  every page, scrape and notification reads covers every channel);
- shards newly taken are planned from each channel's last stored poll, as a takeover does.

Each channel's series are exported by the replica that holds its shard (``exported``), so the
replicas' scrapes add up to each series once; the daemon's own series stay per replica. The
coordinator (one daemon per database) sends notifications, prunes and reads the websites.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable, Sequence
from collections.abc import Set as AbstractSet
from datetime import timedelta

from monitor.jobs import Poller
from monitor.judgement import Judgements
from monitor.leader import Leases, Standing, shard_of
from monitor.metrics import Instruments
from monitor.records import DbCall
from monitor.scheduler import PollScheduler
from monitor.settings import ChannelSettings
from monitor.storage import Store

log = logging.getLogger("channel_monitor.replicas")

CHECK = timedelta(seconds=5)  # how often the leases are checked (and free shards looked for)


class Share:
    """The shards this daemon holds and what follows from them; ``run`` keeps it current."""

    def __init__(
        self,
        leases: Leases,
        channels: Sequence[tuple[ChannelSettings, int]],
        *,
        scheduler: PollScheduler,
        poller: Poller,
        store: Store,
        db: DbCall,
        instruments: Instruments,
        judgements: Judgements | None = None,
    ) -> None:
        self._leases = leases
        self._shards = {  # in configuration order, which is the order of first polls
            channel_id: shard_of(channel.key, leases.shards) for channel, channel_id in channels
        }
        self._scheduler = scheduler
        self._poller = poller
        self._store = store
        self._db = db
        self._instruments = instruments
        self._judgements = judgements
        self._standing = Standing(frozenset(), frozenset(), False, 0)
        self._polled: set[int] = set()  # shards whose channels are planned here
        self._releasing: dict[int, asyncio.Task[None]] = {}  # shards let go once drained
        self._exported: tuple[int, frozenset[int]] = (0, frozenset())
        self._standing_by: bool | None = None  # unknown until the first check
        self._released: set[int] = set()  # shards let go since the current check began
        self.coordinates = asyncio.Event()  # set while this daemon does the once-per-database work

    def exported(self) -> tuple[int, frozenset[int]]:
        """A version of the set, and the channels whose series this daemon exports: those of
        the shards it holds (read from any thread)."""
        return self._exported

    async def run(self, stop: asyncio.Event) -> None:
        """Check the leases every ``CHECK`` until ``stop`` is set."""
        while not stop.is_set():
            await self.check()
            with contextlib.suppress(TimeoutError):  # not wait_for: see Judgements.run
                async with asyncio.timeout(CHECK.total_seconds()):
                    await stop.wait()

    async def check(self) -> None:
        """Check the leases once and bring the schedule, judgement and exports in line."""
        self._released = set()
        try:
            standing = await asyncio.to_thread(self._leases.check)
        except Exception:  # what is held is unknown: nothing changes until the next check
            log.exception("could not check the shard leases")
            standing = None
        taken: frozenset[int] = frozenset()
        if standing is not None:
            self._follow(standing)
            # a shard let go while the leases were checked may still be in ``standing.held``
            taken = standing.held - self._polled - set(self._releasing) - self._released
        if self._judgements is not None:
            try:  # channels polled elsewhere, before any newly taken one is planned from them
                await self._judgements.refresh(skip=self._scheduler.scheduled())
            except Exception:
                log.exception("could not read the channels polled by the other daemons")
        if standing is not None:
            await self._plan(taken)
            if not standing.held and self._standing_by is not True:
                log.warning(
                    "standing by: this daemon holds no shard of the channels; it serves what the "
                    "others store and takes over when they stop"
                )
            self._standing_by = not standing.held
        self._update()

    def _follow(self, standing: Standing) -> None:
        """Stop polling what is no longer held or is to be let go."""
        if standing.generation != self._standing.generation:
            lost = self._polled | set(self._releasing)  # that lock session's shards are gone
        else:
            lost = (self._polled | set(self._releasing)) - standing.held - self._released
        if lost:
            log.warning(
                "lost %d shard(s) without letting go: their channels are no longer polled here",
                len(lost),
            )
            self._scheduler.unschedule(self._channels(lost))
            self._polled -= lost
            for shard in lost & set(self._releasing):
                self._releasing.pop(shard).cancel()
        extra = standing.extra - set(self._releasing) - self._released - lost
        if extra:
            self._scheduler.unschedule(self._channels(extra))
            self._polled -= extra
            task = asyncio.create_task(self._let_go(extra, standing.generation))
            self._releasing.update(dict.fromkeys(extra, task))
        if standing.coordinator and not self.coordinates.is_set():
            log.info("coordinating: this daemon sends notifications, prunes and reads websites")
        elif not standing.coordinator and self.coordinates.is_set():
            log.warning("no longer coordinating")
        self.coordinates.set() if standing.coordinator else self.coordinates.clear()
        if standing.replicas != self._standing.replicas and standing.replicas:
            log.info("%d daemon(s) share this database", standing.replicas)
        self._standing = standing

    async def _plan(self, taken: AbstractSet[int]) -> None:
        """Plan the channels of newly taken shards from their last stored polls."""
        if not taken:
            return
        channels = self._channels(taken)
        try:
            last_polls = await self._db(self._store.last_successful_polls)
        except Exception:  # planned at the next check
            log.exception("could not read when the channels of %d shard(s) were polled", len(taken))
            return
        self._poller.forget(channels)  # polled elsewhere meanwhile, maybe
        self._scheduler.schedule(last_polls, channels)
        self._polled |= taken
        log.info(
            "polling %d more shard(s), %d channel(s); holding %d of %d",
            len(taken),
            len(channels),
            len(self._polled),
            self._leases.shards,
        )

    async def _let_go(self, shards: frozenset[int], generation: int) -> None:
        """Release ``shards`` once no poll of their channels is in flight."""
        try:
            await self._scheduler.drain(self._channels(shards))
            await asyncio.to_thread(self._leases.release, shards, generation)
        except Exception:  # still held: planned again at the next check, and let go later
            log.exception("could not let go of %d shard(s)", len(shards))
        else:
            self._released |= shards
            log.info("let go of %d shard(s) for the other daemons", len(shards))
        finally:
            for shard in shards:
                if self._releasing.get(shard) is asyncio.current_task():
                    del self._releasing[shard]
            self._update()

    def _update(self) -> None:
        """The exported channels and the gauges, from what is held now."""
        held = self._polled | set(self._releasing)
        channels = frozenset(self._channels(held))
        if channels != self._exported[1]:
            self._exported = (self._exported[0] + 1, channels)
        self._instruments.shards_held.set(len(held))
        self._instruments.leader.set(1 if held else 0)
        self._instruments.coordinator.set(1 if self.coordinates.is_set() else 0)

    def _channels(self, shards: Iterable[int]) -> list[int]:
        """The channels of these shards, in configuration order."""
        wanted = set(shards)
        return [channel_id for channel_id, shard in self._shards.items() if shard in wanted]

    async def close(self) -> None:
        """Let go of every shard (after the scheduler has drained: the daemon stops)."""
        for task in self._releasing.values():
            task.cancel()
        await asyncio.gather(*self._releasing.values(), return_exceptions=True)
        await asyncio.to_thread(self._leases.close)
