"""How a channel's polls stand, and what to do about it."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from monitor.explain.words import language, platform_name
from monitor.records import STORAGE_REASON
from monitor.views import ChannelView


class HealthCode(enum.StrEnum):
    """How a channel's polls stand: fine, not yet, or why the last one failed."""

    OK = "ok"
    NOT_POLLED = "not_polled"
    TOKEN_EXPIRED = "token_expired"  # noqa: S105  (a code, not a secret): auth, and the platform said the token expired
    AUTH = "auth"
    RATE_LIMITED = "rate_limited"
    NOT_FOUND = "not_found"
    TRANSIENT = "transient"
    MALFORMED = "malformed"
    STORAGE = "storage"  # read, but the database refused to store it
    FAILING = "failing"  # a reason this version does not know


class Level(enum.StrEnum):
    """How much a channel's poll health asks of people."""

    OK = "ok"
    NOTE = "note"  # works, with something worth doing (a moved feed, a partial profile)
    WARNING = "warning"  # failing, but it passes by itself (throttles, timeouts)
    ERROR = "error"  # failing until someone acts


_TOKEN_PLATFORMS = ("facebook", "instagram", "linkedin")  # read with a configured access token
_PASSING = (HealthCode.RATE_LIMITED, HealthCode.TRANSIENT)


@dataclass(frozen=True, slots=True)
class Health:
    """A channel's poll health, and what the platform said when it failed."""

    code: HealthCode
    platform: str
    failures: int  # failed polls in a row
    detail: str | None  # the platform's words for the failure (already redacted)
    moved_to: str | None  # the feed's new address (masked): the configuration should say so
    profile_note: str | None  # what of the profile the last read could not read
    last_success_at: datetime | None

    @property
    def level(self) -> Level:
        if self.code is HealthCode.OK:
            return Level.NOTE if self.moved_to or self.profile_note else Level.OK
        if self.code is HealthCode.NOT_POLLED:
            return Level.OK
        return Level.WARNING if self.code in _PASSING else Level.ERROR

    def text(self, lang: str = "en") -> str:
        """What is going on, in one line: "the Facebook token has expired (3 polls failed)"."""
        lang = language(lang)
        words = _HEALTH_TEXT[lang][self.code].format(platform=platform_name(self.platform))
        if self.failures > 1:
            words += (
                f" ({self.failures} polls in a row failed)"
                if lang == "en"
                else f" ({self.failures} peilingen op rij mislukt)"
            )
        if self.moved_to:
            words += (
                f"; moved to {self.moved_to}"
                if lang == "en"
                else f"; verhuisd naar {self.moved_to}"
            )
        if self.profile_note:
            words += f"; {self.profile_note}"
        return words

    def action(self, lang: str = "en") -> str | None:
        """What to do about it, or None when nothing needs doing."""
        lang = language(lang)
        if self.code in (HealthCode.TOKEN_EXPIRED, HealthCode.AUTH):
            return _token_action(self.code, self.platform, lang)
        todo = _HEALTH_ACTION[lang].get(self.code)
        if todo is None and self.moved_to:
            todo = _MOVED_ACTION[lang]
        return todo.format(platform=self.platform) if todo else None

    def as_json(self, lang: str = "en") -> dict[str, Any]:
        """``{"code", "level", "text", "action"}`` as ``/api/channels`` shows it."""
        return {
            "code": self.code.value,
            "level": self.level.value,
            "text": self.text(lang),
            "action": self.action(lang),
        }


def health(view: ChannelView) -> Health:
    """How ``view``'s polls stand."""
    record = view.record
    if record.last_poll_at is None or record.last_poll_ok is None:
        code = HealthCode.NOT_POLLED
    elif record.last_poll_ok:
        code = HealthCode.OK
    else:
        code = _failure(record.last_error_reason, record.last_error_detail)
    return Health(
        code=code,
        platform=view.platform,
        failures=0 if record.last_poll_ok else record.consecutive_failures,
        detail=None if record.last_poll_ok else record.last_error_detail,
        moved_to=view.moved_to,
        profile_note=record.profile_note,
        last_success_at=record.last_success_at,
    )


def _failure(kind: str | None, detail: str | None) -> HealthCode:
    if kind == "auth" and "expired" in (detail or "").lower():
        return HealthCode.TOKEN_EXPIRED
    if kind == STORAGE_REASON:
        return HealthCode.STORAGE
    try:
        return HealthCode(kind or "failing")
    except ValueError:
        return HealthCode.FAILING


_HEALTH_TEXT: dict[str, dict[HealthCode, str]] = {
    "en": {
        HealthCode.OK: "read fine",
        HealthCode.NOT_POLLED: "not polled yet",
        HealthCode.TOKEN_EXPIRED: "the {platform} token has expired",
        HealthCode.AUTH: "{platform} refused the token (invalid, revoked or missing a permission)",
        HealthCode.RATE_LIMITED: "{platform} asked us to slow down",
        HealthCode.NOT_FOUND: "{platform} does not know this page or account",
        HealthCode.TRANSIENT: "{platform} did not answer properly (timeout, server or network)",
        HealthCode.MALFORMED: "{platform}'s answer could not be read",
        HealthCode.STORAGE: "read, but the database refused to store it",
        HealthCode.FAILING: "the last poll failed",
    },
    "nl": {
        HealthCode.OK: "goed gelezen",
        HealthCode.NOT_POLLED: "nog niet gepeild",
        HealthCode.TOKEN_EXPIRED: "het {platform}-token is verlopen",
        HealthCode.AUTH: "{platform} weigert het token (ongeldig, ingetrokken of zonder recht)",
        HealthCode.RATE_LIMITED: "{platform} vraagt ons trager te lezen",
        HealthCode.NOT_FOUND: "{platform} kent deze pagina of dit account niet",
        HealthCode.TRANSIENT: "{platform} antwoordde niet goed (time-out, server of netwerk)",
        HealthCode.MALFORMED: "het antwoord van {platform} was niet te lezen",
        HealthCode.STORAGE: "gelezen, maar de database weigerde het op te slaan",
        HealthCode.FAILING: "de laatste peiling is mislukt",
    },
}

_HEALTH_ACTION: dict[str, dict[HealthCode, str]] = {
    "en": {
        HealthCode.RATE_LIMITED: "nothing: polls resume by themselves when the pause ends",
        HealthCode.TRANSIENT: "nothing unless it persists: the next poll tries again",
        HealthCode.NOT_FOUND: (
            "check the handle in the configuration: the page may be renamed or removed"
        ),
        HealthCode.MALFORMED: "if it persists, report it with the detail below",
        HealthCode.STORAGE: "check the database (disk space, permissions, connection)",
    },
    "nl": {
        HealthCode.RATE_LIMITED: "niets: het lezen gaat vanzelf verder als de pauze voorbij is",
        HealthCode.TRANSIENT: "niets, tenzij het aanhoudt: de volgende peiling probeert opnieuw",
        HealthCode.NOT_FOUND: (
            "controleer de naam in de configuratie: de pagina is misschien hernoemd of weg"
        ),
        HealthCode.MALFORMED: "meld het met de details hieronder als het aanhoudt",
        HealthCode.STORAGE: "controleer de database (schijfruimte, rechten, verbinding)",
    },
}

_MOVED_ACTION = {
    "en": "put the new address in the configuration",
    "nl": "zet het nieuwe adres in de configuratie",
}

_RENEW_WHERE = {  # where a platform's token is made again
    "facebook": "Meta Business Settings → System users, or the Graph API Explorer",
    "instagram": "Meta Business Settings → System users, or the Graph API Explorer",
    "linkedin": "the LinkedIn Developer Portal's token generator (its tokens last 60 days)",
}


def _token_action(code: HealthCode, platform: str, lang: str) -> str:
    key = f"[platforms.{platform}] access_token"
    where = _RENEW_WHERE.get(platform)
    if platform not in _TOKEN_PLATFORMS or where is None:
        return (
            f"check the {key} settings and the server's access rules"
            if lang == "en"
            else f"controleer {key} en de toegangsregels van de server"
        )
    if code is HealthCode.TOKEN_EXPIRED:
        return (
            f"renew it in {where}, put it in {key} and reload the daemon (SIGHUP)"
            if lang == "en"
            else f"vernieuw het in {where}, zet het in {key} en herlaad de daemon (SIGHUP)"
        )
    return (
        f"check the token's permissions (see the README), or make a new one in {where}; "
        f"put it in {key} and reload the daemon (SIGHUP)"
        if lang == "en"
        else f"controleer de rechten van het token (zie de README) of maak een nieuw in {where}; "
        f"zet het in {key} en herlaad de daemon (SIGHUP)"
    )
