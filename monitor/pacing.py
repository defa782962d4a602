"""Pacing polls by what the platforms say: pause after a throttle, slow down near the quota.

Facebook, Instagram, LinkedIn and Bluesky meter one app (or one address) as a whole, so one
channel's throttle pauses every channel of that platform; Mastodon servers and websites are
metered each on their own.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx

PLATFORM_WIDE = frozenset({"facebook", "instagram", "linkedin", "bluesky", "youtube"})
MAX_STRETCH = 4.0  # at a full quota, polls run this many times less often


def gate_key(platform: str, handle: str) -> str:
    """What one rate limit covers: the platform, or one server of it."""
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


@dataclass
class _Gate:
    paused_until: datetime | None = None
    quota: float | None = None


class Pacing:
    """Pauses and slow-downs per rate-limit scope, shared by every poll of the daemon."""

    def __init__(self, slow_down_at: Mapping[str, float]) -> None:
        self._slow_down_at = dict(slow_down_at)
        self._gates: dict[str, _Gate] = {}

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
