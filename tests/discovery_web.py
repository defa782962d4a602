"""The sample websites, YouTube's channel pages and LinkedIn's API, all on 127.0.0.1."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

from monitor.fakes import public_sites as sites
from monitor.fakes.linkedin import LinkedInServer, OrganizationSpec, TokenSpec
from monitor.fakes.websites import WebsiteServer, YouTubePages

LINKEDIN_TOKEN = "fake-linkedin-token"
NO_LOOKUP_TOKEN = "posts-only-token"  # r_organization_social only


@dataclass
class SampleWeb:
    """Every fake server, started; ``websites`` by organisation name."""

    gemeente: WebsiteServer
    provincie: WebsiteServer
    provincie_old: WebsiteServer
    ministerie: WebsiteServer
    press: WebsiteServer
    waterschap: WebsiteServer
    youtube: YouTubePages
    linkedin: LinkedInServer

    @property
    def websites(self) -> dict[str, str]:
        return {
            "Gemeente Voorbeeld": f"{self.gemeente.base_url}/",
            "Provincie Voorbeeld": f"{self.provincie_old.base_url}/",
            "Ministerie van Voorbeeld": f"{self.ministerie.base_url}/",
            "Waterschap Voorbeeld": f"{self.waterschap.base_url}/",
        }

    def config(
        self,
        database: str,
        extra: str = "",
        *,
        token: str | None = LINKEDIN_TOKEN,
        facebook: str | None = "gemeentevoorbeeld",
    ) -> str:
        """A config.toml: the municipality monitors its Facebook Page, its news feed and an old
        YouTube channel; the others only give their website."""
        gemeente = self.websites["Gemeente Voorbeeld"]
        orgs = [
            f"""[[organisation]]
name = "Gemeente Voorbeeld"
website = "{gemeente}"
{f'facebook = "{facebook}"' if facebook else ""}
youtube = "{sites.GEMEENTE_OLD_YOUTUBE}"
rss = "{gemeente}nieuws/feed/"
"""
        ]
        orgs += [
            f'[[organisation]]\nname = "{name}"\nwebsite = "{url}"\n'
            for name, url in self.websites.items()
            if name != "Gemeente Voorbeeld"
        ]
        return (
            f'[monitor]\ndatabase = "{database}"\n\n'
            f'[platforms.facebook]\naccess_token = "fb-token"\n\n'
            f'[platforms.youtube]\nbase_url = "{self.youtube.base_url}"\n\n'
            f'[platforms.linkedin]\nbase_url = "{self.linkedin.base_url}"\n'
            + (f'access_token = "{token}"\n' if token else "")
            + f"\n{extra}\n"
            + "\n".join(orgs)
        )


@contextlib.asynccontextmanager
async def sample_web() -> AsyncIterator[SampleWeb]:
    gemeente_id, gemeente_vanity = sites.GEMEENTE_LINKEDIN
    web = SampleWeb(
        gemeente=WebsiteServer(sites.municipality(), robots=sites.ROBOTS_GEMEENTE),
        provincie=WebsiteServer(sites.province()),
        provincie_old=WebsiteServer(robots=None),  # no robots.txt at all: 404
        ministerie=WebsiteServer(),
        press=WebsiteServer(sites.press_site()),
        waterschap=WebsiteServer(sites.water_board(), robots=sites.ROBOTS_WATERSCHAP),
        youtube=YouTubePages(sites.YOUTUBE_CHANNELS),
        linkedin=LinkedInServer(
            # the token's member has no role on the municipality's page: the vanity finder
            # still answers (public fields only)
            [OrganizationSpec(gemeente_id, "Gemeente Voorbeeld", gemeente_vanity, role=None)],
            tokens={NO_LOOKUP_TOKEN: TokenSpec(frozenset({"r_organization_social"}))},
        ),
    )
    servers = [getattr(web, name) for name in web.__dataclass_fields__]
    try:
        for server in servers:
            await server.start()
        web.provincie_old.pages = sites.old_domain(f"{web.provincie.base_url}/")
        web.ministerie.pages = sites.ministry(web.press.base_url)
        yield web
    finally:
        for server in servers:
            await server.stop()
