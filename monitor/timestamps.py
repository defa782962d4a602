"""Times as the daemon writes them for people and scripts: RFC 3339, UTC, with a ``Z``.

One spelling for every JSON the daemon emits (``/api/channels``, webhook bodies, discovery), so
no part has to import another's presentation code to write a time.
"""

from __future__ import annotations

from datetime import datetime


def rfc3339(value: datetime | None) -> str | None:
    """``value`` as RFC 3339 with ``Z`` for UTC (``2026-11-21T12:00:00Z``); None stays None."""
    return value.isoformat().replace("+00:00", "Z") if value is not None else None
