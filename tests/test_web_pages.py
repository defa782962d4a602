"""The status page and the channel pages: grouping, order, filters, reasons, languages, time
zones, escaping, and the routes that serve them."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiohttp.test_utils import TestClient, TestServer
from markupsafe import escape
from prometheus_client import CollectorRegistry

from monitor.models import Poll
from monitor.notify.events import Event, EventKind
from monitor.records import ChannelRecord, PostTime
from monitor.settings import ChannelSettings, Policy
from monitor.views import ChannelView, judge
from monitor.web import build_app
from monitor.web.channel import channel_page
from monitor.web.charts import nice_ceiling
from monitor.web.history import ChannelHistory
from monitor.web.i18n import CATALOGUES, negotiate
from monitor.web.pages import CSP, Page, PageOptions
from monitor.web.status import status_page
from tests.conftest import NOW

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
HOSTILE_NAME = '<script>alert("name")</script>'
HOSTILE_ORG = 'Gemeente "><img src=x onerror=alert(1)>'
HOSTILE_DETAIL = "<b>Error</b> <a href='javascript:alert(2)'>renew</a>"


def view(
    channel_id: int,
    organisation: str,
    posts_days_ago: Sequence[float],
    *,
    platform: str = "rss",
    handle: str | None = None,
    name: str | None = None,
    url: str | None = None,
    ok: bool | None = True,
    error: str = "not_found",
    detail: str | None = None,
    last_poll: datetime | None = NOW - timedelta(minutes=5),
) -> ChannelView:
    handle = handle or f"https://{channel_id}.example/rss"
    settings = ChannelSettings(organisation, platform, handle, Policy(), timedelta(hours=6))
    record = ChannelRecord(
        channel_id,
        organisation,
        platform,
        settings.label,
        name,
        url,
        None,
        last_poll_at=last_poll if ok is not None else None,
        last_poll_ok=ok,
        last_success_at=last_poll if ok else None,
        last_error_reason=None if ok else error,
        last_error_detail=None if ok else detail,
        consecutive_failures=0 if ok else 2,
    )
    posts = [PostTime(NOW - timedelta(days=d), "post") for d in posts_days_ago]
    return judge(settings, record, posts, NOW)


ACTIVE = [1, 3, 5, 8, 12]

VIEWS = [
    view(1, "Gemeente Actief", ACTIVE, name="Nieuws Actief"),
    view(2, "Gemeente Stil", [41, 48, 55], name="Nieuws Stil"),
    view(3, "Waterschap", [], name="Waterschap Video", platform="youtube", handle="UC" + "a" * 22),
    view(4, "Waterschap", ACTIVE, name="Waterschap Nieuws"),
    view(
        5,
        "Provincie",
        [],
        platform="facebook",
        handle="provincie",
        ok=False,
        error="auth",
        detail="Error validating access token: Session has expired",
    ),
]


def page(lang: str = "en", **options: Any) -> Page:
    return Page(PageOptions(**{"timezone": AMSTERDAM, **options}), lang, NOW)


def organisations(text: str) -> list[str]:
    return re.findall(r'<section class="org">\s*<h2>(.*?) <small>', text)


def channels(text: str) -> list[str]:
    return re.findall(r'<a class="name" href="/channel/(\d+)', text)


def test_organisations_and_channels_come_worst_first() -> None:
    text = status_page(VIEWS, page())
    assert organisations(text) == ["Waterschap", "Gemeente Stil", "Provincie", "Gemeente Actief"]
    assert channels(text) == ["3", "4", "2", "5", "1"]  # never posted, then its active sibling


def test_every_flagged_channel_gives_its_reason_and_a_failing_poll_what_to_do() -> None:
    text = status_page(VIEWS, page())
    assert "no post for 41 days; inactive after 30 days" in text
    assert "read fine, but no post found at all" in text
    assert "the Facebook token has expired" in text
    assert "renew it in Meta Business Settings" in text
    assert "Session has expired" in text  # the platform's words, in a details element
    assert "5 posts in 14 days, target 2" in text and "0 posts in 14 days, target 2" in text
    assert text.count('<svg class="chart"') == len(VIEWS)
    assert text.count('<rect class="bar"') == 26 * len(VIEWS)  # half a year of weeks each


@pytest.mark.parametrize(
    ("query", "shown"),
    [
        ({}, ["3", "4", "2", "5", "1"]),
        ({"state": "inactive"}, ["2"]),
        ({"state": "attention"}, ["3", "2", "5"]),
        ({"platform": "rss"}, ["2", "1", "4"]),
        ({"org": "Waterschap"}, ["3", "4"]),
        ({"org": "Waterschap", "state": "active"}, ["4"]),
        ({"state": "not-a-state"}, ["3", "4", "2", "5", "1"]),
        ({"org": "Nobody"}, []),
    ],
)
def test_filters_come_from_the_query_string(query: dict[str, str], shown: list[str]) -> None:
    text = status_page(VIEWS, page(), query)
    assert channels(text) == shown
    assert f"Showing {len(shown)} of {len(VIEWS)} channels." in text
    for key, value in query.items():
        if value in ("inactive", "attention", "rss", "Waterschap", "active"):
            assert f'<option value="{value}" selected>' in text, key  # the form shows it
    if not shown:
        assert "No channel matches these filters." in text


def test_text_a_platform_or_a_configuration_supplies_is_escaped() -> None:
    hostile = view(
        7,
        HOSTILE_ORG,
        [41],
        name=HOSTILE_NAME,
        url="javascript:alert(3)",
        ok=False,
        error="malformed",
        detail=HOSTILE_DETAIL,
    )
    for text in (
        status_page([hostile], page()),
        channel_page(hostile, ChannelHistory((), (), ()), page(), None),
    ):
        assert "<script>" not in text and "<img" not in text and "<b>Error" not in text
        assert escape(HOSTILE_NAME) in text
        assert escape(HOSTILE_DETAIL) in text
        assert "javascript:" not in text.replace(escape(HOSTILE_DETAIL), "")


def test_dutch_words_and_local_times() -> None:
    text = status_page(VIEWS, page("nl"))
    assert '<html lang="nl">' in text
    assert "stand van 2026-11-26 13:00 CET" in text
    assert "geen bericht in 41 dagen; inactief na 30 dagen" in text
    assert ">inactief</span>" in text and "het Facebook-token is verlopen" in text
    assert "laatste peiling 5 minuten geleden" in text
    assert "Legenda" in text and "Per platform" in text


def test_every_word_on_the_pages_has_a_dutch_translation() -> None:
    used: set[str] = set()
    catalogue = CATALOGUES["nl"]

    class Recording(dict[str, str]):
        def get(self, key: str, default: Any = None) -> Any:
            used.add(key)
            return catalogue.get(key, default)

    CATALOGUES["nl"] = Recording()
    try:
        status_page(VIEWS, page("nl"), {"state": "inactive"})
        status_page([], page("nl", simulated=True))
        channel_page(VIEWS[0], history(VIEWS[0]), page("nl"), NOW + timedelta(hours=1))
    finally:
        CATALOGUES["nl"] = catalogue
    assert sorted(used - set(catalogue)) == []


@pytest.mark.parametrize(
    ("asked", "setting", "header", "chosen"),
    [
        (None, "auto", None, "en"),
        (None, "auto", "nl-NL,nl;q=0.9,en;q=0.8", "nl"),
        (None, "auto", "de-DE, en;q=0.5, nl;q=0.7", "nl"),
        (None, "auto", "fr, de", "en"),
        (None, "auto", "nl;q=0, en", "en"),
        (None, "nl", "en", "nl"),
        ("en", "nl", "nl", "en"),
        ("xx", "auto", "nl", "nl"),
    ],
)
def test_the_language_a_page_gets(
    asked: str | None, setting: str, header: str | None, chosen: str
) -> None:
    assert negotiate(asked, setting, header) == chosen


def test_the_next_poll_is_the_plan_or_about_one_interval_after_the_last() -> None:
    planned = {1: NOW + timedelta(hours=2)}
    text = status_page(VIEWS[:2], page(), planned=planned)
    assert "next poll in 2 hours" in text  # channel 1: the scheduler's plan
    assert "next poll in about 6 hours" in text  # channel 2: polled 5 minutes ago, every 6 h


def test_simulated_data_are_labelled_as_such() -> None:
    assert "Simulated data" not in status_page(VIEWS, page())
    assert "Simulated data" in status_page(VIEWS, page(simulated=True))


def test_nice_scales() -> None:
    assert [nice_ceiling(v) for v in (0, 1, 3, 7, 12, 51, 0.4)] == [1, 1, 5, 10, 20, 100, 1]


def history(v: ChannelView) -> ChannelHistory:
    posts = tuple(PostTime(NOW - timedelta(days=d), "post") for d in EVERY_THIRD_DAY)
    polls = (
        Poll(
            channel_id=v.record.id,
            started_at=NOW - timedelta(minutes=5),
            finished_at=NOW - timedelta(minutes=5) + timedelta(seconds=2),
            ok=True,
            new_posts=3,
            requests=2,
        ),
        Poll(
            channel_id=v.record.id,
            started_at=NOW - timedelta(hours=6),
            finished_at=NOW - timedelta(hours=6),
            ok=False,
            error_reason="transient",
            error_detail="HTTP 503 from https://1.example/rss",
        ),
    )
    events = (
        Event(
            9,
            NOW - timedelta(days=3),
            EventKind.STATE_CHANGED,
            v.organisation,
            v.record.id,
            "quiet",
            "inactive",
            {},
        ),
    )
    return ChannelHistory(posts, polls, events)


EVERY_THIRD_DAY = range(1, 200, 3)


def test_a_channel_page_has_its_history_intervals_thresholds_polls_and_events() -> None:
    v = view(1, "Gemeente Actief", EVERY_THIRD_DAY, name="Nieuws Actief")
    text = channel_page(v, history(v), page(), NOW + timedelta(hours=1))
    assert "<h1>Nieuws Actief</h1>" in text
    assert "4 posts in the last 14 days (target 2)" not in text  # this channel's own figures:
    assert "5 posts in the last 14 days (target 2); last post 1 day ago" in text
    assert 'class="chart history-chart"' in text and 'class="chart interval-chart"' in text
    assert text.count("week of ") >= 29  # 29 weeks since the first post, one bar each
    assert "inactive after</dt><dd>30 days" in text
    assert "3 × the usual gap: 9 days of silence" in text  # every 3 days: quiet after 9
    assert "2026-11-26 12:55 CET" in text and "failed: transient" in text
    assert "HTTP 503 from https://1.example/rss" in text
    assert "state changed" in text and "quiet → inactive" in text
    assert "next poll in 1 hour" in text


def test_a_long_history_is_shown_month_by_month() -> None:
    v = VIEWS[0]
    old = ChannelHistory(
        tuple(PostTime(NOW - timedelta(days=d), "post") for d in range(1, 1500, 10)), (), ()
    )
    text = channel_page(v, old, page(), None)
    assert "posts per month since the first post" in text
    assert "Oct 2022: 1 post" in text and "Nov 2022: 3 posts" in text


async def test_the_routes_serve_the_pages_with_a_content_security_policy() -> None:
    async def snapshot() -> Sequence[ChannelView]:
        return VIEWS

    async def read(channel_id: int) -> ChannelHistory:
        asked.append(channel_id)
        return history(VIEWS[0])

    async def ready() -> bool:
        return True

    asked: list[int] = []
    app = build_app(
        registry=CollectorRegistry(),
        snapshot=snapshot,
        live=lambda: None,
        ready=ready,
        clock=lambda: NOW,
        history=read,
        next_polls=lambda: {1: NOW + timedelta(minutes=30)},
        pages=PageOptions(timezone=AMSTERDAM, simulated=True),
    )
    http: TestClient[Any, Any] = TestClient(TestServer(app))
    await http.start_server()
    try:
        index = await http.get("/?state=inactive", headers={"Accept-Language": "nl"})
        assert index.status == 200 and index.content_type == "text/html"
        assert index.headers["Content-Security-Policy"] == CSP
        body = await index.text()
        assert "Gesimuleerde gegevens" in body and channels(body) == ["2"]
        page_ = await http.get("/channel/1")
        assert page_.status == 200
        assert "next poll in 30 minutes" in await page_.text()
        assert asked == [1]
        assert (await http.get("/channel/99")).status == 404
        assert (await http.get("/channel/abc")).status == 404
        style = await http.get("/static/style.css")
        assert style.status == 200 and "text/css" in style.headers["Content-Type"]
        assert (await http.get("/static/page.js")).status == 200
        api = await (await http.get("/api/channels")).json()
        assert api[1]["reason"]["text"] == "no post for 41 days; inactive after 30 days"
    finally:
        await http.close()


def test_page_times_follow_daylight_saving() -> None:
    summer = Page(PageOptions(timezone=AMSTERDAM), "en", datetime(2026, 7, 1, 12, tzinfo=UTC))
    assert summer.at(summer.now) == "2026-07-01 14:00 CEST"
