"""A judgement changes at its deadline with no poll, and /metrics says what /api/channels says.

One feed, read once (its poll interval is an hour): its only post turns the channel inactive
(inactive_after 62m) some seconds after the daemon starts. Nothing polls it again, yet both
/api/channels and /metrics move from below_target to inactive at that moment: the judgement is
kept and judged again at its deadline, not only when a poll lands.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from monitor.fakes.feeds import FeedServer, FeedSpec
from tests.e2e.daemon import Daemon, value

pytestmark = pytest.mark.e2e

ORG = "Gemeente Deadline"
INACTIVE_AFTER = timedelta(minutes=62)
AHEAD = timedelta(seconds=40)  # the inactive moment, after the feed is made


def parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def write_config(tmp_path: Path, feed: str) -> Path:
    config = tmp_path / "config.toml"
    config.write_text(
        f"""
[monitor]
database = "sqlite:///{tmp_path}/monitor.db"
poll_interval = "1h"
jitter = "0s"

[[organisation]]
name = "{ORG}"
rss = {{ handle = "{feed}", inactive_after = "62m" }}
"""
    )
    return config


def metrics_of(samples: dict[str, list[tuple[dict[str, str], float]]]) -> dict[str, Any]:
    """What /metrics says of the channel, in the API's terms."""
    labels = {"organisation": ORG}
    states = [
        labels_["state"]
        for labels_, v in samples["channel_monitor_state"]
        if labels_["organisation"] == ORG and v == 1
    ]
    return {
        "state": states[0] if len(states) == 1 else states,
        "last_post": value(samples, "channel_monitor_last_post_timestamp_seconds", **labels),
        "posts_7d": value(samples, "channel_monitor_recent_posts", window="7d", **labels),
        "posts_30d": value(samples, "channel_monitor_recent_posts", window="30d", **labels),
        "last_poll": value(samples, "channel_monitor_last_poll_timestamp_seconds", **labels),
        "ok": value(samples, "channel_monitor_poll_success", **labels),
    }


def api_terms(channel: dict[str, Any]) -> dict[str, Any]:
    return {
        "state": channel["state"],
        "last_post": parse(channel["last_post_at"]).timestamp(),
        "posts_7d": channel["posts_7d"],
        "posts_30d": channel["posts_30d"],
        "last_poll": parse(channel["last_poll_at"]).timestamp(),
        "ok": 1 if channel["poll_ok"] else 0,
    }


async def test_state_changes_at_its_deadline_without_a_poll(tmp_path: Path) -> None:
    posted = datetime.now(UTC) + AHEAD - INACTIVE_AFTER
    server = FeedServer({"/deadline/rss": FeedSpec(posts=[posted])})
    base = await server.start()
    daemon = Daemon(write_config(tmp_path, f"{base}/deadline/rss")).start()
    try:
        await daemon.wait_ready()

        async def polled() -> dict[str, Any] | None:
            [channel] = await daemon.channels()
            return channel if channel["last_poll_at"] else None

        first = await daemon.until(polled, 30, "the feed to be read")
        deadline = parse(first["last_post_at"]) + INACTIVE_AFTER
        polls = len(server.hits)
        seen: list[tuple[datetime, str]] = []

        async def judged_inactive() -> bool:
            [before] = await daemon.channels()
            shown = metrics_of(await daemon.metrics())
            [after] = await daemon.channels()
            for read in (before, after):
                judged = parse(read["judged_at"])
                # judged at the moment asked: the state is the one of that moment
                assert read["state"] == ("inactive" if judged >= deadline else "below_target")
                seen.append((judged, read["state"]))
            if before["state"] == after["state"]:  # no deadline between the three reads
                assert shown == api_terms(after)
            return bool(after["state"] == "inactive")

        await daemon.until(judged_inactive, AHEAD.total_seconds() + 30, "the inactive moment")
        assert any(state == "below_target" for _, state in seen), (
            f"the daemon read the feed only after its deadline ({deadline}); seen: {seen}"
        )
        assert len(server.hits) == polls  # no poll in between: the deadline alone moved it
        [last] = await daemon.channels()
        assert last["last_poll_at"] == first["last_poll_at"]
        assert metrics_of(await daemon.metrics())["state"] == "inactive"
    finally:
        daemon.stop()
        await server.stop()
