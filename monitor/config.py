"""Reading ``config.toml`` (and its optional organisations CSV) into frozen, validated ``Settings``.

This is the only module that reads configuration files or the environment. Every mistake is
collected as a ``Problem`` naming the file, the key path and what is wrong, and all of them are
raised together in one ``ConfigError``. Secret values never appear in a message.
"""

from __future__ import annotations

import csv
import difflib
import io
import ipaddress
import math
import re
import tomllib
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any, NamedTuple, TypeVar
from urllib.parse import urlsplit

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

from connectors.base import POST_KINDS, PlatformOptions
from monitor.durations import format_duration, parse_duration
from monitor.settings import (
    NOTIFY_STATES,
    PLATFORMS,
    ChannelSettings,
    MonitorSettings,
    NotifySettings,
    PlatformSettings,
    Policy,
    Settings,
    WebhookSettings,
)

__all__ = [
    "ConfigError",
    "Problem",
    "format_duration",
    "load_settings",
    "parse_duration",
    "resolve_config_path",
]

T = TypeVar("T")
V = TypeVar("V")

_ENV_PREFIX = "CHANNEL_MONITOR_"
DEFAULT_BASE_URLS: dict[str, str | None] = {
    "facebook": "https://graph.facebook.com",
    "instagram": "https://graph.facebook.com",
    "linkedin": "https://api.linkedin.com",
    "mastodon": None,
    "bluesky": "https://public.api.bsky.app",
    "youtube": "https://www.youtube.com",
    "rss": None,
}
DEFAULT_API_VERSIONS = {"facebook": "v26.0", "instagram": "v26.0", "linkedin": "202603"}
_TOKEN_REQUIRED = ("facebook", "instagram", "linkedin")
_KNOWN = ", ".join(PLATFORMS)
_ENV_FILE = "environment"  # the "file" of problems found in CHANNEL_MONITOR_* overrides
_ENV_OVERRIDES = ("database", "listen", "poll_interval", "jitter", "log_level", "log_format")


@dataclass(frozen=True, slots=True)
class Problem:
    """One mistake in the configuration: the file, the key path within it, and what is wrong."""

    file: str
    key: str
    message: str

    def __str__(self) -> str:
        return ": ".join(part for part in (self.file, self.key, self.message) if part)


class ConfigError(Exception):
    """The configuration is invalid; ``problems`` holds every mistake found, in the order found."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems: tuple[Problem, ...] = tuple(problems)
        super().__init__("\n".join(str(problem) for problem in self.problems))


def resolve_config_path(explicit: str | None, env: Mapping[str, str]) -> Path:
    """The configuration file: --config, else $CHANNEL_MONITOR_CONFIG, else ./config.toml."""
    return Path(explicit or env.get(f"{_ENV_PREFIX}CONFIG") or "config.toml")


def load_settings(path: Path, env: Mapping[str, str], *, supported: frozenset[str]) -> Settings:
    """Read, expand and check the configuration at ``path``; raise ``ConfigError`` if it is wrong.

    ``env`` supplies ``${VAR}`` references and the ``CHANNEL_MONITOR_*`` overrides; ``supported``
    names the platforms that have a connector.
    """
    return _Loader(path, env, supported).load()


# --- values -----------------------------------------------------------------------------------


class _Invalid(ValueError):
    """A value is wrong; the message says why, for the user."""


class _Reported(Exception):
    """A value whose problem is already recorded; no further message is needed."""


class _Broken:
    """Stands in for a string whose ``${VAR}`` expansion failed (the problem is recorded)."""


_BROKEN = _Broken()
_REFERENCE = re.compile(r"\$(\$|\{[^}]*\}?)")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _expand(text: str, env: Mapping[str, str]) -> str:
    def one(match: re.Match[str]) -> str:
        reference = match.group(1)
        if reference == "$":
            return "$"
        name = reference[1:-1] if reference.endswith("}") else ""
        if not _ENV_NAME.fullmatch(name):
            raise _Invalid("bad ${...} reference: write ${NAME} for a variable, $$ for a $")
        if name not in env:
            raise _Invalid(f"environment variable {name} is not set")
        return env[name]

    return _REFERENCE.sub(one, text)


def _string(value: object) -> str:
    if isinstance(value, _Broken):
        raise _Reported
    if not isinstance(value, str):
        raise _Invalid("must be a string")
    return value.strip()


def _nonempty(value: object) -> str:
    if not (text := _string(value)):
        raise _Invalid("must not be empty")
    return text


def _duration(value: object, *, zero_ok: bool = False) -> timedelta:
    if not isinstance(value, str | _Broken):
        raise _Invalid('durations are strings such as "6h" or "14d"')
    result = parse_duration(_string(value))
    if not zero_ok and result <= timedelta():
        raise _Invalid("must be longer than 0s")
    return result


def _whole(low: int, high: int | None = None) -> Callable[[object], int]:
    def convert(value: object) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _Invalid("must be a whole number")
        if value < low or (high is not None and value > high):
            raise _Invalid(
                f"must be {low} or more" if high is None else f"must be from {low} to {high}"
            )
        return value

    return convert


def _positive(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _Invalid("must be a number")
    if not math.isfinite(value) or value <= 0:
        raise _Invalid("must be a number above 0")
    return float(value)


def _ratio(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _Invalid("must be a number")
    if not math.isfinite(value) or not 0 < value <= 1:
        raise _Invalid("must be a ratio above 0 and at most 1 (0.8 means 80%)")
    return float(value)


def _boolean(value: object) -> bool:
    if not isinstance(value, bool):
        raise _Invalid("must be true or false")
    return value


def _choice(*options: str) -> Callable[[object], str]:
    def convert(value: object) -> str:
        if (text := _string(value).lower()) not in options:
            raise _Invalid(f"must be one of {', '.join(options)}")
        return text

    return convert


def _count_kinds(value: object) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise _Invalid(f"must be a non-empty list of {', '.join(POST_KINDS)}")
    kinds = [_string(item) for item in value]
    if unknown := [kind for kind in kinds if kind not in POST_KINDS]:
        raise _Invalid(f"unknown kind {unknown[0]!r} (known: {', '.join(POST_KINDS)})")
    return tuple(dict.fromkeys(kinds))


def _http_url(value: object) -> str:
    text = _string(value)
    parts = urlsplit(text)
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc or " " in text:
        raise _Invalid("must be an absolute http:// or https:// URL")
    return text


def _database(value: object) -> str:
    text = _string(value)
    example = "such as sqlite:///channel-monitor.db or postgresql+psycopg://user@host/db"
    try:  # the URL may hold a password, so no message repeats it
        make_url(text).get_dialect()
    except NoSuchModuleError:
        raise _Invalid(f"unknown kind of database ({example})") from None
    except (ArgumentError, ValueError):
        raise _Invalid(f"not a SQLAlchemy URL ({example})") from None
    return text


_LISTEN = re.compile(r"(?:\[(?P<v6>[^\]]*)\]|(?P<host>[^:\[\]]*)):(?P<port>\d+)")
_HOSTNAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?")


def _listen(value: object) -> str:
    text = _string(value)
    if (match := _LISTEN.fullmatch(text)) is None:
        raise _Invalid('must be "host:port", such as "127.0.0.1:9184" or "[::1]:9184"')
    if not 1 <= int(match["port"]) <= 65535:
        raise _Invalid("the port must be from 1 to 65535")
    if match["v6"] is not None:
        try:
            ipaddress.IPv6Address(match["v6"])
        except ValueError:
            raise _Invalid("not an IPv6 address between the brackets") from None
    elif match["host"] and not _HOSTNAME.fullmatch(match["host"]):
        raise _Invalid("not a host name or address")
    return text


_MONITOR_KEYS: dict[str, Callable[[object], object]] = {
    "database": _database,
    "listen": _listen,
    "poll_interval": _duration,
    "jitter": lambda value: _duration(value, zero_ok=True),
    "poll_timeout": _duration,
    "log_level": _choice("debug", "info", "warning", "error"),
    "log_format": _choice("text", "json"),
}
_POLICY_KEYS: dict[str, Callable[[object], object]] = {
    "inactive_after": _duration,
    "dormant_after": _duration,
    "quiet_factor": _positive,
    "target_posts": _whole(0),
    "target_period": _duration,
    "count_kinds": _count_kinds,
}


def _notify_states(value: object) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise _Invalid(f"must be a list of states from {', '.join(NOTIFY_STATES)}")
    states = [_string(item) for item in value]
    if unknown := [state for state in states if state not in NOTIFY_STATES]:
        raise _Invalid(f"unknown state {unknown[0]!r} (possible: {', '.join(NOTIFY_STATES)})")
    return tuple(dict.fromkeys(states))


_WEBHOOK_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")


def _webhook_name(value: object) -> str:
    if not _WEBHOOK_NAME.fullmatch(text := _string(value)):
        raise _Invalid("letters, digits, '.', '_' and '-' only, at most 100 characters")
    return text


_NOTIFY_KEYS: dict[str, Callable[[object], object]] = {
    "evaluate_every": _duration,
    "failing_after": _whole(1),
    "remind_every": lambda value: _duration(value, zero_ok=True),
    "digest_every": lambda value: _duration(value, zero_ok=True),
    "states": _notify_states,
    "status_page_url": _http_url,
}
_WEBHOOK_KEYS = ("name", "url", "url_file", "organisations")
_PLATFORM_KEYS = (
    *("base_url", "api_version", "access_token", "access_token_file", "account_id"),
    *("poll_interval", "concurrency", "timeout", "page_limit", "slow_down_at", *_POLICY_KEYS),
)

# --- handles ----------------------------------------------------------------------------------

_HANDLES = {  # platform → (what a handle looks like, its description for messages)
    "facebook": (r"\d+|[A-Za-z0-9][A-Za-z0-9._-]*", "a Facebook Page username or numeric id"),
    "instagram": (r"[A-Za-z0-9._]{1,30}", "an Instagram username"),
    "linkedin": (
        r"\d+|urn:li:organization:\d+",
        "a LinkedIn organization id (digits or urn:li:organization:…)",
    ),
    "mastodon": (
        r"@?[A-Za-z0-9_]+@[A-Za-z0-9.-]+\.[A-Za-z]+",
        "a Mastodon account (@name@server.example)",
    ),
    "bluesky": (
        r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.)+[A-Za-z][A-Za-z0-9-]*"
        r"|did:plc:[a-z2-7]{24}|did:web:[A-Za-z0-9.%:-]+",
        "a Bluesky handle (name.bsky.social) or DID (did:plc:… or did:web:…)",
    ),
    "youtube": (r"UC[A-Za-z0-9_-]{22}", "a YouTube channel id (UC followed by 22 characters)"),
}


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


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")  # as utf-8, but a BOM from Windows is dropped
    except OSError as exc:
        raise _Invalid(f"cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise _Invalid(f"{path} is not UTF-8 text") from None
    except ValueError:  # a NUL in the path
        raise _Invalid(f"cannot read {path!r}") from None


def _unknown(what: str, name: str, known: Collection[str], otherwise: str) -> str:
    close = difflib.get_close_matches(name, known, n=1)
    hint = f'did you mean "{close[0]}"?' if close else otherwise
    return f"unknown {what} {name!r}" + (f" ({hint})" if hint else "")


# --- reading ----------------------------------------------------------------------------------


@dataclass(slots=True)
class _Layer:
    """The policy keys and poll_interval set at one level, with each one's key path."""

    file: str = ""
    values: dict[str, Any] = field(default_factory=dict)
    keys: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class _Channel:
    organisation: str
    platform: str
    handle: str
    file: str
    where: str  # its key path, for messages
    layer: _Layer
    parked: bool = False

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.organisation, self.platform, self.handle)


class _Organisation(NamedTuple):
    name: str | None  # None when missing or invalid (already reported)
    where: str  # for "first at …" in messages
    name_at: tuple[str, str]  # file and key path of its name
    channels: list[_Channel]


class _Table:
    """One table under validation: typed reads, each problem recorded at its key path."""

    def __init__(self, loader: _Loader, file: str, path: str, data: object) -> None:
        self.loader, self.file, self.path = loader, file, path
        self.data: Mapping[str, object] = data if isinstance(data, dict) else {}

    def key(self, name: str) -> str:
        return f"{self.path}.{name}" if self.path else name

    def has(self, name: str) -> bool:
        return name in self.data

    def fail(self, name: str, message: str) -> None:
        self.loader.problem(self.file, self.key(name), message)

    def read(self, name: str, convert: Callable[[object], T]) -> T | None:
        if name not in self.data:
            return None
        return self.loader.convert(self.file, self.key(name), self.data[name], convert)

    def table(self, name: str) -> _Table:
        value = self.data.get(name, {})
        if not isinstance(value, dict):
            self.fail(name, f"must be a table ([{self.key(name)}])")
        return _Table(self.loader, self.file, self.key(name), value)

    def layer(self, *, poll_interval: bool) -> _Layer:
        layer = _Layer(self.file)
        converters = {**_POLICY_KEYS, **({"poll_interval": _duration} if poll_interval else {})}
        for name, convert in converters.items():
            if (value := self.read(name, convert)) is not None:
                layer.values[name], layer.keys[name] = value, self.key(name)
        return layer

    def unknown(self, known: Collection[str], expected: str = "") -> None:
        for name in self.data:
            if name not in known:
                self.fail(name, _unknown("key", name, known, expected))


class _Loader:
    """One load of one configuration: the state shared while every part is checked."""

    def __init__(self, path: Path, env: Mapping[str, str], supported: frozenset[str]) -> None:
        self.path, self.file, self.env, self.supported = path, str(path), env, supported
        self.problems: list[Problem] = []
        self.secrets: set[str] = set()

    def problem(self, file: str, key: str, message: str) -> None:
        if (problem := Problem(file, key, message)) not in self.problems:
            self.problems.append(problem)

    def convert(self, file: str, key: str, value: V, convert: Callable[[V], T]) -> T | None:
        try:
            return convert(value)
        except _Reported:
            return None
        except ValueError as exc:
            self.problem(file, key, str(exc))
            return None

    def load(self) -> Settings:
        top = _Table(self, self.file, "", self._expanded(self._document(), ""))
        monitor, organisations_file = self._monitor(top.table("monitor"))
        policy_layer = top.table("policy")
        policy = self._resolve(Policy(), policy_layer.layer(poll_interval=False))
        policy_layer.unknown(_POLICY_KEYS)
        platforms, layers = self._platforms(top.table("platforms"))
        names, channels = self._organisations(top, organisations_file)
        notify = self._notify(top, names)
        top.unknown(("monitor", "policy", "platforms", "organisation", "notify"))
        self._require_credentials(platforms, channels, top.table("platforms"))

        per_platform = {name: self._resolve(policy, layers[name]) for name in PLATFORMS}
        resolved = []
        for channel in channels:
            layer, platform = channel.layer, layers[channel.platform]
            interval = layer.values.get("poll_interval", platform.values.get("poll_interval"))
            resolved.append(
                ChannelSettings(
                    organisation=channel.organisation,
                    platform=channel.platform,
                    handle=channel.handle,
                    policy=self._resolve(per_platform[channel.platform], layer),
                    poll_interval=interval or monitor.poll_interval,
                    parked=channel.parked,
                )
            )
        if self.problems:
            raise ConfigError(self._redacted(self.problems))
        return Settings(
            source=self.file,
            monitor=monitor,
            policy=policy,
            platforms=platforms,
            organisations=tuple(names),
            channels=tuple(resolved),
            secrets=frozenset(self.secrets),
            notify=notify,
        )

    def _document(self) -> dict[str, Any]:
        try:
            text = self.path.read_bytes().decode("utf-8")
            return tomllib.loads(text)
        except FileNotFoundError:
            message = "file not found (give --config PATH or set $CHANNEL_MONITOR_CONFIG)"
            raise ConfigError([Problem(self.file, "", message)]) from None
        except OSError as exc:
            raise ConfigError([Problem(self.file, "", f"cannot read: {exc.strerror}")]) from None
        except UnicodeDecodeError as exc:
            problem = Problem(self.file, f"byte {exc.start}", "not UTF-8 text")
            raise ConfigError([problem]) from None
        except tomllib.TOMLDecodeError as exc:
            found = re.fullmatch(r"(.*) \(at (.*)\)", str(exc))
            message, where = found.groups() if found else (str(exc), "")
            raise ConfigError([Problem(self.file, where, message)]) from None

    def _expanded(self, value: object, key: str) -> object:
        if isinstance(value, str):
            try:
                return _expand(value, self.env)
            except ValueError as exc:
                self.problem(self.file, key, str(exc))
                return _BROKEN
        if isinstance(value, dict):
            return {k: self._expanded(v, f"{key}.{k}" if key else k) for k, v in value.items()}
        if isinstance(value, list):
            return [self._expanded(item, f"{key}[{i}]") for i, item in enumerate(value)]
        return value

    def _redacted(self, problems: Iterable[Problem]) -> list[Problem]:
        # messages never quote secrets; this is the second line of defence
        secrets = sorted((s for s in self.secrets if len(s) >= 4), key=len, reverse=True)
        result = []
        for problem in problems:
            message = problem.message
            for secret in secrets:
                message = message.replace(secret, "***")
            result.append(replace(problem, message=message))
        return result

    def _monitor(self, table: _Table) -> tuple[MonitorSettings, str | None]:
        """``[monitor]`` with the CHANNEL_MONITOR_* overrides, and the organisations file."""
        values: dict[str, Any] = {}
        for name, convert in _MONITOR_KEYS.items():
            if (value := table.read(name, convert)) is not None:
                values[name] = value
        for name in _ENV_OVERRIDES:
            variable = f"{_ENV_PREFIX}{name.upper()}"
            if raw := self.env.get(variable, "").strip():
                value = self.convert(_ENV_FILE, f"${variable}", raw, _MONITOR_KEYS[name])
                if value is not None:
                    values[name] = value
        if "database" in values and (password := make_url(str(values["database"])).password):
            self.secrets.add(password)
        organisations_file = table.read("organisations_file", _nonempty)
        table.unknown((*_MONITOR_KEYS, "organisations_file"))
        return MonitorSettings(**values), organisations_file

    def _platforms(self, section: _Table) -> tuple[dict[str, PlatformSettings], dict[str, _Layer]]:
        for name in section.data:
            if name not in PLATFORMS:
                section.fail(name, _unknown("platform", name, PLATFORMS, f"known: {_KNOWN}"))
        platforms, layers = {}, {}
        for name in PLATFORMS:
            table = section.table(name)
            layers[name] = table.layer(poll_interval=True)
            platforms[name] = self._platform(name, table)
        return platforms, layers

    def _platform(self, name: str, table: _Table) -> PlatformSettings:
        base_url = account_id = None
        if name == "rss" and table.has("base_url"):
            table.fail("base_url", "rss feeds are full URLs; base_url does not apply")
        else:
            base_url = table.read("base_url", _http_url)
        if name != "instagram" and table.has("account_id"):
            table.fail("account_id", "account_id applies to instagram only")
        else:
            account_id = table.read("account_id", _nonempty)
        page_limit = table.read("page_limit", _whole(1, 100))
        options = PlatformOptions(
            base_url=(base_url or DEFAULT_BASE_URLS[name] or "").rstrip("/") or None,
            api_version=table.read("api_version", _nonempty) or DEFAULT_API_VERSIONS.get(name),
            access_token=self._secret(table, "access_token"),
            account_id=account_id,
            page_limit=5 if page_limit is None else page_limit,
        )
        concurrency = table.read("concurrency", _whole(1, 64))
        timeout = table.read("timeout", _duration)
        slow_down_at = table.read("slow_down_at", _ratio)
        table.unknown(_PLATFORM_KEYS)
        return PlatformSettings(
            name=name,
            options=options,
            concurrency=4 if concurrency is None else concurrency,
            timeout=timeout or timedelta(seconds=30),
            slow_down_at=0.8 if slow_down_at is None else slow_down_at,
        )

    def _notify(self, top: _Table, organisations: Collection[str]) -> NotifySettings:
        """``[notify]`` and its ``[[notify.webhook]]`` tables; webhook URLs are secrets."""
        if not top.has("notify"):
            return NotifySettings()
        table = top.table("notify")
        values: dict[str, Any] = {}
        for name, convert in _NOTIFY_KEYS.items():
            if (value := table.read(name, convert)) is not None:
                values[name] = value
        table.unknown((*_NOTIFY_KEYS, "webhook"))
        entries = table.data.get("webhook", [])
        if isinstance(entries, dict):  # a single [notify.webhook] table
            entries = [entries]
        if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
            table.fail("webhook", "must be [[notify.webhook]] tables")
            entries = []
        elif not entries and isinstance(top.data["notify"], dict):
            self.problem(
                self.file,
                "notify",
                "no [[notify.webhook]]: give at least one webhook, or remove [notify]",
            )
        webhooks: list[WebhookSettings] = []
        first: dict[str, str] = {}
        for index, entry in enumerate(entries):
            hook = _Table(self, self.file, table.key(f"webhook[{index}]"), entry)
            name = hook.read("name", _webhook_name) or f"webhook-{index + 1}"
            if name in first:
                hook.fail("name", f"duplicate webhook name {name!r} (first at {first[name]})")
            first.setdefault(name, hook.path)
            url = self._secret(hook, "url")
            if url is None and not (hook.has("url") or hook.has("url_file")):
                self.problem(self.file, hook.path, "url (or url_file) is required")
            elif url is not None:
                key = hook.key("url" if hook.has("url") else "url_file")
                url = self.convert(self.file, key, url, _http_url)
            wanted = hook.read("organisations", partial(self._organisation_names, organisations))
            hook.unknown(_WEBHOOK_KEYS)
            if url is not None:
                webhooks.append(WebhookSettings(name, url, wanted))
        return NotifySettings(webhooks=tuple(webhooks), **values)

    @staticmethod
    def _organisation_names(known: Collection[str], value: object) -> frozenset[str]:
        if not isinstance(value, list) or not value:
            raise _Invalid("must be a non-empty list of organisation names")
        names = [_string(item) for item in value]
        for name in names:
            if name not in known:
                raise _Invalid(_unknown("organisation", name, known, "not configured"))
        return frozenset(names)

    def _secret(self, table: _Table, name: str) -> str | None:
        """A secret given directly (``${VAR}`` included) or read from the ``_file`` variant."""
        file_key = f"{name}_file"
        value = table.read(name, _nonempty)
        if value is not None:
            self.secrets.add(value)
        if table.has(name) and table.has(file_key):
            table.fail(file_key, f"give {name} or {file_key}, not both")
            return value
        if (relative := table.read(file_key, _nonempty)) is None:
            return value
        path = self.path.parent / relative
        value = self.convert(self.file, table.key(file_key), path, _read_text)
        if value is not None and not (value := value.strip()):
            table.fail(file_key, f"{path} is empty")
        if not value:
            return None
        self.secrets.add(value)
        return value

    def _organisations(self, top: _Table, csv_file: str | None) -> tuple[list[str], list[_Channel]]:
        """Every organisation, from ``[[organisation]]`` tables then the CSV, checked together."""
        names: dict[str, str] = {}  # name → where it was first given
        channels: dict[tuple[str, str, str], _Channel] = {}
        tables = top.data.get("organisation", [])
        if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
            top.fail("organisation", "must be [[organisation]] tables")
            tables = []
        found = [
            self._organisation(_Table(self, self.file, f"organisation[{i}]", data))
            for i, data in enumerate(tables)
        ]
        if csv_file is not None:
            found += self._csv(self.path.parent / csv_file)
        for name, where, (file, key), entries in found:
            if name is None:
                continue
            if name in names:
                self.problem(file, key, f"duplicate organisation name (first at {names[name]})")
                continue
            names[name] = where
            for channel in entries:
                first = channels.setdefault(channel.key, channel)
                if first is not channel:
                    self.problem(
                        channel.file, channel.where, f"duplicate channel (first at {first.where})"
                    )
        return list(names), list(channels.values())

    def _organisation(self, table: _Table) -> _Organisation:
        name = table.read("name", _nonempty)
        if not table.has("name"):
            self.problem(self.file, table.path, "name is required")
        channels = [
            channel
            for platform in table.data
            if platform in PLATFORMS
            for channel in self._channels(name or "", platform, table)
        ]
        table.unknown(("name", *PLATFORMS), f"expected name or a platform: {_KNOWN}")
        return _Organisation(name, table.path, (self.file, table.key("name")), channels)

    def _csv(self, path: Path) -> list[_Organisation]:
        """Organisations from the CSV: a ``name`` column and a column per platform."""
        file = str(path)
        if (
            text := self.convert(self.file, "monitor.organisations_file", path, _read_text)
        ) is None:
            return []
        try:  # spreadsheets in many locales write ";" or tabs
            dialect: Any = csv.Sniffer().sniff(text.partition("\n")[0], ",;\t")
        except csv.Error:
            dialect = csv.excel
        reader = csv.reader(io.StringIO(text, newline=""), dialect)
        try:
            rows = [(f"row {reader.line_num}", cells) for cells in reader]
        except csv.Error as exc:
            self.problem(file, f"row {reader.line_num}", f"not readable as CSV: {exc}")
            return []
        header = [cell.strip().lower() for cell in rows[0][1]] if rows else []
        if "name" not in header:
            self.problem(file, "row 1", 'the first row names the columns, and one must be "name"')
            return []
        for column in header:
            if column and column != "name" and column not in PLATFORMS:
                known = f"known: name, {_KNOWN}"
                self.problem(file, "row 1", _unknown("column", column, PLATFORMS, known))
            elif column and header.count(column) > 1:
                self.problem(file, "row 1", f"column {column!r} appears twice")
        result = []
        for row, cells in rows[1:]:
            values = dict(zip(header, (cell.strip() for cell in cells), strict=False))
            if not any(values.values()):
                continue
            if not (name := values.get("name", "")):
                self.problem(file, f"{row}: name", "name is required")
            channels = []
            for platform in (column for column in values if column in PLATFORMS):
                handles = values[platform].split()
                if handles and platform not in self.supported:
                    self.problem(file, f"{row}: {platform}", self._unsupported(platform))
                    continue
                for index, handle in enumerate(handles):
                    key = f"{row}: {platform}" + (f"[{index}]" if len(handles) > 1 else "")
                    checked = self.convert(file, key, handle, partial(_handle, platform))
                    if checked is not None:
                        channels.append(_Channel(name, platform, checked, file, key, _Layer(file)))
            where = f"{path.name} {row}"
            result.append(_Organisation(name or None, where, (file, f"{row}: name"), channels))
        return result

    def _unsupported(self, platform: str) -> str:
        return f"{platform} is not supported yet (supported: {', '.join(sorted(self.supported))})"

    def _require_credentials(
        self, platforms: dict[str, PlatformSettings], channels: list[_Channel], section: _Table
    ) -> None:
        used = {channel.platform for channel in channels}
        for name in _TOKEN_REQUIRED:
            if name not in used:
                continue
            table = _Table(self, self.file, section.key(name), section.data.get(name))
            if platforms[name].options.access_token is None and not (
                table.has("access_token") or table.has("access_token_file")
            ):
                self.problem(
                    self.file,
                    table.path,
                    f"access_token (or access_token_file) is required for {name} channels",
                )
            if name == "instagram" and not table.has("account_id"):
                self.problem(
                    self.file,
                    table.path,
                    "account_id (the professional account that runs Business Discovery)"
                    " is required for instagram channels",
                )

    def _resolve(self, base: Policy, layer: _Layer) -> Policy:
        """``base`` overridden by ``layer``, which is blamed if dormant_after < inactive_after."""
        policy = replace(base, **{k: v for k, v in layer.values.items() if k in _POLICY_KEYS})
        if policy.dormant_after < policy.inactive_after:
            culprit = next(
                (k for k in ("dormant_after", "inactive_after") if k in layer.keys), None
            )
            if culprit is not None:
                self.problem(
                    layer.file,
                    layer.keys[culprit],
                    f"dormant_after ({format_duration(policy.dormant_after)}) is shorter than "
                    f"inactive_after ({format_duration(policy.inactive_after)})",
                )
        return policy

    def _channels(self, organisation: str, platform: str, table: _Table) -> list[_Channel]:
        """The channels of one ``platform = …`` entry: a handle, a table, or a list of them."""
        if platform not in self.supported:
            table.fail(platform, self._unsupported(platform))
            return []
        value, key = table.data[platform], table.key(platform)
        entries = (
            [(v, f"{key}[{i}]") for i, v in enumerate(value)]
            if isinstance(value, list)
            else [(value, key)]
        )
        result = []
        for entry, where in entries:
            layer, parked, handle = _Layer(self.file), False, None
            if isinstance(entry, dict):
                channel = _Table(self, self.file, where, entry)
                handle = channel.read("handle", partial(_handle, platform))
                if not channel.has("handle"):
                    self.problem(self.file, where, 'a channel table needs handle = "…"')
                parked = bool(channel.read("parked", _boolean))
                layer = channel.layer(poll_interval=True)
                channel.unknown(("handle", "parked", "poll_interval", *_POLICY_KEYS))
            elif isinstance(entry, str | _Broken):
                handle = self.convert(self.file, where, entry, partial(_handle, platform))
            else:
                self.problem(
                    self.file, where, "must be a handle, a table { handle = … }, or a list"
                )
            if handle is not None:
                result.append(
                    _Channel(organisation, platform, handle, self.file, where, layer, parked)
                )
        return result
