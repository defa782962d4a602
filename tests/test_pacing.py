"""Pausing after a throttle, as far as it reaches, and slowing down near the quota."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, ClassVar

import pytest
from prometheus_client import CollectorRegistry

from connectors.base import ChannelRef, Checkpoint, FetchResult, PlatformOptions
from connectors.errors import RateLimited
from monitor.jobs import Poller
from monitor.metrics import Instruments
from monitor.pacing import MAX_STRETCH, Pacing, gate_key, shared_credentials, stretch
from monitor.redact import Redactor
from monitor.settings import ChannelSettings, Policy
from monitor.storage import Store
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


# -- throttles by scope ----------------------------------------------------------------------

UNTIL = NOW + timedelta(minutes=30)
SHARED = {"facebook": "facebook+instagram", "instagram": "facebook+instagram"}


def test_an_object_throttle_holds_back_only_the_channel_that_met_it() -> None:
    pacing = Pacing({})
    pause = pacing.throttled("facebook", "gemeente", UNTIL, scope="object", scope_id="1001")
    assert (pause.key, pause.scope, pause.platforms) == (
        "facebook:object:1001",
        "object",
        ("facebook",),
    )
    assert pacing.paused_for("facebook", "gemeente", NOW) == UNTIL
    assert pacing.paused_for("facebook", "provincie", NOW) is None
    assert pacing.paused_for("instagram", "gemeente", NOW) is None
    assert pacing.paused_for("facebook", "gemeente", UNTIL) is None  # the pause ends


def test_an_object_throttle_without_an_id_holds_back_its_channel() -> None:
    pacing = Pacing({})
    pacing.throttled("facebook", "gemeente", UNTIL, scope="object")
    assert pacing.paused_for("facebook", "gemeente", NOW) == UNTIL
    assert pacing.paused_for("facebook", "provincie", NOW) is None


def test_an_app_throttle_holds_back_every_platform_of_the_app() -> None:
    pacing = Pacing({}, apps=SHARED, tokens={"facebook": "facebook", "instagram": "instagram"})
    pause = pacing.throttled("facebook", "gemeente", UNTIL, scope="app")
    assert pause.platforms == ("facebook", "instagram")
    assert pacing.paused_for("instagram", "provincie", NOW) == UNTIL
    assert pacing.paused_for("linkedin", "123", NOW) is None
    token = Pacing({}, apps=SHARED, tokens={"facebook": "facebook", "instagram": "instagram"})
    token.throttled("facebook", "gemeente", UNTIL, scope="token")
    assert token.paused_for("facebook", "provincie", NOW) == UNTIL
    assert token.paused_for("instagram", "provincie", NOW) is None  # another token


def test_without_a_scope_the_old_guess_holds() -> None:
    pacing = Pacing({})
    assert pacing.throttled("linkedin", "1", UNTIL).scope == "platform"
    assert pacing.paused_for("linkedin", "2", NOW) == UNTIL
    assert pacing.throttled("mastodon", "@a@social.example", UNTIL).scope == "server"
    assert pacing.paused_for("mastodon", "@b@social.example", NOW) == UNTIL
    assert pacing.paused_for("mastodon", "@c@other.example", NOW) is None
    pacing.throttled("rss", "https://www.a.nl/rss", UNTIL)
    assert pacing.paused_for("rss", "https://www.a.nl/other", NOW) == UNTIL
    assert pacing.paused_for("rss", "https://www.b.nl/rss", NOW) is None


def test_latest_is_the_last_end_of_a_scope_on_a_platform() -> None:
    pacing = Pacing({})
    pacing.throttled("facebook", "a", UNTIL, scope="object", scope_id="1")
    pacing.throttled("facebook", "b", NOW + timedelta(minutes=5), scope="object", scope_id="2")
    assert pacing.latest("facebook", "object") == UNTIL
    assert pacing.latest("facebook", "app") is None


def test_platforms_sharing_a_token_or_an_app_are_grouped() -> None:
    apps, tokens = shared_credentials(
        {
            "facebook": PlatformOptions(access_token="EAA-one", app_secret="s3cr3t"),
            "instagram": PlatformOptions(access_token="EAA-two", app_secret="s3cr3t"),
            "linkedin": PlatformOptions(access_token="AQX-three"),
            "rss": PlatformOptions(),
        }
    )
    assert apps["facebook"] == apps["instagram"] == "facebook+instagram"
    assert tokens["facebook"] == "facebook" and tokens["instagram"] == "instagram"
    assert apps["linkedin"] == "linkedin" and apps["rss"] == "rss"
    assert "s3cr3t" not in repr((apps, tokens))
    apps, tokens = shared_credentials(
        {
            "facebook": PlatformOptions(access_token="EAA-same"),
            "instagram": PlatformOptions(access_token="EAA-same"),
        }
    )
    assert apps["facebook"] == tokens["instagram"] == "facebook+instagram"
    apps, _ = shared_credentials(
        {
            "facebook": PlatformOptions(access_token="123|app-secret"),
            "instagram": PlatformOptions(access_token="123|another-form"),
        }
    )
    assert apps["facebook"] == "facebook+instagram"  # app tokens of the same app id


# -- the poller keeps the other channels going ----------------------------------------------


class ThrottledPage:
    """A Facebook connector on which one Page is throttled on its own."""

    platform: ClassVar[str] = "facebook"

    def __init__(self) -> None:
        self.calls: list[str] = []

    async def fetch(
        self, channel: ChannelRef, *, since: datetime | None, checkpoint: Checkpoint
    ) -> FetchResult:
        self.calls.append(channel.handle)
        if channel.handle == "druk":
            raise RateLimited(
                "(#80001) There have been too many calls to this Page account.",
                retry_after=1800,
                scope="object",
                scope_id="1014",
            )
        return FetchResult()

    def public_url(self, channel: ChannelRef) -> str | None:
        return None


async def test_a_throttled_page_leaves_the_other_pages_polled(store: Store) -> None:
    busy, calm = (
        ChannelSettings(f"Gemeente {h}", "facebook", h, Policy(), timedelta(hours=1))
        for h in ("druk", "rustig")
    )
    ids = store.sync([busy.organisation, calm.organisation], [busy, calm], NOW)
    connector = ThrottledPage()
    registry = CollectorRegistry()

    async def db(fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.to_thread(fn, *args)

    poller = Poller(
        connectors={"facebook": connector},
        store=store,
        db=db,
        instruments=Instruments(registry, ["facebook"]),
        redactor=Redactor([]),
        concurrency={"facebook": 4},
        poll_timeout=timedelta(seconds=5),
        clock=lambda: NOW,
    )
    first = await poller.poll(busy, ids[busy.key])
    assert first.error is not None and first.error.kind == "rate_limited"
    assert (await poller.poll(calm, ids[calm.key])).ok
    again = await poller.poll(busy, ids[busy.key])
    assert again.deferred_until is not None and again.deferred_until >= NOW + timedelta(minutes=30)
    assert connector.calls == ["druk", "rustig"]
    labels = {"platform": "facebook", "scope": "object"}
    paused = registry.get_sample_value("channel_monitor_api_paused_until_timestamp_seconds", labels)
    assert paused is not None and paused >= (NOW + timedelta(minutes=30)).timestamp()
    platform_wide = {"platform": "facebook", "scope": "platform"}
    assert (
        registry.get_sample_value(
            "channel_monitor_api_paused_until_timestamp_seconds", platform_wide
        )
        is None
    )
