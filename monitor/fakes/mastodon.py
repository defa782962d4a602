"""A fake Mastodon server (public REST API) on 127.0.0.1, for tests and ``demo``.

Reproduces the reference's checklist (§8 items 12 and 13): ``/api/v1/accounts/lookup`` (404
``{"error":"Record not found"}``; local ``acct`` without a domain), statuses with string ids
that grow with time, boosts as an outer status around ``reblog`` (outer ``created_at`` = boost
time, empty ``content``), ``exclude_replies`` keeping self-thread replies, ``limit`` capped at
40, a ``Link`` header whose ``next`` (``max_id``) appears only when the page is full and which
keeps only ``limit``/``only_media``/``exclude_replies`` (so ``exclude_reblogs`` is dropped),
``X-RateLimit-*`` headers with a reset time in 6-digit fractional seconds and 429 when spent,
``last_status_at`` as a bare date, suspended accounts as a mostly empty account with
``"suspended": true`` and moved accounts with ``moved``.

    python -m monitor.fakes.mastodon --port 8083 --spec mastodon.json

Spec: ``{"rate_limit": 300, "accounts": [{"handle": "@voorbeeld@social.overheid.nl",
"display_name": "…", "followers": 120, "posts": [...], "behaviour": "ok",
"moved_to": "nieuw@social.overheid.nl"}]}`` (posts: see ``monitor.fakes._common``).
"""

from __future__ import annotations

import dataclasses
import hashlib
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
_ERROR_PAGE = (
    "<!DOCTYPE html>\n<html><head><title>We're sorry, but something went wrong (500)</title>"
    "</head><body><h1>We're sorry, but something went wrong.</h1></body></html>"
)


@dataclass
class AccountSpec:
    """A Mastodon account on this server."""

    username: str
    domain: str = "social.example"
    display_name: str | None = None
    followers: int = 0
    posts: Sequence[FakePost] = ()
    behaviour: Behaviour = "ok"
    moved_to: str | None = None  # user@domain of the new account, for behaviour "moved"

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
    ) -> None:
        super().__init__(clock=clock)
        self.accounts = list(accounts)
        self.rate_limit = rate_limit
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

    def routes(self, app: web.Application) -> None:
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
        statuses = [] if account.behaviour == "suspended" else _statuses(account)
        if _true(query.get("exclude_replies")):
            statuses = [s for s in statuses if s["in_reply_to_account_id"] in (None, account.id)]
        if _true(query.get("exclude_reblogs")):
            statuses = [s for s in statuses if s["reblog"] is None]
        if _true(query.get("only_media")) or _true(query.get("pinned")):
            statuses = []  # no media and no pins in this fake
        if "max_id" in bounds:
            statuses = [s for s in statuses if int(s["id"]) < bounds["max_id"]]
        if "since_id" in bounds:
            statuses = [s for s in statuses if int(s["id"]) > bounds["since_id"]]
        if "min_id" in bounds:  # the page just after min_id, still newest first
            statuses = [s for s in statuses if int(s["id"]) > bounds["min_id"]][-limit:]
        page = statuses[:limit]
        links = []
        path = f"{request.url.origin()}{request.path}"
        kept = [(k, query[k]) for k in _LINK_PARAMS if k in query]
        if len(page) == limit:
            links.append(f'<{path}?{urlencode([*kept, ("max_id", page[-1]["id"])])}>; rel="next"')
        if page:
            links.append(f'<{path}?{urlencode([*kept, ("min_id", page[0]["id"])])}>; rel="prev"')
        if links:
            headers["Link"] = ", ".join(links)
        return json_response(page, headers=headers)

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
        statuses = _statuses(account)
        suspended = account.behaviour == "suspended"
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
            "url": f"https://{account.domain}/@{account.username}",
            "uri": f"https://{account.domain}/users/{account.username}",
            "avatar": f"https://{account.domain}/avatars/original/missing.png",
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


def _statuses(account: AccountSpec) -> list[dict[str, Any]]:
    """The account's statuses, newest first, as the statuses endpoint shows them."""
    base = f"https://{account.domain}"
    out: list[dict[str, Any]] = []
    previous_own: str | None = None
    for i, post in enumerate(sorted(account.posts, key=lambda p: p.at)):
        millis = int(post.at.timestamp() * 1000)
        status_id = str((millis << 16) + i % 65536)  # snowflake-like: grows with time
        status: dict[str, Any] = {
            "id": status_id,
            "created_at": _iso(post.at),
            "in_reply_to_id": None,
            "in_reply_to_account_id": None,
            "sensitive": False,
            "spoiler_text": "",
            "visibility": "unlisted" if i % 9 == 8 else "public",
            "language": "nl",
            "uri": f"{base}/users/{account.username}/statuses/{status_id}",
            "url": f"{base}/@{account.username}/{status_id}",
            "replies_count": 0,
            "reblogs_count": i % 3,
            "favourites_count": i % 7,
            "edited_at": None,
            "content": f"<p>Bericht {i + 1}</p>",
            "reblog": None,
            "account": {"id": account.id, "username": account.username, "acct": account.username},
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
