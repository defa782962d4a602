"""A fake Graph API (Facebook Pages and Instagram accounts) on 127.0.0.1, for tests and ``demo``.

It reproduces what the reference's fixture checklist asks for: HTTP 400 error envelopes with
``OAuthException`` and ``WWW-Authenticate``, cursor paging and time-based paging (with
``__paging_token`` and empty-valued params), token-bearing ``next`` links (with the
``appsecret_proof`` when one was sent), an empty page that still has ``next``, short pages,
usage headers (or none), gzip, ``facebook-api-version``, field expansion
(``posts.since(T).limit(N){…}``, ``video_reels…``, ``media.after(C).limit(N){…}``), Business
Discovery with nested cursor paging and 110/2207013 for unknown or personal accounts.

It refuses what Graph refuses: fields a node does not have, unknown edges, a wrong or missing
``appsecret_proof`` when the app requires one, another organisation's Page read with a user
token but no proof, and throttles by their scope: the app (4), the user (17, 613), or one Page
or account (32, 80001–80014, named in ``x-business-use-case-usage``).

    python -m monitor.fakes.graph --port 8081 --spec graph.json
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import signal
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from urllib.parse import quote

from aiohttp import web

from monitor.fakes._graph_wire import (
    APP_THROTTLES,
    BLOCKED_MESSAGE,
    DEFAULT_APP_ID,
    DEFAULT_TOKEN,
    DEFAULT_VERSION,
    POST_EDGES,
    PPCA_MESSAGE,
    PPCA_PROOF_MESSAGE,
    PROOF_INVALID_MESSAGE,
    PROOF_REQUIRED_MESSAGE,
    REELS_EDGE,
    THROTTLE_MESSAGES,
    UNSUPPORTED_GET,
    Field,
    Item,
    Slice,
    appsecret_proof,
    encode,
    graph_time,
    items,
    page_of,
    parse_fields,
    throttle_message,
    unknown_field,
    usage_headers,
    whole,
)

__all__ = ["DEFAULT_TOKEN", "AccountSpec", "GraphServer", "PageSpec", "load_spec", "parse_fields"]

Behaviour = Literal[
    "ok",
    "token_expired",
    "throttled",
    "not_found",
    "unsupported",
    "ppca_missing",
    "blocked",
    "server_error",
    "malformed",
]
_MEDIA_TYPES = ("IMAGE", "CAROUSEL_ALBUM", "IMAGE", "VIDEO")
_SECRET_PARAMS = ("access_token", "appsecret_proof")


@dataclass
class PageSpec:
    """A Facebook Page: identity, post and Reel history (any order) and how it behaves."""

    id: str
    username: str | None = None
    name: str | None = None
    followers: int | None = None  # followers_count; None leaves the field out
    fan_count: int | None = None
    posts: Sequence[datetime] = ()
    reels: Sequence[datetime] = ()  # only in video_reels: the posts edges leave Reels out
    paging: Literal["cursor", "time"] = "cursor"  # of the posts edges; video_reels uses cursors
    behaviour: Behaviour = "ok"
    throttle_code: int = 80001  # 32 or 80001–80014: this Page's own limit
    regain_minutes: int = 5  # estimated_time_to_regain_access while throttled
    ppca_code: int = 100  # 100 (long PPCA message) or 10
    usage: int | None = 7  # this Page's percent in x-business-use-case-usage; None sends none
    empty_page_after: int | None = None  # after this many pages, an empty page that has next
    short_pages: bool = False  # pages hold limit-1 posts: short, but not the end
    managed: bool = True  # False: another organisation's Page, read through PPCA


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
    empty_page_after: int | None = None  # own /media and nested Business Discovery paging
    short_pages: bool = False


@dataclass(frozen=True)
class LoggedRequest:
    """One request as the server saw it."""

    path: str
    query: tuple[tuple[str, str], ...]

    def param(self, name: str) -> str | None:
        return next((v for k, v in self.query if k == name), None)


class _Refused(Exception):
    """A request Graph would answer with an error; carries the response."""

    def __init__(self, response: web.Response) -> None:
        super().__init__("refused")
        self.response = response


class GraphServer:
    """The fake Graph API. ``start()`` returns its base URL; inspect ``requests``/``count()``."""

    def __init__(
        self,
        pages: Sequence[PageSpec] = (),
        accounts: Sequence[AccountSpec] = (),
        *,
        access_token: str = DEFAULT_TOKEN,
        app_id: str = DEFAULT_APP_ID,
        app_secret: str | None = None,
        require_proof: bool = False,
        app_usage: int | None = None,
        served_version: str | None = None,
    ) -> None:
        self.pages = list(pages)
        self.accounts = list(accounts)
        self.access_token = access_token  # the user (or Page, system-user) token
        self.app_id = app_id
        self.app_secret = app_secret  # enables the app token "{app_id}|{app_secret}"
        self.require_proof = require_proof  # the app's "Require App Secret" setting
        self.app_usage = app_usage  # percent in x-app-usage; None sends none
        self.throttled: int | None = None  # 4 (the app) or 17/613 (the user): refuse every call
        self.served_version = served_version  # facebook-api-version, if not the requested one
        self.requests: list[LoggedRequest] = []
        self.duplicate_tokens = 0
        self.duplicate_proofs = 0
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
        self.duplicate_proofs = 0

    # -- dispatch --------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(LoggedRequest(request.path, tuple(request.query.items())))
        try:
            return self._dispatch(request)
        except _Refused as refused:
            return refused.response

    def _dispatch(self, request: web.Request) -> web.Response:
        app_token = self._authenticate(request)
        if self.throttled is not None:
            raise _Refused(self._app_throttle(request, self.throttled))
        parts = [p for p in request.path.split("/") if p]
        if parts and parts[0].startswith("v") and parts[0][1:2].isdigit():
            parts = parts[1:]
        if not parts or len(parts) > 2:
            return self._error(request, 100, "Unsupported get request.")
        node, edge = parts[0], (parts[1] if len(parts) == 2 else None)
        account = next((a for a in self.accounts if a.id == node), None)
        if account is not None:
            return self._instagram(request, account, edge)
        page = next((p for p in self.pages if node in (p.id, p.username)), None)
        if page is None and node.isdigit():
            message = UNSUPPORTED_GET.format(node=node)
            return self._error(request, 100, message, subcode=33, kind="GraphMethodException")
        if page is None:
            message = f"(#803) Some of the aliases you requested do not exist: {node}"
            return self._error(request, 803, message, www="not_found")
        if not page.managed and not app_token and "appsecret_proof" not in request.query:
            # another organisation's Page: PPCA "requires either app secret proof or an app token"
            return self._error(request, 100, PPCA_PROOF_MESSAGE)
        return self._facebook(request, page, edge)

    def _authenticate(self, request: web.Request) -> bool:
        """Check the token and proof; True for an app token (``{app-id}|{app-secret}``)."""
        tokens = request.query.getall("access_token", [])
        proofs = request.query.getall("appsecret_proof", [])
        self.duplicate_tokens += len(tokens) > 1
        self.duplicate_proofs += len(proofs) > 1
        if not tokens:
            message = "An access token is required to request this resource."
            raise _Refused(self._error(request, 104, message))
        token = tokens[0]
        app_token = self.app_secret is not None and token == f"{self.app_id}|{self.app_secret}"
        if not app_token and token != self.access_token:
            www = "invalid_token"
            raise _Refused(self._error(request, 190, "Invalid OAuth access token.", www=www))
        if proofs and (
            self.app_secret is None or proofs[0] != appsecret_proof(self.app_secret, token)
        ):
            raise _Refused(
                self._error(request, 100, PROOF_INVALID_MESSAGE, kind="GraphMethodException")
            )
        if not proofs and self.require_proof and not app_token:
            raise _Refused(
                self._error(request, 100, PROOF_REQUIRED_MESSAGE, kind="GraphMethodException")
            )
        return app_token

    # -- Facebook --------------------------------------------------------------------------

    def _facebook(self, request: web.Request, page: PageSpec, edge: str | None) -> web.Response:
        self._behaviour(request, page, page.id, "pages")
        usage = self._usage({page.id: ("pages", page.usage)})
        query = request.query
        if edge is not None:
            if edge not in (*POST_EDGES, REELS_EDGE):
                # Graph: code 2500 "Unknown path components" for an edge a node does not have
                return self._error(request, 2500, f"Unknown path components: /{edge}")
            fields = self._checked(request, query.get("fields", "id,created_time"), edge)
            params = {k: v for k, v in query.items() if k not in _SECRET_PARAMS}
            return self._json(request, self._listing(request, page, edge, params, fields), usage)
        requested = parse_fields(query.get("fields", "id,name"))
        if (refusal := unknown_field(requested, "Page")) is not None:
            return self._error(request, 100, refusal)
        body: dict[str, Any] = {}
        for f in requested:
            if f.name in (*POST_EDGES, REELS_EDGE):
                sub = ",".join(s.name for s in f.sub) or "id,created_time"
                names = self._checked(request, sub, f.name)
                params = {
                    k: v for k, v in f.mods.items() if k in ("limit", "since", "until", "after")
                }
                params["fields"] = sub
                listing = self._listing(request, page, f.name, params, names)
                if listing["data"] or "next" in listing.get("paging", {}):
                    body[f.name] = listing  # an edge with nothing in range is left out
                continue
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

    def _checked(self, request: web.Request, fields: str, edge: str) -> list[str]:
        parsed = parse_fields(fields)
        refusal = unknown_field(parsed, "Video" if edge == REELS_EDGE else "PagePost")
        if refusal is not None:
            raise _Refused(self._error(request, 100, refusal))
        return [f.name for f in parsed]

    def _listing(
        self,
        request: web.Request,
        page: PageSpec,
        edge: str,
        params: Mapping[str, str],
        fields: list[str],
    ) -> dict[str, Any]:
        limit = max(1, min(100, whole(params.get("limit")) or 25))
        since, until = whole(params.get("since")), whole(params.get("until"))
        reels = edge == REELS_EDGE
        history = items("", page.reels) if reels else items(f"{page.id}_", page.posts)
        listing = [
            item
            for item in history
            if (since is None or item.at.timestamp() >= since)
            and (until is None or item.at.timestamp() <= until)
        ]
        if not listing:
            return {"data": []}
        time_based = page.paging == "time" and not reels
        cursor = params.get("__paging_token" if time_based else "after")
        part = page_of(
            listing, cursor, limit, short=page.short_pages, empty_after=page.empty_page_after
        )
        data = [self._item(item, fields, reels) for item in part.chunk]
        path = f"{page.id}/{edge}"
        if time_based:
            return {
                "data": data,
                "paging": self._time_paging(
                    request, path, part, listing=listing, fields=",".join(fields)
                ),
            }
        after = encode(part.after)
        first = part.chunk[0].serial if part.chunk else part.after.get("k", 0)
        paging: dict[str, Any] = {"cursors": {"before": encode({"k": first + 1}), "after": after}}
        kept = [(k, v) for k, v in params.items() if k not in ("after", "before", "pretty")]
        if part.more:
            paging["next"] = self._link(request, path, [*kept, ("pretty", "0"), ("after", after)])
        if part.start:
            before = encode({"k": first + 1})
            paging["previous"] = self._link(
                request, path, [*kept, ("pretty", "0"), ("before", before)]
            )
        return {"data": data, "paging": paging}

    def _time_paging(
        self, request: web.Request, path: str, part: Slice, *, listing: list[Item], fields: str
    ) -> dict[str, str]:
        """``until``/``__paging_token`` links with Graph's empty-valued params (§1.5)."""
        last = (
            part.chunk[-1] if part.chunk else listing[part.start - 1] if part.start else listing[0]
        )
        last_ts = int(last.at.timestamp())
        token = encode(part.after)
        limit = str(part.limit)
        common: list[tuple[str, str | None]] = [
            ("pretty", "0"),
            ("fields", fields),
            ("limit", limit),
        ]
        paging = {}
        if part.start:
            first_ts = int(part.chunk[0].at.timestamp()) if part.chunk else last_ts
            back = [("__previous", "1"), ("since", str(first_ts)), ("until", None)]
            paging["previous"] = self._link(
                request, path, [*common, *back, ("__paging_token", token)]
            )
        if part.more:
            ahead = [("until", str(last_ts)), ("since", None), ("__paging_token", token)]
            paging["next"] = self._link(request, path, [*common, *ahead, ("__previous", None)])
        return paging

    @staticmethod
    def _item(item: Item, fields: list[str], reel: bool) -> dict[str, Any]:
        body: dict[str, Any] = {"id": item.id}
        if "created_time" in fields:
            body["created_time"] = graph_time(item.at)
        if "updated_time" in fields:
            body["updated_time"] = graph_time(item.at)
        if "message" in fields and item.serial % 3:  # every third post is photo-only
            body["message"] = f"Bericht {item.serial}"
        if "permalink_url" in fields:
            page_id, _, story = item.id.partition("_")
            body["permalink_url"] = (
                f"https://www.facebook.com/reel/{item.id}/"
                if reel
                else f"https://www.facebook.com/{page_id}/posts/{story}/"
            )
        return body

    # -- Instagram -------------------------------------------------------------------------

    def _instagram(
        self, request: web.Request, account: AccountSpec, edge: str | None
    ) -> web.Response:
        self._behaviour(request, account, account.id, "instagram")
        usage = self._usage({account.id: ("instagram", account.usage)})
        query = request.query
        if edge == "media":
            fields = parse_fields(query.get("fields", "id"))
            if (refusal := unknown_field(fields, "IGMedia")) is not None:
                return self._error(request, 100, refusal)
            params = {k: v for k, v in query.items() if k not in _SECRET_PARAMS}
            names = [f.name for f in fields]
            return self._json(request, self._media(request, account, params, names, True), usage)
        if edge is not None:
            return self._error(request, 2500, f"Unknown path components: /{edge}")
        requested = parse_fields(query.get("fields", "id"))
        if (refusal := unknown_field(requested, "IGUser")) is not None:
            return self._error(request, 100, refusal)
        body: dict[str, Any] = {}
        for f in requested:
            if f.name == "business_discovery":
                target = next(
                    (a for a in self.accounts if a.username == f.mods.get("username")), None
                )
                if target is None or not target.professional:
                    return self._error(request, 110, "Invalid user id", subcode=2207013)
                # Business Discovery counts against the account that asks (reference §2.5)
                self._behaviour(request, target, account.id, "instagram")
                if (refusal := unknown_field(f.sub, "IGUser")) is not None:
                    return self._error(request, 100, refusal)
                body[f.name] = self._account(request, target, f.sub, own=False)
            else:
                body.update(self._account(request, account, [f], own=True))
        body["id"] = account.id
        return self._json(request, body, usage)

    def _account(
        self, request: web.Request, account: AccountSpec, fields: list[Field], *, own: bool
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
                if (refusal := unknown_field(f.sub, "IGMedia")) is not None:
                    raise _Refused(self._error(request, 100, refusal))
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
        limit = max(1, min(100, whole(params.get("limit")) or 25))
        listing = items("17", account.media)
        if not listing:
            return {"data": []}
        part = page_of(
            listing,
            params.get("after"),
            limit,
            short=account.short_pages,
            empty_after=account.empty_page_after,
        )
        data = []
        for item in part.chunk:
            media: dict[str, Any] = {"id": item.id}
            if "timestamp" in fields:
                media["timestamp"] = graph_time(item.at)
            if "media_type" in fields:
                media["media_type"] = _MEDIA_TYPES[item.serial % len(_MEDIA_TYPES)]
            if "permalink" in fields:
                media["permalink"] = f"https://www.instagram.com/p/{item.id[-11:]}/"
            data.append(media)
        cursors: dict[str, str] = {}
        if part.start:
            cursors["before"] = encode({"k": (part.chunk[0].serial if part.chunk else 0) + 1})
        # nested paging has cursors only, no next link, and its last page no after-cursor
        # (python-facebook's discovery fixtures); an empty page that is not the last has one
        if part.more or with_links:
            cursors["after"] = encode(part.after)
        paging: dict[str, Any] = {"cursors": cursors}
        if with_links and part.more:
            kept = [(k, v) for k, v in params.items() if k not in ("after", "before", "pretty")]
            paging["next"] = self._link(
                request,
                f"{account.id}/media",
                [*kept, ("pretty", "0"), ("after", cursors["after"])],
            )
        return {"data": data, "paging": paging}

    # -- responses -------------------------------------------------------------------------

    def _behaviour(
        self, request: web.Request, spec: PageSpec | AccountSpec, bucket: str, kind: str
    ) -> None:
        """Refuse the request the way ``spec`` misbehaves; ``bucket`` is the object it counts on."""
        if spec.behaviour == "ok":
            return
        raise _Refused(self._misbehaviour(request, spec, bucket, kind))

    def _misbehaviour(
        self, request: web.Request, spec: PageSpec | AccountSpec, bucket: str, kind: str
    ) -> web.Response:
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
            # one object's own limit: named, with its regain time, in the BUC header (§1.10)
            message = throttle_message(
                spec.throttle_code, "Page" if kind == "pages" else "Instagram"
            )
            headers = usage_headers(self.app_usage, {bucket: (kind, 100)}, spec.regain_minutes)
            return self._error(request, spec.throttle_code, message, headers=headers)
        if spec.behaviour == "not_found":
            if kind == "instagram":
                return self._error(request, 110, "Invalid user id", subcode=2207013)
            name = spec.username or spec.id
            message = f"(#803) Some of the aliases you requested do not exist: {name}"
            return self._error(request, 803, message, www="not_found")
        if spec.behaviour == "unsupported":
            message = UNSUPPORTED_GET.format(node=spec.id)
            return self._error(request, 100, message, subcode=33, kind="GraphMethodException")
        if spec.behaviour == "ppca_missing":
            if spec.ppca_code == 10:
                message = "(#10) Application does not have permission for this action"
                return self._error(request, 10, message)
            return self._error(request, 100, PPCA_MESSAGE)
        if spec.behaviour == "blocked":
            return self._error(request, 368, BLOCKED_MESSAGE)
        if spec.behaviour == "server_error":
            message = "An unexpected error has occurred. Please retry your request later."
            return self._error(request, 2, message, status=500, transient=True)
        html = "<!DOCTYPE html><html><head><title>Error</title></head><body>Sorry, something went wrong.</body></html>"  # noqa: E501
        response = web.Response(text=html, content_type="text/html", charset="utf-8")
        return self._finish(request, response)

    def _app_throttle(self, request: web.Request, code: int) -> web.Response:
        """The app (4: x-app-usage at 100) or the user (17, 613) is throttled: every call fails."""
        percent = 100 if code in APP_THROTTLES else self.app_usage
        message = THROTTLE_MESSAGES.get(code, f"(#{code}) Request limit reached")
        return self._error(request, code, message, headers=usage_headers(percent, {}))

    def _usage(self, objects: Mapping[str, tuple[str, int | None]]) -> dict[str, str]:
        known = {k: (kind, p) for k, (kind, p) in objects.items() if p is not None}
        return usage_headers(self.app_usage, known)

    def _link(
        self, request: web.Request, path: str, params: Sequence[tuple[str, str | None]]
    ) -> str:
        """A paging link as Graph writes it: the caller's token (and proof) embedded (§1.4)."""
        secrets = [(k, request.query[k]) for k in _SECRET_PARAMS if k in request.query]
        query = "&".join(
            quote(k, safe="") if v is None else f"{quote(k, safe='')}={quote(v, safe='')}"
            for k, v in [*secrets, *params]
        )
        return f"{self.base_url}/{self._version(request)}/{path}?{query}"

    def _error(
        self,
        request: web.Request,
        code: int,
        message: str,
        *,
        subcode: int | None = None,
        status: int = 400,
        www: str = "invalid_request",
        kind: str = "OAuthException",
        headers: Mapping[str, str] | None = None,
        transient: bool = False,
    ) -> web.Response:
        error: dict[str, Any] = {"message": message, "type": kind, "code": code}
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


_SERVER_KEYS = (
    "access_token",
    "app_id",
    "app_secret",
    "require_proof",
    "app_usage",
    "served_version",
)


def load_spec(spec: Mapping[str, Any], now: datetime) -> GraphServer:
    """A server from a JSON spec: ``{"access_token", "app_secret", "pages": [...], …}``."""
    pages = [
        PageSpec(
            **{k: v for k, v in p.items() if k not in ("posts", "reels")},
            posts=history(p.get("posts"), now),
            reels=history(p.get("reels"), now),
        )
        for p in spec.get("pages", [])
    ]
    accounts = [
        AccountSpec(
            **{k: v for k, v in a.items() if k not in ("posts", "media")},
            media=history(a.get("media", a.get("posts")), now),
        )
        for a in spec.get("accounts", [])
    ]
    return GraphServer(pages, accounts, **{k: spec[k] for k in _SERVER_KEYS if k in spec})


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
