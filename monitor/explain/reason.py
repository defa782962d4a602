"""Why a channel has its state: the code, the figures and the thresholds it was judged on."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

from monitor.cadence import ActivityState
from monitor.explain.words import ago, duration, every, language, moment, posts, times
from monitor.views import ChannelView


class ReasonCode(enum.StrEnum):
    """Why a channel has its state; finer than the state where the state has two causes."""

    NOT_READ_YET = "not_read_yet"  # unknown: not polled yet
    NEVER_READ = "never_read"  # unknown: polled, never read successfully
    PARKED = "parked"
    NEVER_POSTED = "never_posted"
    SILENT_PAST_DORMANT = "silent_past_dormant"
    SILENT_PAST_INACTIVE = "silent_past_inactive"
    SILENT_PAST_USUAL_GAP = "silent_past_usual_gap"  # quiet
    BELOW_TARGET = "below_target"
    ON_TARGET = "on_target"  # active


@dataclass(frozen=True, slots=True)
class Thresholds:
    """What a channel was judged on: its policy, and the silence that makes it quiet."""

    inactive_after: timedelta
    dormant_after: timedelta
    quiet_factor: float
    quiet_after: timedelta | None  # silence since the newest post that makes it quiet; None: never
    target_posts: int
    target_period: timedelta
    counted_kinds: tuple[str, ...]

    def as_json(self) -> dict[str, Any]:
        """In plain units (seconds), as ``/api/channels`` shows them."""
        return {
            "inactive_after_seconds": self.inactive_after.total_seconds(),
            "dormant_after_seconds": self.dormant_after.total_seconds(),
            "quiet_factor": self.quiet_factor,
            "quiet_after_seconds": (
                self.quiet_after.total_seconds() if self.quiet_after is not None else None
            ),
            "target_posts": self.target_posts,
            "target_period_seconds": self.target_period.total_seconds(),
            "counted_kinds": list(self.counted_kinds),
        }


@dataclass(frozen=True, slots=True)
class Reason:
    """Why a channel has its state: the code, the figures and the thresholds behind it."""

    code: ReasonCode
    state: ActivityState
    silence: timedelta | None  # since the newest post; None without one
    posts: int  # posts that count in ``window``
    window: timedelta
    usual_gap: timedelta | None
    thresholds: Thresholds
    as_of: datetime | None  # judged as of this moment (the last successful poll): unreadable now

    def text(self, lang: str = "en", tz: tzinfo = UTC) -> str:
        """The reason in one line: "no post for 41 days; inactive after 30 days"."""
        lang = language(lang)
        words = _REASON_TEXT[lang](self)
        if self.as_of is not None:
            when = moment(self.as_of, tz)
            words += (
                f" (as of the last successful poll, {when})"
                if lang == "en"
                else f" (volgens de laatste geslaagde peiling, {when})"
            )
        return words

    def as_json(self, lang: str = "en") -> dict[str, Any]:
        """``{"code", "text"}``: the reason as ``/api/channels`` shows it (times in UTC)."""
        return {"code": self.code.value, "text": self.text(lang)}


def thresholds(view: ChannelView) -> Thresholds:
    """The policy ``view`` was judged on, with the silence that makes it quiet."""
    policy, assessed = view.policy, view.cadence
    quiet_after = None
    if assessed.quiet_after is not None and assessed.last_post_at is not None:
        quiet_after = assessed.quiet_after - assessed.last_post_at
    return Thresholds(
        inactive_after=policy.inactive_after,
        dormant_after=policy.dormant_after,
        quiet_factor=policy.quiet_factor,
        quiet_after=quiet_after,
        target_posts=policy.target_posts,
        target_period=policy.target_period,
        counted_kinds=tuple(policy.count_kinds),
    )


_CODES = {
    ActivityState.PARKED: ReasonCode.PARKED,
    ActivityState.NEVER_POSTED: ReasonCode.NEVER_POSTED,
    ActivityState.DORMANT: ReasonCode.SILENT_PAST_DORMANT,
    ActivityState.INACTIVE: ReasonCode.SILENT_PAST_INACTIVE,
    ActivityState.QUIET: ReasonCode.SILENT_PAST_USUAL_GAP,
    ActivityState.BELOW_TARGET: ReasonCode.BELOW_TARGET,
    ActivityState.ACTIVE: ReasonCode.ON_TARGET,
}


def reason(view: ChannelView) -> Reason:
    """Why ``view`` has its state, with the figures and thresholds it was judged on."""
    state, assessed = view.state, view.cadence
    if state is ActivityState.UNKNOWN:
        polled = view.record.last_poll_at is not None
        code = ReasonCode.NEVER_READ if polled else ReasonCode.NOT_READ_YET
    else:
        code = _CODES[state]
    limits = thresholds(view)
    if state in (ActivityState.BELOW_TARGET, ActivityState.ACTIVE):
        count, window = assessed.posts_in_target_period, limits.target_period
    elif assessed.recent_posts.get("30d", 0) or state is not ActivityState.QUIET:
        count, window = assessed.recent_posts.get("30d", 0), timedelta(days=30)
    else:
        count, window = assessed.recent_posts.get("90d", 0), timedelta(days=90)
    return Reason(
        code=code,
        state=state,
        silence=assessed.silence,
        posts=count,
        window=window,
        usual_gap=assessed.usual_gap,
        thresholds=limits,
        as_of=view.judged_at if view.stale else None,
    )


def _silence(r: Reason, lang: str) -> str:
    return duration(r.silence, lang) if r.silence is not None else "?"


def _reason_en(r: Reason) -> str:
    t = r.thresholds
    match r.code:
        case ReasonCode.NOT_READ_YET:
            return "not read yet: waiting for its first poll"
        case ReasonCode.NEVER_READ:
            return "never read successfully, so it cannot be judged"
        case ReasonCode.PARKED:
            return "parked: kept only to hold the name, not judged"
        case ReasonCode.NEVER_POSTED:
            return "read fine, but no post found at all"
        case ReasonCode.SILENT_PAST_DORMANT:
            return f"no post for {_silence(r, 'en')}; dormant after {duration(t.dormant_after)}"
        case ReasonCode.SILENT_PAST_INACTIVE:
            return f"no post for {_silence(r, 'en')}; inactive after {duration(t.inactive_after)}"
        case ReasonCode.SILENT_PAST_USUAL_GAP:
            usual = f", when it usually posts {every(r.usual_gap, 'en')}" if r.usual_gap else ""
            limit = f" (quiet after {duration(t.quiet_after)})" if t.quiet_after else ""
            return (
                f"posted {times(r.posts, 'en')} in {duration(r.window)} but nothing for "
                f"{_silence(r, 'en')}{usual}{limit}"
            )
        case ReasonCode.BELOW_TARGET:
            return (
                f"{posts(r.posts)} in the last {duration(r.window)}; the target is {t.target_posts}"
            )
        case ReasonCode.ON_TARGET:
            return (
                f"{posts(r.posts)} in the last {duration(r.window)} (target {t.target_posts}); "
                f"last post {ago(r.silence or timedelta(0))}"
            )


def _reason_nl(r: Reason) -> str:
    t = r.thresholds
    match r.code:
        case ReasonCode.NOT_READ_YET:
            return "nog niet gelezen: wacht op de eerste peiling"
        case ReasonCode.NEVER_READ:
            return "nog nooit goed gelezen, dus niet te beoordelen"
        case ReasonCode.PARKED:
            return "geparkeerd: alleen aangehouden om de naam vast te houden, niet beoordeeld"
        case ReasonCode.NEVER_POSTED:
            return "goed gelezen, maar nog geen enkel bericht gevonden"
        case ReasonCode.SILENT_PAST_DORMANT:
            return (
                f"geen bericht in {_silence(r, 'nl')}; slapend na {duration(t.dormant_after, 'nl')}"
            )
        case ReasonCode.SILENT_PAST_INACTIVE:
            return (
                f"geen bericht in {_silence(r, 'nl')}; "
                f"inactief na {duration(t.inactive_after, 'nl')}"
            )
        case ReasonCode.SILENT_PAST_USUAL_GAP:
            usual = (
                f", terwijl het gewoonlijk {every(r.usual_gap, 'nl')} plaatst"
                if r.usual_gap
                else ""
            )
            limit = f" (stil na {duration(t.quiet_after, 'nl')})" if t.quiet_after else ""
            return (
                f"{times(r.posts, 'nl')} geplaatst in {duration(r.window, 'nl')} maar niets in "
                f"{_silence(r, 'nl')}{usual}{limit}"
            )
        case ReasonCode.BELOW_TARGET:
            return (
                f"{posts(r.posts, 'nl')} in de afgelopen {duration(r.window, 'nl')}; "
                f"het doel is {t.target_posts}"
            )
        case ReasonCode.ON_TARGET:
            return (
                f"{posts(r.posts, 'nl')} in de afgelopen {duration(r.window, 'nl')} "
                f"(doel {t.target_posts}); laatste bericht {ago(r.silence or timedelta(0), 'nl')}"
            )


_REASON_TEXT = {"en": _reason_en, "nl": _reason_nl}
