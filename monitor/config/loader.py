"""Reading ``config.toml`` into ``Settings``: the document and its monitor and platform sections.

Organisations and ``[notify]`` are read by their own modules; here each channel's policy is resolved
through ``[policy]``, its platform and its own table, and credentials are checked where needed.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from connectors._graph import appsecret_proof
from connectors.base import PlatformOptions
from monitor.config.discovery import _discovery
from monitor.config.durations import format_duration
from monitor.config.notify import _notify
from monitor.config.organisations import _KNOWN, _Channel, _organisations
from monitor.config.tables import _POLICY_KEYS, ConfigError, Problem, _Layer, _LoadState, _Table
from monitor.config.values import (
    _BROKEN,
    _boolean,
    _choice,
    _database,
    _duration,
    _expand,
    _http_url,
    _listen,
    _nonempty,
    _ratio,
    _timezone,
    _unknown,
    _whole,
)
from monitor.config.web import _web_settings
from monitor.settings import (
    DEFAULT_CONCURRENCY,
    PLATFORMS,
    ChannelSettings,
    MonitorSettings,
    PlatformSettings,
    Policy,
    Settings,
    WebSettings,
    channel_label,
    url_secrets,
)

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
_ENV_FILE = "environment"  # the "file" of problems found in CHANNEL_MONITOR_* overrides
_ENV_OVERRIDES = ("database", "listen", "poll_interval", "jitter", "log_level", "log_format")
_MONITOR_KEYS: dict[str, Callable[[object], object]] = {
    "database": _database,
    "listen": _listen,
    "simulated": _boolean,  # the demo's data: every view says so
    "poll_interval": _duration,
    "jitter": lambda value: _duration(value, zero_ok=True),
    "poll_timeout": _duration,
    "max_in_flight": _whole(1, 1024),
    "log_level": _choice("debug", "info", "warning", "error"),
    "log_format": _choice("text", "json"),
    "timezone": _timezone,
    "language": _choice("auto", "en", "nl"),
}
_APP_SECRET_PLATFORMS = ("facebook", "instagram")  # Graph: appsecret_proof
_PLATFORM_KEYS = (
    *("base_url", "api_version", "access_token", "access_token_file", "account_id"),
    *("app_secret", "app_secret_file"),
    *("poll_interval", "concurrency", "timeout", "page_limit", "slow_down_at", *_POLICY_KEYS),
)


def resolve_config_path(explicit: str | None, env: Mapping[str, str]) -> Path:
    """The configuration file: --config, else $CHANNEL_MONITOR_CONFIG, else ./config.toml."""
    return Path(explicit or env.get(f"{_ENV_PREFIX}CONFIG") or "config.toml")


def load_settings(
    path: Path,
    env: Mapping[str, str],
    *,
    supported: frozenset[str],
    web_config_file: str | None = None,
) -> Settings:
    """Read, expand and check the configuration at ``path``; raise ``ConfigError`` if it is wrong.

    ``env`` supplies ``${VAR}`` references and the ``CHANNEL_MONITOR_*`` overrides; ``supported``
    names the platforms that have a connector; ``web_config_file`` (``run --web.config.file``)
    overrides both ``[monitor] web_config_file`` and ``$CHANNEL_MONITOR_WEB_CONFIG_FILE``.
    """
    return _Loader(path, env, supported).load(web_config_file)


class _Loader(_LoadState):
    """One load of one configuration: the document, its sections and the ``Settings`` they make."""

    def load(self, web_config_file: str | None = None) -> Settings:
        top = _Table(self, self.file, "", self._expanded(self._document(), ""))
        monitor, organisations_file = self._monitor(top.table("monitor"), web_config_file)
        policy_layer = top.table("policy")
        policy = self._resolve(Policy(), policy_layer.layer(poll_interval=False))
        policy_layer.unknown(_POLICY_KEYS)
        platforms, layers = self._platforms(top.table("platforms"))
        names, channels, websites = _organisations(self, top, organisations_file)
        notify = _notify(self, top, names)
        discovery = _discovery(top)
        top.unknown(("monitor", "policy", "platforms", "organisation", "notify", "discovery"))
        self._require_credentials(platforms, channels, top.table("platforms"))

        per_platform = {name: self._resolve(policy, layers[name]) for name in PLATFORMS}
        secret_params: set[str] = set()
        for channel in channels:  # a feed's user:password@ and its unknown parameters
            secrets, params = url_secrets(channel.handle)
            self.secrets |= secrets
            secret_params |= params
        resolved = []
        for channel in channels:
            layer, platform = channel.layer, layers[channel.platform]
            interval = layer.values.get("poll_interval", platform.values.get("poll_interval"))
            resolved.append(
                ChannelSettings(
                    organisation=channel.organisation,
                    platform=channel.platform,
                    handle=channel.handle,
                    label=channel_label(channel.handle, self.secrets),
                    policy=self._resolve(per_platform[channel.platform], layer),
                    poll_interval=interval or monitor.poll_interval,
                    parked=channel.parked,
                )
            )
        self._distinct(channels, resolved)
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
            secret_params=frozenset(secret_params),
            notify=notify,
            websites=websites,
            discovery=discovery,
        )

    def _distinct(self, channels: list[_Channel], resolved: list[ChannelSettings]) -> None:
        """Two handles that differ only in what their labels mask would be one channel."""
        first: dict[tuple[str, str, str], _Channel] = {}
        for channel, settings in zip(channels, resolved, strict=True):
            if (seen := first.setdefault(settings.key, channel)) is not channel:
                self.problem(
                    channel.file,
                    channel.where,
                    f"the same feed as {seen.where} but for its credentials; give each feed once",
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
                used: list[str] = []
                expanded = _expand(value, self.env, used)
                if key.startswith("organisation"):
                    # a variable inside a handle (a feed URL's key=…) is kept out of labels
                    self.secrets.update(v for v in used if v)
                return expanded
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

    def _monitor(
        self, table: _Table, web_config_file: str | None
    ) -> tuple[MonitorSettings, str | None]:
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
        if (web := self._web(table, web_config_file)) is not None:
            values["web"] = web
        table.unknown((*_MONITOR_KEYS, "organisations_file", "web_config_file"))
        return MonitorSettings(**values), organisations_file

    def _web(self, table: _Table, explicit: str | None) -> WebSettings | None:
        """The web configuration file: --web.config.file, else the variable, else the key."""
        variable = f"{_ENV_PREFIX}WEB_CONFIG_FILE"
        if explicit is not None and explicit.strip():
            path, where = Path(explicit.strip()), ("--web.config.file", "")
        elif raw := self.env.get(variable, "").strip():
            path, where = Path(raw), (_ENV_FILE, f"${variable}")
        elif (relative := table.read("web_config_file", _nonempty)) is not None:
            path, where = self.path.parent / relative, (self.file, table.key("web_config_file"))
        else:
            return None
        return _web_settings(self, path, where)

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
        app_secret = None
        if name not in _APP_SECRET_PLATFORMS:
            for key in ("app_secret", "app_secret_file"):
                if table.has(key):
                    table.fail(key, f"{key} applies to facebook and instagram only")
        else:
            app_secret = self.secret(table, "app_secret")
        access_token = self.secret(table, "access_token")
        if access_token and name in _APP_SECRET_PLATFORMS and "|" in access_token:
            self.secrets.add(access_token.partition("|")[2])  # an app token holds the app secret
        if access_token and app_secret:
            self.secrets.add(appsecret_proof(app_secret, access_token))  # it signs every request
        options = PlatformOptions(
            base_url=(base_url or DEFAULT_BASE_URLS[name] or "").rstrip("/") or None,
            api_version=table.read("api_version", _nonempty) or DEFAULT_API_VERSIONS.get(name),
            access_token=access_token,
            app_secret=app_secret,
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
            concurrency=DEFAULT_CONCURRENCY.get(name, 4) if concurrency is None else concurrency,
            timeout=timeout or timedelta(seconds=30),
            slow_down_at=0.8 if slow_down_at is None else slow_down_at,
        )

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
