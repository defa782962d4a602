"""The ``[notify]`` section and its ``[[notify.webhook]]`` tables."""

from __future__ import annotations

import re
from collections.abc import Callable, Collection
from functools import partial
from typing import Any

from monitor.config.tables import _LoadState, _Table
from monitor.config.values import (
    _duration,
    _http_url,
    _Invalid,
    _string,
    _unknown,
    _whole,
)
from monitor.settings import (
    NOTIFY_STATES,
    WEBHOOK_FORMATS,
    WEBHOOK_MARKUPS,
    NotifySettings,
    WebhookSettings,
)


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


def _one_of(what: str, choices: tuple[str, ...]) -> Callable[[object], str]:
    def convert(value: object) -> str:
        if (text := _string(value)) not in choices:
            possible = " or ".join(f'"{c}"' for c in choices)
            raise _Invalid(f"unknown {what} {text!r} (possible: {possible})")
        return text

    return convert


_webhook_format = _one_of("format", WEBHOOK_FORMATS)
_webhook_markup = _one_of("markup", WEBHOOK_MARKUPS)


_NOTIFY_KEYS: dict[str, Callable[[object], object]] = {
    "evaluate_every": _duration,
    "failing_after": _whole(1, 1000),
    "remind_every": lambda value: _duration(value, zero_ok=True),
    "digest_every": lambda value: _duration(value, zero_ok=True),
    "states": _notify_states,
    "status_page_url": _http_url,
}
_WEBHOOK_KEYS = ("name", "url", "url_file", "organisations", "format", "markup")


def _notify(loader: _LoadState, top: _Table, organisations: Collection[str]) -> NotifySettings:
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
        loader.problem(
            loader.file,
            "notify",
            "no [[notify.webhook]]: give at least one webhook, or remove [notify]",
        )
    webhooks: list[WebhookSettings] = []
    first: dict[str, str] = {}
    for index, entry in enumerate(entries):
        hook = _Table(loader, loader.file, table.key(f"webhook[{index}]"), entry)
        name = hook.read("name", _webhook_name) or f"webhook-{index + 1}"
        if name in first:
            hook.fail("name", f"duplicate webhook name {name!r} (first at {first[name]})")
        first.setdefault(name, hook.path)
        url = loader.secret(hook, "url")
        if url is None and not (hook.has("url") or hook.has("url_file")):
            loader.problem(loader.file, hook.path, "url (or url_file) is required")
        elif url is not None:
            key = hook.key("url" if hook.has("url") else "url_file")
            url = loader.convert(loader.file, key, url, _http_url)
        wanted = hook.read("organisations", partial(_organisation_names, organisations))
        sends = hook.read("format", _webhook_format) or ""  # "": by the URL's host
        markup = hook.read("markup", _webhook_markup) or ""  # "": by the URL's host
        hook.unknown(_WEBHOOK_KEYS)
        if url is not None:
            webhooks.append(WebhookSettings(name, url, wanted, sends, markup))
    return NotifySettings(webhooks=tuple(webhooks), **values)


def _organisation_names(known: Collection[str], value: object) -> frozenset[str]:
    if not isinstance(value, list) or not value:
        raise _Invalid("must be a non-empty list of organisation names")
    names = [_string(item) for item in value]
    for name in names:
        if name not in known:
            raise _Invalid(_unknown("organisation", name, known, "not configured"))
    return frozenset(names)
