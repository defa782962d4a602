"""Why a channel has its state and how its polls stand, as data and in words (English, Dutch).

Pure: functions of a judged ``ChannelView``; no clock, no I/O, no markup. The status page, the
channel page, ``/api/channels``, the report and the CLI explain from here, so they never disagree.

    why = reason(view)                 # Reason: a code, the figures, the thresholds judged on
    why.text("nl")                     # "geen bericht in 41 dagen; inactief na 30 dagen"
    why.thresholds.as_json()           # {"inactive_after_seconds": 2592000.0, …}
    how = health(view)                 # Health: a code, a level, what the platform said
    how.text("en"), how.action("en")   # "the Facebook token has expired", "renew it in …"
    state_name(view.state, "nl")       # "inactief"; state_meaning() for a legend

Every ``lang`` is one of LANGUAGES; anything else reads as English.
"""

from monitor.explain.health import Health, HealthCode, Level, health
from monitor.explain.reason import Reason, ReasonCode, Thresholds, reason, thresholds
from monitor.explain.words import (
    LANGUAGES,
    PLATFORM_NAMES,
    ago,
    ahead,
    duration,
    language,
    moment,
    platform_name,
    posts,
    state_meaning,
    state_name,
)

__all__ = [
    "LANGUAGES",
    "PLATFORM_NAMES",
    "Health",
    "HealthCode",
    "Level",
    "Reason",
    "ReasonCode",
    "Thresholds",
    "ago",
    "ahead",
    "duration",
    "health",
    "language",
    "moment",
    "platform_name",
    "posts",
    "reason",
    "state_meaning",
    "state_name",
    "thresholds",
]
