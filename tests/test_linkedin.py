"""LinkedIn connector against recorded/documented payloads over httpx.MockTransport."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import httpx
import pytest

from connectors.base import ChannelRef, Checkpoint, PlatformOptions
from connectors.errors import ConnectorError, RateLimited
from connectors.linkedin import LinkedInConnector

FIXTURES = Path(__file__).parent / "fixtures" / "linkedin"
TOKEN = "SECRET-TOKEN-123"
NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
DATE = format_datetime(NOW, usegmt=True)
ORG = "2414183"
FRESH = Checkpoint(extra={"profile_at": str(int((NOW - timedelta(hours=1)).timestamp()))})

Route = Callable[[httpx.Request], httpx.Response]


def fixture(name: str) -> object:
    return json.loads((FIXTURES / name).read_text())


def reply(
    name: str | None = None, status: int = 200, headers: Mapping[str, str] | None = None
) -> httpx.Response:
    body = fixture(name) if name else {}
    return httpx.Response(status, json=body, headers={"Date": DATE, **(headers or {})})


PAGES = {
    "0": "posts_p1.json",
    "10": "posts_p2.json",
    "20": "posts_empty.json",
    "30": "posts_last.json",
}


def feed(request: httpx.Request) -> httpx.Response:
    """The posts finder: the recorded first page, a short page, an empty page that still links
    onward, and a last page without a ``next`` link."""
    return reply(PAGES[request.url.params.get("start", "0")])


class Api:
    """A MockTransport handler: per-path routes, and every request it saw."""

    def __init__(self, posts: Route = feed, **routes: Route) -> None:
        self.routes: dict[str, Route] = {
            "posts": posts,
            "organizations": lambda r: reply("organization.json"),
            "networkSizes": lambda r: reply("network_size.json"),
            **routes,
        }
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        resource = request.url.path.removeprefix("/rest/").split("/")[0]
        return self.routes[resource](request)

    def paths(self) -> list[str]:
        return [r.url.path for r in self.requests]


def connector(api: Api, **options: object) -> LinkedInConnector:
    client = httpx.AsyncClient(transport=httpx.MockTransport(api))
    settings = {"access_token": TOKEN, "base_url": "https://api.linkedin.com", **options}
    return LinkedInConnector(client, PlatformOptions(**settings))  # type: ignore[arg-type]


def at(millis: int) -> datetime:
    return datetime.fromtimestamp(millis / 1000, UTC)


async def test_sends_version_protocol_and_bearer_headers() -> None:
    api = Api()
    await connector(api).fetch(ChannelRef(ORG), since=None, checkpoint=FRESH)
    request = api.requests[0]
    assert request.headers["LinkedIn-Version"] == "202603"
    assert request.headers["X-Restli-Protocol-Version"] == "2.0.0"
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.url.path == "/rest/posts"
    assert request.url.params["q"] == "author"
    assert request.url.params["author"] == f"urn:li:organization:{ORG}"
    assert b"author=urn%3Ali%3Aorganization%3A2414183" in request.url.query
    assert request.url.params["sortBy"] == "CREATED"
    assert request.url.params["count"] == "100"


async def test_api_version_comes_from_the_options() -> None:
    api = Api()
    await connector(api, api_version="202601").fetch(ChannelRef(ORG), since=None, checkpoint=FRESH)
    assert {r.headers["LinkedIn-Version"] for r in api.requests} == {"202601"}


async def test_first_poll_reads_every_page_with_epoch_ms_times_and_kinds() -> None:
    api = Api()
    result = await connector(api).fetch(ChannelRef(ORG), since=None, checkpoint=Checkpoint())

    posts = {p.post_id: p for p in result.posts}
    assert list(posts)[:4] == [
        "urn:li:share:7034871045106847744",
        "urn:li:share:7034767950653853696",
        "urn:li:ugcPost:7034682247848853504",
        "urn:li:share:7034659197531095040",
    ]
    assert posts["urn:li:share:7034871045106847744"].published_at == at(1677243958829)
    assert posts["urn:li:share:7034871045106847744"].kind == "post"
    assert posts["urn:li:share:7034767950653853696"].kind == "repost"  # reshareContext
    assert posts["urn:li:ugcPost:7034682247848853504"].kind == "post"  # an article
    # a processed post: published (1677193551070) after it was created (1677193450496)
    assert posts["urn:li:share:7034659197531095040"].published_at == at(1677193551070)
    assert len(posts) == 7  # the draft on page 2 is not on the page
    assert posts["urn:li:share:7021000000000000000"].published_at == at(1674000000000)
    assert all(p.published_at and p.published_at.tzinfo is UTC for p in result.posts)

    # short and empty pages still link onward: only a page without a next link ends the listing
    starts = [r.url.params.get("start") for r in api.requests if r.url.path == "/rest/posts"]
    assert starts == [None, "10", "20", "30"]
    follow = api.requests[1]
    assert follow.url.params["sortBy"] == "CREATED"  # the next link dropped it
    assert follow.url.host == "api.linkedin.com"
    assert result.checkpoint.extra == {"profile_at": str(int(NOW.timestamp()))}


async def test_profile_is_name_vanity_url_and_followers() -> None:
    api = Api()
    result = await connector(api).fetch(ChannelRef(ORG), since=None, checkpoint=Checkpoint())
    assert result.profile is not None
    assert result.profile.name == "LinkedIn"
    assert result.profile.url == "https://www.linkedin.com/company/linkedin/"
    assert result.profile.followers == 33634367
    sizes = next(r for r in api.requests if "networkSizes" in r.url.path)
    assert sizes.url.raw_path.startswith(b"/rest/networkSizes/urn%3Ali%3Aorganization%3A2414183?")
    assert sizes.url.params["edgeType"] == "COMPANY_FOLLOWED_BY_MEMBER"
    assert sizes.headers["LinkedIn-Version"] == "202603"
    assert "/rest/organizations/2414183" in api.paths()


async def test_an_unchanged_poll_is_one_request() -> None:
    api = Api()
    since = at(1677243958829)
    result = await connector(api).fetch(ChannelRef(ORG), since=since, checkpoint=FRESH)
    assert api.paths() == ["/rest/posts"]
    assert api.requests[0].url.params["count"] == "20"
    assert [p.post_id for p in result.posts] == ["urn:li:share:7034871045106847744"]
    assert result.profile is None  # read once a day
    assert result.checkpoint == FRESH


async def test_reading_stops_at_the_page_that_reaches_since() -> None:
    api = Api()
    since = at(1677219379173)  # the reshare on page 1
    result = await connector(api).fetch(ChannelRef(ORG), since=since, checkpoint=FRESH)
    assert api.paths() == ["/rest/posts"]
    assert [p.post_id for p in result.posts] == [
        "urn:li:share:7034871045106847744",
        "urn:li:share:7034767950653853696",
    ]


async def test_profile_is_read_again_after_a_day_by_the_server_clock() -> None:
    api = Api()
    day_old = str(int((NOW - timedelta(hours=25)).timestamp()))
    result = await connector(api).fetch(
        ChannelRef(ORG),
        since=at(1677243958829),
        checkpoint=Checkpoint(extra={"profile_at": day_old}),
    )
    assert len(api.requests) == 3
    assert result.profile is not None
    assert result.checkpoint.extra["profile_at"] == str(int(NOW.timestamp()))


async def test_without_a_date_header_the_profile_is_read_once() -> None:
    def undated(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=fixture("posts_none.json"))

    api = Api(posts=undated)
    first = await connector(api).fetch(ChannelRef(ORG), since=None, checkpoint=Checkpoint())
    assert first.profile is not None
    api.requests.clear()
    second = await connector(api).fetch(ChannelRef(ORG), since=None, checkpoint=first.checkpoint)
    assert api.paths() == ["/rest/posts"]
    assert second.profile is None


async def test_handle_may_be_an_organization_urn() -> None:
    api = Api()
    channel = ChannelRef("urn:li:organization:2414183")
    await connector(api).fetch(channel, since=None, checkpoint=FRESH)
    assert api.requests[0].url.params["author"] == "urn:li:organization:2414183"
    assert connector(api).public_url(channel) == "https://www.linkedin.com/company/2414183/"
    assert connector(api).public_url(ChannelRef("2414183")) == (
        "https://www.linkedin.com/company/2414183/"
    )


async def test_a_handle_that_is_not_an_organization_is_not_found_without_a_request() -> None:
    api = Api()
    with pytest.raises(ConnectorError) as caught:
        await connector(api).fetch(ChannelRef("gemeente-voorbeeld"), since=None, checkpoint=FRESH)
    assert caught.value.kind == "not_found"
    assert api.requests == []


async def test_page_budget_leaves_a_resume_offset_that_the_next_poll_reads() -> None:
    api = Api()
    conn = connector(api, page_limit=2)
    first = await conn.fetch(ChannelRef(ORG), since=None, checkpoint=FRESH)
    assert len(first.posts) == 6
    assert first.checkpoint.extra["resume"] == "20"
    assert "resume_since" not in first.checkpoint.extra  # read on to the oldest post

    api.requests.clear()
    newest = at(1677243958829)
    second = await conn.fetch(ChannelRef(ORG), since=newest, checkpoint=first.checkpoint)
    starts = [r.url.params.get("start") for r in api.requests]
    assert starts == [None, "20"]  # the head, then the rest of the history
    assert second.checkpoint.extra["resume"] == "30"  # the empty page linked onward
    assert second.checkpoint.extra["profile_at"] == FRESH.extra["profile_at"]

    api.requests.clear()
    third = await conn.fetch(ChannelRef(ORG), since=newest, checkpoint=second.checkpoint)
    assert [r.url.params.get("start") for r in api.requests] == [None, "30"]
    assert "urn:li:share:7021000000000000000" in {p.post_id for p in third.posts}
    assert "resume" not in third.checkpoint.extra


async def test_new_posts_overflowing_the_budget_are_resumed_down_to_since() -> None:
    api = Api()
    since = at(1675000000000)  # older than everything: every page is new
    result = await connector(api, page_limit=1).fetch(
        ChannelRef(ORG), since=since, checkpoint=FRESH
    )
    assert result.checkpoint.extra["resume"] == "10"
    assert result.checkpoint.extra["resume_since"] == str(int(since.timestamp()))


def error(name: str, status: int, headers: Mapping[str, str] | None = None) -> Route:
    return lambda request: reply(name, status, headers)


@pytest.mark.parametrize(
    ("route", "kind", "words"),
    [
        (error("error_401_65600.json", 401), "auth", "INVALID_ACCESS_TOKEN, 65600"),
        (error("error_401_65601.json", 401), "auth", "revoked"),
        (error("error_401_empty.json", 401), "auth", "Empty oauth2_access_token"),
        (error("error_403_access_denied.json", 403), "auth", "r_organization_social"),
        (error("error_426.json", 426), "auth", "raise platforms.linkedin.api_version"),
        (error("error_404.json", 404), "not_found", "HTTP 404"),
        (error("error_429.json", 429), "rate_limited", "midnight UTC"),
        (error("error_500.json", 500), "transient", "HTTP 500"),
        (error("error_400_version_missing.json", 400), "malformed", "VERSION_MISSING"),
    ],
)
async def test_errors_map_to_the_shared_kinds(route: Route, kind: str, words: str) -> None:
    with pytest.raises(ConnectorError) as caught:
        await connector(Api(posts=route)).fetch(ChannelRef(ORG), since=None, checkpoint=FRESH)
    assert caught.value.kind == kind
    assert words in str(caught.value)
    assert TOKEN not in str(caught.value)


async def test_403_on_posts_names_the_scope_and_the_roles_that_read_them() -> None:
    api = Api(posts=error("error_403_access_denied.json", 403))
    with pytest.raises(ConnectorError) as caught:
        await connector(api).fetch(ChannelRef(ORG), since=None, checkpoint=FRESH)
    message = str(caught.value)
    assert "partnerApiPostsExternal.FINDER-author" in message  # LinkedIn's own words are kept
    assert "r_organization_social" in message
    assert "ADMINISTRATOR, DIRECT_SPONSORED_CONTENT_POSTER or CONTENT_ADMINISTRATOR" in message
    assert f"organization {ORG}" in message


async def test_426_names_the_sunset_version() -> None:
    api = Api(posts=error("error_426.json", 426))
    with pytest.raises(ConnectorError) as caught:
        await connector(api, api_version="202301").fetch(
            ChannelRef(ORG), since=None, checkpoint=FRESH
        )
    assert "LinkedIn-Version 202301 has been sunset" in str(caught.value)


async def test_429_waits_until_midnight_utc_by_the_date_header() -> None:
    late = format_datetime(datetime(2026, 11, 26, 22, 30, tzinfo=UTC), usegmt=True)
    api = Api(posts=error("error_429.json", 429, {"Date": late}))
    with pytest.raises(RateLimited) as caught:
        await connector(api).fetch(ChannelRef(ORG), since=None, checkpoint=FRESH)
    assert caught.value.retry_after == 90 * 60


async def test_429_without_a_date_header_waits_until_midnight_by_the_clock() -> None:
    def undated(request: httpx.Request) -> httpx.Response:
        return httpx.Response(429, json=fixture("error_429.json"))

    with pytest.raises(RateLimited) as caught:
        await connector(Api(posts=undated)).fetch(ChannelRef(ORG), since=None, checkpoint=FRESH)
    now = datetime.now(UTC)
    midnight = datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), UTC)
    assert caught.value.retry_after is not None
    assert abs(caught.value.retry_after - (midnight - now).total_seconds()) < 60


async def test_a_refused_organization_lookup_keeps_the_posts_and_says_what_is_missing() -> None:
    api = Api(organizations=error("error_403_organizations.json", 403))
    result = await connector(api).fetch(ChannelRef(ORG), since=None, checkpoint=Checkpoint())
    assert len(result.posts) == 7
    assert result.profile is not None
    assert (result.profile.name, result.profile.followers) == (None, None)
    assert result.profile.url == f"https://www.linkedin.com/company/{ORG}/"
    assert result.profile.note == (
        "name and followers not readable: the token lacks rw_organization_admin "
        "(with the ADMINISTRATOR role on this page) or r_compliance"
    )
    # networkSizes needs the same scope: it is not asked only to be refused as well
    assert not [p for p in api.paths() if "networkSizes" in p]
    assert result.checkpoint.extra["profile_at"] == str(int(NOW.timestamp()))


async def test_a_refused_follower_count_keeps_the_name() -> None:
    api = Api(networkSizes=error("error_403_network_sizes.json", 403))
    result = await connector(api).fetch(ChannelRef(ORG), since=None, checkpoint=Checkpoint())
    assert result.profile is not None
    assert result.profile.name == "LinkedIn"
    assert result.profile.url == "https://www.linkedin.com/company/linkedin/"
    assert result.profile.followers is None
    assert result.profile.note is not None
    assert result.profile.note.startswith("followers not readable: the token lacks ")


async def test_a_refused_lookup_is_asked_again_a_day_later_not_on_every_poll() -> None:
    api = Api(organizations=error("error_403_organizations.json", 403))
    conn = connector(api)
    first = await conn.fetch(ChannelRef(ORG), since=None, checkpoint=Checkpoint())
    newest = at(1677243958829)

    api.requests.clear()
    second = await conn.fetch(ChannelRef(ORG), since=newest, checkpoint=first.checkpoint)
    assert api.paths() == ["/rest/posts"]  # the refusal is remembered: one request
    assert second.profile is None  # the note already given stands

    api.requests.clear()
    day_old = str(int((NOW - timedelta(hours=25)).timestamp()))
    extra = {**second.checkpoint.extra, "profile_at": day_old}
    third = await conn.fetch(ChannelRef(ORG), since=newest, checkpoint=Checkpoint(extra=extra))
    assert api.paths() == ["/rest/posts", f"/rest/organizations/{ORG}"]
    assert third.profile is not None and third.profile.note is not None


async def test_other_errors_on_the_profile_requests_still_fail_the_poll() -> None:
    api = Api(organizations=error("error_500.json", 500))
    with pytest.raises(ConnectorError) as caught:
        await connector(api).fetch(ChannelRef(ORG), since=None, checkpoint=Checkpoint())
    assert caught.value.kind == "transient"
    assert "/rest/organizations/2414183" in str(caught.value)


async def test_new_posts_behind_an_empty_page_are_found() -> None:
    """LinkedIn filters a page after paging (deleted and dark posts): an empty head page with a
    next link is not the end, even when ``since`` is known."""
    empty = {
        "paging": {
            "start": 0,
            "count": 20,
            "links": [{"type": "application/json", "rel": "next", "href": NEXT_20}],
            "total": 288139,
        },
        "elements": [],
    }

    def posts(request: httpx.Request) -> httpx.Response:
        if request.url.params.get("start") is None:
            return httpx.Response(200, json=empty, headers={"Date": DATE})
        return reply("posts_p1.json")

    api = Api(posts=posts)
    since = at(1677219379173)
    result = await connector(api).fetch(ChannelRef(ORG), since=since, checkpoint=FRESH)
    assert [r.url.params.get("start") for r in api.requests] == [None, "20"]
    assert [p.post_id for p in result.posts] == [
        "urn:li:share:7034871045106847744",
        "urn:li:share:7034767950653853696",
    ]


NEXT_20 = "/rest/posts?q=author&author=urn%3Ali%3Aorganization%3A2414183&count=20&start=20"


@pytest.mark.parametrize(
    ("response", "kind"),
    [
        (httpx.Response(200, text="{not json", headers={"Date": DATE}), "malformed"),
        (
            httpx.Response(200, text="<html><body>Sign in</body></html>", headers={"Date": DATE}),
            "malformed",
        ),
        (httpx.Response(200, json={"elements": "none"}, headers={"Date": DATE}), "malformed"),
        (httpx.Response(200, json=[], headers={"Date": DATE}), "malformed"),
        (
            httpx.Response(
                200,
                json={
                    "elements": [{"id": "urn:li:share:1", "createdAt": 1}],
                    "paging": {"links": [{"rel": "next", "href": "/rest/posts?q=author"}]},
                },
                headers={"Date": DATE},
            ),
            "malformed",
        ),
        (httpx.Response(502, text="<html>Bad gateway</html>"), "transient"),
    ],
)
async def test_unreadable_responses(response: httpx.Response, kind: str) -> None:
    api = Api(posts=lambda request: response)
    with pytest.raises(ConnectorError) as caught:
        await connector(api).fetch(ChannelRef(ORG), since=None, checkpoint=FRESH)
    assert caught.value.kind == kind


async def test_the_token_is_never_in_errors_or_results() -> None:
    def echo(request: httpx.Request) -> httpx.Response:
        body = {"status": 401, "serviceErrorCode": 65600, "message": f"Invalid token {TOKEN}"}
        return httpx.Response(401, json=body)

    with pytest.raises(ConnectorError) as caught:
        await connector(Api(posts=echo)).fetch(ChannelRef(ORG), since=None, checkpoint=FRESH)
    assert TOKEN not in str(caught.value)
    assert TOKEN not in repr(caught.value.args)

    conn = connector(Api())
    result = await conn.fetch(ChannelRef(ORG), since=None, checkpoint=Checkpoint())
    assert TOKEN not in repr(result)
