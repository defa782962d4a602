"""A fake LinkedIn versioned REST API on 127.0.0.1, for tests and ``demo``.

Reproduces the reference's checklist (§8 item 11): epoch-millisecond times, ``urn:li:share``
and ``urn:li:ugcPost`` ids, reshares with ``reshareContext``, articles with
``content.reference`` and empty ``commentary``, ``publishedAt`` after ``createdAt`` for some
posts, varying key order, relative ``paging.links`` (which, as recorded, drop ``sortBy``), 400
``VERSION_MISSING`` without a ``LinkedIn-Version`` header, 426 for an inactive version, 401
bodies with ``serviceErrorCode`` 65600/65601, and 429 with ``serviceErrorCode`` 101 and no
``Retry-After``.

Paging is Rest.li's fixed increment (``RestUtils.getNextPageStart``): ``next`` points at
``start + count`` while that is below ``total``, and ``total`` counts every post the finder
pages over, including those filtered out of the answer afterwards (deleted and dark posts, the
spec's ``withheld``). So pages come short or empty and still link onward, and ``total`` is more
than what is shown (MicrosoftDocs/feedback#972: 46 of 50 shares returned, next ``start`` 50).

Tokens carry scopes, and their member a role per page (Organization Access Control roles); the
fake refuses with LinkedIn's 403 ``ACCESS_DENIED`` body (``serviceErrorCode`` 100, "Not enough
permissions to access: <resource>.<method>.<version>") exactly what the documentation restricts:
the posts finder needs ``r_organization_social`` and the role ADMINISTRATOR,
DIRECT_SPONSORED_CONTENT_POSTER or CONTENT_ADMINISTRATOR (Posts API, Permissions); the
organization lookup and ``networkSizes`` need ``rw_organization_admin`` with the role
ADMINISTRATOR, or ``r_compliance`` (Organization Lookup API, Permissions; Organization Access
Control: rw_organization_admin is "restricted to organizations in which the authenticated member
has the role type ADMINISTRATOR"). The ``vanityName`` finder (``/rest/organizations?q=vanityName``)
needs either scope but no role, and shows non-admins only the lookup's public fields.

    python -m monitor.fakes.linkedin --port 8082 --spec linkedin.json

Spec: ``{"access_token": "…", "scopes": ["r_organization_social", "rw_organization_admin"],
"tokens": {"…": {"scopes": [...], "roles": {"1234567": "CONTENT_ADMINISTRATOR"}}},
"oldest_version": "202511", "newest_version": "202603", "accounts": [{"id": "1234567",
"name": "…", "vanity": "…", "followers": 120, "role": "ADMINISTRATOR", "posts": [...],
"withheld": [...], "behaviour": "ok"}]}`` (posts: see ``monitor.fakes._common``; ``role`` is the
role of the ``access_token``'s member, null for none; ``tokens`` adds more tokens, whose roles
default to none).
"""

from __future__ import annotations

import dataclasses
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
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
    "sunset_version",
    "rate_limited",
    "server_error",
    "malformed",
]
DEFAULT_TOKEN = "fake-linkedin-token"  # noqa: S105 - the fake's own test token
DEFAULT_SCOPES = frozenset({"r_organization_social", "rw_organization_admin"})
POST_READERS = frozenset(
    {"ADMINISTRATOR", "DIRECT_SPONSORED_CONTENT_POSTER", "CONTENT_ADMINISTRATOR"}
)
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
    role: str | None = "ADMINISTRATOR"  # the default token's member's role here; None: no role
    withheld: Sequence[FakePost] = ()  # paged over, then filtered out: deleted or dark posts


@dataclass(frozen=True)
class TokenSpec:
    """An access token: the scopes it was granted, its member's role on each page."""

    scopes: frozenset[str] = DEFAULT_SCOPES
    roles: Mapping[str, str] = dataclasses.field(default_factory=dict)  # organization id → role


class LinkedInServer(FakeServer):
    """The fake API. ``start()`` returns its base URL; ``log`` counts requests per path."""

    def __init__(
        self,
        organizations: Sequence[OrganizationSpec] = (),
        *,
        access_token: str = DEFAULT_TOKEN,
        scopes: Iterable[str] = DEFAULT_SCOPES,
        tokens: Mapping[str, TokenSpec] | None = None,
        oldest_version: str = "202511",
        newest_version: str = "202603",
        clock: Clock = utcnow,
    ) -> None:
        super().__init__(clock=clock)
        self.organizations = {o.id: o for o in organizations}
        self.access_token = access_token
        self.scopes = frozenset(scopes)
        self.tokens = dict(tokens or {})
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
        app.router.add_get("/rest/organizations", self._find_organizations)
        app.router.add_get("/rest/organizations/{id}", self._organization)
        app.router.add_get("/rest/networkSizes/{urn}", self._network_size)

    # -- endpoints ---------------------------------------------------------------------------

    async def _posts(self, request: web.Request) -> web.Response:
        grant, refused = self._check(request)
        if refused is not None:
            return refused
        if request.query.get("q") != "author":
            return _error(400, "ILLEGAL_ARGUMENT", "Unsupported finder: q must be author", 100)
        match = _ORG_URN.fullmatch(request.query.get("author", ""))
        if match is None:
            return _error(400, "ILLEGAL_ARGUMENT", "Invalid author URN", 100)
        allowed = _reads_posts(grant, match[1])
        org, failed = self._organization_for(
            request, match[1], allowed, "partnerApiPostsExternal.FINDER-author"
        )
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
        key = "createdAt" if sort == "CREATED" else "lastModifiedAt"
        paged = sorted(_elements(org) + _withheld(org), key=lambda e: e[key], reverse=True)
        total = len(paged)  # counts the withheld: more than is ever shown
        href = f"/rest/posts?q=author&author=urn%3Ali%3Aorganization%3A{org.id}&count={count}"
        links = []
        if start > 0:
            links.append(_link("prev", f"{href}&start={max(0, start - count)}"))
        if start + count < total:
            links.append(_link("next", f"{href}&start={start + count}"))
        body = {
            "paging": {"start": start, "count": count, "links": links, "total": total},
            "elements": [e for e in paged[start : start + count] if _WITHHELD not in e],
        }
        return _ok(body)

    async def _organization(self, request: web.Request) -> web.Response:
        grant, refused = self._check(request)
        if refused is not None:
            return refused
        org_id = request.match_info["id"]
        allowed = _reads_organization(grant, org_id)
        org, failed = self._organization_for(request, org_id, allowed, "organizations.GET")
        if failed is not None:
            return failed
        assert org is not None
        return _ok(_organization_body(org, full=True))

    async def _find_organizations(self, request: web.Request) -> web.Response:
        """The ``vanityName`` finder (Organization Lookup API, "Find Organization by Vanity
        Name"): any token with rw_organization_admin or r_compliance, no role on the page
        needed; non-admins see only the documented public fields ("APIs that do not require
        administrative access will only return: id, name, localizedName, localizedWebsite,
        vanityName, logoV2, locations, primaryOrganizationType"). Strings are matched case-
        insensitively ("All strings are case-insensitive"); none found is an empty page."""
        grant, refused = self._check(request)
        if refused is not None:
            return refused
        if request.query.get("q") != "vanityName" or not request.query.get("vanityName"):
            return _error(400, "ILLEGAL_ARGUMENT", "Unsupported finder: q must be vanityName", 100)
        if not ({"rw_organization_admin", "r_compliance"} & grant.scopes):
            version = request.headers.get("LinkedIn-Version", "")
            message = (
                f"Not enough permissions to access: organizations.FINDER-vanityName.{version}01"
            )
            return _error(403, "ACCESS_DENIED", message, 100)
        wanted = request.query["vanityName"].lower()
        elements = [
            _organization_body(org, full=_reads_organization(grant, org.id))
            for org in self.organizations.values()
            if org.vanity and org.vanity.lower() == wanted
        ]
        paging = {"count": 10, "start": 0, "links": [], "total": len(elements)}
        return _ok({"elements": elements, "paging": paging})

    async def _network_size(self, request: web.Request) -> web.Response:
        grant, refused = self._check(request)
        if refused is not None:
            return refused
        match = _ORG_URN.fullmatch(request.match_info["urn"])
        if match is None:
            return _error(400, "ILLEGAL_ARGUMENT", "Invalid organization URN", 100)
        if request.query.get("edgeType") != "COMPANY_FOLLOWED_BY_MEMBER":
            return _error(400, "ILLEGAL_ARGUMENT", "Invalid edgeType", 100)
        # "networkSizes API under Organization Lookup": the lookup's permissions
        allowed = _reads_organization(grant, match[1])
        org, failed = self._organization_for(request, match[1], allowed, "networkSizes.GET")
        if failed is not None:
            return failed
        assert org is not None
        return _ok({"firstDegreeSize": org.followers})

    # -- checks ------------------------------------------------------------------------------

    def _check(self, request: web.Request) -> tuple[TokenSpec, web.Response | None]:
        """Version first, then the token, as a gateway would; the token's grant when both pass."""
        version = request.headers.get("LinkedIn-Version")
        if not version:
            return _NOTHING, _error(
                400,
                "VERSION_MISSING",
                "A version must be present. Please specify a version by adding the "
                "Linkedin-Version header.",
            )
        if not _VERSION.fullmatch(version) or not (
            self.oldest_version <= version <= self.newest_version
        ):
            message = f"Requested version {version} is not active"
            return _NOTHING, _error(426, "NONEXISTENT_VERSION", message)
        auth = request.headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ").strip() if auth.startswith("Bearer ") else ""
        if not token:
            return _NOTHING, _error(401, None, "Empty oauth2_access_token", 401)
        grant = self._grant(token)
        if grant is None:
            return _NOTHING, _error(401, "INVALID_ACCESS_TOKEN", "Invalid access token", 65600)
        return grant, None

    def _grant(self, token: str) -> TokenSpec | None:
        if token in self.tokens:
            return self.tokens[token]
        if token != self.access_token:
            return None
        roles = {o.id: o.role for o in self.organizations.values() if o.role is not None}
        return TokenSpec(self.scopes, roles)

    def _organization_for(
        self, request: web.Request, org_id: str, allowed: bool, resource: str
    ) -> tuple[OrganizationSpec | None, web.Response | None]:
        """The organization, or the response its permissions, behaviour or absence call for."""
        version = request.headers.get("LinkedIn-Version", "")
        if not allowed:
            message = f"Not enough permissions to access: {resource}.{version}01"
            return None, _error(403, "ACCESS_DENIED", message, 100)
        org = self.organizations.get(org_id)
        if org is None:
            return None, _error(404, "NOT_FOUND", "Not Found")
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


_NOTHING = TokenSpec(frozenset(), {})
_WITHHELD = "_withheld"  # marks an element the finder pages over but leaves out of the answer


def _reads_posts(grant: TokenSpec, org_id: str) -> bool:
    """Posts API: r_organization_social, for the roles ADMINISTRATOR,
    DIRECT_SPONSORED_CONTENT_POSTER and CONTENT_ADMIN(ISTRATOR)."""
    return "r_organization_social" in grant.scopes and grant.roles.get(org_id) in POST_READERS


def _reads_organization(grant: TokenSpec, org_id: str) -> bool:
    """Organization Lookup API: rw_organization_admin (an ADMINISTRATOR's) or r_compliance."""
    if "r_compliance" in grant.scopes:
        return True
    return "rw_organization_admin" in grant.scopes and grant.roles.get(org_id) == "ADMINISTRATOR"


def _organization_body(org: OrganizationSpec, *, full: bool) -> dict[str, Any]:
    """An organization as the lookup shows it: all fields to its admins, the public ones else."""
    name = org.name or f"Organization {org.id}"
    body: dict[str, Any] = {
        "vanityName": org.vanity or f"org-{org.id}",
        "localizedName": name,
        "name": {
            "localized": {"nl_NL": name},
            "preferredLocale": {"country": "NL", "language": "nl"},
        },
        "primaryOrganizationType": "GOVERNMENT",
        "locations": [],
        "localizedWebsite": f"https://www.{org.vanity or org.id}.example",
        "id": int(org.id),
    }
    if full:
        body["$URN"] = f"urn:li:organization:{org.id}"
        body["localizedDescription"] = f"De officiële pagina van {name}."
    return body


def _link(rel: str, href: str) -> dict[str, str]:
    return {"type": "application/json", "rel": rel, "href": href}


def _withheld(org: OrganizationSpec) -> list[dict[str, Any]]:
    """The posts the finder pages over and then filters out, by the times it sorts on."""
    stamps = (int(p.at.timestamp() * 1000) for p in org.withheld)
    return [{"createdAt": ms, "lastModifiedAt": ms + 51, _WITHHELD: True} for ms in stamps]


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
            **{k: v for k, v in entry.items() if k not in ("id", "posts", "withheld")},
            id=str(entry["id"]),
            posts=history(entry.get("posts"), now),
            withheld=history(entry.get("withheld"), now),
        )
        for entry in spec.get("accounts", [])
    ]
    options = {
        k: spec[k]
        for k in ("access_token", "scopes", "oldest_version", "newest_version")
        if k in spec
    }
    tokens = {
        token: TokenSpec(frozenset(grant.get("scopes", DEFAULT_SCOPES)), grant.get("roles", {}))
        for token, grant in spec.get("tokens", {}).items()
    }
    return LinkedInServer(organizations, tokens=tokens, **options)


def main(argv: Sequence[str] | None = None) -> int:
    return serve_main(
        argv, prog="python -m monitor.fakes.linkedin", description=__doc__, load=load_spec
    )


if __name__ == "__main__":
    raise SystemExit(main())
