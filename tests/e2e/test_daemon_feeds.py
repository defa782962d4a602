"""The foundation, end to end: the real daemon against feed servers on 127.0.0.1."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.fakes.feeds import FeedServer, FeedSpec
from tests.e2e.daemon import Daemon, cli, value

pytestmark = pytest.mark.e2e

NOW = datetime.now(UTC)
YOUTUBE_ID = "UCabcdefghijklmnopqrstuv"


def every(days: float, count: int, newest_days_ago: float) -> list[datetime]:
    return [NOW - timedelta(days=newest_days_ago + i * days) for i in range(count)]


FEEDS = {
    "/active/rss": FeedSpec(posts=every(3, 20, 1)),
    "/stil/rss": FeedSpec(posts=every(7, 10, 40)),
    "/slaapt/atom": FeedSpec(posts=every(7, 10, 200), format="atom"),
    "/leeg/rss": FeedSpec(posts=[]),
    "/weg/rss": FeedSpec(posts=[], status=404),
    "/kapot/rss": FeedSpec(posts=every(3, 5, 1), malformed=True),
    "/cache/rss": FeedSpec(posts=every(3, 20, 1), validators=True),
    YOUTUBE_ID: FeedSpec(posts=every(3, 15, 1), format="youtube"),
}

EXPECTED = {  # organisation: (platform, state, poll ok, error reason)
    "Gemeente Actief": ("rss", "active", True, None),
    "Gemeente Stil": ("rss", "inactive", True, None),
    "Gemeente Slaapt": ("rss", "dormant", True, None),
    "Gemeente Leeg": ("rss", "never_posted", True, None),
    "Gemeente Weg": ("rss", "unknown", False, "not_found"),
    "Gemeente Kapot": ("rss", "unknown", False, "malformed"),
    "Gemeente Cache": ("rss", "active", True, None),
    "Provincie Video": ("youtube", "active", True, None),
}


def write_config(tmp_path: Path, base: str) -> Path:
    orgs = {
        "Gemeente Actief": f'rss = "{base}/active/rss"',
        "Gemeente Stil": f'rss = "{base}/stil/rss"',
        "Gemeente Slaapt": f'rss = ["{base}/slaapt/atom"]',
        "Gemeente Leeg": f'rss = "{base}/leeg/rss"',
        "Gemeente Weg": f'rss = "{base}/weg/rss"',
        "Gemeente Kapot": f'rss = "{base}/kapot/rss"',
        # polled every 2 s so the test sees the conditional request come back 304
        "Gemeente Cache": f'rss = {{ handle = "{base}/cache/rss", poll_interval = "2s" }}',
        "Provincie Video": f'youtube = "{YOUTUBE_ID}"',
    }
    body = "\n".join(f'[[organisation]]\nname = "{name}"\n{line}\n' for name, line in orgs.items())
    config = tmp_path / "config.toml"
    config.write_text(
        f"""
[monitor]
database = "sqlite:///{tmp_path}/monitor.db"
poll_interval = "1h"
jitter = "0s"

[platforms.youtube]
base_url = "{base}"

{body}
"""
    )
    return config


async def test_states_and_failures_over_http(tmp_path: Path) -> None:
    server = FeedServer(FEEDS)
    base = await server.start()
    daemon = Daemon(write_config(tmp_path, base)).start()
    try:
        await daemon.wait_ready()

        async def all_polled() -> list[dict[str, object]] | None:
            channels = await daemon.channels()
            return channels if all(c["last_poll_at"] for c in channels) else None

        channels = await daemon.until(all_polled, 30, "every channel to be polled")
        by_org = {c["organisation"]: c for c in channels}
        assert set(by_org) == set(EXPECTED)
        for org, (platform, state, ok, reason) in EXPECTED.items():
            got = by_org[org]
            assert (got["platform"], got["state"], got["poll_ok"], got["poll_error"]) == (
                platform,
                state,
                ok,
                reason,
            ), org

        metrics = await daemon.metrics()
        assert value(metrics, "channel_monitor_build_info") == 1
        for org, (platform, state, ok, _) in EXPECTED.items():
            labels = {"organisation": org, "platform": platform}
            assert value(metrics, "channel_monitor_state", state=state, **labels) == 1, org
            assert value(metrics, "channel_monitor_state", state="inactive", **labels) == (
                1 if state == "inactive" else 0
            ), org
            assert value(metrics, "channel_monitor_poll_success", **labels) == (1 if ok else 0)
        for reason in ("not_found", "malformed"):
            assert value(
                metrics, "channel_monitor_poll_errors_total", platform="rss", reason=reason
            ) == pytest.approx(1)
        assert (
            value(metrics, "channel_monitor_poll_errors_total", platform="rss", reason="auth") == 0
        )
        assert (
            value(
                metrics,
                "channel_monitor_recent_posts",
                organisation="Gemeente Actief",
                window="30d",
            )
            == 10
        )
        assert (
            value(metrics, "channel_monitor_inactive_after_seconds", organisation="Gemeente Stil")
            == 30 * 86400
        )
        stale = value(
            metrics, "channel_monitor_last_post_timestamp_seconds", organisation="Gemeente Stil"
        )
        assert stale == pytest.approx((NOW - timedelta(days=40)).timestamp(), abs=1)

        # the 2-second channel: its next poll is conditional, answered 304, nothing re-downloaded
        def conditional_hits() -> list[object]:
            return [h for h in server.hits if h.key == "/cache/rss" and h.status == 304]

        await daemon.until(conditional_hits, 20, "a 304 for the cached feed")
        first_poll = by_org["Gemeente Cache"]["last_poll_at"]

        async def repolled() -> dict[str, object] | None:
            cached = {c["organisation"]: c for c in await daemon.channels()}["Gemeente Cache"]
            counted = value(
                await daemon.metrics(),
                "channel_monitor_api_requests_total",
                platform="rss",
                code="304",
            )
            return cached if cached["last_poll_at"] != first_poll and counted else None

        cached = await daemon.until(repolled, 20, "the poll answered 304 to be recorded")
        assert cached["poll_ok"] is True
        assert cached["state"] == "active"
        assert cached["posts_30d"] == 10
        full = [h for h in server.hits if h.key == "/cache/rss" and h.status == 200]
        assert len(full) == 1, "the cached feed was downloaded again"

        page = await daemon.get("/")
        assert page.status_code == 200
        assert "Gemeente Stil" in page.text and "inactive" in page.text
        assert (await daemon.get("/healthz")).status_code == 200
    finally:
        code = daemon.stop()
        await server.stop()
    assert code == 0, daemon.log


async def test_a_flaky_feed_keeps_its_state_and_a_moved_feed_is_read_at_its_new_address(
    tmp_path: Path,
) -> None:
    server = FeedServer(
        {
            # YouTube's feeds answer 404 on and off for channels that exist: every other request
            YOUTUBE_ID: FeedSpec(posts=every(3, 15, 1), format="youtube", flaky=(200, 404)),
            "/oud/rss": FeedSpec(posts=[], status=301, redirect="/nieuw/rss"),
            "/nieuw/rss": FeedSpec(posts=every(3, 20, 1)),
        }
    )
    base = await server.start()
    config = tmp_path / "config.toml"
    config.write_text(
        f"""
[monitor]
database = "sqlite:///{tmp_path}/monitor.db"
poll_interval = "2s"
jitter = "0s"

[platforms.youtube]
base_url = "{base}"

[[organisation]]
name = "Provincie Video"
youtube = "{YOUTUBE_ID}"

[[organisation]]
name = "Gemeente Verhuisd"
rss = "{base}/oud/rss"
"""
    )
    daemon = Daemon(config).start()
    seen: list[dict[str, object]] = []
    try:
        await daemon.wait_ready()

        async def flapped_and_moved() -> bool:
            by_org = {c["organisation"]: c for c in await daemon.channels()}
            seen.append(by_org["Provincie Video"])
            video = [h.status for h in server.hits if h.key == YOUTUBE_ID]
            moved = [h for h in server.hits if h.key == "/nieuw/rss"]
            return (
                video.count(404) >= 3
                and video.count(200) + video.count(304) >= 3
                and (len(moved) >= 3 and by_org["Gemeente Verhuisd"]["moved_to"] is not None)
            )

        await daemon.until(flapped_and_moved, 60, "the flaky feed to answer 404 three times")
        video = next(c for c in await daemon.channels() if c["platform"] == "youtube")
        assert video["state"] == "active" and video["posts_30d"] == 10
        assert all(c["poll_error"] in (None, "transient") for c in seen), seen
        flaky = [c for c in seen if c["poll_error"] == "transient"]
        assert flaky, "no poll was seen failing"
        assert "HTTP 404 from" in str(flaky[0]["poll_error_detail"])
        assert "in a row" in str(flaky[0]["poll_error_detail"])
        metrics = await daemon.metrics()
        errors = {
            reason: value(
                metrics, "channel_monitor_poll_errors_total", platform="youtube", reason=reason
            )
            for reason in ("not_found", "transient")
        }
        assert errors["not_found"] == 0
        assert errors["transient"] is not None and errors["transient"] >= 3

        moved = next(c for c in await daemon.channels() if c["platform"] == "rss")
        assert moved["moved_to"] == f"{base}/nieuw/rss"
        assert moved["poll_ok"] is True and moved["posts_30d"] == 10
        assert [h.status for h in server.hits if h.key == "/oud/rss"] == [301], "asked again"
        page = (await daemon.get("/")).text
        assert f"moved to {base}/nieuw/rss" in page
        assert "put the new address in the configuration" in page
        validated = cli("validate", "--config", str(config))
        assert f"moved to {base}/nieuw/rss" in " ".join(validated.stdout.split())
    finally:
        code = daemon.stop()
        await server.stop()
    assert code == 0, daemon.log
