"""Graph API plumbing shared by the Facebook and Instagram connectors.

One ``GraphPoll`` per ``fetch``: it sends the token (and its ``appsecret_proof``), follows
``paging.next`` links safely, reads the usage headers and turns Graph error bodies into the
error tree (``connectors._graph_errors``).

The token travels as the ``access_token`` query parameter: that is how Meta's documentation,
the SDKs and every recorded exchange send it, and Graph itself embeds it in ``paging.next``.
With an app secret configured, every request also carries ``appsecret_proof``, the hex
HMAC-SHA256 of the token keyed by the app secret ("Securing Graph API requests"): apps with
"Require App Secret" on refuse calls without it, and reading other organisations' Pages through
Page Public Content Access needs it with a user token. A ``next`` link is never used as given:
its ``access_token``/``appsecret_proof`` are dropped, it is re-rooted on the configured
``base_url`` (so a proxy or fake server is never bypassed and the token never goes to another
host) and our token and proof are added exactly once.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Awaitable, Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Annotated, Any, Generic, TypeVar

import httpx
from pydantic import BaseModel, BeforeValidator

from connectors._graph_errors import Asked, Usage, error_from_response, quota_ratio, read_usage
from connectors._http import decode_json, get_capped
from connectors._paging import Page, Resume, Walk, walk, wider_bound
from connectors._rest import QUOTA_ATTRIBUTE, validated
from connectors.base import PlatformOptions, Post
from connectors.errors import Malformed, safe_url, transport_errors

DEFAULT_BASE_URL = "https://graph.facebook.com"
DEFAULT_API_VERSION = "v26.0"
SECRET_PARAMS = frozenset({"access_token", "appsecret_proof"})


def parse_graph_time(value: object) -> datetime:
    """A Graph timestamp (``2021-07-04T19:50:58+0000``) as aware UTC."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        try:
            parsed = datetime.strptime(value, "%Y-%m-%dT%H:%M:%S%z")
        except ValueError:
            parsed = datetime.fromisoformat(value)  # raises ValueError, which pydantic reports
    else:
        raise TypeError("expected a timestamp string")
    if parsed.tzinfo is None:
        raise ValueError("timestamp without offset")
    return parsed.astimezone(UTC)


GraphTime = Annotated[datetime, BeforeValidator(parse_graph_time)]
ItemT = TypeVar("ItemT")


class Cursors(BaseModel):
    before: str | None = None
    after: str | None = None


class Paging(BaseModel):
    cursors: Cursors | None = None
    next: str | None = None
    previous: str | None = None


class Edge(BaseModel, Generic[ItemT]):
    """A Graph edge page: ``{"data": [...], "paging": {...}}``."""

    data: list[ItemT] = []
    paging: Paging | None = None


ModelT = TypeVar("ModelT", bound=BaseModel)


def parse(model: type[ModelT], payload: object, where: str) -> ModelT:
    """Validate a payload; a mismatch is ``Malformed`` naming the fields, never their values."""
    return validated(model.model_validate, payload, f"unexpected payload from {where}")


def link_cursor(link: str | None) -> str | None:
    """The ``after`` cursor of a ``paging.next`` link: a position to keep, never the link (it
    carries the token)."""
    if link is None:
        return None
    try:
        after: str | None = httpx.URL(link).params.get("after")
    except httpx.InvalidURL:
        return None
    return after


def oldest(posts: Iterable[Post]) -> datetime | None:
    """The earliest publication time among ``posts``."""
    times = [p.published_at for p in posts if p.published_at is not None]
    return min(times) if times else None


def next_resume(
    done: Walk,
    position: str | None,
    bound: datetime | None,
    previous: Resume | None,
    *,
    backfill: bool,
) -> Resume | None:
    """Where the next poll picks up after ``done`` (read down to ``bound``).

    When new posts overflow the budget while an older gap is still open, the two ranges are
    merged: re-reading a little is cheaper than losing posts.
    """
    if done.pending is None:
        return None if backfill else previous
    if position is None:  # nothing but empty pages: stay where we were
        return previous
    if backfill or previous is None:
        return Resume(position, bound)
    return Resume(position, wider_bound(previous.bound, bound))


async def read_posts(
    first: Page,
    more: Callable[[str], Awaitable[Page]],
    *,
    since: datetime | None,
    previous: Resume | None,
    budget: int,
    backfill: Callable[[Resume, int], Awaitable[Walk]],
    position: Callable[[Walk], str | None],
) -> tuple[list[Post], Resume | None]:
    """Read new posts, then spend what is left of the page budget on the open gap, if any.

    The gap gets at least one page even when the new posts used the budget (as in
    ``_paging.catch_up``): otherwise, with ``page_limit = 1``, a backlog would never be read.
    """
    head = await walk(first, more, bound=since, budget=budget)
    posts = list(head.posts)
    resume = next_resume(head, position(head), since, previous, backfill=False)
    if previous is not None and head.pending is None:
        try:
            rest = await backfill(previous, max(1, budget - head.pages))
        except Malformed:
            return posts, None  # an unreadable old position (a stale cursor): give it up
        posts.extend(rest.posts)
        resume = next_resume(rest, position(rest), previous.bound, previous, backfill=True)
    return posts, resume


def appsecret_proof(app_secret: str, token: str) -> str:
    """``hex(HMAC-SHA256(key=app secret, msg=access token))``."""
    return hmac.new(app_secret.encode(), token.encode(), hashlib.sha256).hexdigest()


class GraphApi:
    """Settings shared by every poll of one Graph-based connector.

    ``acting_as`` names the objects every request runs as (Instagram's ``account_id``): a
    throttle on one of them holds back every channel, not just the one polled.
    """

    def __init__(
        self,
        client: httpx.AsyncClient,
        options: PlatformOptions,
        *,
        acting_as: Iterable[str] = (),
    ) -> None:
        self.client = client
        self.base_url = (options.base_url or DEFAULT_BASE_URL).rstrip("/")
        self.version = (options.api_version or DEFAULT_API_VERSION).strip("/")
        self.token = options.access_token
        self.proof = (
            appsecret_proof(options.app_secret, self.token)
            if options.app_secret and self.token
            else None
        )
        # an app token is "{app-id}|{app-secret}": its second half is a secret on its own
        in_token = self.token.partition("|")[2] if self.token else ""
        self.secrets = tuple(s for s in (self.token, in_token, options.app_secret, self.proof) if s)
        self.page_limit = max(1, options.page_limit)
        self.acting_as = frozenset(acting_as)

    def poll(self, subject: str | None = None) -> GraphPoll:
        """A fresh per-fetch session (quota and request count are per poll) about ``subject``."""
        return GraphPoll(self, subject)


class GraphPoll:
    """Requests made for one ``fetch``; ``subject`` is the object polled, once known."""

    def __init__(self, api: GraphApi, subject: str | None = None) -> None:
        self._api = api
        self.subject = subject
        self.requests = 0
        self._usages: list[Usage] = []

    @property
    def quota_used_ratio(self) -> float | None:
        """The highest use of the app's and the polled object's quota seen in this poll."""
        return quota_ratio(self._usages, self._asked().ids)

    async def get(self, path: str, params: Mapping[str, str]) -> dict[str, Any]:
        """GET ``{base_url}/{version}/{path}`` and return the JSON object."""
        url = f"{self._api.base_url}/{self._api.version}/{path.lstrip('/')}"
        return await self._send(url, list(params.items()))

    async def follow(self, next_url: str) -> dict[str, Any]:
        """GET a ``paging.next`` link, re-rooted on ``base_url`` with the token sent once."""
        try:
            link = httpx.URL(next_url)
        except httpx.InvalidURL:
            raise Malformed("unreadable paging.next link") from None
        if link.scheme not in ("http", "https") or not link.path.startswith("/"):
            raise Malformed("unreadable paging.next link")
        params = [(k, v) for k, v in link.params.multi_items() if k not in SECRET_PARAMS]
        base = httpx.URL(self._api.base_url)
        if (link.host, link.port) == (base.host, base.port):
            url = f"{base.scheme}://{base.netloc.decode('ascii')}{link.path}"
        else:
            url = f"{self._api.base_url}{link.path}"
        return await self._send(url, params)

    def _asked(self) -> Asked:
        return Asked(self.subject, self._api.acting_as)

    async def _send(self, url: str, params: list[tuple[str, str]]) -> dict[str, Any]:
        api = self._api
        if api.token:
            params = [*params, ("access_token", api.token)]
        if api.proof:
            params = [*params, ("appsecret_proof", api.proof)]
        with transport_errors():
            response = await get_capped(api.client, url, params=tuple(params))
        self.requests += 1
        self._usages.append(read_usage(response.headers))
        try:
            body: object = await decode_json(response)
        except Malformed:
            if response.is_success:
                raise
            body = None  # an HTML error page: the status says what went wrong
        error = error_from_response(response, body, api.secrets, self._asked())
        if error is None and not isinstance(body, dict):
            error = Malformed(
                f"expected a JSON object from {safe_url(response.request.url)}",
                status=response.status_code,
            )
        if error is not None:
            setattr(error, QUOTA_ATTRIBUTE, self.quota_used_ratio)
            raise error
        assert isinstance(body, dict)
        return body
