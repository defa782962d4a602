"""From a link to a channel: which platform, and the handle its connector takes.

``classify`` reads one URL. It answers a ``Candidate`` (a channel; its handle when the URL holds
it, else what is left to ``monitor.discovery.resolve``), ``Elsewhere`` (an account on a
platform channel-monitor cannot read), ``Ignored`` (a link to a platform that is not a channel:
a share button, a post, a group, a person, the platform's own page) or None (an ordinary link).

``aliases`` reduces a handle or a channel's public URL to the names it can be compared by, so a
configured numeric id and a linked username still match once a poll has stored the channel's
URL (``Channel.url``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlsplit

from monitor.config.handles import HANDLE_PATTERNS

Resolve = str | None  # "youtube", "linkedin" or None: the handle is known from the URL

_FACEBOOK = ("facebook.com", "fb.com", "fb.me")
_INSTAGRAM = ("instagram.com", "instagr.am")
_LINKEDIN = ("linkedin.com",)
_YOUTUBE = ("youtube.com",)
_BLUESKY = ("bsky.app",)
_ELSEWHERE = {  # platforms channel-monitor cannot read (CONTRACT.md, "Words"), for the record
    "x.com": "x",
    "twitter.com": "x",
    "tiktok.com": "tiktok",
    "threads.net": "threads",
    "threads.com": "threads",
    "pinterest.com": "pinterest",
    "flickr.com": "flickr",
    "vimeo.com": "vimeo",
    "t.me": "telegram",
    "snapchat.com": "snapchat",
    "whatsapp.com": "whatsapp",
}
_SHARE_HOSTS = ("wa.me", "api.whatsapp.com", "web.whatsapp.com", "lnkd.in", "addtoany.com")
_ELSEWHERE_SHARE = {"intent", "share", "sharer", "home", "pin", "submit", "send", "i"}
# Sites where "/@name" is an account, but not a Mastodon one.
_NOT_MASTODON = (
    *_FACEBOOK,
    *_INSTAGRAM,
    *_LINKEDIN,
    *_YOUTUBE,
    *_BLUESKY,
    *_ELSEWHERE,
    "medium.com",
    "substack.com",
    "linktr.ee",
    "github.com",
    "soundcloud.com",
    "spotify.com",
)
# Mastodon servers of public bodies and the largest general ones: a "/@name" link there is an
# account even without rel="me" (joinmastodon.org/servers; social.overheid.nl is the Dutch
# government's own).
KNOWN_MASTODON = (
    "social.overheid.nl",
    "mastodon.social",
    "mastodon.online",
    "mastodon.nl",
    "mas.to",
    "mstdn.social",
    "social.bund.de",
    "social.network.europa.eu",
    "respublicae.eu",
    "fosstodon.org",
)
_FACEBOOK_NOT_PAGES = {
    *("sharer", "sharer.php", "share", "share.php", "dialog", "plugins", "tr", "v2.0"),
    *("login", "login.php", "privacy", "policies", "policy.php", "help", "legal", "terms"),
    *("settings", "marketplace", "gaming", "business", "ads", "watch", "hashtag", "events"),
    *("photo", "photo.php", "story.php", "permalink.php", "video.php", "l.php", "home.php"),
    *("search", "messages", "notes", "media", "reel", "reels", "fundraisers", "donate"),
}
_FACEBOOK_SHARE = {"sharer", "sharer.php", "share", "share.php", "dialog", "plugins", "tr"}
_INSTAGRAM_NOT_ACCOUNTS = {
    *("p", "reel", "reels", "tv", "explore", "stories", "accounts", "about", "legal"),
    *("developer", "direct", "web", "challenge", "privacy", "emails", "s"),
}
_YOUTUBE_NOT_CHANNELS = {
    *("watch", "embed", "shorts", "playlist", "results", "feed", "premium", "t", "redirect"),
    *("live", "hashtag", "about", "account", "signin", "s", "yt", "gaming", "kids", "music"),
    *("howyoutubeworks", "creators", "ads", "static", "v", "attribution_link", "post"),
}
# The platforms' own accounts: a "find us on Facebook" badge links these, not the organisation.
_OWN = {
    "facebook": {"facebook", "meta", "instagram", "zuck"},
    "instagram": {"instagram", "creators", "meta", "facebook"},
    "linkedin": {"linkedin"},
    "youtube": {"@youtube", "youtube", "ucbr8-60-b28hp2bmdpdntcq", "@youtubecreators"},
    "bluesky": {"bsky.app", "did:plc:z72i7hdynmk6r22z27h6tvur"},
    "mastodon": {"@mastodon@mastodon.social", "@gargron@mastodon.social"},
}
_FACEBOOK_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_FACEBOOK_ID_SUFFIX = re.compile(r".+-(\d{8,})")  # an old-style "Name-123456789012" Page URL
_MASTODON_USER = re.compile(r"[A-Za-z0-9_]+")
_YOUTUBE_ID = re.compile(HANDLE_PATTERNS["youtube"])
_BLUESKY_ACTOR = re.compile(HANDLE_PATTERNS["bluesky"])


@dataclass(frozen=True, slots=True)
class Candidate:
    """A channel a link points to."""

    platform: str
    handle: str | None  # what the connector takes; None until resolved
    name: str  # as linked: a username, "@handle", a vanity name
    url: str  # the link, for people
    resolve: Resolve = None  # what is left to ask: "youtube" (the channel page), "linkedin"


@dataclass(frozen=True, slots=True)
class Elsewhere:
    """An account on a platform channel-monitor cannot read (X, TikTok, …)."""

    platform: str
    url: str


@dataclass(frozen=True, slots=True)
class Ignored:
    """A link to a platform that is not a channel, and why it does not count."""

    url: str
    reason: str


Found = Candidate | Elsewhere | Ignored


def on(host: str, domains: tuple[str, ...] | list[str]) -> bool:
    """Whether ``host`` is one of ``domains`` or a subdomain of one."""
    return any(host == d or host.endswith(f".{d}") for d in domains)


def classify(url: str, *, rel_me: bool = False, hint: str = "", site: str = "") -> Found | None:
    """What a link on a page of ``site`` (its host) points to; None for an ordinary link.

    ``site`` is the host (with its port, if any) of the page's own site. ``hint`` is what the
    page says about the link (its text, class and id): a "/@name" link on
    an unknown server counts as a Mastodon account only with ``rel="me"``, on a known Mastodon
    server, or when the hint names Mastodon or the fediverse.
    """
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower().rstrip(".")
    except ValueError:
        return None
    segments = [unquote(s) for s in parts.path.split("/") if s]
    if on(host, _SHARE_HOSTS):
        return Ignored(url, "a share or chat button")
    if on(host, _FACEBOOK):
        return _facebook(url, segments, parts.query, short=on(host, ("fb.me",)))
    if on(host, _INSTAGRAM):
        return _instagram(url, segments)
    if on(host, _LINKEDIN):
        return _linkedin(url, segments)
    if host == "youtu.be":
        return Ignored(url, "a video, not a channel")
    if on(host, _YOUTUBE):
        return _youtube(url, segments)
    if on(host, _BLUESKY):
        return _bluesky(url, segments)
    for domain, platform in _ELSEWHERE.items():
        if on(host, (domain,)):
            if not segments or segments[0].lower() in _ELSEWHERE_SHARE:
                return Ignored(url, f"{platform}: a share button or the platform's own page")
            return Elsewhere(platform, url)
    where = f"{host}:{parts.port}" if parts.port else host
    if where == site or on(host, _NOT_MASTODON):
        return None
    return _mastodon(url, where, host, segments, rel_me=rel_me, hint=hint)


def _facebook(url: str, segments: list[str], query: str, *, short: bool) -> Found:
    if not segments:
        return Ignored(url, "Facebook's own home page")
    first = segments[0].lower()
    if first in _FACEBOOK_SHARE:
        return Ignored(url, "a share button or plugin")
    if first == "groups":
        return Ignored(url, "a Facebook group: the Graph API reads Pages, not groups")
    if first == "profile.php":
        ids = parse_qs(query).get("id", [""])
        if ids[0].isdigit():
            return Candidate("facebook", ids[0], ids[0], url)
        return Ignored(url, "a profile link without an id")
    if first in ("pages", "people") and len(segments) >= 3 and segments[2].isdigit():
        return Candidate("facebook", segments[2], segments[1], url)  # pages/Name/123…
    if first == "pg" and len(segments) >= 2:
        segments = segments[1:]  # pg/name/…: an old address of the Page "name"
    elif first in _FACEBOOK_NOT_PAGES or first in ("pages", "people"):
        return Ignored(url, "not a Facebook Page")
    name = segments[0]
    if len(segments) >= 3 and segments[1].lower() in ("posts", "videos", "photos"):
        return Ignored(url, "a single post, not the Page")
    if (old := _FACEBOOK_ID_SUFFIX.fullmatch(name)) and not short:
        return Candidate("facebook", old[1], name, url)
    if not _FACEBOOK_NAME.fullmatch(name):
        return Ignored(url, "not a Facebook Page address")
    if name.lower() in _OWN["facebook"]:
        return Ignored(url, "Facebook's own Page")
    return Candidate("facebook", name, name, url)


def _instagram(url: str, segments: list[str]) -> Found:
    if not segments:
        return Ignored(url, "Instagram's own home page")
    name = segments[0]
    if name.lower() in _INSTAGRAM_NOT_ACCOUNTS:
        return Ignored(url, "a post, reel or Instagram page, not an account")
    if len(segments) >= 2 and segments[1].lower() in ("p", "reel"):
        return Ignored(url, "a post, not the account")
    if not re.fullmatch(HANDLE_PATTERNS["instagram"], name):
        return Ignored(url, "not an Instagram account address")
    if name.lower() in _OWN["instagram"]:
        return Ignored(url, "Instagram's own account")
    return Candidate("instagram", name, name, url)


def _linkedin(url: str, segments: list[str]) -> Found:
    first = segments[0].lower() if segments else ""
    if first in ("company", "showcase", "school") and len(segments) >= 2:
        name = segments[1]
        if name.lower() in _OWN["linkedin"]:
            return Ignored(url, "LinkedIn's own page")
        if name.isdigit():
            return Candidate("linkedin", name, name, url)
        return Candidate("linkedin", None, name, url, resolve="linkedin")
    if first in ("sharearticle", "sharing", "cws", "share"):
        return Ignored(url, "a share button")
    if first in ("in", "pub"):
        return Ignored(url, "a person's profile, not an organization page")
    if first in ("feed", "posts", "pulse", "events"):
        return Ignored(url, "a post, not an organization page")
    if first == "groups":
        return Ignored(url, "a LinkedIn group, not an organization page")
    return Ignored(url, "not a LinkedIn organization page")


def _youtube(url: str, segments: list[str]) -> Found:
    if not segments:
        return Ignored(url, "YouTube's own home page")
    first = segments[0]
    lower = first.lower()
    if lower == "channel" and len(segments) >= 2 and _YOUTUBE_ID.fullmatch(segments[1]):
        if segments[1].lower() in _OWN["youtube"]:
            return Ignored(url, "YouTube's own channel")
        return Candidate("youtube", segments[1], segments[1], url)
    if lower in ("c", "user") and len(segments) >= 2:
        if segments[1].lower() in _OWN["youtube"]:
            return Ignored(url, "YouTube's own channel")
        return Candidate("youtube", None, f"{lower}/{segments[1]}", url, resolve="youtube")
    if first.startswith("@") and len(first) > 1:
        if lower in _OWN["youtube"]:
            return Ignored(url, "YouTube's own channel")
        return Candidate("youtube", None, first, url, resolve="youtube")
    if lower in _YOUTUBE_NOT_CHANNELS or lower == "channel":
        return Ignored(url, "a video or YouTube page, not a channel")
    if len(segments) <= 2 and re.fullmatch(r"[A-Za-z0-9._-]+", first):
        if lower in _OWN["youtube"]:
            return Ignored(url, "YouTube's own channel")
        return Candidate("youtube", None, first, url, resolve="youtube")  # a legacy custom URL
    return Ignored(url, "not a YouTube channel address")


def _bluesky(url: str, segments: list[str]) -> Found:
    if len(segments) >= 2 and segments[0] == "profile":
        actor = segments[1]
        if len(segments) > 2:
            return Ignored(url, "a post, not the account")
        if not _BLUESKY_ACTOR.fullmatch(actor):
            return Ignored(url, "not a Bluesky account address")
        actor = actor if actor.startswith("did:") else actor.lower()
        if actor in _OWN["bluesky"]:
            return Ignored(url, "Bluesky's own account")
        return Candidate("bluesky", actor, actor, url)
    if segments and segments[0] == "intent":
        return Ignored(url, "a share button")
    return Ignored(url, "not a Bluesky account address")


def _mastodon(
    url: str, where: str, host: str, segments: list[str], *, rel_me: bool, hint: str
) -> Found | None:
    """``https://server/@user`` (or ``/users/user``, or ``/@user@other.server``)."""
    if len(segments) == 1 and segments[0].startswith("@"):
        user, _, server = segments[0][1:].partition("@")
    elif len(segments) == 2 and segments[0] == "users":
        user, server = segments[1], ""
    else:
        return None
    if not _MASTODON_USER.fullmatch(user):
        return None
    server = server.lower() or where
    said = rel_me or on(host, KNOWN_MASTODON) or "mastodon" in host
    said = said or any(word in hint.lower() for word in ("mastodon", "fediverse", "fedi"))
    if not said:
        return Ignored(
            url, 'looks like a Mastodon account, but nothing says so (add rel="me" to the link)'
        )
    handle = f"@{user}@{server}"
    if handle.lower() in _OWN["mastodon"]:
        return Ignored(url, "Mastodon's own account")
    return Candidate("mastodon", handle, handle, url)


def aliases(platform: str, handle: str) -> set[str]:
    """The names a configured handle or a linked one is compared by (lower case)."""
    text = handle.strip()
    if platform == "linkedin":
        return {text.lower().removeprefix("urn:li:organization:")}
    if platform == "mastodon":
        return {"@" + text.lower().lstrip("@")}
    if platform == "rss":
        return {feed_key(text)}
    if platform == "youtube":
        return {text if _YOUTUBE_ID.fullmatch(text) else text.lower()}
    if platform == "bluesky":
        return {text if text.startswith("did:") else text.lower()}
    return {text.lower()}


def url_aliases(platform: str, url: str | None) -> set[str]:
    """The names a channel's public URL (as its last poll stored it) gives it, if any."""
    if not url:
        return set()
    if platform == "rss":
        return {feed_key(url)}
    found = classify(url, rel_me=True)
    if not isinstance(found, Candidate) or found.platform != platform:
        return set()
    return aliases(platform, found.handle or found.name)


def feed_key(url: str) -> str:
    """A feed URL as compared: without scheme, ``www.``, fragment and trailing slash."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return url.strip()
    host = (parts.hostname or "").lower().removeprefix("www.")
    port = f":{parts.port}" if parts.port else ""
    query = f"?{parts.query}" if parts.query else ""
    return f"{host}{port}{parts.path.rstrip('/')}{query}"
