"""LinkedIn organization pages through the versioned REST API (``/rest/…``).

An unchanged poll is one request: the first page of ``/rest/posts?q=author&sortBy=CREATED``.
Name, vanity URL (``/rest/organizations/{id}``) and followers (``/rest/networkSizes/…``) are
read once a day, timed by the response ``Date`` header and remembered in ``Checkpoint.extra``.

Paging follows the relative ``paging.links`` ``next`` but rebuilds the request itself: the
recorded ``next`` link drops ``sortBy``. Only a page without a ``next`` link ends the listing:
LinkedIn pages first and filters after (deleted and dark posts), so a page can be short or empty
and still link onward, and ``paging.total`` counts what was filtered out. Reading stops at the
first page holding a post created at or before ``since``; where the page budget ran out is kept
(as an offset) and read on the next poll.

Posts need ``r_organization_social`` and a page role that may read them; a 403 on them fails the
poll and says so. Name and followers need more (``rw_organization_admin`` as the page's
ADMINISTRATOR, or ``r_compliance``): when those are refused the poll still succeeds on the posts,
and the profile's ``note`` says what is missing. The refusal is remembered with the daily timer,
so it costs one refused request a day, not one a poll.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ValidationError

from connectors._paging import RESUME_KEYS, Page, Resume, catch_up, from_unix, resume_extra, unix
from connectors._rest import Poll, retry_after, server_date, validated
from connectors.base import (
    ChannelRef,
    Checkpoint,
    FetchResult,
    PlatformOptions,
    Post,
    PostKind,
    Profile,
)
from connectors.errors import (
    AuthFailed,
    ChannelNotFound,
    ConnectorError,
    Malformed,
    RateLimited,
    error_for_status,
    payload_guarded,
    safe_url,
)

DEFAULT_BASE_URL = "https://api.linkedin.com"
DEFAULT_API_VERSION = "202603"
FULL_PAGE = 100  # the finder's maximum ``count``: first poll and catching up
HEAD_PAGE = 20  # when ``since`` is known, new posts rarely fill a page
PROFILE_EVERY = timedelta(days=1)
POST_ROLES = "ADMINISTRATOR, DIRECT_SPONSORED_CONTENT_POSTER or CONTENT_ADMINISTRATOR"
LOOKUP_NEEDS = "rw_organization_admin (with the ADMINISTRATOR role on this page) or r_compliance"
_ORG = re.compile(r"(?:urn:li:organization:)?(\d{1,20})")

ModelT = TypeVar("ModelT", bound=BaseModel)


class _Distribution(BaseModel):
    feedDistribution: str | None = None


class _Post(BaseModel):
    id: str
    createdAt: int | None = None
    publishedAt: int | None = None
    lifecycleState: str | None = None
    reshareContext: dict[str, Any] | None = None
    distribution: _Distribution | None = None


class _Link(BaseModel):
    rel: str | None = None
    href: str | None = None


class _Paging(BaseModel):
    links: list[_Link] = []


class _Posts(BaseModel):
    elements: list[_Post]
    paging: _Paging | None = None


class _Organization(BaseModel):
    localizedName: str | None = None
    vanityName: str | None = None


class _FoundOrganization(BaseModel):
    id: int | None = None
    localizedName: str | None = None


class _Organizations(BaseModel):
    elements: list[_FoundOrganization]


class _NetworkSize(BaseModel):
    firstDegreeSize: int | None = None


class _ErrorBody(BaseModel):
    message: str | None = None
    serviceErrorCode: int | None = None
    code: str | None = None


class LinkedInConnector:
    """Reads the organization pages on which the token's member has a role that reads posts."""

    platform: ClassVar[str] = "linkedin"

    def __init__(self, client: httpx.AsyncClient, options: PlatformOptions) -> None:
        self._client = client
        self._base = (options.base_url or DEFAULT_BASE_URL).rstrip("/").removesuffix("/rest")
        self._version = options.api_version or DEFAULT_API_VERSION
        self._token = options.access_token
        self._page_limit = max(1, options.page_limit)

    def _poll(self, org: str) -> _Requests:
        return _Requests(self._client, self._base, self._version, self._token, org)

    def public_url(self, channel: ChannelRef) -> str | None:
        """``https://www.linkedin.com/company/{id}/``."""
        match = _ORG.fullmatch(channel.handle.strip())
        return f"https://www.linkedin.com/company/{match[1]}/" if match else None

    @payload_guarded
    async def fetch(
        self,
        channel: ChannelRef,
        *,
        since: datetime | None,
        checkpoint: Checkpoint | None = None,
    ) -> FetchResult:
        """Read the organization's posts created at or after ``since``; its profile daily."""
        match = _ORG.fullmatch(channel.handle.strip())
        if match is None:
            raise ChannelNotFound(
                "not a LinkedIn organization id (1234567 or urn:li:organization:…)"
            )
        org = match[1]
        extra = dict(checkpoint.extra) if checkpoint else {}
        poll = self._poll(org)
        posts, resume = await catch_up(
            poll.posts,
            since=since,
            previous=Resume.from_extra(extra),
            budget=self._page_limit,
            full_size=FULL_PAGE,
            head_size=HEAD_PAGE,
        )

        profile = None
        now = poll.server_time
        last = from_unix(extra.get("profile_at"))
        if last is None or (now is not None and now - last >= PROFILE_EVERY):
            profile = await self._profile(poll, org)
            extra["profile_at"] = unix(now) if now else "0"  # "0": due once a Date is seen
        extra = {k: v for k, v in extra.items() if k not in RESUME_KEYS}
        extra.update(resume_extra(resume))
        return FetchResult(posts=posts, profile=profile, checkpoint=Checkpoint(extra=extra))

    async def find_vanity(self, vanity: str) -> tuple[str, str | None] | None:
        """The id and name of the organization at ``linkedin.com/company/{vanity}``; None when
        LinkedIn has none. The Organization Lookup API's ``vanityName`` finder: it needs
        rw_organization_admin or r_compliance, but no role on the page (a 403 otherwise)."""
        params = {"q": "vanityName", "vanityName": vanity}
        body = await self._poll(vanity).get("organizations", params)
        found = _parse(_Organizations, body, "organizations vanityName")
        return next(((str(o.id), o.localizedName) for o in found.elements if o.id), None)

    async def _profile(self, poll: _Requests, org: str) -> Profile:
        """Name and vanity URL, then followers; what the token may not read is noted, not fatal."""
        url = f"https://www.linkedin.com/company/{org}/"
        lookup = await _unless_refused(poll.get(f"organizations/{org}"))
        if lookup is None:  # networkSizes needs the same scope: no need to be refused twice
            return Profile(
                url=url, note=f"name and followers not readable: the token lacks {LOOKUP_NEEDS}"
            )
        organization = _parse(_Organization, lookup, "organization")
        if organization.vanityName:
            url = f"https://www.linkedin.com/company/{quote(organization.vanityName, safe='')}/"
        urn = quote(f"urn:li:organization:{org}", safe="")
        params = {"edgeType": "COMPANY_FOLLOWED_BY_MEMBER"}
        sizes = await _unless_refused(poll.get(f"networkSizes/{urn}", params))
        if sizes is None:
            note = f"followers not readable: the token lacks {LOOKUP_NEEDS}"
            return Profile(name=organization.localizedName, url=url, note=note)
        size = _parse(_NetworkSize, sizes, "networkSizes")
        return Profile(name=organization.localizedName, url=url, followers=size.firstDegreeSize)


class _Requests:
    """The requests of one ``fetch``: LinkedIn's headers on top of the shared ``Poll``."""

    def __init__(
        self, client: httpx.AsyncClient, base: str, version: str, token: str | None, org: str
    ) -> None:
        self._version = version
        self._token = token
        self._org = org
        self._poll = Poll(
            client, f"{base}/rest", lambda response: _error(response, token, org, version)
        )

    @property
    def server_time(self) -> datetime | None:
        return self._poll.server_time

    async def posts(self, position: str | None, count: int) -> Page:
        params = {
            "author": f"urn:li:organization:{self._org}",
            "q": "author",
            "count": str(count),
            "sortBy": "CREATED",
        }
        if position is not None:
            params["start"] = position
        body = _parse(_Posts, await self.get("posts", params), "posts")
        return Page(
            posts=[_post(e) for e in body.elements if _visible(e)],
            order=[t for e in body.elements if (t := _from_ms(e.createdAt or e.publishedAt))],
            next=_next(body),
        )

    async def get(self, path: str, params: Mapping[str, str] | None = None) -> object:
        headers = {
            "LinkedIn-Version": self._version,
            "X-Restli-Protocol-Version": "2.0.0",
        }
        if params and "q" in params:  # a finder: posts by author, organizations by vanityName
            headers["X-RestLi-Method"] = "FINDER"
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        return await self._poll.get(path, params, headers)


def _visible(element: _Post) -> bool:
    """Drafts, failed publications and dark (sponsored-only) posts are not on the page."""
    if element.lifecycleState not in (None, "PUBLISHED"):
        return False
    return element.distribution is None or element.distribution.feedDistribution != "NONE"


def _post(element: _Post) -> Post:
    """Dated when it reached the page (``publishedAt``; scheduled posts are created earlier)."""
    published = _from_ms(element.publishedAt) or _from_ms(element.createdAt)
    kind: PostKind = "repost" if element.reshareContext is not None else "post"
    return Post(post_id=element.id, published_at=published, kind=kind)


async def _unless_refused(request: Awaitable[object]) -> object | None:
    """The payload, or None when LinkedIn refuses it (403: a scope or page role is missing)."""
    try:
        return await request
    except AuthFailed as exc:
        if exc.status != 403:
            raise
        return None


def _next(body: _Posts) -> str | None:
    """The ``start`` of the next page; None only when there is no ``next`` link. A short or
    empty page is not the end: LinkedIn filters a page after paging it (deleted and dark posts
    leave gaps; MicrosoftDocs/feedback#972: 46 of 50 returned, next ``start`` 50)."""
    if body.paging is None:
        return None
    link = next((x.href for x in body.paging.links if x.rel == "next" and x.href), None)
    if link is None:
        return None
    try:
        start: str | None = httpx.URL(link).params.get("start")
    except httpx.InvalidURL:
        start = None
    if start is None or not start.isdigit():
        raise Malformed("unreadable paging.links next from LinkedIn posts")
    return start


def _error(
    response: httpx.Response, token: str | None, org: str, version: str
) -> ConnectorError | None:
    """LinkedIn's statuses and ``serviceErrorCode``s as connector errors."""
    status = response.status_code
    if response.is_success:
        return None
    body = _error_body(response)
    where = safe_url(response.request.url)
    label = (
        ", ".join(str(x) for x in (body.code, body.serviceErrorCode) if x is not None)
        or "no error code"
    )
    text = (body.message or "").replace(token, "***") if token else (body.message or "")
    detail = f"LinkedIn HTTP {status} ({label}) from {where}: {text[:300]}"
    if status == 401:
        return AuthFailed(f"{detail} — the access token is invalid, revoked or expired", status=401)
    if status == 403 and response.request.url.path.endswith("/rest/posts"):
        return AuthFailed(
            f"{detail} — reading an organization's posts needs a token with "
            f"r_organization_social whose member has the role {POST_ROLES} on organization {org}",
            status=403,
        )
    if status == 403:
        return AuthFailed(f"{detail} — the token lacks {LOOKUP_NEEDS}", status=403)
    if status == 426:
        return AuthFailed(
            f"{detail} — LinkedIn-Version {version} has been sunset: raise "
            "platforms.linkedin.api_version to a current YYYYMM version",
            status=426,
        )
    if status == 429:
        return RateLimited(
            f"{detail} — the daily limit resets at midnight UTC",
            status=429,
            retry_after=retry_after(response, _until_midnight),
        )
    return error_for_status(response, f"({label}) {text[:300]}")


def _until_midnight(response: httpx.Response) -> float:
    """Seconds until the daily limits reset: midnight UTC, by the server's clock if it sent one."""
    now = server_date(response) or datetime.now(UTC)
    midnight = datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), UTC)
    return (midnight - now).total_seconds()


def _error_body(response: httpx.Response) -> _ErrorBody:
    try:
        return _ErrorBody.model_validate(response.json())
    except (ValueError, ValidationError):
        return _ErrorBody()


def _parse(model: type[ModelT], payload: object, where: str) -> ModelT:
    """Validate a payload; a mismatch is ``Malformed`` naming the fields, never their values."""
    return validated(model.model_validate, payload, f"unexpected LinkedIn {where} payload")


def _from_ms(value: int | None) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.fromtimestamp(value / 1000, UTC)
    except (OverflowError, OSError, ValueError):  # which one depends on how far out it is
        raise Malformed(f"a LinkedIn timestamp out of range ({value} ms)") from None
