"""What discovery found on one organisation's website, as plain frozen values (and JSON)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Literal

LinkStatus = Literal["ok", "unresolved", "missing"]


@dataclass(frozen=True, slots=True)
class LinkedChannel:
    """A channel the website links as its own."""

    platform: str
    handle: str | None  # what the connector takes; None when it could not be found out
    name: str  # as linked: a username, "@handle", a vanity name, a feed URL
    url: str  # the link as found
    sources: tuple[str, ...]  # where: "footer of /", "JSON-LD sameAs of /", "rel=me of /contact"
    status: LinkStatus = "ok"  # unresolved: could not be checked now; missing: no such channel
    note: str | None = None  # how to find the id, or why it could not be resolved

    @property
    def counts(self) -> bool:
        """Whether it can be compared with the configuration: known, and existing."""
        return self.status == "ok"


@dataclass(frozen=True, slots=True)
class Aside:
    """A link that does not count as a channel of the organisation, with the reason."""

    url: str
    reason: str


@dataclass(frozen=True, slots=True)
class WebsiteCheck:
    """One read of one organisation's website."""

    organisation: str
    website: str
    checked_at: datetime
    error: str | None = None  # the site could not be read (then nothing below is known)
    final_url: str | None = None  # where the home page was, after redirects
    pages: tuple[str, ...] = ()  # the pages read
    channels: tuple[LinkedChannel, ...] = ()
    elsewhere: tuple[Aside, ...] = ()  # accounts on platforms channel-monitor cannot read
    ignored: tuple[Aside, ...] = ()  # share buttons, posts, partners' pages…
    notes: tuple[str, ...] = field(default=())  # pages skipped (robots.txt, size), a moved site

    @property
    def ok(self) -> bool:
        return self.error is None


def to_json(check: WebsiteCheck) -> str:
    """The check as stored."""
    data = asdict(check)
    data["checked_at"] = check.checked_at.isoformat()
    return json.dumps(data, ensure_ascii=False)


def from_json(text: str) -> WebsiteCheck:
    """A stored check; raises ValueError (or KeyError, TypeError) when it cannot be read."""
    data: dict[str, Any] = json.loads(text)
    return WebsiteCheck(
        organisation=data["organisation"],
        website=data["website"],
        checked_at=datetime.fromisoformat(data["checked_at"]),
        error=data.get("error"),
        final_url=data.get("final_url"),
        pages=tuple(data.get("pages", ())),
        channels=tuple(
            LinkedChannel(**{**c, "sources": tuple(c["sources"])}) for c in data["channels"]
        ),
        elsewhere=tuple(Aside(**a) for a in data.get("elsewhere", ())),
        ignored=tuple(Aside(**a) for a in data.get("ignored", ())),
        notes=tuple(data.get("notes", ())),
    )
