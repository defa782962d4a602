"""Web load starves neither the readiness check nor polling.

Eight clients keep asking ``/api/channels`` of a daemon with 200 feeds while a probe asks
``/readyz`` twice a second and one feed is due every second. Snapshots for pages run on their
own executor, shared by requests that come together; the readiness ping on its own thread;
feed parsing on the default pool: none queues behind the others.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from monitor.fakes.feeds import FeedServer
from tests.e2e.daemon import Daemon
from tests.e2e.load import config, feeds, under_load

pytestmark = pytest.mark.e2e

CHANNELS = 200
POSTS = 400  # four a day for 100 days: a busy account, and what the judgement reads
SECONDS = 15.0


async def test_web_load_starves_neither_readiness_nor_polling(tmp_path: Path) -> None:
    specs, watched = feeds(CHANNELS, POSTS, timedelta(hours=6))
    server = FeedServer(specs)
    base = await server.start()
    path = tmp_path / "config.toml"
    path.write_text(config(tmp_path / "m.db", base, CHANNELS), encoding="utf-8")
    daemon = Daemon(path).start()
    try:
        await daemon.wait_ready(60)

        async def all_read() -> bool:
            return all(c["last_poll_at"] for c in await daemon.channels())

        await daemon.until(all_read, 120, f"the first read of {CHANNELS + 1} feeds")
        load = await under_load(daemon.base, server, watched=watched, seconds=SECONDS)
    finally:
        code = daemon.stop()
        await server.stop()
    assert code == 0, daemon.log
    assert load.pages > 0, load
    # every readiness check answered 200 (no answer within the Kubernetes example's 6 s fails)
    assert load.ready.count(200) == len(load.ready), load.ready
    # one poll a second is due: at least a third of them ran under load (a poll's rhythm is
    # its interval plus its own time: 15 s hold some 13 polls on an idle machine; 2-4 when
    # parsing queued behind snapshots)
    assert load.polls >= SECONDS / 3, load
