"""Durations as people write them in ``config.toml`` such as ``"90s"``, ``"6h"``, ``"1h30m"``."""

from __future__ import annotations

import re
from datetime import timedelta

_UNITS: dict[str, timedelta] = {
    "w": timedelta(weeks=1),
    "d": timedelta(days=1),
    "h": timedelta(hours=1),
    "m": timedelta(minutes=1),
    "s": timedelta(seconds=1),
}
_PART = re.compile(r"\s*(\d+)\s*([a-zA-Z]+)")
_HINT = "use a whole number and a unit (s, m, h, d, w), such as 90s, 15m, 6h, 14d or 1h30m"


def parse_duration(text: str) -> timedelta:
    """Read ``"90s"``, ``"15m"``, ``"6h"``, ``"14d"``, ``"2w"`` or a combination like ``"1h30m"``.

    Units go largest first, each at most once. Raises ``ValueError`` with a message fit for users.
    """
    if not text.strip():
        raise ValueError(f"empty duration; {_HINT}")
    total = timedelta()
    position, previous = 0, -1
    units = list(_UNITS)
    while position < len(text.rstrip()):
        match = _PART.match(text, position)
        if match is None:
            raise ValueError(f"not a duration: {text!r}; {_HINT}")
        number, unit = match.groups()
        if unit not in _UNITS:
            raise ValueError(f"unknown unit {unit!r} in {text!r}; {_HINT}")
        rank = units.index(unit)
        if rank <= previous:
            raise ValueError(f"units must go largest first, each once, as in 1h30m: {text!r}")
        previous, position = rank, match.end()
        try:
            total += int(number) * _UNITS[unit]
        except OverflowError:
            raise ValueError(f"duration too long: {text!r}") from None
    return total


def format_duration(td: timedelta) -> str:
    """Write ``td`` as ``parse_duration`` reads it: ``"6h"``, ``"14d"``, ``"1h30m"``, ``"0s"``."""
    if td < timedelta():
        return "-" + format_duration(-td)
    seconds, micro = divmod(td // timedelta(microseconds=1), 1_000_000)
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, seconds = divmod(rest, 60)
    parts = [f"{n}{unit}" for n, unit in ((days, "d"), (hours, "h"), (minutes, "m")) if n]
    if micro:
        parts.append(f"{seconds}.{micro:06d}".rstrip("0") + "s")
    elif seconds or not parts:
        parts.append(f"{seconds}s")
    return "".join(parts)
