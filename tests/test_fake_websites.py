"""The fakes discovery reads, held to what the real services do: LinkedIn's vanityName finder
(through the connector), YouTube's channel pages, a website's robots.txt and redirects."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from connectors.base import PlatformOptions
from connectors.errors import AuthFailed
from connectors.linkedin import LinkedInConnector
from monitor.fakes.linkedin import DEFAULT_TOKEN, LinkedInServer, OrganizationSpec, TokenSpec
from monitor.fakes.websites import PageSpec, WebsiteServer, YouTubePages

ADMIN_ONLY = "admin-of-one"
NO_SCOPE = "posts-only"
COMPLIANCE = "compliance"


@pytest.fixture
async def linkedin() -> AsyncIterator[LinkedInServer]:
    server = LinkedInServer(
        [
            OrganizationSpec("1234567", "Gemeente Voorbeeld", "gemeente-voorbeeld", role=None),
            OrganizationSpec("7654321", "Provincie Voorbeeld", "provincie-voorbeeld"),
        ],
        tokens={
            NO_SCOPE: TokenSpec(frozenset({"r_organization_social"})),
            COMPLIANCE: TokenSpec(frozenset({"r_compliance"})),
        },
    )
    await server.start()
    yield server
    await server.stop()


async def find(server: LinkedInServer, token: str, vanity: str) -> tuple[str, str | None] | None:
    async with httpx.AsyncClient() as client:
        options = PlatformOptions(base_url=server.base_url, access_token=token)
        return await LinkedInConnector(client, options).find_vanity(vanity)


async def test_vanity_finder_needs_no_role_and_matches_any_case(linkedin: LinkedInServer) -> None:
    # the default token's member has no role on the municipality's page
    assert await find(linkedin, DEFAULT_TOKEN, "Gemeente-Voorbeeld") == (
        "1234567",
        "Gemeente Voorbeeld",
    )
    assert await find(linkedin, COMPLIANCE, "provincie-voorbeeld") == (
        "7654321",
        "Provincie Voorbeeld",
    )
    assert await find(linkedin, DEFAULT_TOKEN, "bestaat-niet") is None


async def test_vanity_finder_shows_non_admins_the_public_fields_only(
    linkedin: LinkedInServer,
) -> None:
    async with httpx.AsyncClient(base_url=linkedin.base_url) as client:
        headers = {"Authorization": f"Bearer {DEFAULT_TOKEN}", "LinkedIn-Version": "202603"}
        params = {"q": "vanityName"}
        public = await client.get(
            "/rest/organizations",
            params={**params, "vanityName": "gemeente-voorbeeld"},
            headers=headers,
        )
        admin = await client.get(
            "/rest/organizations",
            params={**params, "vanityName": "provincie-voorbeeld"},
            headers=headers,
        )
        empty = await client.get(
            "/rest/organizations", params={**params, "vanityName": "x"}, headers=headers
        )
        wrong = await client.get(
            "/rest/organizations", params={"q": "emailDomain"}, headers=headers
        )
    allowed = {
        *("id", "name", "localizedName", "localizedWebsite", "vanityName", "logoV2"),
        *("locations", "primaryOrganizationType"),
    }
    assert set(public.json()["elements"][0]) <= allowed
    assert set(admin.json()["elements"][0]) - allowed  # an ADMINISTRATOR sees more
    assert empty.json() == {
        "elements": [],
        "paging": {"count": 10, "start": 0, "links": [], "total": 0},
    }
    assert wrong.status_code == 400


async def test_vanity_finder_refuses_a_token_without_the_lookup_scope(
    linkedin: LinkedInServer,
) -> None:
    with pytest.raises(AuthFailed) as refused:
        await find(linkedin, NO_SCOPE, "gemeente-voorbeeld")
    assert refused.value.status == 403
    assert "ACCESS_DENIED" in str(refused.value)


async def test_youtube_pages() -> None:
    server = YouTubePages({"@Voorbeeld": ("UCgemeenteVoorbeeld00000", "Voorbeeld")})
    await server.start()
    try:
        async with httpx.AsyncClient(base_url=server.base_url) as client:
            consent = await client.get("/@voorbeeld")
            page = await client.get("/@VOORBEELD", headers={"Cookie": "SOCS=CAI"})
            missing = await client.get("/@niemand", headers={"Cookie": "SOCS=CAI"})
    finally:
        await server.stop()
    assert consent.status_code == 302
    assert consent.headers["location"].startswith("https://consent.youtube.com/m?continue=")
    assert page.status_code == 200
    assert (
        '<link rel="canonical" href="https://www.youtube.com/channel/UCgemeenteVoorbeeld00000">'
        in page.text
    )
    assert page.text.index("canonical") < 2000 < len(page.text) // 100  # in <head>, early
    assert missing.status_code == 404


async def test_website_robots_redirects_and_padding() -> None:
    server = WebsiteServer(
        {
            "/": PageSpec("<p>start</p><!--pad--><footer>end</footer>", pad_to=300_000),
            "/oud": PageSpec(status=301, location="/"),
        },
        robots=None,
    )
    await server.start()
    try:
        async with httpx.AsyncClient(base_url=server.base_url) as client:
            robots = await client.get("/robots.txt")
            moved = await client.get("/oud")
            page = await client.get("/")
    finally:
        await server.stop()
    assert robots.status_code == 404
    assert (moved.status_code, moved.headers["location"]) == (301, "/")
    assert len(page.content) == 300_000
    assert page.text.startswith("<p>start</p>") and page.text.endswith("<footer>end</footer>")
