"""A fake Graph API (Facebook Pages and Instagram accounts) on 127.0.0.1, for tests and ``demo``.

It reproduces what the reference's fixture checklist asks for: HTTP 400 error envelopes with
``OAuthException`` and ``WWW-Authenticate``, cursor paging and time-based paging (with
``__paging_token`` and empty-valued params), token-bearing ``next`` links, an empty page that
still has ``next``, short pages, usage headers (or none), gzip, ``facebook-api-version``,
field expansion (``posts.since(T).limit(N){…}``, ``media.after(C).limit(N){…}``) and Business
Discovery with nested cursor paging and 110/2207013 for unknown or personal accounts.

    python -m monitor.fakes.graph --port 8081 --spec graph.json
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import dataclasses
import json
import signal
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from urllib.parse import quote, urlencode

from aiohttp import web

Behaviour = Literal[
    "ok", "token_expired", "throttled", "not_found", "ppca_missing", "server_error", "malformed"
]
DEFAULT_TOKEN = "fake-graph-token"  # noqa: S105 - the fake's own test token
DEFAULT_VERSION = "v26.0"
_POST_EDGES = ("posts", "published_posts", "feed")
_MEDIA_TYPES = ("IMAGE", "CAROUSEL_ALBUM", "IMAGE", "VIDEO")
_PPCA_MESSAGE = (
    "(#100) Object does not exist, cannot be loaded due to missing permission or reviewable "
    "feature, or does not support this operation. This endpoint requires the "
    "'pages_read_engagement' permission or the 'Page Public Content Access' feature or the "
    "'Page Public Metadata Access' feature. Refer to "
    "https://developers.facebook.com/docs/apps/review/login-permissions#manage-pages, "
    "https://developers.facebook.com/docs/apps/review/feature#reference-PAGES_ACCESS and "
    "https://developers.facebook.com/docs/apps/review/feature#page-public-metadata-access "
    "for details."
)
_THROTTLE_MESSAGES = {
    4: "(#4) Application request limit reached",
    17: "(#17) User request limit reached",
    32: "(#32) Page request limit reached",
    613: "(#613) Calls to this api have exceeded the rate limit.",
}


@dataclass
class PageSpec:
    """A Facebook Page: identity, post history (any order) and how it behaves."""

    id: str
    username: str | None = None
    name: str | None = None
    followers: int | None = None  # followers_count; None leaves the field out
    fan_count: int | None = None
    posts: Sequence[datetime] = ()
    paging: Literal["cursor", "time"] = "cursor"
    behaviour: Behaviour = "ok"
    throttle_code: int = 4  # 4, 17, 32, 613 or 80001
    regain_minutes: int = 5  # estimated_time_to_regain_access while throttled
    ppca_code: int = 100  # 100 (long PPCA message) or 10
    usage: int | None = 7  # percent reported in usage headers; None sends none
    empty_page_after: int | None = None  # after this many pages, an empty page that has next
    short_pages: bool = False  # pages hold limit-1 posts: short, but not the end


@dataclass
class AccountSpec:
    """An Instagram account; ``professional=False`` is invisible to Business Discovery."""

    id: str
    username: str
    name: str | None = None
    followers: int | None = None
    media: Sequence[datetime] = ()
    professional: bool = True
    behaviour: Behaviour = "ok"
    throttle_code: int = 80002
    regain_minutes: int = 5
    ppca_code: int = 10
    usage: int | None = 3
    empty_page_after: int | None = None  # own /media paging only
    short_pages: bool = False


@dataclass(frozen=True)
class LoggedRequest:
    """One request as the server saw it."""

    path: str
    query: tuple[tuple[str, str], ...]

    def param(self, name: str) -> str | None:
        return next((v for k, v in self.query if k == name), None)


@dataclass
class _Field:
    name: str
    mods: dict[str, str] = field(default_factory=dict)
    sub: list[_Field] = field(default_factory=list)


def parse_fields(text: str) -> list[_Field]:
    """Graph's ``fields`` syntax: ``a,b.limit(2).since(9){c,d{e}}``."""
    result = []
    for part in _split(text, ","):
        head, _, rest = part.partition("{")
        sub = parse_fields(rest[:-1]) if rest.endswith("}") else []
        name, *mods = _split(head.strip(), ".")
        modifiers = {}
        for mod in mods:
            key, _, value = mod.partition("(")
            modifiers[key] = value.removesuffix(")")
        result.append(_Field(name, modifiers, sub))
    return [f for f in result if f.name]


def _split(text: str, sep: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    depth = 0
    for char in text:
        depth += char in "({"
        depth -= char in ")}"
        if char == sep and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts


def _encode(state: Mapping[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(state, separators=(",", ":")).encode()).decode()


def _decode(cursor: str | None) -> dict[str, Any]:
    if not cursor:
        return {}
    try:
        value = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _int(value: str | None) -> int | None:
    return int(value) if value and value.lstrip("-").isdigit() else None


def _graph_time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")


def _items(prefix: str, times: Sequence[datetime]) -> list[tuple[str, datetime]]:
    """Stable ids for a history, newest first: ``{prefix}{unix*100+n}``."""
    seen: Counter[int] = Counter()
    items = []
    for when in sorted(times):
        second = int(when.timestamp())
        items.append((f"{prefix}{second * 100 + seen[second]}", when))
        seen[second] += 1
    return items[::-1]


class GraphServer:
    """The fake Graph API. ``start()`` returns its base URL; inspect ``requests``/``count()``."""

    def __init__(
        self,
        pages: Sequence[PageSpec] = (),
        accounts: Sequence[AccountSpec] = (),
        *,
        access_token: str = DEFAULT_TOKEN,
        served_version: str | None = None,
    ) -> None:
        self.pages = list(pages)
        self.accounts = list(accounts)
        self.access_token = access_token
        self.served_version = served_version  # facebook-api-version, if not the requested one
        self.requests: list[LoggedRequest] = []
        self.duplicate_tokens = 0
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    # -- control ---------------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        app = web.Application()
        app.router.add_get("/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        bound_host, bound_port = self._runner.addresses[0][:2]
        self.base_url = f"http://{bound_host}:{bound_port}"
        return self.base_url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def set(self, key: str, **changes: Any) -> None:
        """Change the Page or account with this id or username (``behaviour="throttled"``…)."""
        for i, page in enumerate(self.pages):
            if key in (page.id, page.username):
                self.pages[i] = dataclasses.replace(page, **changes)
                return
        for i, account in enumerate(self.accounts):
            if key in (account.id, account.username):
                self.accounts[i] = dataclasses.replace(account, **changes)
                return
        raise KeyError(key)

    def count(self, path: str | None = None) -> int:
        """Requests served, in all or to one path (``/v26.0/gemeente``)."""
        return sum(1 for r in self.requests if path is None or r.path == path)

    def counts(self) -> Counter[str]:
        return Counter(r.path for r in self.requests)

    def reset_log(self) -> None:
        self.requests.clear()
        self.duplicate_tokens = 0

    # -- dispatch --------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(LoggedRequest(request.path, tuple(request.query.items())))
        tokens = request.query.getall("access_token", [])
        self.duplicate_tokens += len(tokens) > 1
        parts = [p for p in request.path.split("/") if p]
        if parts and parts[0].startswith("v") and parts[0][1:2].isdigit():
            parts = parts[1:]
        if not tokens:
            return self._error(
                request, 104, "An access token is required to request this resource."
            )
        if tokens[0] != self.access_token:
            return self._error(request, 190, "Invalid OAuth access token.", www="invalid_token")
        if not parts or len(parts) > 2:
            return self._error(request, 100, "Unsupported get request.")
        node, edge = parts[0], (parts[1] if len(parts) == 2 else None)
        account = next((a for a in self.accounts if a.id == node), None)
        if account is not None:
            return self._instagram(request, account, edge)
        page = next((p for p in self.pages if node in (p.id, p.username)), None)
        if page is None and node.isdigit():
            return self._error(
                request,
                100,
                f"Unsupported get request. Object with ID '{node}' does not exist, cannot be "
                "loaded due to missing permissions, or does not support this operation.",
                subcode=33,
            )
        if page is None:
            message = f"(#803) Some of the aliases you requested do not exist: {node}"
            return self._error(request, 803, message, www="not_found")
        return self._facebook(request, page, edge)

    # -- Facebook --------------------------------------------------------------------------

    def _facebook(self, request: web.Request, page: PageSpec, edge: str | None) -> web.Response:
        trouble = self._behaviour(request, page, "pages")
        if trouble is not None:
            return trouble
        usage = self._usage(page.id, "pages", page.usage)
        query = request.query
        if edge is not None:
            if edge not in _POST_EDGES:
                return self._error(request, 100, f"(#100) Unknown edge: {edge}")
            fields = [f.name for f in parse_fields(query.get("fields", "id,created_time"))]
            params = {k: v for k, v in query.items() if k != "access_token"}
            posts = self._posts(request, page, edge, params, fields)
            return self._json(request, posts, usage)
        body: dict[str, Any] = {}
        for f in parse_fields(query.get("fields", "id,name")):
            if f.name in _POST_EDGES:
                params = {k: v for k, v in f.mods.items() if k in ("limit", "since", "until")}
                params["fields"] = ",".join(s.name for s in f.sub) or "id,created_time"
                sub = [s.name for s in f.sub] or ["id", "created_time"]
                posts = self._posts(request, page, f.name, params, sub)
                if posts["data"] or "next" in posts.get("paging", {}):
                    body[f.name] = posts
            else:
                value = {
                    "id": page.id,
                    "name": page.name,
                    "username": page.username,
                    "link": f"https://www.facebook.com/{page.username or page.id}/",
                    "followers_count": page.followers,
                    "fan_count": page.fan_count,
                }.get(f.name)
                if value is not None:
                    body[f.name] = value
        body["id"] = page.id
        return self._json(request, body, usage)

    def _posts(
        self,
        request: web.Request,
        page: PageSpec,
        edge: str,
        params: dict[str, str],
        fields: list[str],
    ) -> dict[str, Any]:
        limit = max(1, min(100, _int(params.get("limit")) or 25))
        size = limit - 1 if page.short_pages and limit > 1 else limit
        since, until = _int(params.get("since")), _int(params.get("until"))
        items = [
            (post_id, when)
            for post_id, when in _items(f"{page.id}_", page.posts)
            if (since is None or when.timestamp() >= since)
            and (until is None or when.timestamp() <= until)
        ]
        time_based = page.paging == "time"
        state = _decode(params.get("__paging_token" if time_based else "after"))
        if time_based and "id" in state:
            ids = [i for i, _ in items]
            start = ids.index(state["id"]) + 1 if state["id"] in ids else 0
        else:
            start = int(state.get("o", 0))
        served, empty_done = int(state.get("n", 0)), bool(state.get("e", False))
        if page.empty_page_after == served and not empty_done and start < len(items):
            chunk, empty_done = [], True
        else:
            chunk, served = items[start : start + size], served + 1
        end = start + len(chunk)
        data = [self._post(post_id, when, fields) for post_id, when in chunk]
        more = end < len(items)
        base = f"{self.base_url}/{self._version(request)}/{page.id}/{edge}"
        token = quote(request.query.get("access_token", ""), safe="")
        paging: dict[str, Any] = {}
        if time_based and items:
            # an empty page points just past the last post served (or at the top)
            last_id, last_at = (
                chunk[-1] if chunk else items[start - 1] if start else ("", items[0][1])
            )
            last_ts = int(last_at.timestamp())
            cursor = _encode({"id": last_id, "n": served, "e": empty_done})
            common = f"?access_token={token}&pretty=0&fields={quote(','.join(fields))}"
            if start:
                first_ts = int(chunk[0][1].timestamp()) if chunk else last_ts
                paging["previous"] = (
                    f"{base}{common}&limit={limit}&__previous=1&since={first_ts}&until"
                    f"&__paging_token={cursor}"
                )
            if more:
                paging["next"] = (
                    f"{base}{common}&limit={limit}&until={last_ts}&since"
                    f"&__paging_token={cursor}&__previous"
                )
        else:
            after = _encode({"o": end, "n": served, "e": empty_done})
            paging["cursors"] = {"before": _encode({"o": start}), "after": after}
            kept = [(k, v) for k, v in params.items() if k not in ("after", "before", "pretty")]
            query = urlencode([("access_token", request.query.get("access_token", "")), *kept])
            if more:
                paging["next"] = f"{base}?{query}&pretty=0&after={after}"
            if start:
                paging["previous"] = f"{base}?{query}&pretty=0&before={_encode({'o': start})}"
        return {"data": data, "paging": paging} if paging else {"data": data}

    @staticmethod
    def _post(post_id: str, when: datetime, fields: list[str]) -> dict[str, Any]:
        post: dict[str, Any] = {"id": post_id}
        serial = int(post_id.rsplit("_", 1)[-1])
        if "created_time" in fields:
            post["created_time"] = _graph_time(when)
        if "updated_time" in fields:
            post["updated_time"] = _graph_time(when)
        if "message" in fields and serial % 3:  # every third post is photo-only: no message
            post["message"] = f"Bericht {serial}"
        if "permalink_url" in fields:
            page_id, _, story = post_id.partition("_")
            post["permalink_url"] = f"https://www.facebook.com/{page_id}/posts/{story}/"
        return post

    # -- Instagram -------------------------------------------------------------------------

    def _instagram(
        self, request: web.Request, account: AccountSpec, edge: str | None
    ) -> web.Response:
        trouble = self._behaviour(request, account, "instagram")
        if trouble is not None:
            return trouble
        usage = self._usage(account.id, "instagram", account.usage)
        query = request.query
        if edge == "media":
            fields = [f.name for f in parse_fields(query.get("fields", "id"))]
            params = {k: v for k, v in query.items() if k != "access_token"}
            return self._json(request, self._media(request, account, params, fields, True), usage)
        if edge is not None:
            return self._error(request, 100, f"(#100) Unknown edge: {edge}")
        body: dict[str, Any] = {}
        for f in parse_fields(query.get("fields", "id")):
            if f.name == "business_discovery":
                target = next(
                    (a for a in self.accounts if a.username == f.mods.get("username")), None
                )
                if target is None or not target.professional:
                    return self._error(request, 110, "Invalid user id", subcode=2207013)
                trouble = self._behaviour(request, target, "instagram")
                if trouble is not None:
                    return trouble
                body[f.name] = self._account(request, target, f.sub, own=False)
            else:
                body.update(self._account(request, account, [f], own=True))
        body["id"] = account.id
        return self._json(request, body, usage)

    def _account(
        self, request: web.Request, account: AccountSpec, fields: list[_Field], *, own: bool
    ) -> dict[str, Any]:
        values = {
            "id": account.id,
            "username": account.username,
            "name": account.name,
            "followers_count": account.followers,
            "media_count": len(account.media),
        }
        body: dict[str, Any] = {}
        for f in fields:
            if f.name == "media":
                params = {k: v for k, v in f.mods.items() if k in ("limit", "after", "before")}
                params["fields"] = ",".join(s.name for s in f.sub) or "id"
                sub = [s.name for s in f.sub] or ["id"]
                body["media"] = self._media(request, account, params, sub, own)
            elif values.get(f.name) is not None:
                body[f.name] = values[f.name]
        body["id"] = account.id
        return body

    def _media(
        self,
        request: web.Request,
        account: AccountSpec,
        params: dict[str, str],
        fields: list[str],
        with_links: bool,
    ) -> dict[str, Any]:
        limit = max(1, min(100, _int(params.get("limit")) or 25))
        size = limit - 1 if account.short_pages and limit > 1 else limit
        items = _items("17", account.media)
        state = _decode(params.get("after"))
        start, served = int(state.get("o", 0)), int(state.get("n", 0))
        empty_done = bool(state.get("e", False))
        if (
            with_links
            and account.empty_page_after == served
            and not empty_done
            and start < len(items)
        ):
            chunk, empty_done = [], True
        else:
            chunk, served = items[start : start + size], served + 1
        end = start + len(chunk)
        data = []
        for media_id, when in chunk:
            media: dict[str, Any] = {"id": media_id}
            if "timestamp" in fields:
                media["timestamp"] = _graph_time(when)
            if "media_type" in fields:
                media["media_type"] = _MEDIA_TYPES[int(media_id) % len(_MEDIA_TYPES)]
            if "permalink" in fields:
                media["permalink"] = f"https://www.instagram.com/p/{media_id[-11:]}/"
            data.append(media)
        more = end < len(items)
        cursors: dict[str, str] = {}
        if start:
            cursors["before"] = _encode({"o": start})
        if more or with_links:  # nested paging: the last page has no after-cursor
            cursors["after"] = _encode({"o": end, "n": served, "e": empty_done})
        paging: dict[str, Any] = {"cursors": cursors}
        if with_links and more:
            kept = [(k, v) for k, v in params.items() if k not in ("after", "before", "pretty")]
            query = urlencode([("access_token", request.query.get("access_token", "")), *kept])
            link = f"{self.base_url}/{self._version(request)}/{account.id}/media"
            paging["next"] = f"{link}?{query}&pretty=0&after={cursors['after']}"
        return {"data": data, "paging": paging}

    # -- responses -------------------------------------------------------------------------

    def _behaviour(
        self, request: web.Request, spec: PageSpec | AccountSpec, usage_type: str
    ) -> web.Response | None:
        if spec.behaviour == "ok":
            return None
        if spec.behaviour == "token_expired":
            return self._error(
                request,
                190,
                "Error validating access token: Session has expired on Saturday, 13-Jun-26 "
                "05:00:00 PDT. The current time is Saturday, 13-Jun-26 08:24:52 PDT.",
                subcode=463,
                www="invalid_token",
            )
        if spec.behaviour == "throttled":
            code = spec.throttle_code
            account_kind = "Page" if usage_type == "pages" else "Instagram"
            message = _THROTTLE_MESSAGES.get(
                code,
                f"(#{code}) There have been too many calls to this {account_kind} account. "
                "Wait a bit and try again.",
            )
            entry = {"type": usage_type, "call_count": 100, "total_cputime": 24}
            entry |= {"total_time": 51, "estimated_time_to_regain_access": spec.regain_minutes}
            headers = {
                "x-app-usage": json.dumps(
                    {"call_count": 100, "total_cputime": 8, "total_time": 12}
                ),
                "x-business-use-case-usage": json.dumps({spec.id: [entry]}),
            }
            return self._error(request, code, message, headers=headers)
        if spec.behaviour == "not_found":
            if usage_type == "instagram":
                return self._error(request, 110, "Invalid user id", subcode=2207013)
            name = spec.username or spec.id
            message = f"(#803) Some of the aliases you requested do not exist: {name}"
            return self._error(request, 803, message, www="not_found")
        if spec.behaviour == "ppca_missing":
            if spec.ppca_code == 10:
                message = "(#10) Application does not have permission for this action"
                return self._error(request, 10, message)
            return self._error(request, 100, _PPCA_MESSAGE)
        if spec.behaviour == "server_error":
            message = "An unexpected error has occurred. Please retry your request later."
            return self._error(request, 2, message, status=500, transient=True)
        html = "<!DOCTYPE html><html><head><title>Error</title></head><body>Sorry, something went wrong.</body></html>"  # noqa: E501
        response = web.Response(text=html, content_type="text/html", charset="utf-8")
        return self._finish(request, response)

    def _error(
        self,
        request: web.Request,
        code: int,
        message: str,
        *,
        subcode: int | None = None,
        status: int = 400,
        www: str = "invalid_request",
        headers: Mapping[str, str] | None = None,
        transient: bool = False,
    ) -> web.Response:
        error: dict[str, Any] = {"message": message, "type": "OAuthException", "code": code}
        if subcode is not None:
            error["error_subcode"] = subcode
        if transient:
            error["is_transient"] = True
        error["fbtrace_id"] = "AbC123fake"
        response = web.json_response({"error": error}, status=status, headers=headers)
        response.headers["WWW-Authenticate"] = f'OAuth "Facebook Platform" "{www}" "{message}"'
        return self._finish(request, response)

    def _json(self, request: web.Request, body: object, headers: Mapping[str, str]) -> web.Response:
        response = web.Response(
            text=json.dumps(body), content_type="application/json", charset="UTF-8"
        )
        response.headers.update(headers)
        return self._finish(request, response)

    def _finish(self, request: web.Request, response: web.Response) -> web.Response:
        response.headers["facebook-api-version"] = self.served_version or self._version(request)
        response.headers["Cache-Control"] = "private, no-cache, no-store, must-revalidate"
        response.headers["Expires"] = "Sat, 01 Jan 2000 00:00:00 GMT"
        response.headers["Pragma"] = "no-cache"
        response.headers["x-fb-request-id"] = f"fake{len(self.requests)}"
        if "gzip" in request.headers.get("Accept-Encoding", ""):
            response.enable_compression(web.ContentCoding.gzip)
        return response

    @staticmethod
    def _usage(object_id: str, usage_type: str, percent: int | None) -> dict[str, str]:
        if percent is None:
            return {}  # headers appear only once enough calls were made
        flat = {"call_count": percent, "total_cputime": percent // 2, "total_time": percent // 2}
        entry = {"type": usage_type, **flat, "estimated_time_to_regain_access": 0}
        return {
            "x-app-usage": json.dumps(flat),
            "x-business-use-case-usage": json.dumps({object_id: [entry]}),
        }

    @staticmethod
    def _version(request: web.Request) -> str:
        first = request.path.lstrip("/").split("/", 1)[0]
        return first if first.startswith("v") and first[1:2].isdigit() else DEFAULT_VERSION


# -- command line ----------------------------------------------------------------------------


def history(value: object, now: datetime) -> list[datetime]:
    """Posts from a spec: ISO timestamps, or ``{"every_days", "count", "newest_days_ago"}``."""
    if isinstance(value, dict):
        every, newest = float(value.get("every_days", 7)), float(value.get("newest_days_ago", 1))
        return [now - timedelta(days=newest + i * every) for i in range(int(value["count"]))]
    if isinstance(value, list):
        parsed = [datetime.fromisoformat(str(v)) for v in value]
        return [p.astimezone(UTC) if p.tzinfo else p.replace(tzinfo=UTC) for p in parsed]
    return []


def load_spec(spec: Mapping[str, Any], now: datetime) -> GraphServer:
    """A server from a JSON spec: ``{"access_token", "pages": [...], "accounts": [...]}``."""
    pages = [
        PageSpec(**{k: v for k, v in p.items() if k != "posts"}, posts=history(p.get("posts"), now))
        for p in spec.get("pages", [])
    ]
    accounts = [
        AccountSpec(
            **{k: v for k, v in a.items() if k not in ("posts", "media")},
            media=history(a.get("media", a.get("posts")), now),
        )
        for a in spec.get("accounts", [])
    ]
    return GraphServer(
        pages,
        accounts,
        access_token=spec.get("access_token", DEFAULT_TOKEN),
        served_version=spec.get("served_version"),
    )


async def _serve(server: GraphServer, host: str, port: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(await server.start(host, port), flush=True)
    try:
        await stop.wait()
    finally:
        await server.stop()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m monitor.fakes.graph", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--spec", help="JSON file with pages and accounts")
    args = parser.parse_args(argv)
    spec: dict[str, Any] = {}
    if args.spec:
        with open(args.spec, encoding="utf-8") as handle:
            spec = json.load(handle)
    asyncio.run(_serve(load_spec(spec, datetime.now(UTC)), args.host, args.port))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
