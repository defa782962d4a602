"""A fake Bluesky AppView (``app.bsky.actor.getProfile``, ``app.bsky.feed.getAuthorFeed``).

Reproduces the reference's checklist (§8 item 14): reposts in the author feed even with
``filter=posts_no_replies`` (``reasonRepost``, a post by another DID, dated by the reason's
``indexedAt``), the pinned post first on the first page with ``includePins=true``
(``reasonPin``) and again at its own place, client-supplied ``createdAt`` that may be
backdated or in the future (the feed is ordered by ``min(createdAt, indexedAt)``), an opaque
cursor absent on the last page (``Malformed cursor`` for a bad one), 400 ``InvalidRequest``
``Profile not found`` for unknown actors, ``AccountTakedown``/``AccountDeactivated``,
``RateLimit-*`` headers (no ``X-``) with a reset in unix seconds and ``Retry-After`` on 429,
counts that may be missing and ``handle.invalid``.

``indexed_at="sortedAt"`` serves ``indexedAt`` as the AppView does without
``BSKY_INDEXED_AT_EPOCH`` (or for records indexed before it): ``min(createdAt, indexedAt)``
(``packages/bsky/src/views/index.ts``). Items an account marks ``unrenderable`` (reposts of
since-deleted posts, say) are dropped after paging, the cursor kept (``getAuthorFeed.ts``);
``fill_requests`` is how many skeleton pages the AppView reads to fill one (``util.ts``
``fillPage``, 10 since Aug 2026; 1 before), so pages come short or empty with a cursor.

    python -m monitor.fakes.bluesky --port 8084 --spec bluesky.json

Spec: ``{"rate_limit": 3000, "accounts": [{"handle": "voorbeeld.bsky.social",
"display_name": "…", "followers": 120, "posts": [...], "pinned": 3, "behaviour": "ok",
"counts": true, "invalid_handle": false}]}`` (posts: see ``monitor.fakes._common``; a post's
``created_at`` sets a ``createdAt`` different from its ``at``; ``pinned`` is the index of the
pinned post, newest first).
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

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
    "ok",
    "not_found",
    "auth",
    "rate_limited",
    "server_error",
    "malformed",
    "suspended",
    "deactivated",
]
RATE_PERIOD = 300
REPOST = "app.bsky.feed.defs#reasonRepost"
PIN = "app.bsky.feed.defs#reasonPin"
_OTHER = {"did": "did:plc:buren7xq2lzv4kd3jwmh5nre", "handle": "buren.bsky.social"}
_REPLY_FILTERED = {
    "posts_no_replies": ("reply", "reply_other"),
    "posts_and_author_threads": ("reply_other",),
    "posts_with_replies": (),
}


@dataclass
class AccountSpec:
    """A Bluesky account as the AppView shows it."""

    handle: str
    display_name: str | None = None
    followers: int = 0
    posts: Sequence[FakePost] = ()
    pinned: int | None = None  # index of the pinned post in ``posts``, newest first
    behaviour: Behaviour = "ok"
    counts: bool = True  # False leaves followersCount/postsCount out
    invalid_handle: bool = False
    unrenderable: tuple[datetime, datetime] | None = None  # items at [from, to) are dropped

    @property
    def did(self) -> str:
        digest = hashlib.sha256(self.handle.lower().encode()).digest()
        return "did:plc:" + base64.b32encode(digest).decode().lower()[:24]


@dataclass(frozen=True)
class _Item:
    sort_at: datetime
    cid: str
    source: FakePost
    view: dict[str, Any]  # the feedViewPost


class BlueskyServer(FakeServer):
    """The fake AppView. ``start()`` returns its base URL; ``log`` counts requests per path."""

    def __init__(
        self,
        accounts: Sequence[AccountSpec] = (),
        *,
        rate_limit: int = 3000,
        clock: Clock = utcnow,
        indexed_at: Literal["indexedAt", "sortedAt"] = "indexedAt",
        fill_requests: int = 10,
    ) -> None:
        super().__init__(clock=clock)
        self.accounts = list(accounts)
        self.rate_limit = rate_limit
        self.indexed_at = indexed_at
        self.fill_requests = fill_requests
        self._window = (-1, 0)

    def account(self, actor: str) -> AccountSpec:
        """The account with this handle or DID."""
        found = self._find(actor)
        if found is None:
            raise KeyError(actor)
        return found

    def set(self, actor: str, **changes: Any) -> None:
        """Change an account (``behaviour="suspended"``, ``followers=…``)."""
        account = self.account(actor)
        self.accounts[self.accounts.index(account)] = dataclasses.replace(account, **changes)

    def add_post(
        self, actor: str, at: datetime, kind: FakeKind = "post", created_at: datetime | None = None
    ) -> None:
        """Publish a post (or repost) indexed at ``at``."""
        account = self.account(actor)
        pinned = account.pinned + 1 if account.pinned is not None else None
        self.set(actor, posts=[FakePost(at, kind, created_at), *account.posts], pinned=pinned)

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/xrpc/app.bsky.actor.getProfile", self._profile)
        app.router.add_get("/xrpc/app.bsky.feed.getAuthorFeed", self._author_feed)

    # -- endpoints ---------------------------------------------------------------------------

    async def _profile(self, request: web.Request) -> web.Response:
        headers, spent = self._rate()
        if spent:
            return self._too_many(headers)
        account, failed = self._actor(request, headers)
        if failed is not None:
            return failed
        assert account is not None
        posts = [p for p in account.posts if p.kind != "repost"]
        profile: dict[str, Any] = {
            "did": account.did,
            "handle": "handle.invalid" if account.invalid_handle else account.handle,
            "displayName": account.display_name or account.handle.split(".")[0].title(),
            "description": "Officieel account",
            "avatar": f"https://cdn.bsky.app/img/avatar/plain/{account.did}/bafkreiavatar@jpeg",
            "associated": {"lists": 0, "feedgens": 0, "starterPacks": 0, "labeler": False},
            "indexedAt": "2024-02-06T09:00:00.000Z",
            "createdAt": "2023-09-14T10:00:00.000Z",
            "labels": [],
        }
        if account.counts:
            profile |= {
                "followersCount": account.followers,
                "followsCount": 12,
                "postsCount": len(posts),
            }
        pinned = self._pinned(account)
        if pinned is not None:
            profile["pinnedPost"] = {"uri": pinned.view["post"]["uri"], "cid": pinned.cid}
        return json_response(profile, headers=headers)

    async def _author_feed(self, request: web.Request) -> web.Response:
        headers, spent = self._rate()
        if spent:
            return self._too_many(headers)
        account, failed = self._actor(request, headers)
        if failed is not None:
            return failed
        assert account is not None
        query = request.query
        try:
            limit = int(query.get("limit", "50"))
        except ValueError:
            return _invalid("Error: limit must be an integer", headers)
        if not 1 <= limit <= 100:
            return _invalid("Error: limit must be less than or equal to 100", headers)
        feed_filter = query.get("filter", "posts_with_replies")
        items = _items(account, sorted_at=self.indexed_at == "sortedAt")
        if feed_filter in ("posts_with_media", "posts_with_video"):
            items = []  # no media in this fake
        elif feed_filter in _REPLY_FILTERED:
            items = [i for i in items if i.source.kind not in _REPLY_FILTERED[feed_filter]]
        else:
            return _invalid(f"Error: Invalid filter: {feed_filter}", headers)
        cursor = query.get("cursor")
        if cursor and _cursor_key(cursor) is None:
            return _invalid("Malformed cursor", headers)
        shown, more = self._fill(account, items, cursor, limit)
        body: dict[str, Any] = {"feed": [i.view for i in shown]}
        if more:
            body["cursor"] = more
        pinned = self._pinned(account)
        if not cursor and pinned is not None and query.get("includePins") == "true":
            body["feed"].insert(0, {**pinned.view, "reason": {"$type": PIN}})
        return json_response(body, headers=headers)

    def _fill(
        self, account: AccountSpec, items: list[_Item], cursor: str | None, limit: int
    ) -> tuple[list[_Item], str | None]:
        """``fillPage``: skeleton pages, each filtered after paging, until ``limit`` items are
        shown, the skeleton ends, or ``fill_requests`` pages were read."""
        dropped = account.unrenderable
        shown: list[_Item] = []
        for _ in range(max(1, self.fill_requests)):
            page, after = _skeleton(items, cursor, limit - len(shown))
            shown += [
                i for i in page if dropped is None or not dropped[0] <= i.source.at < dropped[1]
            ]
            if after is None or after == cursor:
                return shown, None
            cursor = after
            if len(shown) >= limit:
                break
        return shown, cursor

    # -- helpers -----------------------------------------------------------------------------

    def _find(self, actor: str) -> AccountSpec | None:
        actor = actor.lower().lstrip("@")
        return next((a for a in self.accounts if actor in (a.handle.lower(), a.did)), None)

    def _actor(
        self, request: web.Request, headers: dict[str, str]
    ) -> tuple[AccountSpec | None, web.Response | None]:
        actor = request.query.get("actor")
        if not actor:
            return None, _invalid('Error: Params must have the property "actor"', headers)
        account = self._find(actor)
        if account is None or account.behaviour == "not_found":
            return None, _invalid("Profile not found", headers)
        failures = {
            "suspended": (
                {"error": "AccountTakedown", "message": "Account has been suspended"},
                400,
            ),
            "deactivated": (
                {"error": "AccountDeactivated", "message": "Account is deactivated"},
                400,
            ),
            "auth": ({"error": "AuthMissing", "message": "Authentication Required"}, 401),
            "server_error": (
                {"error": "InternalServerError", "message": "Internal Server Error"},
                500,
            ),
        }
        if account.behaviour in failures:
            body, status = failures[account.behaviour]
            return None, json_response(body, status, headers)
        if account.behaviour == "rate_limited":
            return None, self._too_many(headers)
        if account.behaviour == "malformed":
            response = web.Response(text='{"did":"did:plc:', content_type="application/json")
            response.headers.update(headers)
            return None, response
        return account, None

    def _pinned(self, account: AccountSpec) -> _Item | None:
        if account.pinned is None:
            return None
        newest_first = sorted(account.posts, key=lambda p: p.at, reverse=True)
        if not 0 <= account.pinned < len(newest_first):
            return None
        target = newest_first[account.pinned]
        items = _items(account, sorted_at=self.indexed_at == "sortedAt")
        return next((i for i in items if i.source is target), None)

    def _too_many(self, headers: Mapping[str, str]) -> web.Response:
        wait = int(headers["RateLimit-Reset"]) - int(self.clock().timestamp())
        return json_response(
            {"error": "RateLimitExceeded", "message": "Rate Limit Exceeded"},
            429,
            {**headers, "RateLimit-Remaining": "0", "Retry-After": str(max(1, wait))},
        )

    def _rate(self) -> tuple[dict[str, str], bool]:
        now = self.clock().timestamp()
        window = int(now) // RATE_PERIOD
        number, used = self._window
        used = used + 1 if number == window else 1
        self._window = (window, used)
        headers = {
            "RateLimit-Limit": str(self.rate_limit),
            "RateLimit-Remaining": str(max(0, self.rate_limit - used)),
            "RateLimit-Reset": str((window + 1) * RATE_PERIOD),
            "RateLimit-Policy": f"{self.rate_limit};w={RATE_PERIOD}",
        }
        return headers, used > self.rate_limit


def _skeleton(items: list[_Item], cursor: str | None, limit: int) -> tuple[list[_Item], str | None]:
    """One page of the data plane's author feed: a cursor only when more items follow
    (``TimeCidKeyset.page``, ``packages/bsky/src/data-plane/server/db/pagination.ts``)."""
    key = _cursor_key(cursor) if cursor else None
    after = [i for i in items if key is None or (i.sort_at, i.cid) < key]
    page = after[:limit]
    if len(after) > limit and page:
        return page, f"{int(page[-1].sort_at.timestamp() * 1000)}__{page[-1].cid}"
    return page, None


def _items(account: AccountSpec, *, sorted_at: bool = False) -> list[_Item]:
    """The account's feed items, newest first by the AppView's sort key; with ``sorted_at``
    each post's ``indexedAt`` is served as that key."""
    did = account.did
    author = {"did": did, "handle": account.handle, "displayName": account.display_name or ""}
    items: list[_Item] = []
    previous_own: dict[str, str] | None = None
    for i, post in enumerate(sorted(account.posts, key=lambda p: p.at)):
        rkey = _tid(post.at, i)
        cid = _cid(f"{did}/{rkey}")
        if post.kind == "repost":
            original_at = post.at - timedelta(hours=2)
            original = _post_view(
                f"at://{_OTHER['did']}/app.bsky.feed.post/{_tid(original_at, i)}",
                _cid(f"{_OTHER['did']}/{i}"),
                _OTHER,
                {"$type": "app.bsky.feed.post", "createdAt": _iso(original_at), "text": "Nieuws"},
                original_at,
            )
            reason = {
                "$type": REPOST,
                "by": {"did": did, "handle": account.handle},
                "uri": f"at://{did}/app.bsky.feed.repost/{rkey}",
                "cid": cid,
                "indexedAt": _iso(post.at),
            }
            items.append(_Item(post.at, cid, post, {"post": original, "reason": reason}))
            continue
        created = post.created_at or post.at - timedelta(milliseconds=873)
        record: dict[str, Any] = {
            "$type": "app.bsky.feed.post",
            "createdAt": _iso(created),
            "langs": ["nl"],
            "text": f"Bericht {i + 1}",
        }
        uri = f"at://{did}/app.bsky.feed.post/{rkey}"
        indexed = min(created, post.at) if sorted_at else post.at
        view: dict[str, Any] = {"post": _post_view(uri, cid, author, record, indexed)}
        if post.kind in ("reply", "reply_other"):
            parent = (
                previous_own
                if post.kind == "reply" and previous_own
                else {
                    "uri": f"at://{_OTHER['did']}/app.bsky.feed.post/{_tid(post.at, i + 1)}",
                    "cid": _cid(f"parent{i}"),
                }
            )
            record["reply"] = {"root": parent, "parent": parent}
            view["reply"] = {
                "root": {"$type": "app.bsky.feed.defs#postView", **parent},
                "parent": {"$type": "app.bsky.feed.defs#postView", **parent},
            }
        else:
            previous_own = {"uri": uri, "cid": cid}
        items.append(_Item(min(created, post.at), cid, post, view))
    items.sort(key=lambda i: (i.sort_at, i.cid), reverse=True)
    return items


def _post_view(
    uri: str, cid: str, author: Mapping[str, str], record: dict[str, Any], indexed: datetime
) -> dict[str, Any]:
    return {
        "uri": uri,
        "cid": cid,
        "author": {**author, "labels": [], "viewer": {"muted": False, "blockedBy": False}},
        "record": record,
        "replyCount": 0,
        "repostCount": 1,
        "likeCount": 3,
        "quoteCount": 0,
        "bookmarkCount": 0,
        "indexedAt": _iso(indexed),
        "viewer": {"threadMuted": False, "embeddingDisabled": False},
        "labels": [],
    }


def _tid(when: datetime, seq: int) -> str:
    """A record key shaped like an atproto TID (13 base32-sortable characters)."""
    value = (int(when.timestamp() * 1_000_000) << 10) | (seq % 1024)
    alphabet = "234567abcdefghijklmnopqrstuvwxyz"
    chars = []
    for _ in range(13):
        chars.append(alphabet[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def _cid(seed: str) -> str:
    digest = base64.b32encode(hashlib.sha256(seed.encode()).digest()).decode().lower()
    return "bafyrei" + digest[:52]


def _cursor_key(cursor: str) -> tuple[datetime, str] | None:
    millis, sep, cid = cursor.partition("__")
    if not sep or not millis.isdigit() or not cid:
        return None
    return datetime.fromtimestamp(int(millis) / 1000, UTC), cid


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def _invalid(message: str, headers: Mapping[str, str]) -> web.Response:
    return json_response({"error": "InvalidRequest", "message": message}, 400, headers)


def load_spec(spec: Mapping[str, Any], now: datetime) -> BlueskyServer:
    """A server from a JSON spec (see the module docstring)."""
    accounts = [
        AccountSpec(
            handle=str(entry["handle"]).lstrip("@"),
            posts=history(entry.get("posts"), now),
            **{k: v for k, v in entry.items() if k not in ("handle", "posts")},
        )
        for entry in spec.get("accounts", [])
    ]
    return BlueskyServer(accounts, rate_limit=int(spec.get("rate_limit", 3000)))


def main(argv: Sequence[str] | None = None) -> int:
    return serve_main(
        argv, prog="python -m monitor.fakes.bluesky", description=__doc__, load=load_spec
    )


if __name__ == "__main__":
    raise SystemExit(main())
