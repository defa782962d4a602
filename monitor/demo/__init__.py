"""``channel-monitor demo``: the daemon against simulated platforms, no tokens or network.

Every platform's fake server (the ones the end-to-end tests use) runs on 127.0.0.1, serving the
survey-shaped sample of ``monitor.demo.sample``: 38 organisations, months of posting history, one
Facebook page whose token has expired. A webhook receiver on 127.0.0.1 collects the daemon's
notifications and shows them. The configuration says ``simulated = true``, so the status page,
the report and the CLI tables say the data is simulated. With ``--data DIR`` the database and
the configuration stay in DIR for ``status`` and ``report``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import shlex
import socket
import sys
import tempfile
import unicodedata
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

import httpx

from connectors.registry import supported_platforms
from monitor.app import StartupError, run_daemon
from monitor.config import load_settings
from monitor.demo.receiver import Receiver
from monitor.demo.sample import ORGANISATIONS, Channel, channels
from monitor.fakes import bluesky, graph, linkedin, mastodon
from monitor.fakes._common import FakePost
from monitor.fakes.feeds import FeedServer, FeedSpec
from monitor.logs import configure as configure_logging
from monitor.redact import Redactor
from monitor.reload import parse_listen

CONFIG_NAME = "demo.toml"
DATABASE_NAME = "demo.db"
IG_ACCOUNT = "17841400000000001"  # the demo's own professional account: it runs Business Discovery
MASTODON_DOMAIN = "social.example"
READY_WITHIN = 30.0  # seconds for the daemon to answer /readyz before the demo gives up


class _Server(Protocol):
    async def start(self, host: str = ..., port: int = ...) -> str: ...
    async def stop(self) -> None: ...


def slug(name: str) -> str:
    """A handle from an organisation's name: "Gemeente IJsselwaarde" → "gemeenteijsselwaarde"."""
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]", "", plain.lower())


def youtube_id(name: str) -> str:
    """A YouTube channel id (UC + 22 characters) for an organisation."""
    return ("UC" + slug(name) + "0" * 22)[:24]


def linkedin_id(number: int) -> str:
    """The organization id of the sample's ``number``-th channel on LinkedIn."""
    return str(3000 + number)


def _followers(channel: Channel) -> int:
    return 150 + (sum(map(ord, channel.organisation + channel.platform)) * 37) % 9000


def servers(sample: list[Channel]) -> dict[str, _Server]:
    """The fake platforms, serving ``sample``."""
    feeds: dict[str, FeedSpec] = {}
    pages, accounts = [], [graph.AccountSpec(IG_ACCOUNT, "channelmonitor.demo")]
    organizations, toots, skeets = [], [], []
    for number, c in enumerate(sample):
        name, handle, posts = c.organisation, slug(c.organisation), list(c.posts)
        if c.platform == "rss":
            feeds[f"/{handle}/nieuws"] = FeedSpec(posts=posts, title=f"Nieuws van {name}")
        elif c.platform == "youtube":
            feeds[youtube_id(name)] = FeedSpec(posts=posts, format="youtube", title=name)
        elif c.platform == "facebook":
            behaviour: graph.Behaviour = "token_expired" if c.intended == "expired" else "ok"
            pages.append(
                graph.PageSpec(
                    str(2000 + number),
                    handle,
                    name,
                    _followers(c),
                    None,
                    posts,
                    behaviour=behaviour,
                )
            )
        elif c.platform == "instagram":
            accounts.append(
                graph.AccountSpec(
                    str(17841400000001000 + number),
                    handle,
                    name=name,
                    followers=_followers(c),
                    media=posts,
                )
            )
        elif c.platform == "linkedin":
            organizations.append(
                linkedin.OrganizationSpec(
                    linkedin_id(number), name, handle, _followers(c), [FakePost(t) for t in posts]
                )
            )
        elif c.platform == "mastodon":
            toots.append(
                mastodon.AccountSpec(
                    handle, MASTODON_DOMAIN, name, _followers(c), [FakePost(t) for t in posts]
                )
            )
        elif c.platform == "bluesky":
            skeets.append(
                bluesky.AccountSpec(
                    f"{handle}.bsky.social", name, _followers(c), [FakePost(t) for t in posts]
                )
            )
    return {
        "feeds": FeedServer(feeds),
        "graph": graph.GraphServer(pages, accounts),
        "linkedin": linkedin.LinkedInServer(organizations),
        "mastodon": mastodon.MastodonServer(toots),
        "bluesky": bluesky.BlueskyServer(skeets),
    }


def _handle(number: int, c: Channel, bases: dict[str, str]) -> str:
    handle = slug(c.organisation)
    if c.platform == "linkedin":
        return linkedin_id(number)
    if c.platform == "rss":
        return f"{bases['feeds']}/{handle}/nieuws"
    if c.platform == "youtube":
        return youtube_id(c.organisation)
    if c.platform == "mastodon":
        return f"@{handle}@{MASTODON_DOMAIN}"
    if c.platform == "bluesky":
        return f"{handle}.bsky.social"
    return handle


def page_url(listen: str) -> str:
    """The status page's address for people on this machine."""
    host, port = parse_listen(listen)
    host = "127.0.0.1" if host in ("0.0.0.0", "::") else host  # noqa: S104
    return f"http://{'[' + host + ']' if ':' in host else host}:{port}/"


def config_text(
    sample: list[Channel], workdir: Path, listen: str, bases: dict[str, str], hook: str
) -> str:
    """The demo's configuration: the fake platforms, the sample, notifications to ``hook``."""
    q = json.dumps  # a TOML basic string is a JSON string for these values
    lines = [
        "# channel-monitor demo: simulated platforms and organisations, not real accounts.",
        "[monitor]",
        "simulated = true",
        f"database = {q(f'sqlite:///{workdir / DATABASE_NAME}')}",
        f"listen = {q(listen)}",
        'poll_interval = "10m"',
        'jitter = "20s"',
        'log_level = "warning"',
        "",
        "[notify]",
        'evaluate_every = "5s"',
        f"status_page_url = {q(page_url(listen))}",
        "",
        "[[notify.webhook]]",
        'name = "demo-receiver"',
        f"url = {q(hook)}",
        'markup = "markdown"',
        "",
        f"[platforms.youtube]\nbase_url = {q(bases['feeds'])}",
        f"[platforms.facebook]\nbase_url = {q(bases['graph'])}",
        f"access_token = {q(graph.DEFAULT_TOKEN)}",
        f"[platforms.instagram]\nbase_url = {q(bases['graph'])}",
        f"access_token = {q(graph.DEFAULT_TOKEN)}\naccount_id = {q(IG_ACCOUNT)}",
        f"[platforms.linkedin]\nbase_url = {q(bases['linkedin'])}",
        f"access_token = {q(linkedin.DEFAULT_TOKEN)}",
        f"[platforms.mastodon]\nbase_url = {q(bases['mastodon'])}",
        f"[platforms.bluesky]\nbase_url = {q(bases['bluesky'])}",
    ]
    by_org: dict[str, list[tuple[int, Channel]]] = {name: [] for name, _ in ORGANISATIONS}
    for number, c in enumerate(sample):
        by_org.setdefault(c.organisation, []).append((number, c))
    for organisation, mine in by_org.items():
        lines += ["", "[[organisation]]", f"name = {q(organisation)}"]
        for number, c in mine:
            handle = q(_handle(number, c, bases))
            value = f"{{ handle = {handle}, parked = true }}" if c.intended == "parked" else handle
            lines.append(f"{c.platform} = {value}")
    return "\n".join(lines) + "\n"


def _check_port(listen: str) -> None:
    """Fail before printing anything if the status page's port is taken."""
    host, port = parse_listen(listen)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise StartupError(
                f"cannot listen on {listen}: {exc.strerror}; give another with --listen"
            ) from None


@contextlib.contextmanager
def _workdir(data: Path | None) -> Iterator[Path]:
    """``data`` made ready for a fresh sample, or a temporary directory removed afterwards."""
    if data is None:
        with tempfile.TemporaryDirectory(prefix="channel-monitor-demo-") as tmp:
            yield Path(tmp)
        return
    try:
        data.mkdir(parents=True, exist_ok=True)
        config = data / CONFIG_NAME
        if config.exists() and "simulated = true" not in config.read_text(encoding="utf-8"):
            raise StartupError(f"{config} is not the demo's configuration; choose another --data")
        for old in data.glob(f"{DATABASE_NAME}*"):  # the database, its journal and lock
            old.unlink()
    except OSError as exc:
        raise StartupError(f"--data {data}: {exc.strerror}") from None
    yield data


async def _ready(listen: str, daemon: asyncio.Task[object]) -> None:
    url = f"{page_url(listen)}readyz"
    deadline = asyncio.get_running_loop().time() + READY_WITHIN
    async with httpx.AsyncClient(timeout=2) as client:
        while asyncio.get_running_loop().time() < deadline:
            if daemon.done():
                daemon.result()  # its StartupError, if that is why
                return
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(url)).status_code == 200:
                    return
            await asyncio.sleep(0.2)
    raise StartupError(f"the demo's daemon did not answer on {listen} within {READY_WITHIN:.0f} s")


def _banner(listen: str, receiver: str, workdir: Path, kept: bool, sample: list[Channel]) -> str:
    config = shlex.quote(str(workdir / CONFIG_NAME))
    organisations = len(ORGANISATIONS)
    where = (
        "kept after the demo stops" if kept else "removed when the demo stops (--data DIR keeps it)"
    )
    return "\n".join(
        [
            f"channel-monitor demo (simulated data): {organisations} organisations, "
            f"{len(sample)} channels on simulated platforms; no tokens, no network",
            f"  status page:    {page_url(listen)}",
            f"  notifications:  {receiver}  (the demo's webhook receiver)",
            f"  data:           {workdir}  ({where})",
            "read the same data from another terminal:",
            f"  channel-monitor status --config {config}",
            f"  channel-monitor report --config {config} --format html --output report.html",
            "Ctrl-C stops the demo.",
            "",
        ]
    )


async def _demo(listen: str, workdir: Path, kept: bool) -> None:
    sample = channels(datetime.now(UTC))
    fakes = servers(sample)
    receiver = Receiver(workdir / "notifications.jsonl" if kept else None, page_url(listen))
    try:
        bases = {name: await server.start() for name, server in fakes.items()}
        hook = await receiver.start()
        config = workdir / CONFIG_NAME
        config.write_text(
            config_text(sample, workdir, listen, bases, f"{hook}/hook"), encoding="utf-8"
        )
        settings = load_settings(config, {}, supported=supported_platforms())
        configure_logging(
            settings.monitor.log_level, "text", Redactor(settings.secrets, settings.secret_params)
        )
        daemon = asyncio.create_task(run_daemon(settings))
        await _ready(listen, daemon)
        sys.stdout.write(_banner(listen, hook + "/", workdir, kept, sample))
        sys.stdout.flush()
        await daemon
    finally:
        await receiver.stop()
        for server in fakes.values():
            await server.stop()


def run_demo(listen: str, data: Path | None = None) -> int:
    """Serve the demo until SIGINT/SIGTERM; raises StartupError when it cannot start."""
    _check_port(listen)
    with _workdir(data) as workdir:
        asyncio.run(_demo(listen, workdir, kept=data is not None))
    return 0
