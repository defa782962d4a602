"""Plain data for people and scripts: ``/api/channels``, ``status --format json``, exit codes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from monitor.cadence import ActivityState
from monitor.explain import health, reason
from monitor.timestamps import rfc3339
from monitor.views import ChannelView

OK_STATES = frozenset({ActivityState.ACTIVE, ActivityState.PARKED})

EXIT_OK, EXIT_FLAGGED, EXIT_USAGE, EXIT_UNREADABLE = 0, 1, 2, 3


def channel_json(view: ChannelView) -> dict[str, Any]:
    """One channel as the JSON API shows it (the contract's fields, and a few more)."""
    record, assessed = view.record, view.cadence
    why = reason(view)
    return {
        "organisation": view.organisation,
        "platform": view.platform,
        "channel": view.handle,
        "name": record.name,
        "url": record.url,
        "state": assessed.state.value,
        "reason": why.as_json(),  # the state in words, and a code scripts can match
        "thresholds": why.thresholds.as_json(),  # what the state was judged on
        "stale": view.stale,  # judged as of the last successful poll: it cannot be read now
        "judged_at": rfc3339(view.judged_at),
        "last_post_at": rfc3339(assessed.last_post_at),
        "silence_seconds": (
            assessed.silence.total_seconds() if assessed.silence is not None else None
        ),
        "posts_7d": assessed.recent_posts.get("7d", 0),
        "posts_30d": assessed.recent_posts.get("30d", 0),
        "posts_90d": assessed.recent_posts.get("90d", 0),
        "posts_30d_by_kind": dict(view.posts_30d_by_kind),
        "posts_in_target_period": assessed.posts_in_target_period,
        "target_posts": view.policy.target_posts,
        "target_period_seconds": view.policy.target_period.total_seconds(),
        "usual_gap_seconds": (
            assessed.usual_gap.total_seconds() if assessed.usual_gap is not None else None
        ),
        "followers": record.followers,
        "profile_note": record.profile_note,
        "parked": view.settings.parked,
        "poll_ok": record.last_poll_ok,
        "last_poll_at": rfc3339(record.last_poll_at),
        "last_success_at": rfc3339(record.last_success_at),
        "poll_error": record.last_error_reason,
        "poll_error_detail": record.last_error_detail,
        "consecutive_failures": record.consecutive_failures,
        "poll_health": health(view).as_json(),  # the poll in words, and what to do
        "moved_to": view.moved_to,  # the address moved for good: update the configuration
        "weekly_posts": list(view.weekly_posts),
    }


def exit_status(views: Sequence[ChannelView]) -> int:
    """0 all active or parked; 3 some channel could not be polled; else 1 if some is flagged.

    Parked channels count as fine whatever their state: they are kept only to hold the name
    (a parked page that no longer exists cannot be read, and that is expected).
    """
    if any(v.record.last_poll_ok is not True for v in views if not v.settings.parked):
        return EXIT_UNREADABLE
    if any(v.state not in OK_STATES for v in views if not v.settings.parked):
        return EXIT_FLAGGED
    return EXIT_OK
