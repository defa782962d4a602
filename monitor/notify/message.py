"""The words of a notification: one webhook body per organisation, for people and for scripts.

A body is JSON with a ``text`` field that Slack, Mattermost, Rocket.Chat, Google Chat and
Microsoft Teams incoming webhooks show as the message, plus the same facts as data::

    {"text": "Gemeente X: 2 channels need attention\\n• …",
     "organisation": "Gemeente X", "kind": "alerts",          # or "digest"
     "events": [{"id": 7, "kind": "state_changed", "platform": "rss", "channel": "…",
                 "state": "inactive", "previous_state": "quiet", "silence_seconds": …, …}],
     "status_page": "http://127.0.0.1:9184/"}

A webhook with ``format = "text"`` (Google Chat's default: it refuses fields it does not know)
gets only ``{"text": …}``. One message holds at most ``MAX_EVENTS`` events; more are sent in
parts, each saying which part it is ("(part 1 of 3)"), so bodies stay well under receivers'
size limits (Teams: about 28 KB).

Pure: the events are already recorded; nothing here reads a clock.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from monitor.notify.events import ATTENTION, Event, EventKind
from monitor.notify.markup import inert, inert_url
from monitor.notify.store import LoggedEvent
from monitor.timestamps import rfc3339

MAX_LINES = 40  # longer messages list this many events and say how many more there are
MAX_EVENTS = 20  # events per message; an organisation's further events go in further parts

PLATFORM_NAMES = {
    "facebook": "Facebook",
    "instagram": "Instagram",
    "linkedin": "LinkedIn",
    "mastodon": "Mastodon",
    "bluesky": "Bluesky",
    "youtube": "YouTube",
    "rss": "Website feed",
}
REASONS = {
    "auth": "the access token is invalid, has expired or lacks permission",
    "rate_limited": "the platform is limiting our requests",
    # Graph's 100/33 cannot tell a missing Page from one the token may not read: say both
    "not_found": "the page was not found, or may not be read with this token (removed, renamed,"
    " or a permission missing?)",
    "transient": "the platform did not answer properly (timeout, server or network error)",
    "malformed": "the platform's answer could not be read",
    "storage": "the monitor could not record what it read (its database refused the write)",
}


def event_json(event: Event) -> dict[str, Any]:
    """One event as ``/api/events`` and webhook bodies show it: the facts, flat."""
    detail = dict(event.detail)
    detail.pop("state", None)
    return {
        "id": event.id,
        "at": rfc3339(event.at),
        "kind": event.kind.value,
        "organisation": event.organisation,
        "state": event.new_state,
        "previous_state": event.old_state,
        **detail,
    }


def logged_json(logged: LoggedEvent) -> dict[str, Any]:
    """An event with how its deliveries stand: ``status`` is ``sent`` (to every webhook),
    ``pending`` (some not yet), ``failed`` (none pending, and some webhook refused it for
    good) or ``recorded`` (no webhook wanted it). No URL, ever."""
    deliveries = logged.deliveries
    sent = [d.sent_at for d in deliveries if d.sent_at is not None]
    failed = sum(1 for d in deliveries if d.failed)
    if not deliveries:
        status = "recorded"
    elif len(sent) == len(deliveries):
        status = "sent"
    elif len(sent) + failed == len(deliveries):
        status = "failed"
    else:
        status = "pending"
    return {
        **event_json(logged.event),
        "status": status,
        "notified_at": rfc3339(max(sent)) if status == "sent" else None,
        "deliveries": [
            {
                "webhook": d.webhook,
                "status": "sent" if d.sent_at else "failed" if d.failed else "pending",
                "sent_at": rfc3339(d.sent_at),
                "attempts": d.attempts,
                "next_attempt_at": (None if d.sent_at or d.failed else rfc3339(d.next_attempt_at)),
                "last_error": d.last_error,
            }
            for d in deliveries
        ],
    }


def body(
    organisation: str,
    events: Sequence[Event],
    status_page: str | None,
    *,
    text_only: bool = False,
    part: tuple[int, int] = (1, 1),
    markup: str = "markdown",
) -> dict[str, Any]:
    """The JSON body POSTed for one organisation's events (all digests, or none).

    ``text_only``: only ``{"text": …}`` (``format = "text"``). ``part``: this message is part
    ``part[0]`` of ``part[1]``, said in its first line when there is more than one.
    ``markup``: how the receiver reads ``text`` (``monitor.notify.markup``); names and
    addresses are escaped for it there, and left as they are in the JSON facts.
    """
    ordered = sorted(events, key=lambda e: (e.at, e.id))
    digest = all(e.kind is EventKind.DIGEST for e in ordered)
    shown = [_inert_event(e, markup) for e in ordered]
    who = inert(organisation, markup)
    text = digest_text(who, shown) if digest else alert_text(who, shown)
    number, parts = part
    if parts > 1:
        first, newline, rest = text.partition("\n")
        text = f"{first} (part {number} of {parts}){newline}{rest}"
    if status_page:
        text += f"\nStatus page: {status_page}"
    if text_only:
        return {"text": text}
    return {
        "text": text,
        "organisation": organisation,
        "kind": "digest" if digest else "alerts",
        "events": [event_json(e) for e in ordered],
        "status_page": status_page,
    }


def _inert_event(event: Event, markup: str) -> Event:
    """The event as ``text`` shows it: its names and addresses escaped for ``markup``."""
    detail = _inert_channel(event.detail, markup)
    if isinstance(channels := detail.get("channels"), list):
        detail["channels"] = [_inert_channel(c, markup) for c in channels]
    return replace(event, organisation=inert(event.organisation, markup), detail=detail)


def _inert_channel(facts: Mapping[str, Any], markup: str) -> dict[str, Any]:
    shown = dict(facts)
    for key in ("name", "channel"):
        if isinstance(value := shown.get(key), str):
            shown[key] = inert(value, markup)
    if isinstance(channel := facts.get("channel"), str) and (link := inert_url(channel, markup)):
        shown["channel"] = link  # a feed: its address stays a link
    if isinstance(url := facts.get("url"), str):
        shown["url"] = inert_url(url, markup)
    return shown


def alert_text(organisation: str, events: Sequence[Event]) -> str:
    """A headline counting the channels that need attention, then one line per event."""
    latest: dict[int | None, Event] = {}
    for event in events:
        latest[event.channel_id] = event
    attention = [e for e in latest.values() if e.kind in ATTENTION]
    if attention and all(e.kind is EventKind.REMINDER for e in attention):
        headline = f"{organisation}: reminder, {_channels(len(attention))} still need attention"
    elif attention:
        headline = f"{organisation}: {_channels(len(attention))} need attention"
    else:
        headline = f"{organisation}: {_channels(len(latest))} back to normal"
    if len(attention) == 1:
        headline = headline.replace(" need ", " needs ")
    lines = [f"• {line(e)}" for e in events[:MAX_LINES]]
    if len(events) > MAX_LINES:
        lines.append(f"… and {len(events) - MAX_LINES} more")
    return "\n".join([headline, *lines])


def line(event: Event) -> str:
    """One event in plain language, starting with the channel it is about."""
    d = event.detail
    who = label(d)
    state = event.new_state or ""
    if event.kind is EventKind.STATE_CHANGED:
        was = event.old_state
        before = f", was {was}" if was and was not in ("active", "below_target") else ""
        return f"{who} {problem(state, d)} ({state}{before})"
    if event.kind is EventKind.RECOVERED:
        return (
            f"{who} is fine again ({state}, was {event.old_state}) after needing attention"
            f" for {human(d.get('stale_for_seconds'))}"
        )
    if event.kind is EventKind.POLL_FAILING:
        tries = d.get("consecutive_failures", 0)
        what = "has not been read successfully yet" if d.get("never_read") else "cannot be read"
        return f"{who} {what} ({_attempts(tries)} in a row): {reason(d.get('poll_error'))}"
    if event.kind is EventKind.POLL_RECOVERED:
        return f"{who} can be read again, after {human(d.get('failing_for_seconds'))} of failures"
    if event.kind is EventKind.REMINDER:
        parts = []
        if d.get("stale"):
            parts.append(f"{problem(state, d)} ({state})")
        if d.get("failing"):
            parts.append(
                f"cannot be read since {human(d.get('failing_for_seconds'))}:"
                f" {reason(d.get('poll_error'))}"
            )
        return f"{who} still " + ", and ".join(parts or ["needs attention"])
    return f"{who}: {event.kind.value}"


def problem(state: str, d: Mapping[str, Any]) -> str:
    """What is wrong with a channel in ``state``, in words."""
    silence = human(d.get("silence_seconds"))
    if state == "never_posted":
        return "has never posted"
    if state in ("inactive", "dormant"):
        return f"has posted nothing for {silence}"
    if state == "quiet":
        gap = d.get("usual_gap_seconds")
        usual = f", unusually long: it usually posts at least every {human(gap)}" if gap else ""
        return f"has posted nothing for {silence}{usual}"
    if state == "below_target":
        return (
            f"posted {_posts(d.get('posts_in_target_period', 0))} in the last"
            f" {human(d.get('target_period_seconds'))}, below its target of"
            f" {d.get('target_posts')}"
        )
    return f"is {state}"


def digest_text(organisation: str, events: Sequence[Event]) -> str:
    """Per channel, its posts in the period against its target; one block per digest."""
    blocks = []
    for event in events:
        d = event.detail
        start, end = (
            datetime.fromisoformat(d["period_start"]),
            datetime.fromisoformat(d["period_end"]),
        )
        channels = d.get("channels", [])
        judged = [c for c in channels if c.get("on_target") is not None]
        on_target = sum(1 for c in judged if c["on_target"])
        lines = [
            f"{organisation}: posts in the last {human((end - start).total_seconds())}"
            f" ({_dates(start, end)}) against each channel's target"
        ]
        for c in channels[:MAX_LINES]:
            lines.append(f"• {label(c)}: {_digest_line(c)}")
        if len(channels) > MAX_LINES:
            lines.append(f"… and {len(channels) - MAX_LINES} more")
        if judged:
            lines.append(f"{on_target} of {len(judged)} channels with a target reached it.")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def _digest_line(c: Mapping[str, Any]) -> str:
    if not c.get("read"):
        return "could not be read yet"
    count = _posts(c.get("posts", 0))
    target = c.get("target_posts", 0)
    if not target:
        verdict = f"{count}, no target set"
    else:
        per = f"{target} per {human(c.get('target_period_seconds'))}"
        verdict = (
            f"{count}, " + ("on target" if c.get("on_target") else "below target") + f" ({per})"
        )
    state = c.get("state")
    if state in ("quiet", "inactive", "dormant", "never_posted"):
        verdict += f"; now {state}"
    return verdict


def label(d: Mapping[str, Any]) -> str:
    """A channel as people know it: platform, display name, and its address when known."""
    platform = PLATFORM_NAMES.get(str(d.get("platform")), str(d.get("platform")))
    name = d.get("name") or d.get("channel")
    url = d.get("url")
    return f"{platform} {name}" + (f" ({url})" if url and url != name else "")


def reason(kind: object) -> str:
    return REASONS.get(str(kind), f"error {kind}")


def human(seconds: object) -> str:
    """A duration for people: "41 days", "1 day", "5 hours", "3 minutes", "20 seconds"."""
    if not isinstance(seconds, int | float):
        return "an unknown time"
    value = timedelta(seconds=max(0.0, float(seconds)))
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        count = int(value.total_seconds() // size)
        if count >= 1:
            return f"{count} {unit}" + ("s" if count != 1 else "")
    count = int(value.total_seconds())
    return f"{count} second" + ("s" if count != 1 else "")


def _dates(start: datetime, end: datetime) -> str:
    if end - start >= timedelta(days=2) and end.time() == start.time():
        last = end - timedelta(days=1)
        return f"{start.day} {start:%b} – {last.day} {last:%b %Y}"
    return f"{start:%Y-%m-%d %H:%M} – {end:%Y-%m-%d %H:%M} UTC"


def _channels(count: int) -> str:
    return f"{count} channel" + ("s" if count != 1 else "")


def _posts(count: int) -> str:
    return f"{count} post" + ("s" if count != 1 else "")


def _attempts(count: int) -> str:
    return f"{count} failed attempt" + ("s" if count != 1 else "")
