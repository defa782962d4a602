"""``channel-monitor demo``: the daemon against simulated platforms, no tokens or network."""

from __future__ import annotations

import asyncio
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from connectors.registry import supported_platforms
from monitor.app import run_daemon
from monitor.config import load_settings
from monitor.fakes.feeds import FeedServer, FeedSpec
from monitor.logs import configure as configure_logging
from monitor.redact import Redactor


def _every(days: float, count: int, newest_days_ago: float) -> list[datetime]:
    now = datetime.now(UTC)
    return [now - timedelta(days=newest_days_ago + i * days) for i in range(count)]


DEMO_FEEDS: dict[str, FeedSpec] = {
    "/gemeente-actief/nieuws": FeedSpec(posts=_every(2, 40, 0.5), title="Gemeente Actief — nieuws"),
    "/gemeente-stil/nieuws": FeedSpec(posts=_every(5, 20, 45), title="Gemeente Stil — nieuws"),
    "/waterschap/nieuws": FeedSpec(posts=_every(9, 12, 6), title="Waterschap — nieuws"),
    "/provincie/nieuws": FeedSpec(
        posts=_every(2, 30, 12), format="atom", title="Provincie — nieuws"
    ),
    "/agentschap/nieuws": FeedSpec(posts=[], title="Agentschap — nieuws"),
    "/oud-project/nieuws": FeedSpec(posts=_every(30, 6, 400), title="Oud project"),
    "UCdemo0000000000000000aa": FeedSpec(
        posts=_every(7, 15, 3), format="youtube", title="Gemeente Actief"
    ),
    "UCdemo0000000000000000bb": FeedSpec(
        posts=_every(7, 15, 95), format="youtube", title="Provincie"
    ),
}

_ORGANISATIONS = """
[[organisation]]
name = "Gemeente Actief"
rss = "{base}/gemeente-actief/nieuws"
youtube = "UCdemo0000000000000000aa"

[[organisation]]
name = "Gemeente Stil"
rss = "{base}/gemeente-stil/nieuws"

[[organisation]]
name = "Waterschap Voorbeeld"
rss = "{base}/waterschap/nieuws"

[[organisation]]
name = "Provincie Voorbeeld"
rss = "{base}/provincie/nieuws"
youtube = "UCdemo0000000000000000bb"

[[organisation]]
name = "Agentschap Voorbeeld"
rss = ["{base}/agentschap/nieuws", {{ handle = "{base}/oud-project/nieuws", parked = true }}]
"""


async def _demo(listen: str, workdir: Path) -> None:
    server = FeedServer(DEMO_FEEDS)
    base = await server.start()
    try:
        config = workdir / "demo.toml"
        config.write_text(
            f'[monitor]\ndatabase = "sqlite:///{workdir}/demo.db"\nlisten = "{listen}"\n'
            f'poll_interval = "5m"\njitter = "0s"\n\n'
            f'[platforms.youtube]\nbase_url = "{base}"\n' + _ORGANISATIONS.format(base=base)
        )
        settings = load_settings(config, {}, supported=supported_platforms())
        configure_logging("info", "text", Redactor())
        print(f"channel-monitor demo: status page at http://{listen}/  (Ctrl-C to stop)")
        await run_daemon(settings)
    finally:
        await server.stop()


def run_demo(listen: str) -> int:
    """Serve the demo until SIGINT/SIGTERM; the data lives in a temporary directory."""
    with tempfile.TemporaryDirectory(prefix="channel-monitor-demo-") as workdir:
        asyncio.run(_demo(listen, Path(workdir)))
    return 0
