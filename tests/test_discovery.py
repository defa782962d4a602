"""Discovery against the sample websites on 127.0.0.1: what is found, resolved and ignored, how
it compares with the configuration, and what is stored."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from monitor.config import load_settings
from monitor.discovery.check import check_website, check_websites, resolver
from monitor.discovery.compare import Finding, compare
from monitor.discovery.fetch import MAX_PAGE_BYTES, FetchFailed, Robots, fetch_page
from monitor.discovery.handles import Candidate
from monitor.discovery.model import WebsiteCheck
from monitor.discovery.output import as_toml
from monitor.discovery.resolve import Resolver
from monitor.discovery.store import channel_urls, load_checks, save_checks
from monitor.fakes import public_sites as sites
from monitor.http_client import build_client
from monitor.settings import PLATFORMS, Settings
from monitor.storage import Store
from tests.discovery_web import NO_LOOKUP_TOKEN, SampleWeb, sample_web

NOW = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)
SUPPORTED = frozenset(PLATFORMS)
GEMEENTE, PROVINCIE = "Gemeente Voorbeeld", "Provincie Voorbeeld"
MINISTERIE, WATERSCHAP = "Ministerie van Voorbeeld", "Waterschap Voorbeeld"


@pytest.fixture
async def web() -> AsyncIterator[SampleWeb]:
    async with sample_web() as started:
        yield started


def settings(web: SampleWeb, tmp_path: Path, **options: object) -> Settings:
    path = tmp_path / "config.toml"
    path.write_text(web.config(f"sqlite:///{tmp_path}/m.db", **options))  # type: ignore[arg-type]
    return load_settings(path, os.environ, supported=SUPPORTED)


async def run(config: Settings, *names: str) -> dict[str, WebsiteCheck]:
    async with build_client() as client:
        checks = await check_websites(config, client, lambda: NOW, list(names) or None)
    return {c.organisation: c for c in checks}


def found(check: WebsiteCheck) -> dict[tuple[str, str | None], str]:
    """(platform, handle) → status of every linked channel."""
    return {(c.platform, c.handle): c.status for c in check.channels}


# --- what each website links -----------------------------------------------------------------


async def test_the_municipality_footer_social_media_page_and_feed(
    web: SampleWeb, tmp_path: Path
) -> None:
    check = (await run(settings(web, tmp_path), GEMEENTE))[GEMEENTE]
    assert check.ok, check.error
    feed = f"{web.gemeente.base_url}/nieuws/feed/"
    assert found(check) == {
        ("facebook", "gemeentevoorbeeld"): "ok",
        ("instagram", "gemeentevoorbeeld"): "ok",
        ("instagram", "jeugdvoorbeeld"): "ok",  # on the "volg ons" page, in its content
        ("linkedin", sites.GEMEENTE_LINKEDIN[0]): "ok",  # the vanity name, looked up
        ("mastodon", "@voorbeeld@social.overheid.nl"): "ok",
        ("bluesky", "voorbeeld.bsky.social"): "ok",
        ("youtube", sites.GEMEENTE_YOUTUBE): "ok",  # @handle → the channel page's canonical
        ("rss", feed): "ok",
    }
    sources = {c.name: c.sources for c in check.channels}
    assert sources["gemeentevoorbeeld"][0] == "footer of /"
    assert sources["jeugdvoorbeeld"] == ("social media page /volg-ons/",)
    assert [a.reason for a in check.elsewhere] == ["x"]
    # the pages read: home, then the social media page first, then "over ons"
    paths = [httpx.URL(p).path for p in check.pages]
    assert paths == ["/", "/volg-ons/", "/over-ons/"]


async def test_the_province_json_ld_rel_me_and_its_move(web: SampleWeb, tmp_path: Path) -> None:
    check = (await run(settings(web, tmp_path), PROVINCIE))[PROVINCIE]
    assert check.ok, check.error
    assert found(check) == {
        ("facebook", "provincievoorbeeld"): "ok",
        ("instagram", "provincie.voorbeeld"): "ok",
        ("linkedin", sites.PROVINCIE_LINKEDIN): "ok",
        ("mastodon", "@provincie@mastodon.example"): "ok",
        ("youtube", sites.PROVINCIE_YOUTUBE): "ok",
        ("rss", f"{web.provincie.base_url}/nieuws.atom"): "ok",
    }
    assert {c.name: c.sources for c in check.channels}["@provincie@mastodon.example"] == (
        '<link rel="me"> of /',
    )
    # the old domain redirected the home page to another host: read there, and said so
    assert check.final_url == f"{web.provincie.base_url}/"
    assert f"the website moved to {web.provincie.base_url}/" in check.notes[0]


async def test_the_ministry_big_page_rel_me_and_dead_links(web: SampleWeb, tmp_path: Path) -> None:
    check = (await run(settings(web, tmp_path), MINISTERIE))[MINISTERIE]
    assert check.ok, check.error
    assert found(check) == {
        ("mastodon", "@minvoorbeeld@mastodon.example"): "ok",  # rel="me" on an anchor
        ("youtube", sites.MINISTERIE_YOUTUBE): "ok",  # /user/…
        ("youtube", None): "missing",  # @ministerieoud: YouTube answers 404
        ("linkedin", None): "missing",  # no such vanity name on LinkedIn
    }
    # the 5 MB home page is read up to the cap: its footer (Instagram) comes after it
    assert "/ is longer than 2 MiB: only its start was read" in check.notes
    assert all(c.platform != "instagram" for c in check.channels)
    # its press page redirects to another site, which is not read
    assert any("is on another site: not read" in n for n in check.notes)
    assert web.press.log.count() == 0


async def test_a_website_whose_robots_txt_refuses_us_is_not_read(
    web: SampleWeb, tmp_path: Path
) -> None:
    check = (await run(settings(web, tmp_path), WATERSCHAP))[WATERSCHAP]
    assert not check.ok
    assert check.error is not None and "robots.txt disallows" in check.error
    assert check.channels == ()
    assert web.waterschap.log.count("/") == 0


# --- decoys ----------------------------------------------------------------------------------


async def test_each_decoy_on_the_municipality_site_is_ignored_for_its_reason(
    web: SampleWeb, tmp_path: Path
) -> None:
    check = (await run(settings(web, tmp_path), GEMEENTE))[GEMEENTE]
    ignored = {a.url: a.reason for a in check.ignored}
    expected = {
        "https://www.facebook.com/veiligheidsregio.voorbeeld": "in the content of /",  # partner
        "https://www.facebook.com/facebook": "Facebook's own Page",
        "https://www.facebook.com/groups/buurtpreventie.voorbeeld": "a Facebook group",
        "https://www.instagram.com/p/C0ffee123/": "a post",
        "https://www.instagram.com/reel/Cq1a2b3c4d/": "a post",
        "https://wa.me/?text=Samen%20veilig%20https%3A%2F%2Fwww.voorbeeld.nl%2F": "share",
        f"{web.gemeente.base_url}/comments/feed/": "a comments feed",
    }
    for url, reason in expected.items():
        assert reason in ignored.pop(url), url
    share = {u: r for u, r in ignored.items() if "share" in r}
    assert {httpx.URL(u).host for u in share} == {
        "www.facebook.com",
        "twitter.com",
        "www.linkedin.com",
    }
    assert not set(ignored) - set(share), ignored
    names = {c.name for c in check.channels}
    assert "veiligheidsregio.voorbeeld" not in names and "facebook" not in names


async def test_the_page_robots_txt_forbids_is_never_requested(
    web: SampleWeb, tmp_path: Path
) -> None:
    check = (await run(settings(web, tmp_path), GEMEENTE))[GEMEENTE]
    assert web.gemeente.log.count("/contact/") == 0
    assert web.gemeente.log.count("/robots.txt") == 1
    assert ("youtube", sites.FORBIDDEN_YOUTUBE) not in found(check)
    assert any("robots.txt disallows" in n and "/contact/" in n for n in check.notes)


async def test_province_decoys_nested_json_ld_and_a_blog_slash_at(
    web: SampleWeb, tmp_path: Path
) -> None:
    check = (await run(settings(web, tmp_path), PROVINCIE))[PROVINCIE]
    assert "festivalvoorbeeld" not in {c.name for c in check.channels}  # an event's organiser
    assert {a.url: a.reason for a in check.ignored} == {
        "https://blog.voorbeeldmedia.nl/@provincie": (
            'looks like a Mastodon account, but nothing says so (add rel="me" to the link)'
        )
    }


async def test_ministry_decoys_a_person_and_a_group(web: SampleWeb, tmp_path: Path) -> None:
    check = (await run(settings(web, tmp_path), MINISTERIE))[MINISTERIE]
    reasons = {a.url: a.reason for a in check.ignored}
    assert "person's profile" in reasons["https://www.linkedin.com/in/jan-jansen-12345/"]
    assert "group" in reasons["https://www.facebook.com/groups/ambtenaren.voorbeeld/"]


# --- resolving handles -----------------------------------------------------------------------


async def test_without_a_linkedin_token_the_vanity_name_comes_with_how_to_find_the_id(
    web: SampleWeb, tmp_path: Path
) -> None:
    check = (await run(settings(web, tmp_path, token=None), GEMEENTE))[GEMEENTE]
    linkedin = next(c for c in check.channels if c.platform == "linkedin")
    assert (linkedin.handle, linkedin.name, linkedin.status) == (None, "gemeente-voorbeeld", "ok")
    assert linkedin.note is not None and "linkedin.com/company/<id>/admin/" in linkedin.note
    assert web.linkedin.log.count() == 0
    assert '# linkedin = "…"  # https://nl.linkedin.com/company/gemeente-voorbeeld' in as_toml(
        [_finding(check, settings(web, tmp_path, token=None))]
    )


async def test_a_linkedin_token_that_may_not_look_up_says_so(
    web: SampleWeb, tmp_path: Path
) -> None:
    check = (await run(settings(web, tmp_path, token=NO_LOOKUP_TOKEN), GEMEENTE))[GEMEENTE]
    linkedin = next(c for c in check.channels if c.platform == "linkedin")
    assert linkedin.handle is None
    assert linkedin.note is not None and "rw_organization_admin or r_compliance" in linkedin.note
    request = web.linkedin.log.requests[-1]
    assert (request.path, request.param("q"), request.param("vanityName")) == (
        "/rest/organizations",
        "vanityName",
        "gemeente-voorbeeld",
    )
    assert request.header("X-RestLi-Method") == "FINDER"


async def test_youtube_pages_are_read_with_the_consent_cookie_and_only_to_the_canonical(
    web: SampleWeb, tmp_path: Path
) -> None:
    config = settings(web, tmp_path)
    async with build_client() as client:
        # without the cookie YouTube sends EU visitors to consent.youtube.com: another site
        url = f"{web.youtube.base_url}/@GemeenteVoorbeeld"
        site = httpx.URL(url).netloc.decode()
        with pytest.raises(FetchFailed) as refused:
            await fetch_page(client, url, Robots(client), site=site)
        assert refused.value.url is not None
        assert refused.value.url.startswith("https://consent.youtube.com/")
        channel = await resolver(config, client).channel(
            Candidate("youtube", None, "@gemeentevoorbeeld", "https://…", resolve="youtube"), []
        )
    assert (channel.handle, channel.status) == (sites.GEMEENTE_YOUTUBE, "ok")  # any case


async def test_a_youtube_consent_wall_leaves_the_handle_unresolved() -> None:
    def youtube(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/robots.txt":
            return httpx.Response(404)
        return httpx.Response(302, headers={"location": "https://consent.youtube.com/m?x=1"})

    async with httpx.AsyncClient(transport=httpx.MockTransport(youtube)) as client:
        resolve = Resolver(client, youtube_base="https://www.youtube.com", linkedin=None)
        channel = await resolve.channel(
            Candidate("youtube", None, "@voorbeeld", "https://…", resolve="youtube"), ["footer"]
        )
    assert (channel.handle, channel.status, channel.note) == (
        None,
        "unresolved",
        "YouTube asked for cookie consent",
    )


# --- fetching ------------------------------------------------------------------------------------


async def test_a_page_is_cut_at_the_cap_and_decoded_by_its_meta_charset() -> None:
    text = '<meta charset="windows-1252"><p>caf\xe9</p>'.encode("cp1252")
    body = text + b"x" * (MAX_PAGE_BYTES + 10)

    def site(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/robots.txt":
            return httpx.Response(404)
        return httpx.Response(200, content=body, headers={"content-type": "text/html"})

    async with httpx.AsyncClient(transport=httpx.MockTransport(site)) as client:
        page = await fetch_page(client, "https://a.example/", Robots(client))
    assert page.truncated
    assert len(page.text) == MAX_PAGE_BYTES
    assert "café" in page.text


@pytest.mark.parametrize(
    ("status", "readable"), [(404, True), (401, True), (503, False), (429, False)]
)
async def test_robots_txt_missing_allows_unreachable_refuses(status: int, readable: bool) -> None:
    def site(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/robots.txt":
            return httpx.Response(status)
        return httpx.Response(200, text="<p>hi</p>", headers={"content-type": "text/html"})

    async with httpx.AsyncClient(transport=httpx.MockTransport(site)) as client:
        if readable:
            assert (await fetch_page(client, "https://a.example/", Robots(client))).text
        else:
            with pytest.raises(FetchFailed, match=r"robots\.txt"):
                await fetch_page(client, "https://a.example/", Robots(client))


async def test_not_html_and_too_many_redirects_are_failures() -> None:
    def site(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/robots.txt":
            return httpx.Response(404)
        if request.url.path == "/feed":
            return httpx.Response(200, text="<rss/>", headers={"content-type": "application/xml"})
        return httpx.Response(301, headers={"location": f"/loop{len(request.url.path)}"})

    async with httpx.AsyncClient(transport=httpx.MockTransport(site)) as client:
        with pytest.raises(FetchFailed, match="not an HTML page"):
            await fetch_page(client, "https://a.example/feed", Robots(client))
        with pytest.raises(FetchFailed, match="more than 5 redirects"):
            await fetch_page(client, "https://a.example/", Robots(client))


# --- comparing with the configuration -------------------------------------------------------


def _finding(check: WebsiteCheck, config: Settings) -> Finding:
    return Finding(check, compare(check.organisation, check.website, check, config.channels))


async def test_the_three_lists(web: SampleWeb, tmp_path: Path) -> None:
    config = settings(web, tmp_path)
    check = (await run(config, GEMEENTE))[GEMEENTE]
    result = compare(GEMEENTE, check.website, check, config.channels)
    assert {(c.platform, c.label) for _, c in result.both} == {
        ("facebook", "gemeentevoorbeeld"),
        ("rss", f"{web.gemeente.base_url}/nieuws/feed/"),
    }
    assert {(c.platform, c.handle) for c in result.unmonitored} == {
        ("instagram", "gemeentevoorbeeld"),
        ("instagram", "jeugdvoorbeeld"),
        ("linkedin", sites.GEMEENTE_LINKEDIN[0]),
        ("mastodon", "@voorbeeld@social.overheid.nl"),
        ("bluesky", "voorbeeld.bsky.social"),
        ("youtube", sites.GEMEENTE_YOUTUBE),
    }
    assert [(c.platform, c.label) for c in result.not_linked] == [
        ("youtube", sites.GEMEENTE_OLD_YOUTUBE)
    ]
    assert result.unmonitored_by_platform() == {
        "facebook": 0,
        "instagram": 2,
        "linkedin": 1,
        "mastodon": 1,
        "bluesky": 1,
        "youtube": 1,
        "rss": 0,
    }
    toml = as_toml([_finding(check, config)])
    assert 'instagram = ["gemeentevoorbeeld", "jeugdvoorbeeld"]' in toml
    assert f'linkedin = "{sites.GEMEENTE_LINKEDIN[0]}"' in toml
    assert f'# youtube: add to the channels already there: "{sites.GEMEENTE_YOUTUBE}"' in toml
    assert "parked = true" in toml


async def test_a_page_configured_by_id_matches_its_linked_username_by_its_stored_url(
    web: SampleWeb, tmp_path: Path
) -> None:
    config = settings(web, tmp_path, facebook="100064123456789")
    check = (await run(config, GEMEENTE))[GEMEENTE]
    unknown = compare(GEMEENTE, check.website, check, config.channels)
    assert "facebook" in {c.platform for c in unknown.unmonitored}
    page = next(c for c in config.channels if c.platform == "facebook")
    urls = {page.key: "https://www.facebook.com/gemeentevoorbeeld"}  # as the Graph API gave it
    known = compare(GEMEENTE, check.website, check, config.channels, urls)
    assert "facebook" not in {c.platform for c in known.unmonitored}
    assert "facebook" not in {c.platform for c in known.not_linked}


def test_an_unread_website_compares_to_nothing() -> None:
    failed = WebsiteCheck(GEMEENTE, "https://www.voorbeeld.nl/", NOW, error="HTTP 503")
    result = compare(GEMEENTE, failed.website, failed, ())
    assert result.check is None and not result.unmonitored and not result.not_linked


# --- stored ----------------------------------------------------------------------------------


async def test_checks_are_stored_and_a_failure_keeps_what_was_found(
    web: SampleWeb, tmp_path: Path
) -> None:
    config = settings(web, tmp_path)
    checks = await run(config, GEMEENTE, PROVINCIE)
    store = Store(config.monitor.database)
    try:
        store.migrate()
        store.sync(config.organisations, config.channels, NOW)
        save_checks(store, list(checks.values()))
        later = NOW + timedelta(days=7)
        failed = WebsiteCheck(GEMEENTE, checks[GEMEENTE].website, later, error="HTTP 503 from …")
        save_checks(store, [failed])
        stored = load_checks(store)
        assert set(channel_urls(store)) == {c.key for c in config.channels}
    finally:
        store.close()
    assert (stored[GEMEENTE].checked_at, stored[GEMEENTE].error) == (later, "HTTP 503 from …")
    assert stored[GEMEENTE].found == checks[GEMEENTE]  # the last successful read, intact
    assert stored[PROVINCIE].found == checks[PROVINCIE]


async def test_one_channel_linked_by_two_addresses_is_one_channel() -> None:
    page = """<footer>
    <a href="https://www.youtube.com/@GemeenteVoorbeeld">YouTube</a>
    <a href="https://www.youtube.com/channel/UCgemeenteVoorbeeld00000">Onze video's</a>
    </footer>"""
    channel_page = (
        f'<link rel="canonical" href="https://www.youtube.com/channel/{sites.GEMEENTE_YOUTUBE}">'
    )

    def web(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/robots.txt":
            return httpx.Response(404)
        body = channel_page if request.url.host == "www.youtube.com" else page
        return httpx.Response(200, text=body, headers={"content-type": "text/html"})

    async with httpx.AsyncClient(transport=httpx.MockTransport(web)) as client:
        resolve = Resolver(client, youtube_base="https://www.youtube.com", linkedin=None)
        check = await check_website(
            GEMEENTE, "https://www.voorbeeld.nl/", client, resolve, clock=lambda: NOW, max_pages=1
        )
    assert [(c.platform, c.handle, c.sources) for c in check.channels] == [
        ("youtube", sites.GEMEENTE_YOUTUBE, ("footer of /",))
    ]
