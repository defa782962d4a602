"""A first read deep enough to judge, end to end: the real daemon and the fake Graph API.

A Page that posts three times a day has a hundred posts in a month. With one page per poll it
would be judged on its newest hundred posts (a month), its 90-day figures a third of the truth,
and its history read over the following polls. The first read goes on past ``page_limit`` to
the judging horizon instead, and only then is the channel judged; later polls keep to the
page budget.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.fakes.graph import GraphServer, PageSpec
from tests.e2e.daemon import Daemon

pytestmark = pytest.mark.e2e

TOKEN = "EAAfirstreadTOKEN"
NOW = datetime.now(UTC)


async def test_a_first_read_reaches_the_judging_horizon(tmp_path: Path) -> None:
    posts = [NOW - timedelta(hours=2 + 8 * i) for i in range(3 * 200)]  # 3 a day, 200 days
    server = GraphServer([PageSpec("2001", "gemeentedruk", posts=posts)], access_token=TOKEN)
    base = await server.start()
    config = tmp_path / "config.toml"
    config.write_text(
        f"""
[monitor]
database = "sqlite:///{tmp_path}/monitor.db"
poll_interval = "1h"
jitter = "0s"

[platforms.facebook]
access_token = "{TOKEN}"
base_url = "{base}"
page_limit = 1

[[organisation]]
name = "Gemeente Druk"
facebook = "gemeentedruk"
"""
    )
    daemon = Daemon(config).start()
    try:
        await daemon.wait_ready()

        async def judged() -> dict[str, object] | None:
            [channel] = await daemon.channels()
            return channel if channel["state"] != "unknown" else None

        channel = await daemon.until(judged, 60, "the first read to be judged")
        true_90d = sum(1 for p in posts if NOW - p <= timedelta(days=90))
        assert channel["state"] == "active"
        assert channel["posts_90d"] in range(true_90d - 3, true_90d + 1)  # not 100
        assert channel["usual_gap_seconds"] == pytest.approx(8 * 3600, abs=60)
        first_read = server.count()
        assert 3 <= first_read <= 50  # past page_limit = 1, within the first read's cap
    finally:
        assert daemon.stop() == 0
        await server.stop()
