"""Exit codes and JSON from the judged views."""

from __future__ import annotations

from datetime import timedelta

from monitor.api import EXIT_FLAGGED, EXIT_OK, EXIT_UNREADABLE, channel_json, exit_status
from monitor.records import ChannelRecord, PostTime
from monitor.settings import ChannelSettings, Policy
from monitor.views import ChannelView, judge
from tests.conftest import NOW


def view(
    posts_days_ago: list[float], *, ok: bool | None = True, parked: bool = False
) -> ChannelView:
    settings = ChannelSettings(
        "Org", "rss", "https://a.example/rss", Policy(), timedelta(hours=6), parked
    )
    record = ChannelRecord(
        1,
        "Org",
        "rss",
        settings.label,
        None,
        None,
        None,
        last_poll_at=NOW if ok is not None else None,
        last_poll_ok=ok,
        last_success_at=NOW if ok else None,
        last_error_reason=None if ok else "not_found",
        last_error_detail=None,
        consecutive_failures=0 if ok else 1,
    )
    posts = [PostTime(NOW - timedelta(days=d), "post") for d in posts_days_ago]
    return judge(settings, record, posts, NOW)


def test_exit_codes() -> None:
    active = view([1, 4, 7, 10])
    stale = view([40, 47])
    failing = view([1], ok=False)
    assert exit_status([active]) == EXIT_OK
    assert exit_status([active, stale]) == EXIT_FLAGGED
    assert exit_status([active, stale, failing]) == EXIT_UNREADABLE


def test_a_parked_channel_never_fails_the_exit_code_even_unread() -> None:
    gone = view([], ok=False, parked=True)
    assert gone.state.value == "unknown"
    assert exit_status([view([1, 4, 7, 10]), gone]) == EXIT_OK


def test_a_post_just_now_has_a_silence_of_zero_not_null() -> None:
    assert channel_json(view([0, 3, 6]))["silence_seconds"] == 0


def test_the_api_gives_the_reason_in_words_and_the_thresholds_it_was_judged_on() -> None:
    shown = channel_json(view([41, 48, 55]))
    assert shown["reason"] == {
        "code": "silent_past_inactive",
        "text": "no post for 41 days; inactive after 30 days",
    }
    assert shown["thresholds"]["inactive_after_seconds"] == 30 * 86400
    assert shown["thresholds"]["quiet_after_seconds"] is None
    assert shown["poll_health"] == {
        "code": "ok",
        "level": "ok",
        "text": "read fine",
        "action": None,
    }
    failing = channel_json(view([1], ok=False))
    assert failing["poll_health"]["code"] == "not_found"
    assert failing["poll_health"]["action"].startswith("check the handle")
