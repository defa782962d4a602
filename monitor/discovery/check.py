"""One run of discovery: read each organisation's website and resolve what it links."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta

import httpx

from connectors.linkedin import LinkedInConnector
from monitor.config import DEFAULT_BASE_URLS
from monitor.discovery.fetch import FetchFailed
from monitor.discovery.handles import aliases
from monitor.discovery.model import LinkedChannel, WebsiteCheck
from monitor.discovery.resolve import Resolver
from monitor.discovery.site import read_site
from monitor.settings import PLATFORMS, Settings

SITE_DEADLINE = timedelta(minutes=2)  # one website, its pages and the lookups of its links
CONCURRENCY = 4  # websites read at once (each one page at a time)


def resolver(settings: Settings, client: httpx.AsyncClient) -> Resolver:
    """A resolver with the configured YouTube address and LinkedIn token (if any)."""
    youtube = settings.platforms["youtube"].options.base_url or DEFAULT_BASE_URLS["youtube"]
    linkedin = settings.platforms["linkedin"].options
    return Resolver(
        client,
        youtube_base=youtube or "https://www.youtube.com",
        linkedin=LinkedInConnector(client, linkedin) if linkedin.access_token else None,
    )


async def check_websites(
    settings: Settings,
    client: httpx.AsyncClient,
    clock: Callable[[], datetime],
    organisations: Sequence[str] | None = None,
) -> list[WebsiteCheck]:
    """Check the website of every organisation (or of those named) that has one."""
    names = [n for n in organisations or settings.organisations if n in settings.websites]
    resolve = resolver(settings, client)
    limit = asyncio.Semaphore(CONCURRENCY)

    async def one(name: str) -> WebsiteCheck:
        async with limit:
            return await check_website(
                name,
                settings.websites[name],
                client,
                resolve,
                clock=clock,
                max_pages=settings.discovery.max_pages,
            )

    return list(await asyncio.gather(*(one(name) for name in names)))


async def check_website(
    organisation: str,
    website: str,
    client: httpx.AsyncClient,
    resolve: Resolver,
    *,
    clock: Callable[[], datetime],
    max_pages: int,
) -> WebsiteCheck:
    """Read one website and resolve the channels it links; a failure is an error, not "none"."""
    started = clock()
    try:
        async with asyncio.timeout(SITE_DEADLINE.total_seconds()):
            read = await read_site(client, website, max_pages=max_pages)
            channels = [
                await resolve.channel(s.candidate, s.sources) for s in read.channels.values()
            ]
    except FetchFailed as exc:
        return WebsiteCheck(organisation, website, started, error=str(exc))
    except TimeoutError:
        error = f"not read within {int(SITE_DEADLINE.total_seconds())} s"
        return WebsiteCheck(organisation, website, started, error=error)
    order = {platform: i for i, platform in enumerate(PLATFORMS)}
    channels = sorted(_merged(channels), key=lambda c: (order[c.platform], c.name.lower()))
    return WebsiteCheck(
        organisation=organisation,
        website=website,
        checked_at=started,
        final_url=read.final_url,
        pages=tuple(read.pages),
        channels=tuple(channels),
        elsewhere=tuple(read.elsewhere.values()),
        ignored=tuple(read.ignored.values()),
        notes=tuple(read.notes),
    )


def _merged(channels: list[LinkedChannel]) -> list[LinkedChannel]:
    """One channel linked by two addresses (``@handle`` and ``/channel/UC…``, a vanity name and
    the id) is one channel, seen in all their places."""
    by_handle: dict[tuple[str, str], LinkedChannel] = {}
    result = []
    for channel in channels:
        if channel.handle is None:
            result.append(channel)
            continue
        key = (channel.platform, min(aliases(channel.platform, channel.handle)))
        first = by_handle.get(key)
        if first is None:
            by_handle[key] = channel
            continue
        sources = tuple(dict.fromkeys(first.sources + channel.sources))
        by_handle[key] = replace(first, sources=sources)
    return result + list(by_handle.values())
