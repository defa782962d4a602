"""Basic authentication and extra response headers for the HTTP server, from the web config file.

As exporter-toolkit does (web/handler.go), every path asks for a user and password once
``basic_auth_users`` is set, except the two probes, ``/healthz`` and ``/readyz``: they say only
"ok" or "ready", and Kubernetes' probes and the image's HEALTHCHECK have no safe place to keep a
password (README, "Protecting the endpoints", says why).

bcrypt is slow by design (a cost of 10 takes about 70 ms), so a verified user and password is
remembered for a few minutes: a scrape every 15 s costs one bcrypt every few minutes, not one a
scrape. exporter-toolkit caches too (web/cache.go).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping

import bcrypt
from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from monitor.settings import WebSettings

OPEN_PATHS = frozenset({"/healthz", "/readyz"})  # never ask for a password: see the docstring
CACHE_SIZE = 100  # as exporter-toolkit's cacheSize
CACHE_FOR = 300.0  # seconds a verified user and password is remembered
CHALLENGE = 'Basic realm="channel-monitor", charset="UTF-8"'


def credentials(header: str | None) -> tuple[str, bytes] | None:
    """The user name and password of an ``Authorization: Basic …`` header, or None.

    As Go's ``Request.BasicAuth``: the scheme in any case, strict base64, split at the first ':'.
    """
    scheme, _, encoded = (header or "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        return None
    user, colon, password = decoded.partition(b":")
    if not colon:
        return None
    try:
        return user.decode("utf-8"), password
    except UnicodeDecodeError:
        return None


class BasicAuth:
    """Checks user names and passwords against bcrypt hashes, remembering successes briefly."""

    def __init__(
        self, users: Mapping[str, str], *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._users = {name: hashed.encode("ascii") for name, hashed in users.items()}
        # an unknown user is checked against a real hash too, so that the time taken does not
        # tell which user names exist (exporter-toolkit does the same with a fixed hash)
        self._decoy = next(iter(self._users.values()), b"")
        self._clock = clock
        self._key = secrets.token_bytes(32)  # the cache holds keyed digests, never passwords
        self._verified: OrderedDict[bytes, float] = OrderedDict()
        self._one_at_a_time = asyncio.Lock()  # bcrypt is CPU-bound: one check at a time
        self.bcrypt_runs = 0  # for tests and curiosity

    async def allows(self, header: str | None) -> bool:
        """Whether an ``Authorization`` header names a user with the right password."""
        found = credentials(header)
        if found is None:
            return False
        user, password = found
        hashed = self._users.get(user)
        digest = hmac.new(
            self._key,
            b"\0".join((user.encode().hex().encode(), hashed or b"", password.hex().encode())),
            hashlib.sha256,
        ).digest()
        now = self._clock()
        if hashed is not None and self._verified.get(digest, 0.0) > now:
            return True
        async with self._one_at_a_time:
            ok = await asyncio.to_thread(self._check, password, hashed or self._decoy)
        if ok and hashed is not None:
            self._remember(digest, now)
            return True
        return False

    def _check(self, password: bytes, hashed: bytes) -> bool:
        self.bcrypt_runs += 1
        try:
            return bcrypt.checkpw(password, hashed)  # compares in constant time
        except ValueError:  # longer than bcrypt's 72 bytes: cannot match any hash
            return False

    def _remember(self, digest: bytes, now: float) -> None:
        self._verified[digest] = now + CACHE_FOR
        self._verified.move_to_end(digest)
        while len(self._verified) > CACHE_SIZE:
            self._verified.popitem(last=False)


def protection(settings: WebSettings) -> Middleware:
    """The middleware that asks for a password and adds the configured headers."""
    auth = BasicAuth(dict(settings.users)) if settings.users else None
    headers = dict(settings.headers)

    @web.middleware
    async def protect(request: web.Request, handler: Handler) -> web.StreamResponse:
        response: web.StreamResponse
        if (
            auth is not None
            and request.path not in OPEN_PATHS
            and not await auth.allows(request.headers.get("Authorization"))
        ):
            response = web.Response(
                status=401, text="Unauthorized\n", headers={"WWW-Authenticate": CHALLENGE}
            )
        else:
            try:
                response = await handler(request)
            except web.HTTPException as exc:  # 404, 405: headers on those too
                exc.headers.update(headers)
                raise
        response.headers.update(headers)
        return response

    return protect
