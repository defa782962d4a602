"""A fake Mastodon server (public REST API and WebFinger) on 127.0.0.1, for tests and ``demo``.

Reproduces the reference's checklist (§8 items 12 and 13): ``/api/v1/accounts/lookup`` (404
``{"error":"Record not found"}``; local ``acct`` without a domain), statuses with string ids
that grow with time, each carrying its full account (``REST::StatusSerializer``), boosts as an
outer status around ``reblog`` (outer ``created_at`` = boost time, empty ``content``),
``exclude_replies`` keeping self-thread replies, ``limit`` capped at 40, a ``Link`` header whose
``next`` (``max_id``) appears only when the page is full and which keeps only
``limit``/``only_media``/``exclude_replies`` (so ``exclude_reblogs`` is dropped),
``X-RateLimit-*`` headers with a reset time in 6-digit fractional seconds and 429 when spent,
``last_status_at`` as a bare date, suspended accounts as a mostly empty account with
``"suspended": true`` (their statuses an empty list) and moved accounts with ``moved``.

Followers-only statuses are never shown to an anonymous reader. Mastodon leaves them out in SQL,
so its pages stay full (``AccountStatusesFilter``); with ``paging="gotosocial"`` they are left
out after paging, with ``next``/``prev`` taken before filtering, so pages come short or empty
and still link on (GoToSocial ``internal/processing/account/statuses.go``).

``/.well-known/webfinger`` answers as ``WellKnown::WebfingerController`` does: ``resource`` is
``acct:user@domain`` for the account's domain or the server's own host, the JRD of
``WebfingerSerializer`` (``application/jrd+json``), 400 without a resource, 404 for an unknown
account, 410 for a suspended one. With ``web_domain`` the server runs at another host than the
domain in its accounts' handles (``WEB_DOMAIN`` vs ``LOCAL_DOMAIN``, Mastodon docs
``admin/config.md``); ``WebsiteServer`` is then the website at the handles' domain, which
redirects WebFinger to the server with a 301 as the docs' nginx example does.

    python -m monitor.fakes.mastodon --port 8083 --spec mastodon.json

Spec: ``{"rate_limit": 300, "accounts": [{"handle": "@voorbeeld@social.overheid.nl",
"display_name": "…", "followers": 120, "posts": [...], "behaviour": "ok",
"moved_to": "nieuw@social.overheid.nl"}]}`` (posts: see ``monitor.fakes._common``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from urllib.parse import urlencode

from aiohttp import web

from monitor.fakes._common import (
    Clock,
    FakeKind,
    FakePost,
    FakeServer,
    history,
    json_response,
    serve_main,
    utcnow,
)

Behaviour = Literal[
    "ok", "not_found", "auth", "rate_limited", "server_error", "malformed", "suspended", "moved"
]
MAX_LIMIT = 40
DEFAULT_LIMIT = 20
RATE_PERIOD = 300  # seconds: 300 requests per 5 minutes per IP by default
_LINK_PARAMS = ("exclude_replies", "limit", "only_media")  # what Link URLs carry over
_OTHER_ACCOUNT = "109000000000000001"
_NOT_FOUND_PAGE = (
    '<!DOCTYPE html>\n<html lang="nl"><head><title>Pagina niet gevonden</title></head>'
    "<body><h1>Pagina niet gevonden</h1></body></html>"
)
_ERROR_PAGE = (
    "<!DOCTYPE html>\n<html><head><title>We're sorry, but something went wrong (500)</title>"
    "</head><body><h1>We're sorry, but something went wrong.</h1></body></html>"
)


Paging = Literal["mastodon", "gotosocial"]
_GTS_LINK_FLAGS = ("exclude_replies", "exclude_reblogs", "pinned", "only_media", "only_public")


@dataclass
class AccountSpec:
    """A Mastodon account on this server."""

    username: str
    domain: str = "social.example"  # the domain in its handle (the server's LOCAL_DOMAIN)
    display_name: str | None = None
    followers: int = 0
    posts: Sequence[FakePost] = ()
    behaviour: Behaviour = "ok"
    moved_to: str | None = None  # user@domain of the new account, for behaviour "moved"
    followers_only: tuple[datetime, datetime] | None = None  # statuses posted in [from, to)

    @property
    def id(self) -> str:
        digest = int(hashlib.sha256(f"{self.username}@{self.domain}".encode()).hexdigest(), 16)
        return str(109_300_000_000_000_000 + digest % 10**14)


class MastodonServer(FakeServer):
    """The fake server. ``start()`` returns its base URL; ``log`` counts requests per path."""

    def __init__(
        self,
        accounts: Sequence[AccountSpec] = (),
        *,
        rate_limit: int = 300,
        clock: Clock = utcnow,
        paging: Paging = "mastodon",
        web_domain: str | None = None,
    ) -> None:
        super().__init__(clock=clock)
        self.accounts = list(accounts)
        self.rate_limit = rate_limit
        self.paging = paging
        self.web_domain = web_domain  # the host it runs at (WEB_DOMAIN); None: each account's
        self._window = (-1, 0)  # (window number, requests in it)

    def account(self, handle: str) -> AccountSpec:
        """The account with this ``@user@domain`` or ``user``."""
        found = self._find(handle.lstrip("@"))
        if found is None:
            raise KeyError(handle)
        return found

    def set(self, handle: str, **changes: Any) -> None:
        """Change an account (``behaviour="suspended"``, ``followers=…``)."""
        account = self.account(handle)
        self.accounts[self.accounts.index(account)] = dataclasses.replace(account, **changes)

    def add_post(self, handle: str, at: datetime, kind: FakeKind = "post") -> None:
        """Publish a status dated ``at``."""
        account = self.account(handle)
        self.set(handle, posts=[FakePost(at, kind), *account.posts])

    def remove_post(self, handle: str, at: datetime) -> None:
        """Delete the status dated ``at``."""
        account = self.account(handle)
        self.set(handle, posts=[p for p in account.posts if p.at != at])

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/.well-known/webfinger", self._webfinger)
        app.router.add_get("/api/v1/accounts/lookup", self._lookup)
        app.router.add_get("/api/v1/accounts/{id}/statuses", self._statuses)
        app.router.add_get("/api/v1/accounts/{id}", self._account)

    # -- endpoints ---------------------------------------------------------------------------

    async def _lookup(self, request: web.Request) -> web.Response:
        headers, spent = self._rate()
        if spent:
            return _too_many(headers)
        account = self._find(request.query.get("acct", ""))
        if account is None:
            return json_response({"error": "Record not found"}, 404, headers)
        failed = self._failure(account, headers)
        if failed is not None:
            return failed
        return json_response(self._account_entity(account), headers=headers)

    async def _account(self, request: web.Request) -> web.Response:
        headers, spent = self._rate()
        if spent:
            return _too_many(headers)
        account = self._by_id(request.match_info["id"])
        if account is None:
            return json_response({"error": "Record not found"}, 404, headers)
        failed = self._failure(account, headers)
        if failed is not None:
            return failed
        return json_response(self._account_entity(account), headers=headers)

    async def _statuses(self, request: web.Request) -> web.Response:
        headers, spent = self._rate()
        if spent:
            return _too_many(headers)
        account = self._by_id(request.match_info["id"])
        if account is None:
            return json_response({"error": "Record not found"}, 404, headers)
        failed = self._failure(account, headers)
        if failed is not None:
            return failed
        query = request.query
        try:
            limit = min(MAX_LIMIT, max(1, int(query.get("limit", DEFAULT_LIMIT))))
            bounds = {k: int(query[k]) for k in ("max_id", "since_id", "min_id") if k in query}
        except ValueError:
            return json_response({"error": "Validation failed"}, 422, headers)
        entity = self._account_entity(account)
        suspended = account.behaviour == "suspended"  # unavailable: an empty list
        rows = [] if suspended else _statuses(account, entity, self._host(account))
        if _true(query.get("exclude_replies")):
            rows = [s for s in rows if s["in_reply_to_account_id"] in (None, account.id)]
        if _true(query.get("exclude_reblogs")):
            rows = [s for s in rows if s["reblog"] is None]
        if _true(query.get("only_media")) or _true(query.get("pinned")):
            rows = []  # no media and no pins in this fake
        if self.paging == "mastodon":  # distributable_visibility: in SQL, before paging
            rows = [s for s in rows if s["visibility"] != "private"]
        if "max_id" in bounds:
            rows = [s for s in rows if int(s["id"]) < bounds["max_id"]]
        if "since_id" in bounds:
            rows = [s for s in rows if int(s["id"]) > bounds["since_id"]]
        if "min_id" in bounds:  # the page just after min_id, still newest first
            rows = [s for s in rows if int(s["id"]) > bounds["min_id"]][-limit:]
        rows = rows[:limit]
        page = [s for s in rows if s["visibility"] != "private"]
        path = f"{request.url.origin()}{request.path}"
        if self.paging == "gotosocial":
            links = _gotosocial_links(path, query, limit, rows)
        else:
            links = _mastodon_links(path, query, limit, page)
        if links:
            headers["Link"] = ", ".join(links)
        return json_response(page, headers=headers)

    async def _webfinger(self, request: web.Request) -> web.Response:
        resource = request.query.get("resource", "")
        user, at, domain = resource.removeprefix("acct:").rpartition("@")
        short = {"Cache-Control": "max-age=180, public"}
        if resource.lower().startswith(("http://", "https://")):
            return web.Response(status=404, headers=short)  # profile URLs: not in this fake
        if not at:  # missing, or no user@domain: InvalidRequest
            return web.Response(status=400, headers=short)
        account = next(
            (
                a
                for a in self.accounts
                if a.username.lower() == user.lower()
                and domain.lower() in (a.domain.lower(), self._host(a).lower())
            ),
            None,
        )
        if account is None or account.behaviour == "not_found":
            return web.Response(status=404, headers=short)
        if account.behaviour == "suspended":
            return web.Response(status=410)
        web_base = f"https://{self._host(account)}"
        jrd = {
            "subject": f"acct:{account.username}@{account.domain}",
            "aliases": [f"{web_base}/@{account.username}", f"{web_base}/users/{account.username}"],
            "links": [
                {
                    "rel": "http://webfinger.net/rel/profile-page",
                    "type": "text/html",
                    "href": f"{web_base}/@{account.username}",
                },
                {
                    "rel": "self",
                    "type": "application/activity+json",
                    "href": f"{web_base}/users/{account.username}",
                },
                {
                    "rel": "http://ostatus.org/schema/1.0/subscribe",
                    "template": f"{web_base}/authorize_interaction?uri={{uri}}",
                },
            ],
        }
        response = web.Response(text=json.dumps(jrd), content_type="application/jrd+json")
        response.headers["Cache-Control"] = "max-age=259200, public"
        return response

    # -- helpers -----------------------------------------------------------------------------

    def _find(self, acct: str) -> AccountSpec | None:
        user, _, domain = acct.lower().partition("@")
        return next(
            (
                a
                for a in self.accounts
                if a.username.lower() == user and domain in ("", a.domain.lower())
            ),
            None,
        )

    def _host(self, account: AccountSpec) -> str:
        """The host the account's pages are served from (WEB_DOMAIN, else its own domain)."""
        return self.web_domain or account.domain

    def _by_id(self, account_id: str) -> AccountSpec | None:
        return next((a for a in self.accounts if a.id == account_id), None)

    def _rate(self) -> tuple[dict[str, str], bool]:
        """Rate-limit headers as Mastodon's ``RateLimitHeaders``, and whether it is spent."""
        now = self.clock()
        seconds = now.timestamp()
        window = int(seconds) // RATE_PERIOD
        number, used = self._window
        used = used + 1 if number == window else 1
        self._window = (window, used)
        reset = now + timedelta(seconds=RATE_PERIOD - int(seconds) % RATE_PERIOD)
        headers = {
            "X-RateLimit-Limit": str(self.rate_limit),
            "X-RateLimit-Remaining": str(max(0, self.rate_limit - used)),
            "X-RateLimit-Reset": reset.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        }
        return headers, used > self.rate_limit

    def _failure(self, account: AccountSpec, headers: dict[str, str]) -> web.Response | None:
        if account.behaviour == "not_found":
            return json_response({"error": "Record not found"}, 404, headers)
        if account.behaviour == "auth":
            return json_response({"error": "This API requires an authenticated user"}, 401, headers)
        if account.behaviour == "rate_limited":
            return _too_many({**headers, "X-RateLimit-Remaining": "0"})
        if account.behaviour == "server_error":
            response = web.Response(text=_ERROR_PAGE, status=500, content_type="text/html")
            response.headers.update(headers)
            return response
        if account.behaviour == "malformed":
            response = web.Response(text='{"id":"1","username":', content_type="application/json")
            response.headers.update(headers)
            return response
        return None

    def _account_entity(self, account: AccountSpec) -> dict[str, Any]:
        statuses = _statuses(account, {}, self._host(account))
        suspended = account.behaviour == "suspended"
        web_base = f"https://{self._host(account)}"
        entity: dict[str, Any] = {
            "id": account.id,
            "username": account.username,
            "acct": account.username,  # local accounts: no domain
            "display_name": "" if suspended else (account.display_name or account.username),
            "locked": False,
            "bot": False,
            "discoverable": True,
            "indexable": True,
            "group": False,
            "created_at": "2023-07-13T00:00:00.000Z",
            "note": "" if suspended else f"<p>Officieel account van {account.username}</p>",
            "url": f"{web_base}/@{account.username}",
            "uri": f"{web_base}/users/{account.username}",
            "avatar": f"{web_base}/avatars/original/missing.png",
            "followers_count": 0 if suspended else account.followers,
            "following_count": 0 if suspended else 12,
            "statuses_count": 0 if suspended else len(statuses),
            "last_status_at": None if suspended or not statuses else statuses[0]["created_at"][:10],
            "hide_collections": False,
            "noindex": False,
            "emojis": [],
            "roles": [],
            "fields": [],
        }
        if suspended:
            entity["suspended"] = True
        if account.behaviour == "moved":
            target = account.moved_to or f"{account.username}_nieuw@{account.domain}"
            user, _, domain = target.partition("@")
            moved = AccountSpec(username=user, domain=domain or account.domain)
            entity["moved"] = {**self._account_entity(moved), "acct": target}
        return entity


def _mastodon_links(
    path: str, query: Mapping[str, str], limit: int, page: list[dict[str, Any]]
) -> list[str]:
    """``next`` only after a full page, ``prev`` after a non-empty one; few params carried."""
    kept = [(k, query[k]) for k in _LINK_PARAMS if k in query]
    links = []
    if len(page) == limit:
        links.append(f'<{path}?{urlencode([*kept, ("max_id", page[-1]["id"])])}>; rel="next"')
    if page:
        links.append(f'<{path}?{urlencode([*kept, ("min_id", page[0]["id"])])}>; rel="prev"')
    return links


def _gotosocial_links(
    path: str, query: Mapping[str, str], limit: int, rows: list[dict[str, Any]]
) -> list[str]:
    """GoToSocial's ``PackagePageableResponse``: both links whenever the query found rows,
    from the rows before filtering, with every flag spelled out."""
    if not rows:
        return []
    flags = "&".join(f"{k}={str(_true(query.get(k))).lower()}" for k in _GTS_LINK_FLAGS)
    return [
        f'<{path}?limit={limit}&max_id={rows[-1]["id"]}&{flags}>; rel="next"',
        f'<{path}?limit={limit}&min_id={rows[0]["id"]}&{flags}>; rel="prev"',
    ]


class WebsiteServer(FakeServer):
    """The website at a Mastodon server's LOCAL_DOMAIN when the server runs at WEB_DOMAIN.

    Redirects ``/.well-known/webfinger`` to the server with a 301 (the nginx example in Mastodon's
    ``admin/config.md``); anything else is an HTML 404, as a website answers an API path.
    """

    def __init__(self, mastodon_base: str, *, clock: Clock = utcnow) -> None:
        super().__init__(clock=clock)
        self.mastodon_base = mastodon_base.rstrip("/")

    def routes(self, app: web.Application) -> None:
        app.router.add_route("*", "/{tail:.*}", self._serve)

    async def _serve(self, request: web.Request) -> web.Response:
        if request.path == "/.well-known/webfinger":
            return web.Response(
                status=301,
                headers={
                    "Location": f"{self.mastodon_base}{request.path_qs}",
                    "Access-Control-Allow-Origin": "*",
                },
            )
        return web.Response(text=_NOT_FOUND_PAGE, status=404, content_type="text/html")


def _statuses(account: AccountSpec, entity: Mapping[str, Any], host: str) -> list[dict[str, Any]]:
    """The account's statuses, newest first, as the statuses endpoint shows them (each with
    ``entity``, its account, as ``REST::StatusSerializer`` embeds it), its pages at ``host``."""
    base = f"https://{host}"
    hidden = account.followers_only
    out: list[dict[str, Any]] = []
    previous_own: str | None = None
    for i, post in enumerate(sorted(account.posts, key=lambda p: p.at)):
        millis = int(post.at.timestamp() * 1000)
        status_id = str((millis << 16) + i % 65536)  # snowflake-like: grows with time
        private = hidden is not None and hidden[0] <= post.at < hidden[1]
        status: dict[str, Any] = {
            "id": status_id,
            "created_at": _iso(post.at),
            "in_reply_to_id": None,
            "in_reply_to_account_id": None,
            "sensitive": False,
            "spoiler_text": "",
            "visibility": "private" if private else "unlisted" if i % 9 == 8 else "public",
            "language": "nl",
            "uri": f"{base}/users/{account.username}/statuses/{status_id}",
            "url": f"{base}/@{account.username}/{status_id}",
            "replies_count": 0,
            "reblogs_count": i % 3,
            "favourites_count": i % 7,
            "edited_at": None,
            "content": f"<p>Bericht {i + 1}</p>",
            "reblog": None,
            "account": entity,
            "media_attachments": [],
            "mentions": [],
            "tags": [],
            "emojis": [],
            "card": None,
            "poll": None,
        }
        if post.kind == "reply":
            status["in_reply_to_id"] = previous_own or status_id
            status["in_reply_to_account_id"] = account.id
        elif post.kind == "reply_other":
            status["in_reply_to_id"] = str((millis - 60_000) << 16)
            status["in_reply_to_account_id"] = _OTHER_ACCOUNT
            status["mentions"] = [{"id": _OTHER_ACCOUNT, "username": "buur", "acct": "buur"}]
        elif post.kind == "repost":
            original_at = post.at - timedelta(hours=3)
            original_id = str((int(original_at.timestamp() * 1000) << 16) + 7)
            status["content"] = ""
            status["uri"] = f"{base}/users/{account.username}/statuses/{status_id}/activity"
            status["url"] = None
            status["reblog"] = {
                "id": original_id,
                "created_at": _iso(original_at),
                "content": "<p>Nieuws van de buren</p>",
                "url": f"https://buren.example/@buur/{original_id}",
                "account": {"id": _OTHER_ACCOUNT, "username": "buur", "acct": "buur@buren.example"},
                "reblog": None,
            }
        else:
            previous_own = status_id
        out.append(status)
    return out[::-1]


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def _true(value: str | None) -> bool:
    return value is not None and value.lower() in ("true", "1", "t", "on")


def _too_many(headers: Mapping[str, str]) -> web.Response:
    return json_response(
        {"error": "Too many requests"}, 429, {**headers, "X-RateLimit-Remaining": "0"}
    )


def load_spec(spec: Mapping[str, Any], now: datetime) -> MastodonServer:
    """A server from a JSON spec (see the module docstring)."""
    accounts = []
    for entry in spec.get("accounts", []):
        user, _, domain = str(entry["handle"]).lstrip("@").partition("@")
        fields = {k: v for k, v in entry.items() if k not in ("handle", "posts")}
        if domain:
            fields["domain"] = domain
        accounts.append(
            AccountSpec(username=user, posts=history(entry.get("posts"), now), **fields)
        )
    return MastodonServer(accounts, rate_limit=int(spec.get("rate_limit", 300)))


def main(argv: Sequence[str] | None = None) -> int:
    return serve_main(
        argv, prog="python -m monitor.fakes.mastodon", description=__doc__, load=load_spec
    )


if __name__ == "__main__":
    raise SystemExit(main())
