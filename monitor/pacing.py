"""Pacing polls by what the platforms say: pause after a throttle, slow down near the quota.

A throttle pauses what it covers. Where the platform says (``RateLimited.scope``), that is the
app, the token, or one object: Graph's code 4 holds back everything the app reads (Facebook and
Instagram alike when they share the app), 17 and 613 everything read with the token, and 32 or
80001–80014 one Page or account, named in its usage header; the daemon remembers which channel
led to that object and holds back only that channel (and any other that ran into the same
object). Where the platform does not say, LinkedIn, Bluesky and YouTube meter one app (or one
address) as a whole, so one channel's throttle pauses every channel of that platform; Mastodon
servers and websites are metered each on their own.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

import httpx

from connectors.base import PlatformOptions
from connectors.errors import ThrottleScope

PLATFORM_WIDE = frozenset({"facebook", "instagram", "linkedin", "bluesky", "youtube"})
MAX_STRETCH = 4.0  # at a full quota, polls run this many times less often

PauseScope = Literal["platform", "server", "app", "token", "object"]


@functools.lru_cache(maxsize=1 << 17)  # asked at every poll: parsing the URL each time cost ~4 %
def gate_key(platform: str, handle: str) -> str:
    """What one rate limit covers when the platform does not say: the platform, or one server."""
    if platform in PLATFORM_WIDE:
        return platform
    if platform == "mastodon":
        return f"mastodon:{handle.rsplit('@', 1)[-1].lower()}"
    try:
        return f"{platform}:{httpx.URL(handle).host.lower()}"
    except (httpx.InvalidURL, TypeError):
        return platform


def stretch(ratio: float, slow_down_at: float) -> float:
    """How much longer than usual to wait between polls at quota use ``ratio`` (1 = as usual).

    Grows linearly from 1 at ``slow_down_at`` to MAX_STRETCH at a full quota.
    """
    if ratio < slow_down_at:
        return 1.0
    if slow_down_at >= 1.0:
        return MAX_STRETCH
    share = min(1.0, (ratio - slow_down_at) / (1.0 - slow_down_at))
    return 1.0 + (MAX_STRETCH - 1.0) * share


def shared_credentials(
    options: Mapping[str, PlatformOptions],
) -> tuple[dict[str, str], dict[str, str]]:
    """Which platforms share an app and which share a token, as ``platform → group name``.

    Platforms configured with the same access token share it, and its app; the same app
    secret, or app tokens (``{app-id}|…``) of the same app id, mean the same app too. A group is
    named by its platforms (``facebook+instagram``), never by a secret.
    """

    def groups(marks: Mapping[str, set[str]]) -> dict[str, str]:
        members = {p: {p} for p in marks}
        changed = True
        while changed:  # until closed over chains (a shares with b, b with c)
            changed = False
            for p in marks:
                for q in marks:
                    linked = marks[p] & marks[q] or members[p] & members[q]
                    if linked and not members[q] <= members[p]:
                        members[p] |= members[q]
                        changed = True
        return {p: "+".join(sorted(members[p])) for p in marks}

    tokens = {p: {o.access_token} if o.access_token else set() for p, o in options.items()}
    apps = {p: {f"token:{t}" for t in tokens[p]} for p in options}
    for p, o in options.items():
        if o.app_secret:
            apps[p].add(f"secret:{o.app_secret}")
        if o.access_token and "|" in o.access_token:
            apps[p].add(f"app:{o.access_token.partition('|')[0]}")
    return groups(apps), groups(tokens)


@dataclass
class _Gate:
    paused_until: datetime | None = None
    quota: float | None = None
    scope: PauseScope = "platform"
    platforms: tuple[str, ...] = ()


@dataclass(frozen=True)
class Pause:
    """A pause in force: its gate, what it holds back, until when, and on which platforms."""

    key: str
    scope: PauseScope
    until: datetime
    platforms: tuple[str, ...]


class Pacing:
    """Pauses and slow-downs per rate-limit scope, shared by every poll of the daemon."""

    def __init__(
        self,
        slow_down_at: Mapping[str, float],
        *,
        apps: Mapping[str, str] | None = None,
        tokens: Mapping[str, str] | None = None,
    ) -> None:
        self._slow_down_at = dict(slow_down_at)
        self._apps = dict(apps or {})
        self._tokens = dict(tokens or {})
        self._gates: dict[str, _Gate] = {}
        self._objects: dict[tuple[str, str], str] = {}  # (platform, handle) → its object's gate

    @property
    def apps(self) -> Mapping[str, str]:
        """Which app each platform's polls are counted on (``shared_credentials``)."""
        return self._apps

    def gates(self, platform: str, handle: str) -> list[str]:
        """Every gate a channel's poll waits for."""
        keys = [
            gate_key(platform, handle),
            f"app:{self._apps.get(platform, platform)}",
            f"token:{self._tokens.get(platform, platform)}",
        ]
        if (object_gate := self._objects.get((platform, handle))) is not None:
            keys.append(object_gate)
        return keys

    def paused_for(self, platform: str, handle: str, now: datetime) -> datetime | None:
        """The end of the longest pause in force that holds this channel back, or None."""
        ends = [e for k in self.gates(platform, handle) if (e := self.paused_until(k, now))]
        return max(ends, default=None)

    def paused_until(self, key: str, now: datetime) -> datetime | None:
        """The end of a pause in force for ``key``, or None."""
        gate = self._gates.get(key)
        if gate is None or gate.paused_until is None or gate.paused_until <= now:
            return None
        return gate.paused_until

    def pause(self, key: str, until: datetime) -> datetime:
        """Pause ``key`` until ``until`` (a longer pause already in force wins)."""
        gate = self._gates.setdefault(key, _Gate())
        if gate.paused_until is None or gate.paused_until < until:
            gate.paused_until = until
        return gate.paused_until

    def throttled(
        self,
        platform: str,
        handle: str,
        until: datetime,
        *,
        scope: ThrottleScope | None = None,
        scope_id: str | None = None,
    ) -> Pause:
        """Close the gate a throttle met while polling ``handle`` covers, until ``until``."""
        members: tuple[str, ...] = (platform,)
        label: PauseScope
        if scope in ("app", "token"):
            groups = self._apps if scope == "app" else self._tokens
            group = groups.get(platform, platform)
            key, label = f"{scope}:{group}", scope
            members = tuple(sorted(p for p, g in groups.items() if g == group)) or members
        elif scope == "object":
            key, label = f"{platform}:object:{scope_id or handle}", "object"
            self._objects[(platform, handle)] = key
        else:
            key = gate_key(platform, handle)
            label = "platform" if key == platform else "server"
        end = self.pause(key, until)
        gate = self._gates[key]
        gate.scope, gate.platforms = label, members
        return Pause(key, label, end, members)

    def latest(self, platform: str, scope: PauseScope) -> datetime | None:
        """The latest end of the pauses of ``scope`` on ``platform`` (past ends included)."""
        ends = [
            g.paused_until
            for g in self._gates.values()
            if g.scope == scope and platform in g.platforms and g.paused_until is not None
        ]
        return max(ends, default=None)

    def observe_quota(self, key: str, ratio: float) -> None:
        self._gates.setdefault(key, _Gate()).quota = ratio

    def stretch(self, key: str, platform: str) -> float:
        """The factor on the poll interval for ``key``, from its last reported quota use."""
        gate = self._gates.get(key)
        if gate is None or gate.quota is None:
            return 1.0
        return stretch(gate.quota, self._slow_down_at.get(platform, 0.8))

    def interval(self, key: str, platform: str, base: timedelta) -> timedelta:
        return base * self.stretch(key, platform)
