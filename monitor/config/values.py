"""Value converters for ``config.toml``: each takes what TOML gave and returns it checked.

A converter raises ``_Invalid`` with a message for the user, or ``_Reported`` when the problem is
already recorded (a failed ``${VAR}`` expansion). None of them knows where the value came from.
"""

from __future__ import annotations

import difflib
import ipaddress
import math
import re
from collections.abc import Callable, Collection, Mapping
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

from connectors.base import POST_KINDS
from monitor.config.durations import parse_duration


class _Invalid(ValueError):
    """A value is wrong; the message says why, for the user."""


class _Reported(Exception):
    """A value whose problem is already recorded; no further message is needed."""


class _Broken:
    """Stands in for a string whose ``${VAR}`` expansion failed (the problem is recorded)."""


_BROKEN = _Broken()
_REFERENCE = re.compile(r"\$(\$|\{[^}]*\}?)")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _expand(text: str, env: Mapping[str, str], used: list[str] | None = None) -> str:
    """``text`` with ``${NAME}`` expanded (``$$`` is a ``$``); substituted values go to ``used``."""

    def one(match: re.Match[str]) -> str:
        reference = match.group(1)
        if reference == "$":
            return "$"
        name = reference[1:-1] if reference.endswith("}") else ""
        if not _ENV_NAME.fullmatch(name):
            raise _Invalid("bad ${...} reference: write ${NAME} for a variable, $$ for a $")
        if name not in env:
            raise _Invalid(f"environment variable {name} is not set")
        if used is not None:
            used.append(env[name])
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


LONGEST = timedelta(days=36500)
"""The longest duration a setting takes."""


def _duration(value: object, *, zero_ok: bool = False) -> timedelta:
    if not isinstance(value, str | _Broken):
        raise _Invalid('durations are strings such as "6h" or "14d"')
    result = parse_duration(_string(value))
    if not zero_ok and result <= timedelta():
        raise _Invalid("must be longer than 0s")
    if result > LONGEST:  # later than year 9999 once added to a date: an OverflowError
        raise _Invalid(f"must be at most {LONGEST.days}d (100 years)")
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


def _positive(high: float) -> Callable[[object], float]:
    def convert(value: object) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _Invalid("must be a number")
        if not math.isfinite(value) or not 0 < value <= high:
            raise _Invalid(f"must be a number above 0 and at most {high:g}")
        return float(value)

    return convert


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


def _timezone(value: object) -> str:
    """An IANA time zone name this machine knows (the system's zoneinfo or the tzdata package)."""
    name = _nonempty(value)
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise _Invalid(
            f"unknown time zone {name!r}: use an IANA name such as Europe/Amsterdam or UTC"
        ) from None
    return name


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


def listen_address(text: str) -> str:
    """A ``host:port`` to listen on (``--listen``), or ValueError saying what is wrong."""
    return _listen(text)


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
