"""A profile a connector could only partly read: its note is stored, shown and logged once a day."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, ClassVar

import pytest
from prometheus_client import CollectorRegistry

from connectors.base import ChannelRef, Checkpoint, FetchResult, Post, Profile
from monitor.api import channel_json
from monitor.cli.tables import print_views
from monitor.jobs import Poller
from monitor.metrics import Instruments
from monitor.records import PollOutcome
from monitor.redact import Redactor
from monitor.settings import ChannelSettings, Policy
from monitor.storage import Store
from monitor.views import judge
from monitor.web.pages import Page, PageOptions
from monitor.web.status import status_page
from tests.conftest import NOW

NOTE = (
    "name and followers not readable: the token lacks rw_organization_admin "
    "(with the ADMINISTRATOR role on this page) or r_compliance"
)
CHANNEL = ChannelSettings("Gemeente A", "linkedin", "1234567", Policy(), timedelta(hours=6))
POST = Post("urn:li:share:1", NOW - timedelta(days=1))


def outcome(profile: Profile | None) -> PollOutcome:
    result = FetchResult(posts=(POST,), profile=profile)
    return PollOutcome(started_at=NOW, finished_at=NOW, requests=2, result=result)


def test_the_note_is_kept_until_a_profile_is_read_again(store: Store) -> None:
    cid = store.sync(["Gemeente A"], [CHANNEL], NOW)[CHANNEL.key]
    url = "https://www.linkedin.com/company/1234567/"
    store.record_poll(cid, outcome(Profile(url=url, note=NOTE)))
    assert store.channels([cid])[cid].profile_note == NOTE
    store.record_poll(cid, outcome(None))  # no profile read on this poll: the note stands
    assert store.channels([cid])[cid].profile_note == NOTE
    store.record_poll(cid, outcome(Profile(name="Gemeente A", url=url, followers=10)))
    record = store.channels([cid])[cid]
    assert (record.profile_note, record.name, record.followers) == (None, "Gemeente A", 10)


def test_the_note_is_shown_in_the_api_and_on_the_status_page(store: Store) -> None:
    cid = store.sync(["Gemeente A"], [CHANNEL], NOW)[CHANNEL.key]
    store.record_poll(cid, outcome(Profile(note=NOTE)))
    view = judge(CHANNEL, store.channels([cid])[cid], [], NOW)
    assert channel_json(view)["profile_note"] == NOTE
    assert NOTE in status_page([view], Page(PageOptions(), "en", NOW))


class NotingConnector:
    """Posts always; a profile with a note on every poll (as a connector without a daily timer)."""

    platform: ClassVar[str] = "linkedin"

    async def fetch(
        self, channel: ChannelRef, *, since: datetime | None, checkpoint: Checkpoint
    ) -> FetchResult:
        return FetchResult(posts=(POST,), profile=Profile(note=NOTE))

    def public_url(self, channel: ChannelRef) -> str | None:
        return None


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


def poller(store: Store, clock: Callable[[], datetime]) -> Poller:
    async def db(fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.to_thread(fn, *args)

    return Poller(
        connectors={"linkedin": NotingConnector()},  # type: ignore[dict-item]
        store=store,
        db=db,
        instruments=Instruments(CollectorRegistry(), ["linkedin"]),
        redactor=Redactor([]),
        concurrency={"linkedin": 1},
        poll_timeout=timedelta(seconds=5),
        clock=clock,
    )


async def test_the_note_is_a_successful_poll_logged_at_most_once_a_day(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    cid = store.sync(["Gemeente A"], [CHANNEL], NOW)[CHANNEL.key]
    clock = Clock()
    polls = poller(store, clock)
    caplog.set_level(logging.WARNING, logger="channel_monitor.poll")

    for hours in (0, 6, 12, 23):
        clock.now = NOW + timedelta(hours=hours)
        report = await polls.poll(CHANNEL, cid)
        assert report.ok and report.error is None
    noted = [r for r in caplog.records if NOTE in r.getMessage()]
    assert len(noted) == 1
    assert noted[0].levelno == logging.WARNING
    assert noted[0].fields["channel"] == "1234567"  # type: ignore[attr-defined]

    clock.now = NOW + timedelta(hours=24, minutes=1)
    await polls.poll(CHANNEL, cid)
    assert len([r for r in caplog.records if NOTE in r.getMessage()]) == 2
    assert store.channels([cid])[cid].last_poll_ok is True


def test_the_note_is_shown_by_the_status_command(
    store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    cid = store.sync(["Gemeente A"], [CHANNEL], NOW)[CHANNEL.key]
    store.record_poll(cid, outcome(Profile(note=NOTE)))
    view = judge(CHANNEL, store.channels([cid])[cid], [], NOW)
    print_views([view], "table")
    lines = capsys.readouterr().out.splitlines()
    poll_column = " ".join(line.split("│")[-2].strip() for line in lines if line.count("│") > 2)
    assert "read fine; name and followers not readable" in poll_column
