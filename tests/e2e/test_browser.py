"""The pages in a real browser: the daemon against fake platforms, read by headless Chromium.

At a desktop's 1400 px and a phone's 412 px the status page fits the screen (no sideways
scrolling), every flagged channel says why, a filter narrows the list, and a channel's page
shows its charts. Screenshots go to $CHANNEL_MONITOR_SCREENSHOTS, or the test's tmp_path.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from monitor.fakes.feeds import FeedServer, FeedSpec
from monitor.fakes.graph import GraphServer, PageSpec
from tests.e2e.browser import Browser, chromium, require_browser
from tests.e2e.daemon import Daemon

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

NOW = datetime.now(UTC)
TOKEN = "EAAGbrowserTESTtokenThatMustNeverShow42"
HOSTILE = '<script>alert("feed")</script> Waterschap & Co'
LONG_PATH = "/" + "een-heel-lange-padnaam-zonder-spaties-" * 6 + "nieuws.xml"
FLAGGED = ("never_posted", "dormant", "inactive", "quiet", "below_target")


def every(days: float, count: int, newest_days_ago: float) -> list[datetime]:
    return [NOW - timedelta(days=newest_days_ago + i * days) for i in range(count)]


FEEDS = {
    "/actief/nieuws": FeedSpec(posts=every(2, 60, 0.5), title="Nieuws Gemeente Actief"),
    LONG_PATH: FeedSpec(posts=every(4, 30, 1), title="Projectnieuws " + "Lang" * 30),
    "/rustig/nieuws": FeedSpec(posts=every(1, 30, 5.2), title="Nieuws Gemeente Rustig"),
    "/traag/nieuws": FeedSpec(posts=every(20, 6, 8), title="Nieuws Gemeente Traag"),
    "/stil/nieuws": FeedSpec(posts=every(7, 10, 41), title="Nieuws Gemeente Stil"),
    "/slaapt/nieuws": FeedSpec(posts=every(7, 10, 200), title="Nieuws Gemeente Slaapt"),
    "/leeg/nieuws": FeedSpec(posts=[], title="Nieuws Gemeente Leeg"),
    "/waterschap/nieuws": FeedSpec(posts=every(3, 40, 2), title=HOSTILE),
}
PAGES = [
    PageSpec("2001", "gemeenteactief", "Gemeente Actief", 5100, posts=every(3, 30, 1)),
    PageSpec("2003", "waterschapvoorbeeld", behaviour="token_expired"),
]


def write_config(tmp_path: Path, feeds: str, graph: str) -> Path:
    organisations = {
        "Gemeente Actief": [
            f'rss = ["{feeds}/actief/nieuws", "{feeds}{LONG_PATH}"]',
            'facebook = "gemeenteactief"',
        ],
        "Gemeente Rustig": [f'rss = "{feeds}/rustig/nieuws"'],
        "Gemeente Traag": [f'rss = "{feeds}/traag/nieuws"'],
        "Gemeente Stil": [f'rss = "{feeds}/stil/nieuws"'],
        "Gemeente Slaapt": [f'rss = "{feeds}/slaapt/nieuws"'],
        "Gemeente Leeg": [f'rss = "{feeds}/leeg/nieuws"'],
        "Waterschap Voorbeeld": [
            f'rss = "{feeds}/waterschap/nieuws"',
            'facebook = "waterschapvoorbeeld"',
        ],
    }
    body = "\n".join(
        f'[[organisation]]\nname = "{name}"\n' + "\n".join(lines) + "\n"
        for name, lines in organisations.items()
    )
    config = tmp_path / "config.toml"
    config.write_text(
        f"""
[monitor]
database = "sqlite:///{tmp_path}/monitor.db"
poll_interval = "1h"
jitter = "0s"
timezone = "Europe/Amsterdam"

[platforms.facebook]
access_token = "{TOKEN}"
base_url = "{graph}"

{body}
"""
    )
    return config


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    """Where the screenshots go: kept for people to look at."""
    where = Path(os.environ.get("CHANNEL_MONITOR_SCREENSHOTS") or tmp_path / "screenshots")
    where.mkdir(parents=True, exist_ok=True)
    return where


@dataclass(frozen=True)
class Site:
    """The running daemon's address, and its channels as /api/channels gave them."""

    base: str
    api: list[dict[str, Any]]


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    require_browser()
    feeds, graph = FeedServer(FEEDS), GraphServer(PAGES, [], access_token=TOKEN)
    config = write_config(tmp_path, await feeds.start(), await graph.start())
    running = Daemon(config).start()
    try:
        await running.wait_ready()

        async def all_polled() -> list[dict[str, Any]] | None:
            got = await running.channels()
            return got if got and all(c["last_poll_at"] for c in got) else None

        yield Site(running.base, await running.until(all_polled, 45, "every channel polled"))
    finally:
        code = running.stop()
        await feeds.stop()
        await graph.stop()
        assert code == 0, running.log


@pytest.fixture
def browser() -> Iterator[Browser]:
    with chromium() as window:
        yield window


def articles(browser: Browser) -> list[dict[str, str]]:
    """The channels the status page shows: state, name, reason, poll health."""
    return list(
        browser.js(
            """return [...document.querySelectorAll('article.channel')].map(a => ({
                state: a.dataset.state,
                platform: a.dataset.platform,
                name: a.querySelector('.name').textContent.trim(),
                reason: a.querySelector('.reason').textContent.trim(),
                health: a.querySelector('.health-text').textContent.trim(),
            }))"""
        )
    )


def test_the_status_page_fits_explains_and_filters(
    site: Site, browser: Browser, shots: Path
) -> None:
    api = site.api
    states = {c["state"] for c in api}
    assert {"active", "quiet", "inactive", "dormant", "never_posted", "unknown"} <= states

    for width in (1400, 412):
        browser.viewport(width)
        browser.open(f"{site.base}/")
        document, screen = browser.overflow()
        assert document <= screen, f"at {width} px the page is {document} px wide"
        browser.screenshot(shots / f"status-{width}.png")

        shown = articles(browser)
        assert len(shown) == len(api)
        for channel in shown:  # every flagged channel says why, in the API's words
            if channel["state"] in FLAGGED:
                assert channel["reason"] in {c["reason"]["text"] for c in api}, channel
                assert channel["reason"], channel
        assert shown[0]["state"] == "never_posted"  # worst first
        by_state = {c["state"]: c for c in shown}
        assert by_state["inactive"]["reason"] == "no post for 41 days; inactive after 30 days"
        assert by_state["quiet"]["reason"] == (
            "posted 25 times in 30 days but nothing for 5 days, when it usually posts every day"
            " (quiet after 3 days)"
        )
        token = next(c for c in shown if c["state"] == "unknown")
        assert token["health"].startswith("the Facebook token has expired")
        # a platform's hostile name is shown as text, never run
        assert HOSTILE in [c["name"] for c in shown]
        assert browser.js("return document.querySelectorAll('script:not([src])').length") == 0

    # a filter from the query string survives a reload
    browser.viewport(1400)
    browser.open(f"{site.base}/?state=inactive")
    assert [c["name"] for c in articles(browser)] == ["Nieuws Gemeente Stil"]
    browser.driver.refresh()
    assert [c["name"] for c in articles(browser)] == ["Nieuws Gemeente Stil"]
    assert browser.js("return document.querySelector('select[name=state]').value") == "inactive"

    # choosing a platform narrows the list at once (the script submits the form)
    browser.open(f"{site.base}/")
    browser.js(
        """const s = document.querySelector('select[name=platform]');
           s.value = 'facebook'; s.dispatchEvent(new Event('change'));"""
    )
    browser.until(lambda: "platform=facebook" in browser.url, "the filter to apply")
    shown = articles(browser)
    assert {c["platform"] for c in shown} == {"Facebook"}
    assert 0 < len(shown) < len(api)
    browser.screenshot(shots / "status-filtered-facebook.png")

    # in Dutch, on a phone
    browser.viewport(412)
    browser.open(f"{site.base}/?lang=nl")
    assert browser.js("return document.documentElement.lang") == "nl"
    assert any(c["reason"].startswith("geen bericht in 41 dagen") for c in articles(browser))
    browser.screenshot(shots / "status-412-nl.png")


def test_a_channel_page_shows_its_charts(site: Site, browser: Browser, shots: Path) -> None:
    browser.viewport(1400)
    browser.open(f"{site.base}/?state=quiet")
    browser.driver.find_element("css selector", "article.channel a.name").click()
    browser.until(lambda: "/channel/" in browser.url, "the channel page")
    assert browser.js("return document.querySelector('h1').textContent") == (
        "Nieuws Gemeente Rustig"
    )
    bars = browser.js("return document.querySelectorAll('svg.history-chart rect.bar').length")
    assert bars >= 5  # 30 daily posts: five weeks or more
    heights = browser.js(
        "return [...document.querySelectorAll('svg.history-chart rect.bar')]"
        ".map(r => r.getBoundingClientRect().height)"
    )
    assert max(heights) > 20, "the chart is drawn, with bars of some height"
    intervals = browser.js("return document.querySelectorAll('svg.interval-chart rect.bar').length")
    assert intervals == 29
    assert (
        browser.js("return document.querySelectorAll('svg.interval-chart line.mark').length") == 2
    )
    text = browser.js("return document.body.innerText")
    assert "quiet after" in text and "3 × the usual gap: 3 days of silence" in text
    assert "Recent polls" in text
    browser.screenshot(shots / "channel-1400.png")

    browser.viewport(412)
    browser.driver.refresh()
    document, screen = browser.overflow()
    assert document <= screen, f"at 412 px the channel page is {document} px wide"
    browser.screenshot(shots / "channel-412.png")
