"""Two daemons on one SQLite database: one polls (it holds every shard), the other stands by and
takes over when it dies. (On PostgreSQL they share the channels: tests/e2e/test_replicas.py.)"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.fakes.feeds import FeedServer, FeedSpec
from monitor.leader import SHARDS
from tests.e2e.daemon import Daemon, value

pytestmark = pytest.mark.e2e

NOW = datetime.now(UTC)


async def requests_made(daemon: Daemon) -> float:
    samples = (await daemon.metrics()).get("channel_monitor_api_requests_total", [])
    return sum(v for _, v in samples)


async def test_one_leader_polls_and_a_standby_takes_over(tmp_path: Path) -> None:
    server = FeedServer(
        {"/a": FeedSpec(posts=[NOW - timedelta(days=d) for d in (1, 4)], validators=False)}
    )
    base = await server.start()
    config = tmp_path / "config.toml"
    config.write_text(
        f'[monitor]\ndatabase = "sqlite:///{tmp_path}/m.db"\npoll_interval = "1s"\njitter = "0s"\n'
        f'[[organisation]]\nname = "A"\nrss = "{base}/a"\n'
    )
    first = Daemon(config).start()
    second: Daemon | None = None
    try:
        await first.wait_ready()
        await first.until(
            lambda: first.metrics_value("channel_monitor_leader"), 20, "the first to lead"
        )
        second = Daemon(config).start()
        await second.wait_ready()
        # the standby serves the leader's data but makes no requests of its own
        await second.until(lambda: "standing by" in second.log, 20, "the second to stand by")
        standby = await second.metrics()
        assert value(standby, "channel_monitor_leader") == 0
        assert value(standby, "channel_monitor_shards_held") == 0
        assert value(standby, "channel_monitor_coordinator") == 0  # nor notifies, nor prunes
        assert "channel_monitor_state" not in standby  # the channels' series: from the leader
        leader = await first.metrics()
        assert value(leader, "channel_monitor_shards_held") == SHARDS
        assert value(leader, "channel_monitor_coordinator") == 1
        before = len(server.hits)
        await first.until(lambda: len(server.hits) >= before + 3, 20, "the leader to keep polling")
        assert await requests_made(second) == 0
        channels = await second.channels()
        assert channels[0]["state"] == "active"  # what the leader stored

        first.kill()
        await second.until(
            lambda: second.metrics_value("channel_monitor_leader"), 30, "the standby to take over"
        )
        await second.until(lambda: requests_made(second), 20, "the new leader to poll")
        taken = await second.metrics()
        assert value(taken, "channel_monitor_shards_held") == SHARDS
        assert value(taken, "channel_monitor_state", state="active") == 1
    finally:
        first.stop()
        code = second.stop() if second is not None else 0
        await server.stop()
    assert code == 0
