"""What the fake Graph API says, word for word: field syntax, node fields, cursors, error texts.

Each text and rule carries where it comes from; see /work/shared/reference/platform-apis.md §1–2
for the fuller record.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

DEFAULT_TOKEN = "fake-graph-token"  # noqa: S105 - the fake's own test token
DEFAULT_APP_ID = "1234567890123456"
DEFAULT_VERSION = "v26.0"

# Fields each node type has (a subset of the reference pages: Page, Page Post, Video, IG User,
# IG Media). Graph refuses any other: "(#100) Tried accessing nonexisting field (x) on node type
# (Page)", HTTP 400, OAuthException (the same wording for PagePost, Video, IGUser, IGMedia in
# many recorded errors).
POST_EDGES = ("posts", "published_posts", "feed")
REELS_EDGE = "video_reels"  # the posts edges "do not return Reels" (Page Post reference)
NODE_FIELDS: Mapping[str, frozenset[str]] = {
    "Page": frozenset(
        {"id", "name", "username", "link", "followers_count", "fan_count", "about", "category"}
        | {*POST_EDGES, REELS_EDGE}
    ),
    "PagePost": frozenset(
        {"id", "created_time", "updated_time", "message", "story", "permalink_url"}
        | {"status_type", "is_published", "from", "attachments"}
    ),
    "Video": frozenset(
        {"id", "created_time", "updated_time", "description", "title", "permalink_url"}
        | {"length", "post_id", "published", "status", "source", "picture"}
    ),
    "IGUser": frozenset(
        {"id", "ig_id", "username", "name", "biography", "followers_count", "follows_count"}
        | {"media_count", "profile_picture_url", "website", "media", "business_discovery"}
    ),
    "IGMedia": frozenset(
        {"id", "timestamp", "media_type", "permalink", "caption", "media_url", "like_count"}
        | {"comments_count", "shortcode", "thumbnail_url", "username"}
    ),
}

PPCA_MESSAGE = (
    "(#100) Object does not exist, cannot be loaded due to missing permission or reviewable "
    "feature, or does not support this operation. This endpoint requires the "
    "'pages_read_engagement' permission or the 'Page Public Content Access' feature or the "
    "'Page Public Metadata Access' feature. Refer to "
    "https://developers.facebook.com/docs/apps/review/login-permissions#manage-pages, "
    "https://developers.facebook.com/docs/apps/review/feature#reference-PAGES_ACCESS and "
    "https://developers.facebook.com/docs/apps/review/feature#page-public-metadata-access "
    "for details."
)
# python-facebook testdata/error.json: a user token reading another Page without the proof
PPCA_PROOF_MESSAGE = (
    "(#100) Pages Public Content Access requires either app secret proof or an app token"
)
# "Require App Secret" on, or a wrong proof: GraphMethodException, code 100, HTTP 400
# (koala's and the PHP SDK's recorded messages)
PROOF_REQUIRED_MESSAGE = "API calls from the server require an appsecret_proof argument"
PROOF_INVALID_MESSAGE = "Invalid appsecret_proof provided in the API argument"
UNSUPPORTED_GET = (  # 100/33, GraphMethodException (python-facebook error fixtures)
    "Unsupported get request. Object with ID '{node}' does not exist, cannot be loaded due to "
    "missing permissions, or does not support this operation. Please read the Graph API "
    "documentation at https://developers.facebook.com/docs/graph-api"
)
BLOCKED_MESSAGE = "(#368) The action attempted has been deemed abusive or is otherwise disallowed"
# who each throttle code stands for: the rate-limiting and error-handling docs (reference §1.9)
THROTTLE_MESSAGES = {
    4: "(#4) Application request limit reached",
    17: "(#17) User request limit reached",
    32: "(#32) Page request limit reached",
    613: "(#613) Calls to this api have exceeded the rate limit.",
}
APP_THROTTLES = frozenset({4})
USER_THROTTLES = frozenset({17, 613})


def throttle_message(code: int, kind: str) -> str:
    """The message of a throttle error; BUC codes name the kind of account."""
    return THROTTLE_MESSAGES.get(
        code,
        f"(#{code}) There have been too many calls to this {kind} account. Wait a bit and try "
        "again. For more info, please refer to "
        "https://developers.facebook.com/docs/graph-api/overview/rate-limiting.",
    )


def nonexisting_field(name: str, node_type: str) -> str:
    return f"(#100) Tried accessing nonexisting field ({name}) on node type ({node_type})"


def appsecret_proof(app_secret: str, token: str) -> str:
    """``hex(HMAC-SHA256(key=app secret, msg=access token))`` (Graph's "Securing Requests")."""
    return hmac.new(app_secret.encode(), token.encode(), hashlib.sha256).hexdigest()


@dataclass
class Field:
    """One entry of a ``fields`` list: ``name.mod(arg).mod(arg){sub,fields}``."""

    name: str
    mods: dict[str, str] = field(default_factory=dict)
    sub: list[Field] = field(default_factory=list)


def parse_fields(text: str) -> list[Field]:
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
        result.append(Field(name, modifiers, sub))
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


def unknown_field(fields: Sequence[Field], node_type: str) -> str | None:
    """The first field ``node_type`` does not have, as Graph's error message; None if all exist."""
    known = NODE_FIELDS[node_type]
    for f in fields:
        if f.name not in known:
            return nonexisting_field(f.name, node_type)
    return None


def encode(state: Mapping[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(state, separators=(",", ":")).encode()).decode()


def decode(cursor: str | None) -> dict[str, Any]:
    if not cursor:
        return {}
    try:
        value = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def whole(value: str | None) -> int | None:
    return int(value) if value and value.lstrip("-").isdigit() else None


def graph_time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")


@dataclass(frozen=True)
class Item:
    """One post, reel or media item: its id, time and a serial that orders the listing."""

    id: str
    at: datetime
    serial: int


def items(prefix: str, times: Sequence[datetime]) -> list[Item]:
    """Stable ids for a history, newest first: ``{prefix}{unix*100+n}``."""
    seen: dict[int, int] = {}
    found = []
    for when in sorted(times):
        second = int(when.timestamp())
        serial = second * 100 + seen.get(second, 0)
        seen[second] = seen.get(second, 0) + 1
        found.append(Item(f"{prefix}{serial}", when, serial))
    return found[::-1]


@dataclass
class Slice:
    """One page of a listing: what it holds and the cursor state that comes after it."""

    chunk: list[Item]
    start: int
    after: dict[str, Any]
    more: bool
    limit: int


def page_of(
    listing: Sequence[Item], cursor: str | None, limit: int, *, short: bool, empty_after: int | None
) -> Slice:
    """The page after ``cursor``. Cursors point at an item, not an offset (the results doc:
    "cursors … point to a specific item"), so a cursor from a differently filtered request
    still lands after the same post. After ``empty_after`` pages comes one empty page that
    still has a next cursor ("a page may be empty but contain a next paging link")."""
    size = limit - 1 if short and limit > 1 else limit  # short pages: fewer than asked for
    state = decode(cursor)
    last = whole(str(state.get("k"))) if "k" in state else None
    start = (
        0
        if last is None
        else next((i for i, it in enumerate(listing) if it.serial < last), len(listing))
    )
    served, empty_done = int(state.get("n", 0)), bool(state.get("e", False))
    if empty_after == served and not empty_done and start < len(listing):
        chunk, empty_done = [], True
    else:
        chunk, served = list(listing[start : start + size]), served + 1
    end = start + len(chunk)
    key = chunk[-1].serial if chunk else last
    after: dict[str, Any] = {"n": served, "e": empty_done}
    if key is not None:
        after["k"] = key
    return Slice(chunk, start, after, end < len(listing), limit)


def usage_headers(
    app_percent: int | None, objects: Mapping[str, tuple[str, int]], regain: int = 0
) -> dict[str, str]:
    """``x-app-usage`` (the app's share, flat) and ``x-business-use-case-usage`` keyed by object
    id, each an array of entries with ``estimated_time_to_regain_access`` in minutes (§1.10).
    Headers appear only "once enough calls have been made": None or no objects sends none."""
    headers = {}
    if app_percent is not None:
        share = {"call_count": app_percent, "total_cputime": app_percent // 2}
        headers["x-app-usage"] = json.dumps({**share, "total_time": app_percent // 2})
    if objects:
        buc = {
            object_id: [
                {
                    "type": kind,
                    "call_count": percent,
                    "total_cputime": percent // 2,
                    "total_time": percent // 2,
                    "estimated_time_to_regain_access": regain if percent >= 100 else 0,
                }
            ]
            for object_id, (kind, percent) in objects.items()
        }
        headers["x-business-use-case-usage"] = json.dumps(buc)
    return headers
