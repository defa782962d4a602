"""Words for people, in English and Dutch: state names, a legend, durations, counts, moments.

Pure and presentation-neutral: plain strings, no markup.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, tzinfo

from monitor.cadence import ActivityState

LANGUAGES: tuple[str, ...] = ("en", "nl")
"""The languages every text here is written in; the first is the default."""

PLATFORM_NAMES: dict[str, str] = {
    "facebook": "Facebook",
    "instagram": "Instagram",
    "linkedin": "LinkedIn",
    "mastodon": "Mastodon",
    "bluesky": "Bluesky",
    "youtube": "YouTube",
    "rss": "RSS",
}

_STATE_NAMES: dict[str, dict[ActivityState, str]] = {
    "en": {
        ActivityState.ACTIVE: "active",
        ActivityState.BELOW_TARGET: "below target",
        ActivityState.QUIET: "quiet",
        ActivityState.INACTIVE: "inactive",
        ActivityState.DORMANT: "dormant",
        ActivityState.NEVER_POSTED: "never posted",
        ActivityState.PARKED: "parked",
        ActivityState.UNKNOWN: "unknown",
    },
    "nl": {
        ActivityState.ACTIVE: "actief",
        ActivityState.BELOW_TARGET: "onder doel",
        ActivityState.QUIET: "stil",
        ActivityState.INACTIVE: "inactief",
        ActivityState.DORMANT: "slapend",
        ActivityState.NEVER_POSTED: "nooit gepost",
        ActivityState.PARKED: "geparkeerd",
        ActivityState.UNKNOWN: "onbekend",
    },
}

_STATE_MEANINGS: dict[str, dict[ActivityState, str]] = {
    "en": {
        ActivityState.ACTIVE: "posts at least as often as its target",
        ActivityState.BELOW_TARGET: "posts, but fewer than its target in the target period",
        ActivityState.QUIET: "silent for much longer than its usual gap between posts",
        ActivityState.INACTIVE: "nothing posted for longer than the inactive threshold",
        ActivityState.DORMANT: "nothing posted for longer than the dormant threshold",
        ActivityState.NEVER_POSTED: "read fine, but no post found at all",
        ActivityState.PARKED: "kept only to hold the name; not judged",
        ActivityState.UNKNOWN: "never read successfully, so not judged",
    },
    "nl": {
        ActivityState.ACTIVE: "plaatst minstens zo vaak als het doel",
        ActivityState.BELOW_TARGET: "plaatst, maar minder dan het doel in de doelperiode",
        ActivityState.QUIET: "veel langer stil dan de gebruikelijke tijd tussen berichten",
        ActivityState.INACTIVE: "langer niets geplaatst dan de grens voor inactief",
        ActivityState.DORMANT: "langer niets geplaatst dan de grens voor slapend",
        ActivityState.NEVER_POSTED: "goed gelezen, maar nog geen enkel bericht gevonden",
        ActivityState.PARKED: "alleen aangehouden om de naam vast te houden; niet beoordeeld",
        ActivityState.UNKNOWN: "nog nooit goed gelezen, dus niet beoordeeld",
    },
}


def language(lang: str | None) -> str:
    """``lang`` if it is one of LANGUAGES, else the default (English)."""
    return lang if lang is not None and lang in LANGUAGES else LANGUAGES[0]


def state_name(state: ActivityState, lang: str = "en") -> str:
    """A state as people read it: "below target", "inactief"."""
    return _STATE_NAMES[language(lang)][state]


def state_meaning(state: ActivityState, lang: str = "en") -> str:
    """What a state means, for a legend."""
    return _STATE_MEANINGS[language(lang)][state]


def platform_name(platform: str) -> str:
    return PLATFORM_NAMES.get(platform, platform)


# -- durations and counts in words -------------------------------------------------------------

_UNITS = {
    "en": {"day": ("day", "days"), "hour": ("hour", "hours"), "minute": ("minute", "minutes")},
    "nl": {"day": ("dag", "dagen"), "hour": ("uur", "uur"), "minute": ("minuut", "minuten")},
}


def duration(value: timedelta, lang: str = "en") -> str:
    """A duration for people, rounded to its largest sensible unit: "41 days", "36 hours",
    "1 day", "5 minutes", "less than a minute"."""
    units = _UNITS[language(lang)]
    seconds = max(0.0, value.total_seconds())
    whole_days = seconds % 86400 == 0
    if seconds >= 2 * 86400 or (seconds >= 86400 and whole_days):
        count, unit = round(seconds / 86400), "day"
    elif seconds >= 3600:
        count, unit = round(seconds / 3600), "hour"
    elif seconds >= 60:
        count, unit = round(seconds / 60), "minute"
    else:
        return "less than a minute" if language(lang) == "en" else "minder dan een minuut"
    singular, plural = units[unit]
    return f"{count} {singular if count == 1 else plural}"


def ago(value: timedelta, lang: str = "en") -> str:
    """A past moment relative to now: "5 days ago", "5 dagen geleden"."""
    if value < timedelta(minutes=1):
        return "just now" if language(lang) == "en" else "zojuist"
    words = duration(value, lang)
    return f"{words} ago" if language(lang) == "en" else f"{words} geleden"


def ahead(value: timedelta, lang: str = "en") -> str:
    """A future moment relative to now: "in 3 hours", "over 3 uur"."""
    if value < timedelta(minutes=1):
        return "now" if language(lang) == "en" else "nu"
    words = duration(value, lang)
    return f"in {words}" if language(lang) == "en" else f"over {words}"


def posts(count: int, lang: str = "en") -> str:
    """ "1 post", "25 posts", "1 bericht", "25 berichten"."""
    if language(lang) == "nl":
        return f"{count} bericht" if count == 1 else f"{count} berichten"
    return f"{count} post" if count == 1 else f"{count} posts"


def times(count: int, lang: str) -> str:
    if language(lang) == "nl":
        return f"{count} keer"
    return "once" if count == 1 else f"{count} times"


def every(gap: timedelta, lang: str) -> str:
    """ "every day", "every 3 days", "elk uur", "elke 6 uur"."""
    words = duration(gap, lang)
    count, _, unit = words.partition(" ")
    if language(lang) == "en":
        return f"every {unit}" if count == "1" else f"every {words}"
    if count == "1":
        return "elk uur" if unit == "uur" else f"elke {unit}"
    return f"elke {words}"


def moment(value: datetime, tz: tzinfo = UTC) -> str:
    """A moment in ``tz``, to the minute, with the zone's abbreviation: "2026-11-25 14:00 CET"."""
    local = value.astimezone(tz)
    return f"{local:%Y-%m-%d %H:%M} {local.tzname() or ''}".rstrip()
