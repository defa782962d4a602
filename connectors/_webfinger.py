"""WebFinger (RFC 7033): the host that serves ``acct:user@domain``, in its domain's own words.

For handles of the form ``user@domain`` whose server may run on another host than ``domain``
(Mastodon's ``LOCAL_DOMAIN`` and ``WEB_DOMAIN``, its docs ``admin/config.md``). The domain may
answer itself or redirect (the docs' nginx example answers 301); the client follows redirects.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx
from pydantic import BaseModel, TypeAdapter

from connectors._rest import Poll, validated
from connectors.errors import AuthFailed, ChannelNotFound, Malformed, error_for_status

# the actor link types Mastodon accepts (app/services/resolve_account_service.rb)
ACTOR_TYPES = (
    "application/activity+json",
    'application/ld+json; profile="https://www.w3.org/ns/activitystreams"',
)
PROFILE_PAGE = "http://webfinger.net/rel/profile-page"
MAX_BYTES = 1024 * 1024  # a JRD names a few links: Mastodon's is under 1 KB


class _Link(BaseModel):
    rel: str
    type: str | None = None
    href: str | None = None


class _Jrd(BaseModel):
    subject: str
    links: list[_Link] = []


_JRD = TypeAdapter(_Jrd)


@dataclass(frozen=True)
class Resolved:
    """Who the domain says the account is (``user@domain``), and the https origin serving it."""

    acct: str
    origin: str


async def resolve(client: httpx.AsyncClient, user: str, domain: str) -> Resolved | None:
    """Ask ``https://{domain}/.well-known/webfinger`` about ``acct:{user}@{domain}``.

    The host comes from the actor (``self``) link, else the profile page link, as Mastodon's
    ``WebfingerSerializer`` writes them, and must be https. An answer that knows nothing (404,
    410, an HTML page, no usable link) is None; a throttle, a server error or no answer is
    raised as its ``ConnectorError``.
    """
    finger = Poll(client, f"https://{domain}/.well-known", error_for_status, max_bytes=MAX_BYTES)
    try:
        body = await finger.get(
            "webfinger",
            {"resource": f"acct:{user}@{domain}"},
            {"Accept": "application/jrd+json, application/json"},
        )
        jrd = validated(_JRD.validate_python, body, "unexpected WebFinger answer")
    except (ChannelNotFound, Malformed, AuthFailed):
        return None
    acct = jrd.subject.removeprefix("acct:")
    if acct == jrd.subject or "@" not in acct:
        return None
    for rel, types in (("self", ACTOR_TYPES), (PROFILE_PAGE, None)):
        for link in jrd.links:
            if link.rel == rel and link.href and (types is None or link.type in types):
                origin = _https_origin(link.href)
                if origin is not None:
                    return Resolved(acct, origin)
    return None


def _https_origin(href: str) -> str | None:
    try:
        url = httpx.URL(href)
    except httpx.InvalidURL:
        return None
    if url.scheme != "https" or not url.host:
        return None
    return f"https://{url.host}" + (f":{url.port}" if url.port else "")
