"""``discover`` and ``[discovery] every`` end to end, against the sample websites on 127.0.0.1."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from monitor.fakes import public_sites as sites
from tests.discovery_web import SampleWeb, sample_web
from tests.e2e.daemon import Daemon, value
from tests.e2e.test_check_status import run

pytestmark = pytest.mark.e2e
Samples = dict[str, list[tuple[dict[str, str], float]]]

GEMEENTE, MINISTERIE = "Gemeente Voorbeeld", "Ministerie van Voorbeeld"
WATERSCHAP = "Waterschap Voorbeeld"
MINISTRY_CHANNELS = f"""
[[organisation]]
name = "Ministerie (alles gevolgd)"
website = "{{website}}"
mastodon = "@minvoorbeeld@mastodon.example"
youtube = "{sites.MINISTERIE_YOUTUBE}"
"""


@pytest.fixture
async def web() -> AsyncIterator[SampleWeb]:
    async with sample_web() as started:
        yield started


def config(web: SampleWeb, tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "config.toml"
    text = web.config(f"sqlite:///{tmp_path}/m.db", extra, facebook=None)
    monitored = MINISTRY_CHANNELS.format(website=web.websites[MINISTERIE])
    path.write_text(text + monitored)
    return path


async def test_discover_lists_the_three_groups_and_exits_1(web: SampleWeb, tmp_path: Path) -> None:
    path = config(web, tmp_path)
    status, out, err = await run("discover", "--config", str(path), "--format", "json")
    assert status == 1, err
    found = {o["organisation"]: o for o in json.loads(out)}
    assert set(found) == {*web.websites, "Ministerie (alles gevolgd)"}
    gemeente = found[GEMEENTE]
    assert {(c["platform"], c["channel"]) for c in gemeente["monitored_and_linked"]} == {
        ("rss", f"{web.gemeente.base_url}/nieuws/feed/")
    }
    assert {(c["platform"], c["handle"]) for c in gemeente["linked_not_monitored"]} == {
        ("facebook", "gemeentevoorbeeld"),
        ("instagram", "gemeentevoorbeeld"),
        ("instagram", "jeugdvoorbeeld"),
        ("linkedin", sites.GEMEENTE_LINKEDIN[0]),
        ("mastodon", "@voorbeeld@social.overheid.nl"),
        ("bluesky", "voorbeeld.bsky.social"),
        ("youtube", sites.GEMEENTE_YOUTUBE),
    }
    assert gemeente["monitored_not_linked"] == [
        {"platform": "youtube", "channel": sites.GEMEENTE_OLD_YOUTUBE, "parked": False}
    ]
    assert found[WATERSCHAP]["error"].startswith("robots.txt disallows")
    everything = found["Ministerie (alles gevolgd)"]
    assert everything["linked_not_monitored"] == []
    assert {c["linked_as"] for c in everything["does_not_exist"]} == {
        "@ministerieoud",
        "ministerie-van-voorbeeld",
    }


@pytest.mark.parametrize(
    ("organisation", "code"),
    [("Ministerie (alles gevolgd)", 0), (WATERSCHAP, 3), (GEMEENTE, 1), ("Niemand", 2)],
)
async def test_discover_exit_status(
    web: SampleWeb, tmp_path: Path, organisation: str, code: int
) -> None:
    path = config(web, tmp_path)
    status, out, err = await run("discover", "--config", str(path), "--organisation", organisation)
    assert status == code, out + err
    if code == 2:
        assert "no organisation named 'Niemand'" in err
        return
    assert organisation in out
    if organisation == GEMEENTE:  # the table, then the lines to add
        assert "linked, not monitored" in out and "monitored, not linked" in out
        assert 'bluesky = "voorbeeld.bsky.social"' in out


async def test_discover_toml_is_the_lines_to_add(web: SampleWeb, tmp_path: Path) -> None:
    path = config(web, tmp_path)
    args = ("discover", "--config", str(path), "--format", "toml", "--organisation")
    status, out, _ = await run(*args, "Provincie Voorbeeld")
    assert status == 1
    lines = [line for line in out.splitlines() if line and not line.startswith("#")]
    assert lines == [
        'facebook = "provincievoorbeeld"  # JSON-LD sameAs of /',
        'instagram = "provincie.voorbeeld"  # JSON-LD sameAs of /',
        f'linkedin = "{sites.PROVINCIE_LINKEDIN}"  # JSON-LD sameAs of /',
        'mastodon = "@provincie@mastodon.example"  # <link rel="me"> of /',
        f'youtube = "{sites.PROVINCIE_YOUTUBE}"  # JSON-LD sameAs of /',
        f'rss = "{web.provincie.base_url}/nieuws.atom"  # Nieuws, feed of /',
    ]


async def test_the_daemon_checks_on_schedule_exports_and_keeps_the_result(
    web: SampleWeb, tmp_path: Path
) -> None:
    path = config(web, tmp_path, '[discovery]\nevery = "7d"\n')
    organisations = len(web.websites) + 1
    daemon = Daemon(path).start()
    try:
        await daemon.wait_ready()
        samples = await daemon.until(lambda: checked(daemon, organisations), 60, "the checks")
    finally:
        daemon.stop()
    log = daemon.log

    def unmonitored(organisation: str, platform: str) -> float | None:
        return value(
            samples,
            "channel_monitor_unmonitored_channels",
            organisation=organisation,
            platform=platform,
        )

    assert unmonitored(GEMEENTE, "instagram") == 2
    assert unmonitored(GEMEENTE, "rss") == 0  # linked and monitored
    assert unmonitored("Provincie Voorbeeld", "mastodon") == 1
    assert unmonitored("Ministerie (alles gevolgd)", "youtube") == 0
    assert unmonitored(WATERSCHAP, "facebook") is None  # never read: nothing is known
    assert value(samples, "channel_monitor_website_check_success", organisation=WATERSCHAP) == 0
    assert value(samples, "channel_monitor_website_check_success", organisation=GEMEENTE) == 1
    assert "website of Waterschap Voorbeeld not read: robots.txt disallows" in log
    home_reads = web.gemeente.log.count("/")

    # a restart exports the stored result, without reading the websites again
    daemon = Daemon(path).start()
    try:
        await daemon.wait_ready()
        again = await daemon.until(lambda: checked(daemon, organisations), 30, "the stored checks")
    finally:
        daemon.stop()
    assert (
        value(
            again,
            "channel_monitor_unmonitored_channels",
            organisation=GEMEENTE,
            platform="instagram",
        )
        == 2
    )
    assert web.gemeente.log.count("/") == home_reads


async def checked(daemon: Daemon, organisations: int) -> Samples | None:
    """The metrics, once every organisation's website has been checked."""
    samples = await daemon.metrics()
    if len(samples.get("channel_monitor_website_check_success", [])) < organisations:
        return None
    return samples


async def test_report_shows_what_discover_stored(web: SampleWeb, tmp_path: Path) -> None:
    path = config(web, tmp_path)
    status, out, _ = await run("report", "--config", str(path))
    assert status == 0 and "found on the website" not in out  # nothing read yet
    await run("discover", "--config", str(path), "--organisation", GEMEENTE)
    status, out, err = await run("report", "--config", str(path))
    assert status == 0, err
    row = next(line for line in out.splitlines() if line.startswith(f"| {GEMEENTE} | 8 |"))
    assert row.split(" | ")[2:5] == ["1", "7", "1"]  # monitored, not monitored, not linked
