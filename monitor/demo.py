"""``channel-monitor demo``: the daemon against simulated platforms, no tokens or network.

Every platform's fake server (the ones the end-to-end tests use) runs on 127.0.0.1 with a few
sample organisations whose channels show every state and a couple of failures.
"""

from __future__ import annotations

import asyncio
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol

from connectors.registry import supported_platforms
from monitor.app import run_daemon
from monitor.config import load_settings
from monitor.fakes import bluesky, graph, linkedin, mastodon
from monitor.fakes._common import FakePost
from monitor.fakes.feeds import FeedServer, FeedSpec
from monitor.logs import configure as configure_logging
from monitor.redact import Redactor

IG_ACCOUNT = "17841400000000001"


class _Server(Protocol):
    async def start(self, host: str = ..., port: int = ...) -> str: ...
    async def stop(self) -> None: ...


def _times(days: float, count: int, newest_days_ago: float) -> list[datetime]:
    now = datetime.now(UTC)
    return [now - timedelta(days=newest_days_ago + i * days) for i in range(count)]


def _posts(days: float, count: int, newest_days_ago: float) -> list[FakePost]:
    return [FakePost(t) for t in _times(days, count, newest_days_ago)]


def _servers() -> dict[str, _Server]:
    return {
        "feeds": FeedServer(
            {
                "/actief/nieuws": FeedSpec(posts=_times(2, 40, 0.5), title="Gemeente Actief"),
                "/stil/nieuws": FeedSpec(posts=_times(5, 20, 45), title="Gemeente Stil"),
                "/waterschap/nieuws": FeedSpec(posts=_times(9, 12, 6), title="Waterschap"),
                "/oud/nieuws": FeedSpec(posts=_times(30, 6, 400), title="Oud project"),
                "UCdemo0000000000000000aa": FeedSpec(posts=_times(7, 15, 3), format="youtube"),
                "UCdemo0000000000000000bb": FeedSpec(posts=_times(7, 15, 95), format="youtube"),
            }
        ),
        "graph": graph.GraphServer(
            [
                graph.PageSpec(
                    "2001", "gemeenteactief", "Gemeente Actief", 5100, None, _times(2, 60, 1)
                ),
                graph.PageSpec(
                    "2002", "provincievoorbeeld", "Provincie", 2300, None, _times(1, 30, 5)
                ),
                graph.PageSpec("2003", "waterschapvoorbeeld", behaviour="token_expired"),
            ],
            [
                graph.AccountSpec(
                    IG_ACCOUNT, "gemeenteactief", followers=900, media=_times(3, 40, 2)
                ),
                graph.AccountSpec("17841400000000002", "gemeentestil", media=_times(6, 12, 50)),
            ],
        ),
        "linkedin": linkedin.LinkedInServer(
            [
                linkedin.OrganizationSpec(
                    "3001", "Gemeente Actief", "gemeente-actief", 4200, _posts(4, 30, 2)
                ),
                linkedin.OrganizationSpec("3002", "Agentschap Voorbeeld", posts=_posts(10, 8, 210)),
            ]
        ),
        "mastodon": mastodon.MastodonServer(
            [
                mastodon.AccountSpec(
                    "gemeenteactief", "social.example", followers=150, posts=_posts(2, 50, 1)
                ),
                mastodon.AccountSpec("provincie", "social.example", posts=_posts(20, 6, 8)),
            ]
        ),
        "bluesky": bluesky.BlueskyServer(
            [
                bluesky.AccountSpec(
                    "gemeenteactief.bsky.social", followers=80, posts=_posts(3, 30, 1)
                ),
                bluesky.AccountSpec("agentschap.bsky.social"),
            ]
        ),
    }


_ORGANISATIONS = """
[[organisation]]
name = "Gemeente Actief"
rss = "{feeds}/actief/nieuws"
youtube = "UCdemo0000000000000000aa"
facebook = "gemeenteactief"
instagram = "{ig}"
linkedin = "3001"
mastodon = "@gemeenteactief@social.example"
bluesky = "gemeenteactief.bsky.social"

[[organisation]]
name = "Gemeente Stil"
rss = "{feeds}/stil/nieuws"
instagram = "gemeentestil"

[[organisation]]
name = "Provincie Voorbeeld"
youtube = "UCdemo0000000000000000bb"
facebook = "provincievoorbeeld"
mastodon = "@provincie@social.example"

[[organisation]]
name = "Waterschap Voorbeeld"
rss = "{feeds}/waterschap/nieuws"
facebook = "waterschapvoorbeeld"

[[organisation]]
name = "Agentschap Voorbeeld"
linkedin = "3002"
bluesky = "agentschap.bsky.social"
rss = [{{ handle = "{feeds}/oud/nieuws", parked = true }}]
"""


def _config(workdir: Path, listen: str, bases: dict[str, str]) -> str:
    return f"""
[monitor]
database = "sqlite:///{workdir}/demo.db"
listen = "{listen}"
poll_interval = "5m"
jitter = "5s"

[platforms.youtube]
base_url = "{bases["feeds"]}"
[platforms.facebook]
base_url = "{bases["graph"]}"
access_token = "{graph.DEFAULT_TOKEN}"
[platforms.instagram]
base_url = "{bases["graph"]}"
access_token = "{graph.DEFAULT_TOKEN}"
account_id = "{IG_ACCOUNT}"
[platforms.linkedin]
base_url = "{bases["linkedin"]}"
access_token = "{linkedin.DEFAULT_TOKEN}"
[platforms.mastodon]
base_url = "{bases["mastodon"]}"
[platforms.bluesky]
base_url = "{bases["bluesky"]}"
""" + _ORGANISATIONS.format(feeds=bases["feeds"], ig=IG_ACCOUNT)


async def _demo(listen: str, workdir: Path) -> None:
    servers = _servers()
    bases = {name: await server.start() for name, server in servers.items()}
    try:
        config = workdir / "demo.toml"
        config.write_text(_config(workdir, listen, bases))
        settings = load_settings(config, {}, supported=supported_platforms())
        configure_logging("info", "text", Redactor(settings.secrets, settings.secret_params))
        print(f"channel-monitor demo: status page at http://{listen}/  (Ctrl-C to stop)")
        await run_daemon(settings)
    finally:
        for server in servers.values():
            await server.stop()


def run_demo(listen: str, data: Path | None = None) -> int:
    """Serve the demo until SIGINT/SIGTERM; the data lives in a temporary directory."""
    with tempfile.TemporaryDirectory(prefix="channel-monitor-demo-") as workdir:
        asyncio.run(_demo(listen, Path(workdir)))
    return 0
