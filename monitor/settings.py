"""Frozen, validated settings: what ``monitor.config`` produces from ``config.toml``.

Nothing outside ``monitor.config`` reads files or the environment; everything else gets these.
"""

from __future__ import annotations

import hashlib
import ssl
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from urllib.parse import parse_qsl, urlsplit

from connectors.base import PlatformOptions, PostKind
from monitor.redact import mask_userinfo

PLATFORMS: tuple[str, ...] = (
    "facebook",
    "instagram",
    "linkedin",
    "mastodon",
    "bluesky",
    "youtube",
    "rss",
)


@dataclass(frozen=True, slots=True)
class Policy:
    """The thresholds that judge a channel's activity (see the contract's state table)."""

    inactive_after: timedelta = timedelta(days=30)
    dormant_after: timedelta = timedelta(days=180)
    quiet_factor: float = 3.0
    target_posts: int = 2
    target_period: timedelta = timedelta(days=14)
    count_kinds: tuple[PostKind, ...] = ("post",)


PUBLIC_QUERY_PARAMS = frozenset({"format", "type", "feed", "lang", "language", "page", "limit"})
"""Query parameters of a feed URL that say nothing secret; any other may be a key."""


def channel_label(handle: str, secrets: Iterable[str]) -> str:
    """The handle as people, labels and the database see it.

    A URL's ``user:password@`` becomes ``***@``, other secrets in it are masked, and a URL's
    query string (which may carry a key, and which the metric conventions keep out of
    labels) is replaced by a short digest of itself, so two feeds that differ only in their
    query stay two channels.
    """
    is_url = handle.lower().startswith(("https://", "http://"))
    if is_url:
        handle = mask_userinfo(handle)
    for secret in sorted((s for s in secrets if len(s) >= 4), key=len, reverse=True):
        handle = handle.replace(secret, "***")
    base, sep, query = handle.partition("?")
    if not sep or not is_url:
        return handle
    query, _, _fragment = query.partition("#")
    return f"{base}?…{hashlib.sha256(query.encode()).hexdigest()[:8]}"


def url_secrets(handle: str) -> tuple[set[str], set[str]]:
    """What in a configured URL may be secret: its credentials (the password, or a token given
    as the user) and the names of its query parameters other than PUBLIC_QUERY_PARAMS."""
    if not handle.lower().startswith(("https://", "http://")):
        return set(), set()
    try:
        parts = urlsplit(handle)
    except ValueError:
        return set(), set()
    secrets = set()
    userinfo = parts.netloc.rpartition("@")[0]
    if userinfo:
        user, colon, password = userinfo.partition(":")
        secrets |= {userinfo, password} if colon and password else {user}
    names = {name for name, _ in parse_qsl(parts.query, keep_blank_values=True)}
    return secrets, {n for n in names if n.lower() not in PUBLIC_QUERY_PARAMS}


@dataclass(frozen=True, slots=True)
class ChannelSettings:
    """One channel of one organisation, with every override already resolved."""

    organisation: str
    platform: str
    handle: str  # as configured, what the connector reads; may hold a secret (a feed key)
    policy: Policy
    poll_interval: timedelta
    parked: bool = False
    label: str = ""  # what people, metrics and the database see: see channel_label()

    def __post_init__(self) -> None:
        if not self.label:
            object.__setattr__(self, "label", channel_label(self.handle, ()))

    @property
    def key(self) -> tuple[str, str, str]:
        """The channel's identity in the database: organisation, platform, label."""
        return (self.organisation, self.platform, self.label)


DEFAULT_CONCURRENCY: dict[str, int] = {"rss": 16}
"""A platform's ``concurrency`` where not 4: polls at once per feed host (``monitor.limits``).

A host's share of requests is bounded by its feeds per interval whatever this is; the limit only
bounds bursts (a first round, polls falling due together). 16 conditional GETs at once is less
than one browser tab asks of a host over HTTP/2, and keeps a site that hosts hundreds of the
monitored feeds within the interval (at 50 ms an answer, 2 at a time read 40 feeds a second)."""


@dataclass(frozen=True, slots=True)
class PlatformSettings:
    """A ``[platforms.X]`` section; ``options`` is what the connector sees."""

    name: str
    options: PlatformOptions = field(default_factory=PlatformOptions)
    concurrency: int = 4
    timeout: timedelta = timedelta(seconds=30)
    slow_down_at: float = 0.8  # API quota use above which this platform's polls slow down


@dataclass(frozen=True, slots=True)
class MonitorSettings:
    """The ``[monitor]`` section."""

    database: str = field(default="sqlite:///channel-monitor.db", repr=False)  # may hold a password
    listen: str = "127.0.0.1:9184"
    simulated: bool = False  # the data is the demo's, not real platforms': every view says so
    poll_interval: timedelta = timedelta(hours=6)
    jitter: timedelta = timedelta(minutes=15)
    poll_timeout: timedelta = timedelta(minutes=2)
    max_in_flight: int = 64  # polls reading at once (each platform's pool holds as many)
    log_level: str = "info"
    log_format: str = "text"  # or "json"
    timezone: str = "Europe/Amsterdam"  # an IANA name: the time zone of the pages' times
    language: str = "auto"  # of the pages: "en", "nl", or "auto" (the browser's Accept-Language)
    web: WebSettings | None = None  # from web_config_file; None: plain HTTP, no authentication


@dataclass(frozen=True, slots=True)
class WebSettings:
    """The web configuration file (exporter-toolkit's format): TLS, basic auth, extra headers."""

    source: str  # the file, for messages
    tls: ssl.SSLContext | None = field(default=None, compare=False, repr=False)  # None: plain HTTP
    client_auth: str = "NoClientCert"  # as the file names it, for the log
    users: tuple[tuple[str, str], ...] = field(default=(), repr=False)  # (name, bcrypt hash)
    headers: tuple[tuple[str, str], ...] = ()  # added to every response


NOTIFY_STATES: tuple[str, ...] = ("never_posted", "dormant", "inactive", "quiet", "below_target")
"""The activity states a notification may be sent for (``[notify] states``)."""


WEBHOOK_FORMATS: tuple[str, ...] = ("full", "text")
"""What a webhook is sent: ``full`` (``text`` and the facts as data) or ``text`` (only ``text``)."""

TEXT_ONLY_HOSTS: tuple[str, ...] = ("chat.googleapis.com",)
"""Receivers that refuse unknown JSON fields: their webhooks default to ``format = "text"``."""


WEBHOOK_MARKUPS: tuple[str, ...] = ("slack", "markdown", "google_chat")
"""How a receiver reads ``text`` (``monitor.notify.markup`` escapes names for each)."""

SLACK_HOSTS: tuple[str, ...] = ("hooks.slack.com", "hooks.slack-gov.com")
GOOGLE_CHAT_HOSTS: tuple[str, ...] = ("chat.googleapis.com",)


def _on_host(url: str, hosts: Iterable[str]) -> bool:
    try:
        host = (urlsplit(url).hostname or "").lower().rstrip(".")
    except ValueError:  # not a URL: config reports that; any default will do meanwhile
        return False
    return any(host == h or host.endswith(f".{h}") for h in hosts)


def default_webhook_format(url: str) -> str:
    """``text`` for receivers that refuse fields they do not know (Google Chat), else ``full``."""
    return "text" if _on_host(url, TEXT_ONLY_HOSTS) else "full"


def default_webhook_markup(url: str) -> str:
    """``slack`` or ``google_chat`` for their hosts; ``markdown`` for every other receiver
    (Mattermost, Rocket.Chat, Teams, Discord run on hosts of their own or read Markdown)."""
    if _on_host(url, SLACK_HOSTS):
        return "slack"
    return "google_chat" if _on_host(url, GOOGLE_CHAT_HOSTS) else "markdown"


@dataclass(frozen=True, slots=True)
class WebhookSettings:
    """One ``[[notify.webhook]]``: where notifications are POSTed. The URL is a secret."""

    name: str  # shown in logs, metrics and /api/events instead of the URL
    url: str = field(repr=False)
    organisations: frozenset[str] | None = None  # None: every organisation
    format: str = ""  # one of WEBHOOK_FORMATS; "": default_webhook_format(url)
    markup: str = ""  # one of WEBHOOK_MARKUPS; "": default_webhook_markup(url)

    def __post_init__(self) -> None:
        if not self.format:
            object.__setattr__(self, "format", default_webhook_format(self.url))
        if not self.markup:
            object.__setattr__(self, "markup", default_webhook_markup(self.url))

    def wants(self, organisation: str) -> bool:
        return self.organisations is None or organisation in self.organisations


@dataclass(frozen=True, slots=True)
class NotifySettings:
    """The ``[notify]`` section: native notifications, off while there is no webhook."""

    webhooks: tuple[WebhookSettings, ...] = ()
    evaluate_every: timedelta = timedelta(minutes=1)
    failing_after: int = 3  # consecutive failed polls before "cannot be read" is sent
    remind_every: timedelta = timedelta(days=7)  # 0: no reminders
    digest_every: timedelta = timedelta(days=14)  # 0: no digest
    states: tuple[str, ...] = ("never_posted", "dormant", "inactive", "quiet")
    status_page_url: str | None = None  # None: http://<listen>/

    @property
    def enabled(self) -> bool:
        return bool(self.webhooks)


@dataclass(frozen=True, slots=True)
class DiscoverySettings:
    """The ``[discovery]`` section: reading the organisations' websites for their channels."""

    every: timedelta | None = None  # None: the daemon does not check websites (``discover`` does)
    max_pages: int = 6  # pages read per website: the home page and the likeliest pages it links


@dataclass(frozen=True, slots=True)
class Settings:
    """The whole, validated configuration."""

    source: str  # the configuration file it came from, for messages
    monitor: MonitorSettings
    policy: Policy
    platforms: dict[str, PlatformSettings]
    organisations: tuple[str, ...]
    channels: tuple[ChannelSettings, ...]
    secrets: frozenset[str] = field(default=frozenset(), repr=False)  # redacted everywhere
    # query parameters of configured URLs whose values logs mask (url_secrets())
    secret_params: frozenset[str] = frozenset()
    notify: NotifySettings = field(default_factory=NotifySettings)
    websites: dict[str, str] = field(default_factory=dict)  # organisation → its website
    discovery: DiscoverySettings = field(default_factory=DiscoverySettings)
