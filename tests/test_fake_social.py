"""The LinkedIn, Mastodon and Bluesky connectors against their fake servers over loopback.

Also checks that the fakes reproduce the reference's realism checklist (§8 items 11-14), and
measures requests per unchanged poll over 100 polls per platform.
"""

from __future__ import annotations

import asyncio
import json
import re
import signal
import sys
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from connectors.base import ChannelRef, Checkpoint, Connector, FetchResult, PlatformOptions
from connectors.bluesky import BlueskyConnector
from connectors.errors import ConnectorError, RateLimited
from connectors.linkedin import POST_ROLES, LinkedInConnector
from connectors.mastodon import MastodonConnector
from monitor.fakes import bluesky, linkedin, mastodon
from monitor.fakes._common import FakePost, FakeServer, history
from tests.fake_tls import Pki, make_pki

START = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
MIXED = {
    "every_days": 2,
    "count": 120,
    "newest_days_ago": 1,
    "kinds": ["post", "repost", "post", "reply", "reply_other"],
}
TOKEN = linkedin.DEFAULT_TOKEN
NO_ADMIN_TOKEN = "fake-linkedin-token-without-rw_organization_admin"
ORG = "1234567"
GAPPY = "7654321"  # deleted and dark posts between its posts: short and empty pages
TOOT = "@voorbeeld@social.overheid.nl"
SKEET = "voorbeeld.bsky.social"


class Clock:
    """The fakes' clock: their Date headers and rate-limit windows follow it."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=10) as c:
        yield c


@pytest.fixture
async def fake_linkedin(clock: Clock) -> AsyncIterator[linkedin.LinkedInServer]:
    orgs = [
        linkedin.OrganizationSpec(
            ORG,
            "Gemeente Voorbeeld",
            "gemeente-voorbeeld",
            812,
            history(MIXED, START),
            withheld=history({"every_days": 5, "count": 12, "newest_days_ago": 2}, START),
        ),
        linkedin.OrganizationSpec(
            GAPPY,
            "Gemeente Gaten",
            posts=history({"every_days": 1, "count": 30, "newest_days_ago": 0.5}, START)
            + history({"every_days": 1, "count": 30, "newest_days_ago": 200.5}, START),
            withheld=history({"every_days": 1 / 6, "count": 170, "newest_days_ago": 31}, START),
        ),
        linkedin.OrganizationSpec("103", posts=history(MIXED, START), role=None),
        *(
            linkedin.OrganizationSpec(str(i), posts=history(MIXED, START), role=role)
            for i, role in ((108, "CONTENT_ADMINISTRATOR"), (109, "ANALYST"))
        ),
        *(
            linkedin.OrganizationSpec(str(i), behaviour=b)
            for i, b in zip(
                (100, 101, 102, 104, 105, 106, 107),
                (
                    "not_found",
                    "auth",
                    "revoked",
                    "sunset_version",
                    "rate_limited",
                    "server_error",
                    "malformed",
                ),
                strict=True,
            )
        ),
    ]
    tokens = {
        NO_ADMIN_TOKEN: linkedin.TokenSpec(
            frozenset({"r_organization_social"}), {ORG: "ADMINISTRATOR"}
        )
    }
    server = linkedin.LinkedInServer(orgs, tokens=tokens, clock=clock)
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def fake_mastodon(clock: Clock) -> AsyncIterator[mastodon.MastodonServer]:
    accounts = [
        mastodon.AccountSpec(
            "voorbeeld", "social.overheid.nl", "Gemeente Voorbeeld", 340, history(MIXED, START)
        ),
        *(
            mastodon.AccountSpec(b, "social.overheid.nl", behaviour=b)
            for b in (
                "not_found",
                "auth",
                "rate_limited",
                "server_error",
                "malformed",
                "suspended",
                "moved",
            )
        ),
    ]
    server = mastodon.MastodonServer(accounts, clock=clock)
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def fake_bluesky(clock: Clock) -> AsyncIterator[bluesky.BlueskyServer]:
    accounts = [
        bluesky.AccountSpec(SKEET, "Gemeente Voorbeeld", 2841, history(MIXED, START), pinned=40),
        *(
            bluesky.AccountSpec(f"{b.replace('_', '-')}.bsky.social", behaviour=b)
            for b in (
                "not_found",
                "auth",
                "rate_limited",
                "server_error",
                "malformed",
                "suspended",
                "deactivated",
            )
        ),
    ]
    server = bluesky.BlueskyServer(accounts, clock=clock)
    await server.start()
    yield server
    await server.stop()


def li(
    server: linkedin.LinkedInServer, client: httpx.AsyncClient, **options: object
) -> LinkedInConnector:
    settings = {"base_url": server.base_url, "access_token": TOKEN, **options}
    return LinkedInConnector(client, PlatformOptions(**settings))  # type: ignore[arg-type]


def md(server: mastodon.MastodonServer, client: httpx.AsyncClient) -> MastodonConnector:
    return MastodonConnector(client, PlatformOptions(base_url=server.base_url))


def bs(server: bluesky.BlueskyServer, client: httpx.AsyncClient) -> BlueskyConnector:
    return BlueskyConnector(client, PlatformOptions(base_url=server.base_url))


class Channel:
    """One channel polled the way the daemon does: since = newest known post, checkpoint kept."""

    def __init__(self, connector: Connector, handle: str) -> None:
        self.connector = connector
        self.handle = handle
        self.posts: dict[str, datetime | None] = {}
        self.kinds: Counter[str] = Counter()
        self.checkpoint = Checkpoint()

    @property
    def since(self) -> datetime | None:
        times = [t for t in self.posts.values() if t is not None]
        return max(times) if times else None

    async def poll(self) -> FetchResult:
        result = await self.connector.fetch(
            ChannelRef(self.handle), since=self.since, checkpoint=self.checkpoint
        )
        for post in result.posts:
            if post.post_id not in self.posts:
                self.kinds[post.kind] += 1
            self.posts[post.post_id] = post.published_at
        self.checkpoint = result.checkpoint
        return result


def expected(kinds: tuple[str, ...]) -> int:
    return sum(1 for p in history(MIXED, START) if p.kind in kinds)


# -- connectors against the fakes ----------------------------------------------------------------


async def test_linkedin_reads_the_whole_history_then_one_request_per_poll(
    fake_linkedin: linkedin.LinkedInServer, client: httpx.AsyncClient
) -> None:
    channel = Channel(li(fake_linkedin, client), ORG)
    first = await channel.poll()
    assert channel.kinds == {"post": expected(("post",)), "repost": expected(("repost",))}
    assert first.profile is not None
    assert first.profile.name == "Gemeente Voorbeeld"
    assert first.profile.url == "https://www.linkedin.com/company/gemeente-voorbeeld/"
    assert first.profile.followers == 812
    newest = max(p.at for p in history(MIXED, START) if p.kind in ("post", "repost"))
    assert channel.since == newest

    fake_linkedin.log.reset()
    await channel.poll()
    assert fake_linkedin.log.counts == {"/rest/posts": 1}


async def test_linkedin_new_posts_are_found_and_since_stops_paging(
    fake_linkedin: linkedin.LinkedInServer, client: httpx.AsyncClient
) -> None:
    channel = Channel(li(fake_linkedin, client), ORG)
    await channel.poll()
    fake_linkedin.add_post(ORG, START - timedelta(hours=2), "repost")
    fake_linkedin.add_post(ORG, START - timedelta(hours=1))
    fake_linkedin.log.reset()
    result = await channel.poll()
    assert fake_linkedin.log.total == 1
    assert sorted(
        p.kind
        for p in result.posts
        if p.published_at and p.published_at > START - timedelta(hours=3)
    ) == [
        "post",
        "repost",
    ]


async def test_linkedin_page_budget_is_caught_up_on_later_polls(
    fake_linkedin: linkedin.LinkedInServer, client: httpx.AsyncClient
) -> None:
    channel = Channel(li(fake_linkedin, client, page_limit=1), GAPPY)
    await channel.poll()
    assert channel.checkpoint.extra["resume"] == "100"
    await channel.poll()
    assert channel.checkpoint.extra["resume"] == "200"  # the empty page linked onward
    await channel.poll()
    assert "resume" not in channel.checkpoint.extra
    assert len(channel.posts) == 60


@pytest.mark.parametrize(
    ("org", "kind", "words"),
    [
        ("100", "not_found", "HTTP 404"),
        ("101", "auth", "65600"),
        ("102", "auth", "65601"),
        ("103", "auth", "r_organization_social"),  # the token's member has no role here
        ("109", "auth", POST_ROLES),  # an ANALYST may not read posts
        ("999", "auth", "r_organization_social"),  # not in the spec: no role either
        ("104", "auth", "api_version"),
        ("105", "rate_limited", "midnight UTC"),
        ("106", "transient", "HTTP 500"),
        ("107", "malformed", "expected JSON"),
    ],
)
async def test_linkedin_behaviours(
    fake_linkedin: linkedin.LinkedInServer,
    client: httpx.AsyncClient,
    org: str,
    kind: str,
    words: str,
) -> None:
    with pytest.raises(ConnectorError) as caught:
        await li(fake_linkedin, client).fetch(ChannelRef(org), since=None, checkpoint=Checkpoint())
    assert caught.value.kind == kind
    assert words in str(caught.value)
    assert TOKEN not in str(caught.value)
    if isinstance(caught.value, RateLimited):
        assert caught.value.retry_after == 12 * 3600  # noon by the fake's Date header


async def test_linkedin_reads_through_short_and_empty_pages_that_link_onward(
    fake_linkedin: linkedin.LinkedInServer, client: httpx.AsyncClient
) -> None:
    channel = Channel(li(fake_linkedin, client), GAPPY)
    await channel.poll()
    assert len(channel.posts) == 60  # the 30 older posts lie beyond a short and an empty page
    assert fake_linkedin.log.count("/rest/posts") == 3
    fake_linkedin.log.reset()
    await channel.poll()
    assert fake_linkedin.log.counts == {"/rest/posts": 1}


@pytest.mark.parametrize(
    ("org", "token"),
    [
        (ORG, NO_ADMIN_TOKEN),  # the token lacks rw_organization_admin
        ("108", TOKEN),  # its member is a CONTENT_ADMINISTRATOR, not an ADMINISTRATOR
    ],
)
async def test_linkedin_posts_without_name_and_followers_once_a_day(
    fake_linkedin: linkedin.LinkedInServer,
    client: httpx.AsyncClient,
    clock: Clock,
    org: str,
    token: str,
) -> None:
    channel = Channel(li(fake_linkedin, client, access_token=token), org)
    first = await channel.poll()
    assert channel.kinds == {"post": expected(("post",)), "repost": expected(("repost",))}
    assert first.profile is not None and first.profile.name is None
    assert first.profile.note == (
        "name and followers not readable: the token lacks rw_organization_admin "
        "(with the ADMINISTRATOR role on this page) or r_compliance"
    )
    assert fake_linkedin.log.count(f"/rest/organizations/{org}") == 1
    assert not [r for r in fake_linkedin.log.requests if "networkSizes" in r.path]

    fake_linkedin.log.reset()
    clock.now += timedelta(hours=23)
    assert (await channel.poll()).profile is None
    assert fake_linkedin.log.counts == {"/rest/posts": 1}  # the refusal is not asked again
    clock.now += timedelta(hours=2)
    again = await channel.poll()
    assert again.profile is not None and again.profile.note == first.profile.note
    assert fake_linkedin.log.counts == {"/rest/posts": 2, f"/rest/organizations/{org}": 1}


async def test_linkedin_version_sunset_and_wrong_token(
    fake_linkedin: linkedin.LinkedInServer, client: httpx.AsyncClient
) -> None:
    with pytest.raises(ConnectorError) as caught:
        await li(fake_linkedin, client, api_version="202301").fetch(
            ChannelRef(ORG), since=None, checkpoint=Checkpoint()
        )
    assert caught.value.kind == "auth"
    assert "202301 has been sunset" in str(caught.value)
    with pytest.raises(ConnectorError) as caught:
        await li(fake_linkedin, client, access_token="SECRET-TOKEN-123").fetch(
            ChannelRef(ORG), since=None, checkpoint=Checkpoint()
        )
    assert caught.value.kind == "auth"
    assert "SECRET-TOKEN-123" not in str(caught.value)


async def test_mastodon_reads_statuses_with_kinds_then_one_request_per_poll(
    fake_mastodon: mastodon.MastodonServer, client: httpx.AsyncClient
) -> None:
    channel = Channel(md(fake_mastodon, client), TOOT)
    first = await channel.poll()
    assert channel.kinds == {
        "post": expected(("post",)),
        "repost": expected(("repost",)),
        "reply": expected(("reply",)),
    }  # replies to other accounts are left out
    assert first.profile is not None
    assert first.profile.followers == 340
    assert first.profile.url == "https://social.overheid.nl/@voorbeeld"
    assert first.quota_used_ratio is not None
    assert 0 < first.quota_used_ratio < 0.1

    fake_mastodon.log.reset()
    result = await channel.poll()
    assert result.not_modified
    statuses = f"/api/v1/accounts/{fake_mastodon.account(TOOT).id}/statuses"
    assert fake_mastodon.log.counts == {statuses: 1}  # the top status, with its account
    assert fake_mastodon.log.requests[0].param("limit") == "1"
    assert result.profile is not None
    assert result.profile.followers == 340


async def test_mastodon_new_status_moves_the_probe(
    fake_mastodon: mastodon.MastodonServer, client: httpx.AsyncClient
) -> None:
    channel = Channel(md(fake_mastodon, client), TOOT)
    await channel.poll()
    fake_mastodon.add_post(TOOT, START - timedelta(minutes=5), "repost")
    fake_mastodon.log.reset()
    result = await channel.poll()
    assert fake_mastodon.log.total == 2
    assert [p.kind for p in result.posts if p.published_at == START - timedelta(minutes=5)] == [
        "repost"
    ]


async def test_mastodon_a_delete_and_a_new_post_on_the_same_day_are_found(
    fake_mastodon: mastodon.MastodonServer, client: httpx.AsyncClient, clock: Clock
) -> None:
    channel = Channel(md(fake_mastodon, client), TOOT)
    fake_mastodon.add_post(TOOT, START - timedelta(hours=3))
    await channel.poll()
    before = (await client.get(lookup_url(fake_mastodon), params={"acct": "voorbeeld"})).json()

    fake_mastodon.remove_post(TOOT, START - timedelta(hours=3))  # deleted, and then:
    fake_mastodon.add_post(TOOT, START - timedelta(hours=1))
    after = (await client.get(lookup_url(fake_mastodon), params={"acct": "voorbeeld"})).json()
    assert (after["statuses_count"], after["last_status_at"]) == (
        before["statuses_count"],
        before["last_status_at"],
    )  # the account alone cannot tell
    result = await channel.poll()
    assert START - timedelta(hours=1) in {p.published_at for p in result.posts}


def lookup_url(server: mastodon.MastodonServer) -> str:
    return f"{server.base_url}/api/v1/accounts/lookup"


async def test_mastodon_pages_filtered_after_paging_are_read_to_the_end(
    clock: Clock, client: httpx.AsyncClient
) -> None:
    """GoToSocial leaves followers-only statuses out after paging: short and empty pages."""
    hidden = (START - timedelta(days=205), START - timedelta(days=95))  # page 2 all hidden
    account = mastodon.AccountSpec(
        "voorbeeld", "social.overheid.nl", posts=history(MIXED, START), followers_only=hidden
    )
    server = mastodon.MastodonServer([account], clock=clock, paging="gotosocial")
    await server.start()
    try:
        channel = Channel(
            MastodonConnector(client, PlatformOptions(base_url=server.base_url, page_limit=10)),
            TOOT,
        )
        await channel.poll()
        pages = [r for r in server.log.requests if r.path.endswith("/statuses")]
        shown = [
            p
            for p in history(MIXED, START)
            if p.kind in ("post", "repost", "reply") and not hidden[0] <= p.at < hidden[1]
        ]
        assert sum(channel.kinds.values()) == len(shown)  # the oldest ones too
        assert min(t for t in channel.posts.values() if t) == min(p.at for p in shown)
        assert len(pages) >= 4

        server.log.reset()
        assert (await channel.poll()).not_modified
        assert server.log.total == 1
    finally:
        await server.stop()


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
async def split_domain(
    clock: Clock, pki: Pki
) -> AsyncIterator[tuple[mastodon.MastodonServer, mastodon.WebsiteServer, str]]:
    """A server running at ``localhost:B`` for accounts ``@…@127.0.0.1:A``, where a website
    redirects WebFinger (WEB_DOMAIN and LOCAL_DOMAIN, Mastodon admin/config.md); all https."""
    api = mastodon.MastodonServer(clock=clock)
    api_base = await api.start(tls=pki.server_context())
    api.web_domain = f"localhost:{api_base.rsplit(':', 1)[1]}"
    site = mastodon.WebsiteServer(f"https://{api.web_domain}", clock=clock)
    domain = (await site.start(tls=pki.server_context())).removeprefix("https://")
    api.accounts = [
        mastodon.AccountSpec("alice", domain, "Gemeente Gesplitst", 77, history(MIXED, START))
    ]
    api.log.reset()
    yield api, site, domain
    await site.stop()
    await api.stop()


async def test_mastodon_split_domain_account_is_found_through_webfinger_and_remembered(
    split_domain: tuple[mastodon.MastodonServer, mastodon.WebsiteServer, str], pki: Pki
) -> None:
    api, site, domain = split_domain
    async with httpx.AsyncClient(verify=pki.client_context(), follow_redirects=True) as tls:
        channel = Channel(MastodonConnector(tls, PlatformOptions()), f"@alice@{domain}")
        first = await channel.poll()
        assert first.profile is not None
        assert first.profile.url == f"https://{api.web_domain}/@alice"
        assert first.profile.followers == 77
        assert channel.kinds["post"] == expected(("post",))
        assert api.log.counts["/.well-known/webfinger"] == 1
        assert site.log.counts == {"/api/v1/accounts/lookup": 1, "/.well-known/webfinger": 1}
        lookup = next(r for r in api.log.requests if r.path == "/api/v1/accounts/lookup")
        assert lookup.param("acct") == f"alice@{domain}"
        assert first.checkpoint.extra["api"] == f"https://{api.web_domain}"

        api.log.reset()
        site.log.reset()
        again = await channel.poll()
        assert again.not_modified
        assert (api.log.total, site.log.total) == (1, 0)  # the remembered host only
        assert api.log.requests[0].header("host") == api.web_domain


@pytest.mark.parametrize(
    ("user", "kind", "words"),
    [
        ("not_found", "not_found", "Record not found"),
        ("nobody", "not_found", "Record not found"),
        ("auth", "auth", "without a token"),
        ("rate_limited", "rate_limited", "Too many requests"),
        ("server_error", "transient", "HTTP 500"),
        ("malformed", "malformed", "expected JSON"),
        ("suspended", "not_found", "suspended"),
        ("moved", "not_found", "moved to @moved_nieuw@social.overheid.nl"),
    ],
)
async def test_mastodon_behaviours(
    fake_mastodon: mastodon.MastodonServer,
    client: httpx.AsyncClient,
    user: str,
    kind: str,
    words: str,
) -> None:
    with pytest.raises(ConnectorError) as caught:
        await md(fake_mastodon, client).fetch(
            ChannelRef(f"@{user}@social.overheid.nl"), since=None, checkpoint=Checkpoint()
        )
    assert caught.value.kind == kind
    assert words in str(caught.value)
    if isinstance(caught.value, RateLimited):
        assert caught.value.retry_after is not None
        assert 0 < caught.value.retry_after <= 300


async def test_mastodon_spent_rate_limit_is_rate_limited(
    fake_mastodon: mastodon.MastodonServer, client: httpx.AsyncClient
) -> None:
    fake_mastodon.rate_limit = 3
    channel = Channel(md(fake_mastodon, client), TOOT)
    with pytest.raises(RateLimited) as caught:
        await channel.poll()  # lookup + 3 pages of statuses
    assert caught.value.retry_after == pytest.approx(300.0, abs=1)  # START is on a 5-minute edge
    assert getattr(caught.value, "quota_used_ratio", None) == 1.0


async def test_bluesky_reads_the_feed_with_kinds_then_one_request_per_poll(
    fake_bluesky: bluesky.BlueskyServer, client: httpx.AsyncClient
) -> None:
    channel = Channel(bs(fake_bluesky, client), SKEET)
    first = await channel.poll()
    assert channel.kinds == {"post": expected(("post",)), "repost": expected(("repost",))}
    assert first.profile is not None
    assert first.profile.followers == 2841
    assert first.quota_used_ratio is not None

    fake_bluesky.log.reset()
    result = await channel.poll()
    assert result.not_modified
    assert fake_bluesky.log.counts == {"/xrpc/app.bsky.actor.getProfile": 1}


async def test_bluesky_repost_is_found_by_the_daily_feed_check(
    fake_bluesky: bluesky.BlueskyServer, client: httpx.AsyncClient, clock: Clock
) -> None:
    channel = Channel(bs(fake_bluesky, client), SKEET)
    await channel.poll()
    fake_bluesky.add_post(SKEET, START + timedelta(hours=1), "repost")  # postsCount unchanged
    clock.now = START + timedelta(hours=6)
    assert (await channel.poll()).not_modified
    clock.now = START + timedelta(days=1)
    result = await channel.poll()
    assert [p.kind for p in result.posts if p.published_at == START + timedelta(hours=1)] == [
        "repost"
    ]


async def test_bluesky_future_posts_are_dated_by_indexing_and_imports_keep_their_date(
    fake_bluesky: bluesky.BlueskyServer, client: httpx.AsyncClient
) -> None:
    future, imported = START - timedelta(hours=3), START - timedelta(hours=2)
    archived = datetime(2012, 1, 1, tzinfo=UTC)
    fake_bluesky.add_post(SKEET, future, created_at=START + timedelta(days=90))
    fake_bluesky.add_post(SKEET, imported, created_at=archived)
    channel = Channel(bs(fake_bluesky, client), SKEET)
    result = await channel.poll()
    recent = sorted(
        t for p in result.posts if (t := p.published_at) and t > START - timedelta(hours=4)
    )
    assert recent == [future]  # the import is no fresh post
    # the AppView sorts the import by its 2012 createdAt: last in the feed, read on a full read
    assert result.posts[-1].published_at == archived


@pytest.mark.parametrize("indexed_at", ["indexedAt", "sortedAt"])
async def test_bluesky_pages_filtered_after_paging_and_either_indexed_at_are_read_whole(
    clock: Clock, client: httpx.AsyncClient, indexed_at: str
) -> None:
    archived = datetime(2015, 6, 1, tzinfo=UTC)
    daily = {"every_days": 1, "count": 400, "newest_days_ago": 1, "kinds": ["post", "repost"]}
    posts = [*history(daily, START), FakePost(START - timedelta(hours=2), created_at=archived)]
    dropped = (START - timedelta(days=205), START - timedelta(days=95))  # page 2 (of 100) whole
    account = bluesky.AccountSpec(SKEET, posts=posts, unrenderable=dropped)
    server = bluesky.BlueskyServer(
        [account],
        clock=clock,
        indexed_at=indexed_at,
        fill_requests=1,  # type: ignore[arg-type]
    )
    await server.start()
    try:
        channel = Channel(
            BlueskyConnector(client, PlatformOptions(base_url=server.base_url, page_limit=10)),
            SKEET,
        )
        await channel.poll()
        shown = [
            p for p in posts if p.kind in ("post", "repost") and not dropped[0] <= p.at < dropped[1]
        ]
        assert sum(channel.kinds.values()) == len(shown)  # the oldest ones too
        assert archived in channel.posts.values()  # the import keeps its date
        assert START - timedelta(hours=2) not in channel.posts.values()
    finally:
        await server.stop()


@pytest.mark.parametrize(
    ("handle", "kind", "words"),
    [
        ("not-found.bsky.social", "not_found", "Profile not found"),
        ("nobody.bsky.social", "not_found", "Profile not found"),
        ("auth.bsky.social", "auth", "AuthMissing"),
        ("rate-limited.bsky.social", "rate_limited", "RateLimitExceeded"),
        ("server-error.bsky.social", "transient", "HTTP 500"),
        ("malformed.bsky.social", "malformed", "expected JSON"),
        ("suspended.bsky.social", "not_found", "suspended"),
        ("deactivated.bsky.social", "not_found", "deactivated"),
    ],
)
async def test_bluesky_behaviours(
    fake_bluesky: bluesky.BlueskyServer,
    client: httpx.AsyncClient,
    handle: str,
    kind: str,
    words: str,
) -> None:
    with pytest.raises(ConnectorError) as caught:
        await bs(fake_bluesky, client).fetch(
            ChannelRef(handle), since=None, checkpoint=Checkpoint()
        )
    assert caught.value.kind == kind
    assert words in str(caught.value)
    if isinstance(caught.value, RateLimited):
        assert caught.value.retry_after == 300


# -- the fakes reproduce the checklist ----------------------------------------------------------


async def test_fake_linkedin_wire_format(
    fake_linkedin: linkedin.LinkedInServer, client: httpx.AsyncClient
) -> None:
    url = f"{fake_linkedin.base_url}/rest/posts"
    params = {
        "q": "author",
        "author": f"urn:li:organization:{ORG}",
        "count": "10",
        "sortBy": "CREATED",
    }
    auth = {"Authorization": f"Bearer {TOKEN}", "X-Restli-Protocol-Version": "2.0.0"}

    missing = await client.get(url, params=params, headers=auth)
    assert missing.status_code == 400
    assert missing.json()["code"] == "VERSION_MISSING"

    response = await client.get(url, params=params, headers={**auth, "LinkedIn-Version": "202603"})
    body = response.json()
    assert response.headers["x-restli-protocol-version"] == "2.0.0"
    (link,) = body["paging"]["links"]  # the first page: only next
    assert link["rel"] == "next"
    assert link["href"].startswith("/rest/posts?")  # relative
    assert "sortBy" not in link["href"]  # dropped, as recorded
    elements = body["elements"]
    assert all(isinstance(e["createdAt"], int) and e["createdAt"] > 10**12 for e in elements)
    assert {e["id"].split(":")[2] for e in elements} == {"share", "ugcPost"}
    assert any("reshareContext" in e for e in elements)
    assert any(e["publishedAt"] != e["createdAt"] for e in elements)
    assert [e["createdAt"] for e in elements] == sorted(
        (e["createdAt"] for e in elements), reverse=True
    )
    assert len({tuple(e) for e in elements}) > 1  # key order varies

    pages = await every_page(client, fake_linkedin.base_url, GAPPY, auth)
    total = pages[0]["paging"]["total"]
    assert sum(len(p["elements"]) for p in pages) == 60 < total == 230  # counts the withheld
    nexts = [[x["rel"] for x in p["paging"]["links"]].count("next") for p in pages]
    assert nexts == [1, 1, 0]  # only the last page has no next link
    assert [len(p["elements"]) for p in pages] == [30, 0, 30]  # short, empty, last

    refusals = {
        "/rest/posts": (
            {**params, "author": "urn:li:organization:109"},
            "partnerApiPostsExternal.FINDER-author",
        ),
        "/rest/organizations/108": ({}, "organizations.GET"),
        "/rest/networkSizes/urn:li:organization:108": (
            {"edgeType": "COMPANY_FOLLOWED_BY_MEMBER"},
            "networkSizes.GET",
        ),
    }
    for path, (query, resource) in refusals.items():
        refused = await client.get(
            f"{fake_linkedin.base_url}{path}",
            params=query,
            headers={**auth, "LinkedIn-Version": "202603"},
        )
        assert (refused.status_code, refused.json()) == (
            403,
            {
                "status": 403,
                "serviceErrorCode": 100,
                "code": "ACCESS_DENIED",
                "message": f"Not enough permissions to access: {resource}.20260301",
            },
        )

    throttled = await client.get(
        url,
        params={**params, "author": "urn:li:organization:105"},
        headers={**auth, "LinkedIn-Version": "202603"},
    )
    assert throttled.status_code == 429
    assert throttled.json()["serviceErrorCode"] == 101
    assert "retry-after" not in throttled.headers


async def every_page(
    client: httpx.AsyncClient, base: str, org: str, auth: dict[str, str]
) -> list[dict[str, Any]]:
    """Every page of an organization's posts, following the next links as they are given."""
    headers = {**auth, "LinkedIn-Version": "202603"}
    url = f"{base}/rest/posts?q=author&author=urn%3Ali%3Aorganization%3A{org}&count=100"
    pages = []
    while url:
        pages.append((await client.get(url, headers=headers)).json())
        links = [x["href"] for x in pages[-1]["paging"]["links"] if x["rel"] == "next"]
        url = f"{base}{links[0]}" if links else ""
    return pages


async def test_fake_mastodon_wire_format(
    fake_mastodon: mastodon.MastodonServer, client: httpx.AsyncClient
) -> None:
    base = fake_mastodon.base_url
    account = (
        await client.get(f"{base}/api/v1/accounts/lookup", params={"acct": "voorbeeld"})
    ).json()
    assert account["acct"] == "voorbeeld"  # local: no domain
    assert len(account["last_status_at"]) == 10  # a date

    url = f"{base}/api/v1/accounts/{account['id']}/statuses"
    full = await client.get(
        url, params={"exclude_replies": "true", "exclude_reblogs": "true", "limit": "80"}
    )
    statuses = full.json()
    assert len(statuses) == 40  # limit capped
    assert all(isinstance(s["id"], str) for s in statuses)
    assert all(s["reblog"] is None for s in statuses)
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", full.headers["X-RateLimit-Reset"]
    )
    assert full.links["next"]["url"].endswith(
        f"exclude_replies=true&limit=80&max_id={statuses[-1]['id']}"
    )
    assert "exclude_reblogs" not in full.links["next"]["url"]
    assert full.links["prev"]["url"].endswith(f"min_id={statuses[0]['id']}")

    everything = await client.get(url, params={"limit": "40", "max_id": statuses[-1]["id"]})
    kinds = everything.json()
    assert any(s["reblog"] is not None and s["content"] == "" for s in kinds)
    assert any(s["in_reply_to_account_id"] not in (None, account["id"]) for s in kinds)

    short = await client.get(url, params={"limit": "40", "max_id": "1"})
    assert short.json() == []
    assert "next" not in short.links

    suspended = (
        await client.get(f"{base}/api/v1/accounts/lookup", params={"acct": "suspended"})
    ).json()
    assert suspended["suspended"] is True
    assert suspended["statuses_count"] == 0
    assert suspended["last_status_at"] is None
    missing = await client.get(f"{base}/api/v1/accounts/lookup", params={"acct": "nobody"})
    assert (missing.status_code, missing.json()) == (404, {"error": "Record not found"})

    finger = f"{base}/.well-known/webfinger"
    jrd = await client.get(finger, params={"resource": "acct:voorbeeld@social.overheid.nl"})
    assert jrd.headers["content-type"].startswith("application/jrd+json")
    assert jrd.json()["subject"] == "acct:voorbeeld@social.overheid.nl"
    assert {"rel": "self", "type": "application/activity+json"}.items() <= jrd.json()["links"][
        1
    ].items()
    assert (await client.get(finger)).status_code == 400
    assert (
        await client.get(finger, params={"resource": "acct:x@social.overheid.nl"})
    ).status_code == 404
    gone = await client.get(finger, params={"resource": "acct:suspended@social.overheid.nl"})
    assert gone.status_code == 410


async def test_fake_mastodon_gotosocial_paging_and_the_website_in_front(
    clock: Clock, client: httpx.AsyncClient
) -> None:
    hidden = (START - timedelta(days=205), START - timedelta(days=95))
    account = mastodon.AccountSpec("a", posts=history(MIXED, START), followers_only=hidden)
    server = mastodon.MastodonServer([account], clock=clock, paging="gotosocial")
    site = mastodon.WebsiteServer("https://social.example.net", clock=clock)
    await server.start()
    await site.start()
    try:
        url = f"{server.base_url}/api/v1/accounts/{account.id}/statuses"
        params = {"exclude_replies": "true", "limit": "40"}
        first = await client.get(url, params=params)
        second = await client.get(url, params={**params, "max_id": _max_id(first)})
        third = await client.get(url, params={**params, "max_id": _max_id(second)})
        end = await client.get(url, params={**params, "max_id": _max_id(third)})
        assert 0 < len(first.json()) < 40  # short
        assert second.json() == []  # empty, and still linking on
        assert "exclude_reblogs=false" in second.links["next"]["url"]
        assert third.json()
        assert (end.json(), end.links) == ([], {})  # the query found nothing: no links

        redirect = await client.get(
            f"{site.base_url}/.well-known/webfinger", params={"resource": "acct:a@x.example"}
        )
        assert redirect.status_code == 301
        location = httpx.URL(redirect.headers["location"])  # $request_uri: as sent
        assert str(location.copy_with(query=None)) == (
            "https://social.example.net/.well-known/webfinger"
        )
        assert location.params["resource"] == "acct:a@x.example"
        page = await client.get(f"{site.base_url}/api/v1/accounts/lookup", params={"acct": "a"})
        assert (page.status_code, page.headers["content-type"].split(";")[0]) == (404, "text/html")
    finally:
        await site.stop()
        await server.stop()


def _max_id(response: httpx.Response) -> str:
    return str(httpx.URL(response.links["next"]["url"]).params["max_id"])


async def test_fake_bluesky_wire_format(
    fake_bluesky: bluesky.BlueskyServer, client: httpx.AsyncClient
) -> None:
    base = f"{fake_bluesky.base_url}/xrpc"
    profile = await client.get(f"{base}/app.bsky.actor.getProfile", params={"actor": SKEET})
    assert profile.headers["RateLimit-Policy"] == "3000;w=300"
    assert "X-RateLimit-Limit" not in profile.headers
    assert int(profile.headers["RateLimit-Reset"]) % 300 == 0  # unix seconds
    did = profile.json()["did"]

    params = {"actor": did, "filter": "posts_no_replies", "limit": "30", "includePins": "true"}
    first = (await client.get(f"{base}/app.bsky.feed.getAuthorFeed", params=params)).json()
    assert first["feed"][0]["reason"]["$type"] == bluesky.PIN
    reposts = [i for i in first["feed"] if i.get("reason", {}).get("$type") == bluesky.REPOST]
    assert reposts
    assert all(i["post"]["author"]["did"] != did for i in reposts)
    assert not any("reply" in i["post"]["record"] for i in first["feed"])
    cursor = first["cursor"]
    pages = 1
    while cursor:
        page = (
            await client.get(
                f"{base}/app.bsky.feed.getAuthorFeed", params={**params, "cursor": cursor}
            )
        ).json()
        assert not page["feed"] or page["feed"][0].get("reason", {}).get("$type") != bluesky.PIN
        cursor = page.get("cursor")
        pages += 1
    assert pages > 1

    fake_bluesky.indexed_at = "sortedAt"
    fake_bluesky.add_post(
        SKEET, START - timedelta(hours=1), created_at=datetime(2015, 1, 1, tzinfo=UTC)
    )
    window = (START - timedelta(days=210), START - timedelta(days=2))
    fake_bluesky.set(SKEET, unrenderable=window)
    fake_bluesky.fill_requests = 1
    short = (await client.get(f"{base}/app.bsky.feed.getAuthorFeed", params=params)).json()
    assert len(short["feed"]) < 30  # filtered after paging, and still a cursor
    empty = (
        await client.get(
            f"{base}/app.bsky.feed.getAuthorFeed", params={**params, "cursor": short["cursor"]}
        )
    ).json()
    assert (empty["feed"], bool(empty["cursor"])) == ([], True)
    fake_bluesky.fill_requests = 10  # fillPage: reads on until the page is full or the end
    filled = (await client.get(f"{base}/app.bsky.feed.getAuthorFeed", params=params)).json()
    assert len(filled["feed"]) > len(short["feed"])
    assert "cursor" not in filled
    imported = [i for i in filled["feed"] if i["post"]["record"]["createdAt"].startswith("2015")]
    assert imported[0]["post"]["indexedAt"] == "2015-01-01T00:00:00.000Z"  # sortedAt

    bad = await client.get(
        f"{base}/app.bsky.feed.getAuthorFeed", params={**params, "cursor": "nonsense"}
    )
    assert (bad.status_code, bad.json()["message"]) == (400, "Malformed cursor")
    unknown = await client.get(
        f"{base}/app.bsky.actor.getProfile", params={"actor": "nobody.bsky.social"}
    )
    assert (unknown.status_code, unknown.json()) == (
        400,
        {"error": "InvalidRequest", "message": "Profile not found"},
    )


@pytest.mark.parametrize(
    ("module", "spec"),
    [
        (
            "linkedin",
            {
                "accounts": [
                    {"id": ORG, "posts": {"every_days": 3, "count": 20, "newest_days_ago": 1}}
                ]
            },
        ),
        ("mastodon", {"accounts": [{"handle": TOOT, "posts": ["2026-11-20T09:00:00Z"]}]}),
        (
            "bluesky",
            {
                "accounts": [
                    {"handle": SKEET, "posts": [{"at": "2026-11-20T09:00:00Z", "kind": "repost"}]}
                ]
            },
        ),
    ],
)
async def test_command_line_serves_a_spec_until_sigterm(
    module: str, spec: dict[str, object], tmp_path: Path
) -> None:
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec))
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        f"monitor.fakes.{module}",
        "--port",
        "0",
        "--spec",
        str(path),
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        base = (await asyncio.wait_for(process.stdout.readline(), 30)).decode().strip()
        assert base.startswith("http://127.0.0.1:")
        async with httpx.AsyncClient() as client:
            connector = {
                "linkedin": lambda: LinkedInConnector(
                    client, PlatformOptions(base_url=base, access_token=TOKEN)
                ),
                "mastodon": lambda: MastodonConnector(client, PlatformOptions(base_url=base)),
                "bluesky": lambda: BlueskyConnector(client, PlatformOptions(base_url=base)),
            }[module]()
            handle = {"linkedin": ORG, "mastodon": TOOT, "bluesky": SKEET}[module]
            result = await connector.fetch(ChannelRef(handle), since=None, checkpoint=Checkpoint())
        assert result.posts
    finally:
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 30) == 0


# -- requests per unchanged poll -----------------------------------------------------------------


async def measure(
    server: FakeServer,
    connector: Connector,
    handle: str,
    clock: Clock,
    every: timedelta,
    polls: int = 100,
) -> float:
    """Requests per poll over ``polls`` unchanged polls, ``every`` apart by the fake's clock."""
    channel = Channel(connector, handle)
    await channel.poll()
    server.log.reset()
    for _ in range(polls):
        clock.now += every
        result = await channel.poll()
        assert not [
            p
            for p in result.posts
            if p.published_at and channel.since and p.published_at > channel.since
        ]
    return server.log.total / polls


async def test_requests_per_unchanged_poll(
    fake_linkedin: linkedin.LinkedInServer,
    fake_mastodon: mastodon.MastodonServer,
    fake_bluesky: bluesky.BlueskyServer,
    client: httpx.AsyncClient,
    clock: Clock,
) -> None:
    figures: dict[str, tuple[float, float]] = {}
    platforms = [
        ("linkedin", fake_linkedin, lambda: li(fake_linkedin, client), ORG),
        (
            "linkedin without rw_organization_admin",
            fake_linkedin,
            lambda: li(fake_linkedin, client, access_token=NO_ADMIN_TOKEN),
            ORG,
        ),
        ("mastodon", fake_mastodon, lambda: md(fake_mastodon, client), TOOT),
        ("bluesky", fake_bluesky, lambda: bs(fake_bluesky, client), SKEET),
    ]
    for name, server, make, handle in platforms:
        clock.now = START
        back_to_back = await measure(server, make(), handle, clock, timedelta(0))
        clock.now = START
        six_hourly = await measure(server, make(), handle, clock, timedelta(hours=6))
        figures[name] = (back_to_back, six_hourly)
    print("\nrequests per unchanged poll over 100 polls (back to back, every 6h):", figures)
    assert figures["linkedin"] == (1.0, 1.5)  # + organization and networkSizes once a day
    # + one refused organization lookup a day: not one a poll, and networkSizes is not asked
    assert figures["linkedin without rw_organization_admin"] == (1.0, 1.25)
    assert figures["mastodon"] == (1.0, 1.0)
    assert figures["bluesky"] == (1.0, 1.25)  # + one feed page once a day, for reposts
