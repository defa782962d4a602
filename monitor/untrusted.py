"""Text from outside (platforms, feeds, the configuration) made safe to print on one line."""

from __future__ import annotations

import unicodedata

# marks and overrides that reorder what follows them (the "RLO" trick), Unicode UAX #9
_BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def plain(text: str) -> str:
    """One line of printable text: no control characters (terminal escapes included) or
    direction overrides, and every run of white space, newlines too, one space."""
    kept = "".join(
        " " if ch.isspace() else ch
        for ch in text
        if ch.isspace() or (unicodedata.category(ch) != "Cc" and ch not in _BIDI)
    )
    return " ".join(kept.split())
