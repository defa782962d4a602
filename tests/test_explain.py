"""The reason for a state and the poll health, as data and in English and Dutch words."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest

from monitor.cadence import ActivityState
from monitor.explain import (
    HealthCode,
    Level,
    ReasonCode,
    ago,
    duration,
    health,
    reason,
    state_meaning,
    state_name,
)
from monitor.records import STORAGE_REASON, ChannelRecord, PostTime
from monitor.settings import ChannelSettings, Policy
from monitor.views import ChannelView, judge
from tests.conftest import NOW

EXPIRED = (
    "Error validating access token: Session has expired on Saturday, 13-Jun-26 05:00:00 PDT. "
    "The current time is Saturday, 13-Jun-26 08:24:52 PDT."
)


def view(
    posts_days_ago: list[float],
    *,
    platform: str = "rss",
    polled: bool = True,
    ok: bool = True,
    read_before: bool = True,
    parked: bool = False,
    error: str | None = "transient",
    detail: str | None = None,
    failures: int = 1,
) -> ChannelView:
    settings = ChannelSettings(
        "Gemeente A", platform, "https://a.example/rss", Policy(), timedelta(hours=6), parked
    )
    read_at = (NOW if ok else NOW - timedelta(days=2)) if polled and read_before else None
    record = ChannelRecord(
        1,
        "Gemeente A",
        platform,
        settings.label,
        None,
        None,
        None,
        last_poll_at=NOW if polled else None,
        last_poll_ok=ok if polled else None,
        last_success_at=read_at,
        last_error_reason=None if ok else error,
        last_error_detail=None if ok else detail,
        consecutive_failures=0 if ok else failures,
    )
    posts = [PostTime(NOW - timedelta(days=d), "post") for d in posts_days_ago]
    return judge(settings, record, posts, NOW)


DAILY_THEN_SILENT = [5 + i for i in range(40)]  # every day until 5 days ago


@pytest.mark.parametrize(
    ("posts", "state", "code", "english", "dutch"),
    [
        (
            [41, 48, 55],
            ActivityState.INACTIVE,
            ReasonCode.SILENT_PAST_INACTIVE,
            "no post for 41 days; inactive after 30 days",
            "geen bericht in 41 dagen; inactief na 30 dagen",
        ),
        (
            [200, 210],
            ActivityState.DORMANT,
            ReasonCode.SILENT_PAST_DORMANT,
            "no post for 200 days; dormant after 180 days",
            "geen bericht in 200 dagen; slapend na 180 dagen",
        ),
        (
            DAILY_THEN_SILENT,
            ActivityState.QUIET,
            ReasonCode.SILENT_PAST_USUAL_GAP,
            "posted 26 times in 30 days but nothing for 5 days, when it usually posts every day"
            " (quiet after 3 days)",
            "26 keer geplaatst in 30 dagen maar niets in 5 dagen, terwijl het gewoonlijk elke"
            " dag plaatst (stil na 3 dagen)",
        ),
        (
            [3, 20, 40],
            ActivityState.BELOW_TARGET,
            ReasonCode.BELOW_TARGET,
            "1 post in the last 14 days; the target is 2",
            "1 bericht in de afgelopen 14 dagen; het doel is 2",
        ),
        (
            [1, 4, 7, 10],
            ActivityState.ACTIVE,
            ReasonCode.ON_TARGET,
            "4 posts in the last 14 days (target 2); last post 1 day ago",
            "4 berichten in de afgelopen 14 dagen (doel 2); laatste bericht 1 dag geleden",
        ),
        (
            [],
            ActivityState.NEVER_POSTED,
            ReasonCode.NEVER_POSTED,
            "read fine, but no post found at all",
            "goed gelezen, maar nog geen enkel bericht gevonden",
        ),
    ],
)
def test_the_reason_names_the_figures_and_the_threshold(
    posts: list[float], state: ActivityState, code: ReasonCode, english: str, dutch: str
) -> None:
    judged = view(posts)
    assert judged.state is state
    why = reason(judged)
    assert why.code is code
    assert why.text() == english
    assert why.text("nl") == dutch
    assert why.text("fr") == english  # an unknown language reads as English


def test_the_quiet_threshold_is_the_silence_that_made_it_quiet() -> None:
    limits = reason(view(DAILY_THEN_SILENT)).thresholds
    assert limits.quiet_after == timedelta(days=3)  # quiet_factor 3 × a usual gap of a day
    assert limits.as_json() == {
        "inactive_after_seconds": 30 * 86400,
        "dormant_after_seconds": 180 * 86400,
        "quiet_factor": 3.0,
        "quiet_after_seconds": 3 * 86400,
        "target_posts": 2,
        "target_period_seconds": 14 * 86400,
        "counted_kinds": ["post"],
    }
    assert reason(view([41, 48])).thresholds.quiet_after is None  # too few posts: never quiet


def test_unknown_says_whether_it_was_ever_polled() -> None:
    waiting = reason(view([], polled=False))
    assert waiting.code is ReasonCode.NOT_READ_YET
    assert waiting.text() == "not read yet: waiting for its first poll"
    failing = reason(view([], ok=False, read_before=False))
    assert failing.state is ActivityState.UNKNOWN and failing.code is ReasonCode.NEVER_READ
    assert reason(view([1], parked=True)).code is ReasonCode.PARKED


def test_a_judgement_kept_from_the_last_successful_poll_says_so_in_local_time() -> None:
    stale = view([41, 48], ok=False)  # read two days ago, failing since
    why = reason(stale)
    assert why.as_of == NOW - timedelta(days=2)
    assert why.text(tz=ZoneInfo("Europe/Amsterdam")) == (
        "no post for 39 days; inactive after 30 days "
        "(as of the last successful poll, 2026-11-24 13:00 CET)"
    )
    assert "volgens de laatste geslaagde peiling, 2026-11-24 12:00 UTC" in why.text("nl")
    assert why.as_json()["code"] == "silent_past_inactive"


def test_an_expired_token_says_where_to_renew_it() -> None:
    how = health(view([1], platform="facebook", ok=False, error="auth", detail=EXPIRED))
    assert how.code is HealthCode.TOKEN_EXPIRED and how.level is Level.ERROR
    assert how.text() == "the Facebook token has expired"
    action = how.action() or ""
    assert "Meta Business Settings" in action and "[platforms.facebook] access_token" in action
    assert how.text("nl") == "het Facebook-token is verlopen"
    assert "vernieuw" in (how.action("nl") or "")
    assert how.detail == EXPIRED  # the platform's words, for the details


def test_a_refused_token_is_not_called_expired() -> None:
    how = health(
        view([1], platform="linkedin", ok=False, error="auth", detail="Invalid access token")
    )
    assert how.code is HealthCode.AUTH
    assert "LinkedIn refused the token" in how.text()
    assert "LinkedIn Developer Portal" in (how.action() or "")


@pytest.mark.parametrize(
    ("error", "code", "level", "needs_action"),
    [
        ("transient", HealthCode.TRANSIENT, Level.WARNING, False),
        ("rate_limited", HealthCode.RATE_LIMITED, Level.WARNING, False),
        ("not_found", HealthCode.NOT_FOUND, Level.ERROR, True),
        ("malformed", HealthCode.MALFORMED, Level.ERROR, True),
        (STORAGE_REASON, HealthCode.STORAGE, Level.ERROR, True),
        ("something_new", HealthCode.FAILING, Level.ERROR, False),
    ],
)
def test_each_failure_has_words_and_a_level(
    error: str, code: HealthCode, level: Level, needs_action: bool
) -> None:
    how = health(view([1], ok=False, error=error, failures=3))
    assert (how.code, how.level) == (code, level)
    assert how.text().endswith("(3 polls in a row failed)")
    assert how.text("nl").endswith("(3 peilingen op rij mislukt)")
    action = how.action()
    assert (action is not None and not action.startswith("nothing")) is needs_action


def test_a_moved_feed_and_a_partial_profile_are_notes_on_a_working_poll() -> None:
    fine = view([1])
    assert health(fine).level is Level.OK and health(fine).action() is None
    noted = replace(fine, record=replace(fine.record, profile_note="followers not readable"))
    assert health(noted).level is Level.NOTE
    assert health(noted).text() == "read fine; followers not readable"
    moved = replace(fine, record=replace(fine.record, moved_to="https://b.example/rss"))
    assert health(moved).text() == "read fine; moved to https://b.example/rss"
    assert health(moved).action() == "put the new address in the configuration"
    assert health(view([], polled=False)).code is HealthCode.NOT_POLLED


@pytest.mark.parametrize(
    ("value", "english", "dutch"),
    [
        (timedelta(seconds=20), "less than a minute", "minder dan een minuut"),
        (timedelta(minutes=5), "5 minutes", "5 minuten"),
        (timedelta(hours=1), "1 hour", "1 uur"),
        (timedelta(hours=36), "36 hours", "36 uur"),
        (timedelta(days=1), "1 day", "1 dag"),
        (timedelta(days=2, hours=13), "3 days", "3 dagen"),
        (timedelta(days=41, hours=2), "41 days", "41 dagen"),
    ],
)
def test_durations_in_words(value: timedelta, english: str, dutch: str) -> None:
    assert duration(value) == english
    assert duration(value, "nl") == dutch


def test_relative_times_names_and_a_legend() -> None:
    assert ago(timedelta(seconds=5)) == "just now"
    assert ago(timedelta(days=3), "nl") == "3 dagen geleden"
    assert state_name(ActivityState.BELOW_TARGET) == "below target"
    assert state_name(ActivityState.DORMANT, "nl") == "slapend"
    for state in ActivityState:
        assert state_meaning(state) and state_meaning(state, "nl") != state_meaning(state)
