"""Hostile servers against the real daemon: a gzip bomb costs no memory and fails ``malformed``,
trickling feeds neither hold their polls for long nor take every feed slot."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from monitor.fakes.feeds import FeedServer, FeedSpec
from tests.e2e.daemon import Daemon
from tests.hostile import HostileServer, MiB, gzip_bomb, memory_kb, reset_peak

pytestmark = pytest.mark.e2e

NOW = datetime.now(UTC)
POSTS = [NOW - timedelta(days=1 + 3 * i) for i in range(10)]
BOMBED = ("Gemeente Toot", "Gemeente Pagina", "Gemeente Bom")


def config(tmp_path: Path, monitor: str, platforms: str, organisations: dict[str, str]) -> Path:
    orgs = "\n".join(
        f'[[organisation]]\nname = "{n}"\n{line}\n' for n, line in organisations.items()
    )
    path = tmp_path / "config.toml"
    path.write_text(
        f"""
[monitor]
database = "sqlite:///{tmp_path}/monitor.db"
jitter = "0s"
{monitor}

{platforms}

{orgs}
"""
    )
    return path


def by_org(channels: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {c["organisation"]: c for c in channels}


async def test_a_body_that_unpacks_to_half_a_gibibyte_fails_malformed_in_little_memory(
    tmp_path: Path,
) -> None:
    # 0.5 MB on the wire, 512 MiB unpacked: before, one such poll took the daemon to 1.08 GB
    hostile = HostileServer(bomb=gzip_bomb(512 * MiB), mode="fail")
    feeds = FeedServer({"/gezond/rss": FeedSpec(posts=POSTS)})
    bad, good = await hostile.start(), await feeds.start()
    path = config(
        tmp_path,
        'poll_interval = "2s"',
        f"""
[platforms.mastodon]
base_url = "{bad}"

[platforms.facebook]
access_token = "EAAtokenThatMustNeverLeak"
base_url = "{bad}"
""",
        {
            "Gemeente Toot": 'mastodon = "@nieuws@social.example"',
            "Gemeente Pagina": 'facebook = "gemeentepagina"',
            "Gemeente Bom": f'rss = "{bad}/nieuws.xml"',
            "Gemeente Gezond": f'rss = "{good}/gezond/rss"',
        },
    )
    daemon = Daemon(path).start()
    try:
        await daemon.wait_ready()
        assert daemon.proc is not None
        pid = daemon.proc.pid

        async def failed_once() -> bool:
            channels = by_org(await daemon.channels())
            return all(channels[o]["poll_error"] == "transient" for o in BOMBED) and bool(
                channels["Gemeente Gezond"]["poll_ok"]
            )

        await daemon.until(failed_once, 30, "the hostile channels to fail once, the feed to pass")
        idle = memory_kb(pid, "VmRSS")
        baseline = idle if reset_peak(pid) else memory_kb(pid, "VmHWM")
        polled_before = sum(1 for h in feeds.hits if h.key == "/gezond/rss")

        hostile.mode = "bomb"

        async def refused() -> dict[str, dict[str, Any]] | None:
            channels = by_org(await daemon.channels())
            done = all(channels[o]["poll_error"] == "malformed" for o in BOMBED)
            return channels if done else None

        channels = await daemon.until(refused, 60, "every bombed channel to fail malformed")
        peak = memory_kb(pid, "VmHWM")
        assert peak - baseline < 100 * 1024, f"peak {peak} kB against {baseline} kB at idle"
        for org in BOMBED:
            assert "larger than 10 MiB" in channels[org]["poll_error_detail"], channels[org]
            assert channels[org]["state"] != "inactive"

        # the daemon serves on and keeps polling the healthy feed
        assert (await daemon.get("/metrics")).status_code == 200
        assert (await daemon.get("/healthz")).status_code == 200
        await daemon.until(
            lambda: sum(1 for h in feeds.hits if h.key == "/gezond/rss") > polled_before + 1,
            30,
            "the healthy feed to be polled again",
        )
        assert "Traceback" not in daemon.log
    finally:
        code = daemon.stop()
        await hostile.stop()
        await feeds.stop()
    assert code == 0, daemon.log


async def test_trickling_feeds_are_cut_off_and_leave_slots_for_other_hosts(
    tmp_path: Path,
) -> None:
    # one byte every half second: no read ever waits the 1 s timeout, the answer never ends
    hostile = HostileServer(trickle_every=0.5)
    feeds = FeedServer({"/gezond/rss": FeedSpec(posts=POSTS)})
    slow, good = await hostile.start(), await feeds.start()
    trickling = {f"Gemeente Traag {i}": f'rss = "{slow}/trickle/{i}.xml"' for i in range(4)}
    path = config(
        tmp_path,
        'poll_interval = "1s"\npoll_timeout = "30s"',
        '[platforms.rss]\ntimeout = "1s"\nconcurrency = 2',  # two at a time per host
        {**trickling, "Gemeente Gezond": f'rss = "{good}/gezond/rss"'},
    )
    daemon = Daemon(path).start()
    try:
        await daemon.wait_ready()

        async def cut_off() -> dict[str, dict[str, Any]] | None:
            channels = by_org(await daemon.channels())
            done = all(channels[o]["poll_error"] == "transient" for o in trickling)
            return channels if done else None

        # before: each trickling poll ran until poll_timeout (30 s), holding a slot all along
        channels = await daemon.until(cut_off, 20, "the trickling feeds to be cut off")
        for org in trickling:
            assert "timed out" in channels[org]["poll_error_detail"], channels[org]

        # before: the four trickling feeds held all four slots, and the healthy feed waited
        await daemon.until(
            lambda: sum(1 for h in feeds.hits if h.key == "/gezond/rss") >= 6,
            20,
            "the healthy feed to be polled six times",
        )
        assert hostile.most_in_flight["trickle"] == 2  # the host's limit
        assert "Traceback" not in daemon.log
    finally:
        code = daemon.stop()
        await hostile.stop()
        await feeds.stop()
    assert code == 0, daemon.log
