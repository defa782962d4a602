"""The daemon around the feed connectors: flaky 404s judged over time, permanent moves stored.

The real ``RssConnector`` through the shared client (``httpx.MockTransport``), the real poller and
store, and a clock the tests move.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from prometheus_client import CollectorRegistry

from connectors.base import MOVED_TO, Checkpoint, FetchResult, PlatformOptions
from connectors.rss import RssConnector
from monitor.api import channel_json
from monitor.config import load_settings
from monitor.http_client import build_client
from monitor.jobs import NOT_FOUND_AFTER, Poller, PollReport
from monitor.metrics import Instruments
from monitor.records import PollOutcome
from monitor.redact import Redactor, seal, unseal
from monitor.settings import ChannelSettings, Policy, channel_label
from monitor.storage import Store
from monitor.views import snapshot
from monitor.web.pages import Page, PageOptions
from monitor.web.status import status_page
from tests.conftest import NOW
from tests.e2e.daemon import cli

FIXTURES = Path(__file__).parent / "fixtures"
FEED_BODY = (FIXTURES / "rss/gemeente_nieuws.xml").read_bytes()
FEED = "https://www.voorbeeld.nl/nieuws/rss"
KEY = "s3cr3t-feed-key-42"


class Site:
    """Answers feed requests from a table the test changes: URL → status (200 serves the feed)."""

    def __init__(self, answers: dict[str, int], *, moves: dict[str, str] | None = None) -> None:
        self.answers = answers
        self.moves = moves or {}  # URL → Location, for 3xx answers
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        url = str(request.url)
        status = self.answers.get(url, 404)
        if status == 200:
            return httpx.Response(200, content=FEED_BODY, headers={"content-type": "text/xml"})
        headers = {"Location": self.moves[url]} if url in self.moves else {}
        return httpx.Response(status, text="<html>error</html>", headers=headers)

    @property
    def urls(self) -> list[str]:
        return [str(r.url) for r in self.requests]


class Rig:
    """A poller over one store with a movable clock; ``restart()`` forgets what it held."""

    def __init__(self, store: Store, site: Site, channel: ChannelSettings, secrets: list[str]):
        self.store, self.site, self.channel, self.secrets = store, site, channel, secrets
        self.now = NOW
        self.channel_id = store.sync([channel.organisation], [channel], NOW)[channel.key]
        self.restart()

    def restart(self) -> None:
        self.registry = CollectorRegistry()
        client = build_client(transport=httpx.MockTransport(self.site))

        async def db(fn: Callable[..., Any], *args: Any) -> Any:
            return await asyncio.to_thread(fn, *args)

        self.poller = Poller(
            connectors={"rss": RssConnector(client, PlatformOptions())},
            store=self.store,
            db=db,
            instruments=Instruments(self.registry, ["rss"]),
            redactor=Redactor(self.secrets),
            concurrency={"rss": 4},
            poll_timeout=timedelta(seconds=5),
            clock=lambda: self.now,
        )

    async def poll(self, after: timedelta = timedelta(0)) -> PollReport:
        self.now += after
        return await self.poller.poll(self.channel, self.channel_id)

    def errors(self, reason: str) -> float | None:
        return self.registry.get_sample_value(
            "channel_monitor_poll_errors_total", {"platform": "rss", "reason": reason}
        )

    @property
    def reason(self) -> str | None:
        return self.store.channels([self.channel_id])[self.channel_id].last_error_reason


def rss_channel(handle: str = FEED, secrets: tuple[str, ...] = ()) -> ChannelSettings:
    return ChannelSettings(
        "Gemeente A",
        "rss",
        handle,
        Policy(),
        timedelta(hours=6),
        label=channel_label(handle, secrets),
    )


# -- flaky 404s -----------------------------------------------------------------------------------


async def test_a_404_from_a_feed_never_read_is_not_found_at_once(store: Store) -> None:
    rig = Rig(store, Site({}), rss_channel(), [])
    report = await rig.poll()
    assert report.error is not None and report.error.kind == "not_found"
    assert report.retry_in is None
    assert rig.reason == "not_found"


async def test_a_404_from_a_feed_read_before_is_transient_until_it_persists(store: Store) -> None:
    site = Site({FEED: 200})
    rig = Rig(store, site, rss_channel(), [])
    assert (await rig.poll()).ok
    site.answers[FEED] = 404

    first = await rig.poll(timedelta(hours=6))
    assert first.error is not None and first.error.kind == "transient"
    assert first.retry_in is not None and first.retry_in <= timedelta(minutes=1.1)  # as a 500
    record = store.channels([rig.channel_id])[rig.channel_id]
    assert record.last_error_reason == "transient"
    assert record.last_error_detail == (
        f"HTTP 404 from {FEED} (failing since 2026-11-26 18:00 UTC, 1× in a row); "
        "taken as passing until it lasts 3 polls over 24 h"
    )
    assert rig.errors("transient") == 1 and rig.errors("not_found") == 0

    # three failed polls, but within a day: still passing
    for _ in range(2):
        again = await rig.poll(timedelta(hours=1))
        assert again.error is not None and again.error.kind == "transient"
    rig.restart()  # and the run of failures is read back from the database
    late = await rig.poll(NOT_FOUND_AFTER - timedelta(hours=2, minutes=1))
    assert late.error is not None and late.error.kind == "transient"
    assert "4× in a row" in str(late.error)
    gone = await rig.poll(timedelta(minutes=1))
    assert gone.error is not None and gone.error.kind == "not_found"
    assert str(gone.error) == f"HTTP 404 from {FEED}"
    assert gone.retry_in is None
    assert rig.reason == "not_found"


async def test_a_feed_that_404s_every_other_poll_is_never_not_found(store: Store) -> None:
    site = Site({FEED: 200})
    rig = Rig(store, site, rss_channel(), [])
    for turn in range(12):  # two days, every four hours
        site.answers[FEED] = 404 if turn % 2 else 200
        report = await rig.poll(timedelta(hours=4))
        assert report.error is None or report.error.kind == "transient", turn
    assert rig.errors("not_found") == 0
    assert rig.errors("transient") == 6


async def test_410_gone_is_not_found_at_once_even_from_a_feed_read_before(store: Store) -> None:
    site = Site({FEED: 200})
    rig = Rig(store, site, rss_channel(), [])
    await rig.poll()
    site.answers[FEED] = 410
    report = await rig.poll(timedelta(hours=6))
    assert report.error is not None and report.error.kind == "not_found"


# -- permanent moves ------------------------------------------------------------------------------

SECRET_FEED = f"https://www.voorbeeld.nl/nieuws/rss?key={KEY}"
MOVED_FEED = f"https://nieuws.voorbeeld.nl/feed.xml?key={KEY}"


async def test_a_moved_feed_is_read_at_its_new_address_and_its_key_stays_secret(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    site = Site({SECRET_FEED: 301, MOVED_FEED: 200}, moves={SECRET_FEED: MOVED_FEED})
    channel = rss_channel(SECRET_FEED, (KEY,))
    rig = Rig(store, site, channel, [KEY])
    with caplog.at_level(logging.INFO, logger="channel_monitor"):
        assert (await rig.poll()).ok
    rig.restart()  # the next poll reads the move back from the database
    assert (await rig.poll(timedelta(hours=6))).ok
    assert site.urls == [SECRET_FEED, MOVED_FEED, MOVED_FEED]
    assert store.recent_polls(rig.channel_id)[0].requests == 1

    with store.engine.connect() as connection:
        rows = connection.execute(sa.text("SELECT * FROM channel")).all()
    assert KEY not in repr(rows)
    assert "moved for good to https://nieuws.voorbeeld.nl/feed.xml?…" in caplog.text
    assert KEY not in caplog.text

    (view,) = snapshot(store, [channel], {channel.key: rig.channel_id}, rig.now)
    query_digest = channel.label.partition("?")[2]
    assert view.moved_to == f"https://nieuws.voorbeeld.nl/feed.xml?{query_digest}"
    assert channel_json(view)["moved_to"] == view.moved_to
    page = status_page([view], Page(PageOptions(), "en", rig.now))
    assert "moved to https://nieuws.voorbeeld.nl/feed.xml?" in page
    assert "put the new address in the configuration" in page
    assert KEY not in page and KEY not in json.dumps(channel_json(view))


async def test_a_changed_key_drops_the_stored_move(store: Store) -> None:
    site = Site({SECRET_FEED: 301, MOVED_FEED: 200}, moves={SECRET_FEED: MOVED_FEED})
    rig = Rig(store, site, rss_channel(SECRET_FEED, (KEY,)), [KEY])
    await rig.poll()
    rotated = SECRET_FEED.replace(KEY, "n3w-feed-key-43")
    rig.channel = rss_channel(rotated, ("n3w-feed-key-43",))  # the same label, the same row
    rig.secrets = ["n3w-feed-key-43"]
    rig.restart()
    await rig.poll(timedelta(hours=6))
    assert site.urls[-1] == rotated


async def test_a_moved_address_that_moves_on_is_followed_and_stored_again(store: Store) -> None:
    third = "https://rss.voorbeeld.nl/nieuws"
    site = Site({FEED: 301, MOVED_FEED: 200}, moves={FEED: MOVED_FEED})
    rig = Rig(store, site, rss_channel(), [])
    await rig.poll()
    site.answers[MOVED_FEED], site.moves[MOVED_FEED], site.answers[third] = 308, third, 200
    await rig.poll(timedelta(hours=6))
    await rig.poll(timedelta(hours=6))
    assert site.urls == [FEED, MOVED_FEED, MOVED_FEED, third, third]
    assert store.channels([rig.channel_id])[rig.channel_id].moved_to == third


def test_sealing_a_value_is_undone_only_with_the_same_secrets() -> None:
    sealed = seal(f"https://x.example/{KEY}/rss?key={KEY}&t=ab", [KEY, "ab"])
    assert KEY not in sealed and "{{secret:0}}" in sealed
    assert unseal(sealed, [KEY, "ab"]) == f"https://x.example/{KEY}/rss?key={KEY}&t=ab"
    assert unseal(sealed, [KEY]) is None


# -- the command line -----------------------------------------------------------------------------


def test_status_and_validate_tell_people_to_update_a_moved_feed(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    database = tmp_path / "monitor.db"
    config.write_text(
        f'[monitor]\ndatabase = "sqlite:///{database}"\n'
        f'[[organisation]]\nname = "Gemeente A"\nrss = "{FEED}"\n'
    )
    assert "moved" not in cli("validate", "--config", str(config)).stdout
    assert not database.exists(), "validate created the database"

    settings = load_settings(config, {}, supported=("rss",))
    store = Store(f"sqlite:///{database}")
    store.migrate()
    (channel,) = settings.channels
    channel_id = store.sync(settings.organisations, settings.channels, NOW)[channel.key]
    moved = Checkpoint(extra={MOVED_TO: "https://nieuws.voorbeeld.nl/feed.xml"})
    store.record_poll(channel_id, _success(moved))
    store.close()

    note = f"Gemeente A rss {FEED} moved to https://nieuws.voorbeeld.nl/feed.xml: update the"
    for command in ("validate", "status"):
        result = cli(command, "--config", str(config))
        assert note in " ".join(result.stdout.split()), (command, result.stdout, result.stderr)
    as_json = json.loads(cli("status", "--config", str(config), "--format", "json").stdout)
    assert as_json[0]["moved_to"] == "https://nieuws.voorbeeld.nl/feed.xml"


def _success(checkpoint: Checkpoint) -> PollOutcome:
    return PollOutcome(NOW, NOW, 1, result=FetchResult(checkpoint=checkpoint))
