"""Graph API plumbing shared by the Facebook and Instagram connectors.

One ``GraphPoll`` per ``fetch``: it sends the token, follows ``paging.next`` links safely,
reads the usage headers into a quota ratio and turns Graph error bodies into the error tree.

The token travels as the ``access_token`` query parameter: that is how Meta's documentation,
the SDKs and every recorded exchange send it, and Graph itself embeds it in ``paging.next``.
A ``next`` link is never used as given: its ``access_token``/``appsecret_proof`` are dropped,
it is re-rooted on the configured ``base_url`` (so a proxy or fake server is never bypassed and
the token never goes to another host) and our token is added exactly once.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Annotated, Any, Generic, TypeVar

import httpx
from pydantic import BaseModel, BeforeValidator, ValidationError

from connectors._paging import Page, Resume, Walk, walk, wider_bound
from connectors._rest import QUOTA_ATTRIBUTE, validated
from connectors.base import PlatformOptions, Post
from connectors.errors import (
    AuthFailed,
    ChannelNotFound,
    ConnectorError,
    Malformed,
    RateLimited,
    Transient,
    error_for_status,
    parse_retry_after,
    safe_url,
    transport_errors,
)

DEFAULT_BASE_URL = "https://graph.facebook.com"
DEFAULT_API_VERSION = "v26.0"
SECRET_PARAMS = frozenset({"access_token", "appsecret_proof"})

_USAGE_HEADERS = ("x-app-usage", "x-page-usage", "x-business-use-case-usage")
_USAGE_KEYS = ("call_count", "total_cputime", "total_time")
_SECRET_IN_TEXT = re.compile(r"(?i)\b(access_token|appsecret_proof)=[^&\s\"'<>]+")

# Graph error codes, from the error-handling and rate-limiting docs (see the reference §1.9).
_AUTH_CODES = frozenset({3, 10, 102, 104, 190, *range(200, 300)})
_RATE_CODES = frozenset({4, 17, 32, 341, 613, *range(80001, 80015)})
_NOT_FOUND_CODES = frozenset({110, 803})
_TRANSIENT_CODES = frozenset({1, 2})
_NOT_FOUND_SUBCODES = frozenset({33, 2207013})
_PERMISSION_WORDS = ("public content access", "public metadata access", "app secret proof")


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


class _ErrorDetail(BaseModel):
    message: str = ""
    code: int | None = None
    error_subcode: int | None = None


class _ErrorBody(BaseModel):
    error: _ErrorDetail


ModelT = TypeVar("ModelT", bound=BaseModel)


def parse(model: type[ModelT], payload: object, where: str) -> ModelT:
    """Validate a payload; a mismatch is ``Malformed`` naming the fields, never their values."""
    return validated(model.model_validate, payload, f"unexpected payload from {where}")


def scrub(text: str, token: str | None) -> str:
    """``text`` without the token or any token-bearing query parameter."""
    if token:
        text = text.replace(token, "***")
    return _SECRET_IN_TEXT.sub(r"\1=***", text)


def usage_ratio(headers: httpx.Headers) -> float | None:
    """The highest usage percentage in Graph's usage headers, as 0..1; None when absent."""
    found: list[float] = []
    for name in _USAGE_HEADERS:
        raw = headers.get(name)
        if not raw:
            continue
        try:
            value = json.loads(raw)
        except ValueError:
            continue  # a garbled header is no reason to fail a poll
        for entry in _usage_entries(value):
            numbers = (_number(entry.get(key)) for key in _USAGE_KEYS)
            found.extend(n for n in numbers if n is not None)
    if not found:
        return None
    return min(1.0, max(0.0, max(found) / 100.0))


def regain_seconds(headers: httpx.Headers) -> float | None:
    """Seconds until access returns, from ``estimated_time_to_regain_access`` (minutes)."""
    raw = headers.get("x-business-use-case-usage")
    minutes: list[float] = []
    if raw:
        try:
            value = json.loads(raw)
        except ValueError:
            value = None
        for entry in _usage_entries(value):
            wait = _number(entry.get("estimated_time_to_regain_access"))
            if wait is not None:
                minutes.append(wait)
    if minutes and max(minutes) > 0:
        return max(minutes) * 60.0
    return parse_retry_after(headers.get("retry-after"))


def _number(value: object) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def _usage_entries(value: object) -> Iterable[Mapping[str, object]]:
    """Flat objects (app/page usage) and the id → [entries] shape of the BUC header."""
    if not isinstance(value, dict):
        return
    if any(key in value for key in _USAGE_KEYS):
        yield value
        return
    for entries in value.values():
        if isinstance(entries, list):
            yield from (e for e in entries if isinstance(e, dict))


def classify(
    status: int, code: int | None, subcode: int | None, message: str
) -> type[ConnectorError] | None:
    """The error kind a Graph error code stands for; None when the code says nothing."""
    lowered = message.lower()
    if code in _RATE_CODES:
        return RateLimited
    if code in _AUTH_CODES or (code == 100 and any(w in lowered for w in _PERMISSION_WORDS)):
        return AuthFailed
    if code in _NOT_FOUND_CODES or subcode in _NOT_FOUND_SUBCODES or "does not exist" in lowered:
        return ChannelNotFound
    if code in _TRANSIENT_CODES or status >= 500:
        return Transient
    return None


def error_from_response(
    response: httpx.Response, body: object, token: str | None
) -> ConnectorError | None:
    """The error a Graph response stands for (by error code first, then HTTP status), or None."""
    where = safe_url(response.request.url)
    envelope = None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        try:
            envelope = _ErrorBody.model_validate(body).error
        except ValidationError:
            envelope = None
    if envelope is None:
        if response.is_success:
            return None
        return error_for_status(response)
    status = response.status_code
    code, subcode = envelope.code, envelope.error_subcode
    text = scrub(envelope.message, token)[:300]
    label = f"#{code}" + (f"/{subcode}" if subcode is not None else "")
    message = f"Graph error {label} (HTTP {status}) from {where}: {text}"
    kind = classify(status, code, subcode, envelope.message)
    if kind is RateLimited:
        return RateLimited(message, status=status, retry_after=regain_seconds(response.headers))
    if kind is not None:
        return kind(message, status=status)
    fallback = error_for_status(response, f"Graph error {label}: {text}")
    return fallback or Malformed(message, status=status)


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
    """Read new posts, then spend what is left of the page budget on the open gap, if any."""
    head = await walk(first, more, bound=since, budget=budget)
    posts = list(head.posts)
    resume = next_resume(head, position(head), since, previous, backfill=False)
    if previous is not None and head.pending is None and head.pages < budget:
        try:
            rest = await backfill(previous, budget - head.pages)
        except Malformed:
            return posts, None  # an unreadable old position (a stale cursor): give it up
        posts.extend(rest.posts)
        resume = next_resume(rest, position(rest), previous.bound, previous, backfill=True)
    return posts, resume


class GraphApi:
    """Settings shared by every poll of one Graph-based connector."""

    def __init__(self, client: httpx.AsyncClient, options: PlatformOptions) -> None:
        self.client = client
        self.base_url = (options.base_url or DEFAULT_BASE_URL).rstrip("/")
        self.version = (options.api_version or DEFAULT_API_VERSION).strip("/")
        self.token = options.access_token
        self.page_limit = max(1, options.page_limit)

    def poll(self) -> GraphPoll:
        """A fresh per-fetch session (quota and request count are per poll)."""
        return GraphPoll(self)


class GraphPoll:
    """Requests made for one ``fetch``."""

    def __init__(self, api: GraphApi) -> None:
        self._api = api
        self.requests = 0
        self.quota_used_ratio: float | None = None

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

    async def _send(self, url: str, params: list[tuple[str, str]]) -> dict[str, Any]:
        token = self._api.token
        if token:
            params = [*params, ("access_token", token)]
        with transport_errors():
            response = await self._api.client.get(url, params=tuple(params))
        self.requests += 1
        ratio = usage_ratio(response.headers)
        if ratio is not None:
            self.quota_used_ratio = max(ratio, self.quota_used_ratio or 0.0)
        try:
            body: object = json.loads(response.content)
        except ValueError:
            body = None
        error = error_from_response(response, body, token)
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
