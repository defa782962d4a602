"""Pausing after a throttle and slowing down near the quota, for a whole platform."""

from __future__ import annotations

from datetime import timedelta

import pytest

from monitor.pacing import MAX_STRETCH, Pacing, gate_key, stretch
from tests.conftest import NOW


def test_one_limit_covers_a_whole_api_platform_but_only_one_server_elsewhere() -> None:
    assert gate_key("facebook", "gemeente") == gate_key("facebook", "provincie") == "facebook"
    assert gate_key("mastodon", "@a@social.overheid.nl") == "mastodon:social.overheid.nl"
    assert gate_key("mastodon", "@b@mastodon.social") != gate_key("mastodon", "@a@social.example")
    assert gate_key("rss", "https://www.a.nl/rss") == "rss:www.a.nl"


@pytest.mark.parametrize(
    ("ratio", "threshold", "expected"),
    [
        (0.5, 0.8, 1.0),
        (0.8, 0.8, 1.0),
        (0.9, 0.8, 2.5),
        (1.0, 0.8, MAX_STRETCH),
        (1.7, 0.8, MAX_STRETCH),
    ],
)
def test_stretch_grows_from_the_threshold_to_a_full_quota(
    ratio: float, threshold: float, expected: float
) -> None:
    assert stretch(ratio, threshold) == pytest.approx(expected)


def test_a_pause_ends_and_the_longer_pause_wins() -> None:
    pacing = Pacing({"facebook": 0.8})
    pacing.pause("facebook", NOW + timedelta(minutes=10))
    pacing.pause("facebook", NOW + timedelta(minutes=5))
    assert pacing.paused_until("facebook", NOW) == NOW + timedelta(minutes=10)
    assert pacing.paused_until("instagram", NOW) is None
    assert pacing.paused_until("facebook", NOW + timedelta(minutes=10)) is None


def test_quota_use_stretches_the_interval_per_platform_threshold() -> None:
    pacing = Pacing({"facebook": 0.5})
    assert pacing.interval("facebook", "facebook", timedelta(hours=1)) == timedelta(hours=1)
    pacing.observe_quota("facebook", 0.75)
    assert pacing.interval("facebook", "facebook", timedelta(hours=1)) == timedelta(hours=2.5)
