"""Channel handles as each platform writes them; a wrong one gets a message saying what to give."""

from __future__ import annotations

import re

from monitor.config.values import _http_url, _Invalid, _string

_HANDLES = {  # platform → (what a handle looks like, its description for messages)
    "facebook": (r"\d+|[A-Za-z0-9][A-Za-z0-9._-]*", "a Facebook Page username or numeric id"),
    "instagram": (r"[A-Za-z0-9._]{1,30}", "an Instagram username"),
    "linkedin": (
        r"\d+|urn:li:organization:\d+",
        "a LinkedIn organization id (digits or urn:li:organization:…)",
    ),
    "mastodon": (
        # a server's domain, localhost or an IPv4 address, with a port where it has one
        r"@?[A-Za-z0-9_]+@(?:[A-Za-z0-9.-]+\.[A-Za-z]+|localhost|\d{1,3}(?:\.\d{1,3}){3})"
        r"(?::\d{1,5})?",
        "a Mastodon account (@name@server.example)",
    ),
    "bluesky": (
        r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.)+[A-Za-z][A-Za-z0-9-]*"
        r"|did:plc:[a-z2-7]{24}|did:web:[A-Za-z0-9.%:-]+",
        "a Bluesky handle (name.bsky.social) or DID (did:plc:… or did:web:…)",
    ),
    "youtube": (r"UC[A-Za-z0-9_-]{22}", "a YouTube channel id (UC followed by 22 characters)"),
}
HANDLE_PATTERNS = {platform: pattern for platform, (pattern, _) in _HANDLES.items()}
"""What a handle looks like on each platform but rss (whose channels are feed URLs)."""


def _handle(platform: str, value: object) -> str:
    """Check one handle as the platform writes it; the message says what to give instead."""
    if not (text := _string(value)):
        raise _Invalid("the handle is empty")
    if platform == "rss":
        try:
            return _http_url(text)
        except ValueError:
            raise _Invalid("a feed is an absolute http:// or https:// URL") from None
    pattern, what = _HANDLES[platform]
    if re.fullmatch(pattern, text):
        return text
    if "://" in text or "/" in text or text.lower().startswith("www."):
        raise _Invalid(f"give {what}, not a web address")
    if text.startswith("@") and platform in ("facebook", "instagram", "bluesky"):
        raise _Invalid(f"give {what} without the @")
    raise _Invalid(f"not {what}")
