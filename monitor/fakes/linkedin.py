"""A fake LinkedIn versioned REST API on 127.0.0.1, for tests and ``demo``.

Reproduces the reference's checklist (§8 item 11): epoch-millisecond times, ``urn:li:share``
and ``urn:li:ugcPost`` ids, reshares with ``reshareContext``, articles with
``content.reference`` and empty ``commentary``, ``publishedAt`` after ``createdAt`` for some
posts, varying key order, relative ``paging.links`` with only ``next`` (which, as recorded,
drops ``sortBy``), an implausible ``paging.total`` (so ``next`` is offered past the end), 400
``VERSION_MISSING`` without a ``LinkedIn-Version`` header, 426 for an inactive version, 401
bodies with ``serviceErrorCode`` 65600/65601, 403 for organisations the token's member does not
administer, and 429 with ``serviceErrorCode`` 101 and no ``Retry-After``.

    python -m monitor.fakes.linkedin --port 8082 --spec linkedin.json

Spec: ``{"access_token": "…", "oldest_version": "202511", "newest_version": "202603",
"accounts": [{"id": "1234567", "name": "…", "vanity": "…", "followers": 120,
"posts": [...], "behaviour": "ok"}]}`` (posts: see ``monitor.fakes._common``).
"""

from __future__ import annotations

import dataclasses
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
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
    "revoked",
    "not_admin",
    "sunset_version",
    "rate_limited",
    "server_error",
    "malformed",
]
DEFAULT_TOKEN = "fake-linkedin-token"  # noqa: S105 - the fake's own test token
_VERSION = re.compile(r"\d{6}")
_ORG_URN = re.compile(r"urn:li:organization:(\d+)")
_FAILURES: dict[str, tuple[int, str | None, str, int | None]] = {
    "not_found": (404, "NOT_FOUND", "Not Found", None),
    "auth": (401, "INVALID_ACCESS_TOKEN", "Invalid access token", 65600),
    "revoked": (
        401,
        "REVOKED_ACCESS_TOKEN",
        "The token used in the request has been revoked by the user",
        65601,
    ),
    "rate_limited": (
        429,
        None,
        "Resource level throttle limit for calls to this resource is reached.",
        101,
    ),
}


@dataclass
class OrganizationSpec:
    """A LinkedIn organization page: identity, followers, post history, behaviour."""

    id: str
    name: str | None = None
    vanity: str | None = None
    followers: int = 0
    posts: Sequence[FakePost] = ()  # replies are comments on LinkedIn: not in the posts finder
    behaviour: Behaviour = "ok"


class LinkedInServer(FakeServer):
    """The fake API. ``start()`` returns its base URL; ``log`` counts requests per path."""

    def __init__(
        self,
        organizations: Sequence[OrganizationSpec] = (),
        *,
        access_token: str = DEFAULT_TOKEN,
        oldest_version: str = "202511",
        newest_version: str = "202603",
        clock: Clock = utcnow,
    ) -> None:
        super().__init__(clock=clock)
        self.organizations = {o.id: o for o in organizations}
        self.access_token = access_token
        self.oldest_version = oldest_version
        self.newest_version = newest_version

    def set(self, org_id: str, **changes: Any) -> None:
        """Change an organization (``behaviour="rate_limited"``, ``followers=…``)."""
        self.organizations[org_id] = dataclasses.replace(self.organizations[org_id], **changes)

    def add_post(self, org_id: str, at: datetime, kind: FakeKind = "post") -> None:
        """Publish a post dated ``at``."""
        org = self.organizations[org_id]
        self.set(org_id, posts=[FakePost(at, kind), *org.posts])

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/rest/posts", self._posts)
        app.router.add_get("/rest/organizations/{id}", self._organization)
        app.router.add_get("/rest/networkSizes/{urn}", self._network_size)

    # -- endpoints ---------------------------------------------------------------------------

    async def _posts(self, request: web.Request) -> web.Response:
        refused = self._check(request)
        if refused is not None:
            return refused
        if request.query.get("q") != "author":
            return _error(400, "ILLEGAL_ARGUMENT", "Unsupported finder: q must be author", 100)
        match = _ORG_URN.fullmatch(request.query.get("author", ""))
        if match is None:
            return _error(400, "ILLEGAL_ARGUMENT", "Invalid author URN", 100)
        org, failed = self._organization_for(request, match[1], "posts.FINDER-author")
        if failed is not None:
            return failed
        assert org is not None
        sort = request.query.get("sortBy", "LAST_MODIFIED")  # the default: LAST_MODIFIED
        if sort not in ("CREATED", "LAST_MODIFIED"):
            return _error(400, "ILLEGAL_ARGUMENT", f"Invalid sortBy: {sort}", 100)
        try:
            start = int(request.query.get("start", "0"))
            count = min(100, int(request.query.get("count", "10")))
        except ValueError:
            return _error(400, "ILLEGAL_ARGUMENT", "start and count must be integers", 100)
        if start < 0 or count < 1:
            return _error(400, "ILLEGAL_ARGUMENT", "start and count must be positive", 100)
        elements = _elements(org)
        key = "createdAt" if sort == "CREATED" else "lastModifiedAt"
        elements.sort(key=lambda e: e[key], reverse=True)
        total = len(elements) * 1000 + 139  # as implausible as the recorded 288139
        links = []
        if start + count < total:
            links.append(
                {
                    "type": "application/json",
                    "rel": "next",
                    "href": f"/rest/posts?q=author&author=urn%3Ali%3Aorganization%3A{org.id}"
                    f"&count={count}&start={start + count}",
                }
            )
        body = {
            "paging": {"start": start, "count": count, "links": links, "total": total},
            "elements": elements[start : start + count],
        }
        return _ok(body)

    async def _organization(self, request: web.Request) -> web.Response:
        refused = self._check(request)
        if refused is not None:
            return refused
        org, failed = self._organization_for(request, request.match_info["id"], "organizations")
        if failed is not None:
            return failed
        assert org is not None
        name = org.name or f"Organization {org.id}"
        return _ok(
            {
                "vanityName": org.vanity or f"org-{org.id}",
                "localizedName": name,
                "name": {
                    "localized": {"nl_NL": name},
                    "preferredLocale": {"country": "NL", "language": "nl"},
                },
                "primaryOrganizationType": "GOVERNMENT",
                "localizedWebsite": f"https://www.{org.vanity or org.id}.example",
                "id": int(org.id),
                "$URN": f"urn:li:organization:{org.id}",
            }
        )

    async def _network_size(self, request: web.Request) -> web.Response:
        refused = self._check(request)
        if refused is not None:
            return refused
        match = _ORG_URN.fullmatch(request.match_info["urn"])
        if match is None:
            return _error(400, "ILLEGAL_ARGUMENT", "Invalid organization URN", 100)
        if request.query.get("edgeType") != "COMPANY_FOLLOWED_BY_MEMBER":
            return _error(400, "ILLEGAL_ARGUMENT", "Invalid edgeType", 100)
        org, failed = self._organization_for(request, match[1], "networkSizes")
        if failed is not None:
            return failed
        assert org is not None
        return _ok({"firstDegreeSize": org.followers})

    # -- checks ------------------------------------------------------------------------------

    def _check(self, request: web.Request) -> web.Response | None:
        """Version first, then the token, as a gateway would."""
        version = request.headers.get("LinkedIn-Version")
        if not version:
            return _error(
                400,
                "VERSION_MISSING",
                "A version must be present. Please specify a version by adding the "
                "Linkedin-Version header.",
            )
        if not _VERSION.fullmatch(version) or not (
            self.oldest_version <= version <= self.newest_version
        ):
            return _error(426, "NONEXISTENT_VERSION", f"Requested version {version} is not active")
        auth = request.headers.get("Authorization", "")
        if not auth.startswith("Bearer ") or not auth.removeprefix("Bearer ").strip():
            return _error(401, None, "Empty oauth2_access_token", 401)
        if auth.removeprefix("Bearer ").strip() != self.access_token:
            return _error(401, "INVALID_ACCESS_TOKEN", "Invalid access token", 65600)
        return None

    def _organization_for(
        self, request: web.Request, org_id: str, resource: str
    ) -> tuple[OrganizationSpec | None, web.Response | None]:
        """The organization, or the response its behaviour (or its absence) calls for."""
        org = self.organizations.get(org_id)
        version = request.headers.get("LinkedIn-Version", "")
        if org is None or org.behaviour == "not_admin":  # not administered by the token's member
            message = f"Not enough permissions to access: {resource}.{version}01"
            return None, _error(403, "ACCESS_DENIED", message, 100)
        if org.behaviour == "sunset_version":
            message = f"Requested version {version} is not active"
            return None, _error(426, "NONEXISTENT_VERSION", message)
        if org.behaviour == "server_error":
            return None, json_response({"message": "Internal Server Error", "status": 500}, 500)
        if org.behaviour == "malformed":
            body = '{"paging":{"start":0,"count":10,"links":['
            return None, web.Response(text=body, content_type="application/json")
        if org.behaviour in _FAILURES:
            return None, _error(*_FAILURES[org.behaviour])
        return org, None


def _elements(org: OrganizationSpec) -> list[dict[str, Any]]:
    """The organization's posts as the Posts API shows them (oldest first)."""
    urn = f"urn:li:organization:{org.id}"
    elements: list[dict[str, Any]] = []
    posts = [p for p in org.posts if p.kind in ("post", "repost")]
    for i, post in enumerate(sorted(posts, key=lambda p: p.at)):
        published = int(post.at.timestamp() * 1000)
        created = published - 100_574 if i % 4 == 3 else published  # processed later
        edited = published + int(timedelta(days=2).total_seconds() * 1000) if i % 5 == 4 else 0
        activity = (created << 22) + i % 4096  # LinkedIn ids grow with time
        kind = "ugcPost" if i % 3 == 2 else "share"
        element: dict[str, Any] = {
            "isReshareDisabledByAuthor": False,
            "createdAt": created,
            "lifecycleState": "PUBLISHED",
            "lastModifiedAt": edited or published + 51,
            "visibility": "PUBLIC",
            "publishedAt": published,
            "author": urn,
            "id": f"urn:li:{kind}:{activity}",
            "distribution": {"feedDistribution": "MAIN_FEED", "thirdPartyDistributionChannels": []},
            "commentary": f"Bericht {i + 1}",
            "lifecycleStateInfo": {"isEditedByAuthor": bool(edited)},
        }
        if post.kind == "repost":
            parent = f"urn:li:share:{activity - 7_000_000_000}"
            element["reshareContext"] = {"parent": parent, "root": parent}
        elif i % 5 == 1:
            element["content"] = {"reference": {"id": f"urn:li:linkedInArticle:{activity - 1}"}}
            element["commentary"] = ""
        if i % 2:  # key order varies between elements
            element = dict(reversed(element.items()))
        elements.append(element)
    return elements


def _ok(body: object) -> web.Response:
    return json_response(
        body, headers={"x-restli-protocol-version": "2.0.0", "X-LI-UUID": uuid.uuid4().hex}
    )


def _error(status: int, code: str | None, message: str, service: int | None = None) -> web.Response:
    body: dict[str, Any] = {"status": status}
    if service is not None:
        body["serviceErrorCode"] = service
    if code is not None:
        body["code"] = code
    body["message"] = message
    return json_response(body, status, {"x-restli-protocol-version": "2.0.0"})


def load_spec(spec: Mapping[str, Any], now: datetime) -> LinkedInServer:
    """A server from a JSON spec (see the module docstring)."""
    organizations = [
        OrganizationSpec(
            **{k: v for k, v in entry.items() if k not in ("id", "posts")},
            id=str(entry["id"]),
            posts=history(entry.get("posts"), now),
        )
        for entry in spec.get("accounts", [])
    ]
    options = {
        k: spec[k] for k in ("access_token", "oldest_version", "newest_version") if k in spec
    }
    return LinkedInServer(organizations, **options)


def main(argv: Sequence[str] | None = None) -> int:
    return serve_main(
        argv, prog="python -m monitor.fakes.linkedin", description=__doc__, load=load_spec
    )


if __name__ == "__main__":
    raise SystemExit(main())
