"""Reading ``config.toml`` (and its optional organisations CSV) into frozen, validated ``Settings``.

This is the only package that reads configuration files or the environment. Every mistake is
collected as a ``Problem`` naming the file, the key path and what is wrong, and all of them are
raised together in one ``ConfigError``. Secret values never appear in a message.

The modules: ``durations`` and ``values`` convert single values, ``handles`` checks channel
handles per platform, ``tables`` collects problems while tables are read, and ``loader``,
``organisations`` and ``notify`` read the sections. Names with a leading underscore are shared
between these modules only; what this module exports is the API.
"""

from __future__ import annotations

from monitor.config.durations import format_duration, parse_duration
from monitor.config.loader import DEFAULT_API_VERSIONS as DEFAULT_API_VERSIONS
from monitor.config.loader import DEFAULT_BASE_URLS as DEFAULT_BASE_URLS
from monitor.config.loader import load_settings, resolve_config_path
from monitor.config.tables import ConfigError, Problem
from monitor.config.values import listen_address

__all__ = [
    "ConfigError",
    "Problem",
    "format_duration",
    "listen_address",
    "load_settings",
    "parse_duration",
    "resolve_config_path",
]
