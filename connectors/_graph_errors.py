"""Graph error bodies and usage headers, read into the error tree and a quota ratio.

Graph says who a throttle is for (the rate-limiting and error-handling docs, reference §1.9,
§1.10): code 4 (and 341) is the app, 17 and 613 the user or token, 32 and 80001–80014 one
business object (a Page, an Instagram account) keyed in ``X-Business-Use-Case-Usage`` with its
own ``estimated_time_to_regain_access`` (minutes). 368 ("temporarily blocked for policies
violations") is the user being held back for a while: a throttle too, with backoff.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field

import httpx
from pydantic import BaseModel, ValidationError

from connectors.errors import (
    AuthFailed,
    ChannelNotFound,
    ConnectorError,
    Malformed,
    RateLimited,
    ThrottleScope,
    Transient,
    error_for_status,
    parse_retry_after,
    safe_url,
)

_USAGE_KEYS = ("call_count", "total_cputime", "total_time")
_SECRET_IN_TEXT = re.compile(r"(?i)\b(access_token|appsecret_proof)=[^&\s\"'<>]+")

_AUTH_CODES = frozenset({3, 10, 102, 104, 190, *range(200, 300)})
_THROTTLE_SCOPES: Mapping[int, ThrottleScope] = {
    4: "app",
    341: "app",
    17: "token",
    613: "token",
    368: "token",
    32: "object",
    **dict.fromkeys(range(80001, 80015), "object"),
}
_NOT_FOUND_CODES = frozenset({110, 803})
_TRANSIENT_CODES = frozenset({1, 2})
_NOT_FOUND_SUBCODES = frozenset({2207013})
_PERMISSION_WORDS = (
    "public content access",
    "public metadata access",
    "app secret proof",
    "appsecret_proof",
)
# 100/33: "does not exist, cannot be loaded due to missing permissions, or does not support
# this operation". Graph does not tell these apart, so neither can we. It is reported as
# not_found rather than auth: the token itself was accepted (a bad token is 190), the trouble is
# this one object, and `auth` would raise the platform-wide "token rejected" alert for what is
# most often a wrong or removed id. The message says both, and what to check.
_UNSUPPORTED_GET = 33
_UNSUPPORTED_HINT = (
    "the object does not exist, or this token may not read it: check the id, and the token's "
    "permissions (pages_read_engagement for your own Pages, Page Public Content Access for "
    "other organisations' Pages; instagram_basic for Instagram)"
)


class _ErrorDetail(BaseModel):
    message: str = ""
    code: int | None = None
    error_subcode: int | None = None


class _ErrorBody(BaseModel):
    error: _ErrorDetail


def scrub(text: str, secrets: Iterable[str]) -> str:
    """``text`` without any of ``secrets`` or a secret-bearing query parameter."""
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, "***")
    return _SECRET_IN_TEXT.sub(r"\1=***", text)


@dataclass(frozen=True)
class ObjectUsage:
    """One business object's entry in ``X-Business-Use-Case-Usage``."""

    percent: float | None
    regain_minutes: float | None


@dataclass(frozen=True)
class Usage:
    """What one response's usage headers say: the app's share, and each object's."""

    app: float | None = None  # X-App-Usage / X-Page-Usage, percent
    objects: Mapping[str, ObjectUsage] = field(default_factory=dict)

    def about(self, subjects: Collection[str]) -> tuple[str, ObjectUsage] | None:
        """The entry of the object a request was about: one of ``subjects``, else the only one
        named (the call was counted on it); None when the header names others only."""
        for object_id in subjects:
            if object_id in self.objects:
                return object_id, self.objects[object_id]
        if len(self.objects) == 1:
            return next(iter(self.objects.items()))
        return None

    def blocked(self, subjects: Collection[str]) -> tuple[str, ObjectUsage] | None:
        """The object a throttle names: the one asked about, else the one with the longest wait."""
        if (known := self.about(subjects)) is not None:
            return known
        waiting = [(u.regain_minutes or 0.0, k) for k, u in self.objects.items()]
        if not waiting or max(waiting)[0] <= 0:
            return None
        object_id = max(waiting)[1]
        return object_id, self.objects[object_id]


def read_usage(headers: httpx.Headers) -> Usage:
    """The usage headers of a response; garbled or missing ones say nothing."""
    app: list[float] = []
    for name in ("x-app-usage", "x-page-usage"):
        for entry in _entries(_json(headers.get(name))):
            app.extend(n for key in _USAGE_KEYS if (n := _number(entry.get(key))) is not None)
    objects: dict[str, ObjectUsage] = {}
    buc = _json(headers.get("x-business-use-case-usage"))
    if isinstance(buc, dict):
        for object_id, entries in buc.items():
            if not isinstance(entries, list):
                continue
            listed = [e for e in entries if isinstance(e, dict)]
            shares = [
                n for e in listed for k in _USAGE_KEYS if (n := _number(e.get(k))) is not None
            ]
            waits = [
                n
                for e in listed
                if (n := _number(e.get("estimated_time_to_regain_access"))) is not None
            ]
            objects[str(object_id)] = ObjectUsage(
                max(shares) if shares else None, max(waits) if waits else None
            )
    return Usage(max(app) if app else None, objects)


def quota_ratio(usages: Iterable[Usage], subjects: Collection[str]) -> float | None:
    """The highest use, as 0..1, of the app and of the object polled (not of every object a
    header happens to name: another Page's budget says nothing about this one's)."""
    found: list[float] = []
    for usage in usages:
        if usage.app is not None:
            found.append(usage.app)
        if (entry := usage.about(subjects)) is not None and entry[1].percent is not None:
            found.append(entry[1].percent)
    if not found:
        return None
    return min(1.0, max(0.0, max(found) / 100.0))


def _json(raw: str | None) -> object:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return None  # a garbled header is no reason to fail a poll


def _entries(value: object) -> Iterable[Mapping[str, object]]:
    if isinstance(value, dict):
        yield value


def _number(value: object) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def classify(
    status: int, code: int | None, subcode: int | None, message: str
) -> type[ConnectorError] | None:
    """The error kind a Graph error code stands for; None when the code says nothing."""
    lowered = message.lower()
    if code in _THROTTLE_SCOPES:
        return RateLimited
    if code in _AUTH_CODES or (code == 100 and any(w in lowered for w in _PERMISSION_WORDS)):
        return AuthFailed
    if (
        code in _NOT_FOUND_CODES
        or subcode in _NOT_FOUND_SUBCODES
        or (code == 100 and subcode == _UNSUPPORTED_GET)
        or "does not exist" in lowered
    ):
        return ChannelNotFound
    if code in _TRANSIENT_CODES or status >= 500:
        return Transient
    return None


@dataclass(frozen=True)
class Asked:
    """What a request was about, to read a throttle or usage entry by: the object polled, and
    the objects every request runs as (whose throttle holds back every channel)."""

    subject: str | None = None
    acting_as: frozenset[str] = frozenset()

    @property
    def ids(self) -> list[str]:
        return [i for i in (self.subject, *sorted(self.acting_as)) if i]


def throttle(
    message: str, status: int, code: int, headers: httpx.Headers, asked: Asked
) -> RateLimited:
    """A throttle with its scope, and the wait its own usage entry names."""
    scope = _THROTTLE_SCOPES[code]
    retry_after = parse_retry_after(headers.get("retry-after"))
    if scope != "object":
        return RateLimited(message, status=status, retry_after=retry_after, scope=scope)
    named = read_usage(headers).blocked(asked.ids)
    object_id = named[0] if named else asked.subject
    wait = named[1].regain_minutes if named else None
    if wait is not None and wait > 0:
        retry_after = wait * 60.0
    if object_id is not None and object_id in asked.acting_as:
        # every request runs as this object (Business Discovery counts against the account
        # that asks): its limit holds back every channel read with these credentials
        return RateLimited(message, status=status, retry_after=retry_after, scope="token")
    return RateLimited(
        message, status=status, retry_after=retry_after, scope="object", scope_id=object_id
    )


def error_from_response(
    response: httpx.Response, body: object, secrets: Iterable[str], asked: Asked
) -> ConnectorError | None:
    """The error a Graph response stands for (by error code first, then HTTP status), or None."""
    where = safe_url(response.request.url)
    envelope = None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        try:
            envelope = _ErrorBody.model_validate(body).error
        except ValidationError:
            envelope = None
    if envelope is None:
        if response.is_success:
            return None
        return error_for_status(response)
    status = response.status_code
    code, subcode = envelope.code, envelope.error_subcode
    text = scrub(envelope.message, secrets)[:300]
    label = f"#{code}" + (f"/{subcode}" if subcode is not None else "")
    message = f"Graph error {label} (HTTP {status}) from {where}: {text}"
    if code == 100 and subcode == _UNSUPPORTED_GET:
        message = f"{message} ({_UNSUPPORTED_HINT})"
    kind = classify(status, code, subcode, envelope.message)
    if kind is RateLimited and code is not None:
        return throttle(message, status, code, response.headers, asked)
    if kind is not None:
        return kind(message, status=status)
    fallback = error_for_status(response, f"Graph error {label}: {text}")
    return fallback or Malformed(message, status=status)
