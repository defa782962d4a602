"""Keeping secrets out of everything we write: logs, the database, messages, metrics."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import replace

from connectors.base import Checkpoint

MASK = "***"
_TOKEN_PARAMS = re.compile(
    r"(?i)((?:access_token|appsecret_proof|client_secret|token|key)=)[^&\s\"'<>]+"
)
_BEARER = re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+")
# scheme://userinfo@ (RFC 3986 §3.2.1): "user:password@" or a token given as the user
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@?#\"'<>]+@")


def mask_userinfo(url: str, mask: str = MASK) -> str:
    """``url`` with its ``user:password@`` replaced by ``mask@`` (``mask=""``: removed)."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    end = min((i for i in map(rest.find, "/?#") if i >= 0), default=len(rest))
    if "@" not in (authority := rest[:end]):
        return url
    host = authority.rpartition("@")[2]
    return f"{scheme}://{mask + '@' if mask else ''}{host}{rest[end:]}"


class Redactor:
    """Replaces every known secret, anything shaped like a token parameter, the credentials
    in any URL, and the values of the query parameters it was told of, with ***."""

    def __init__(self, secrets: Iterable[str] = (), params: Iterable[str] = ()) -> None:
        self._secrets: list[str] = []
        self._names: set[str] = set()
        self._params: re.Pattern[str] | None = None
        self.learn(secrets, params)

    def learn(self, secrets: Iterable[str] = (), params: Iterable[str] = ()) -> None:
        """Mask these too from now on (a reloaded configuration's secrets)."""
        known = {*self._secrets, *(s for s in secrets if s and len(s) >= 4)}
        # longest first, so a secret containing another is masked whole
        self._secrets = sorted(known, key=len, reverse=True)
        self._names |= {p for p in params if p}
        if self._names:
            names = "|".join(map(re.escape, sorted(self._names, key=len, reverse=True)))
            # a parameter's name where a URL's query has one: after ?, & or ;
            self._params = re.compile(rf"(?i)([?&;](?:{names})=)[^&;#\s\"'<>]+")

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, MASK)
        text = _TOKEN_PARAMS.sub(rf"\1{MASK}", text)
        if self._params is not None:
            text = self._params.sub(rf"\1{MASK}", text)
        text = _USERINFO.sub(rf"\1{MASK}@", text)
        return _BEARER.sub(rf"\1{MASK}", text)

    def secrets_in(self, text: str) -> tuple[str, ...]:
        """The known secrets that occur in ``text`` (a channel's handle), in a stable order."""
        found = [s for s in self._secrets if s in text]
        return tuple(sorted(found, key=lambda s: (text.index(s), -len(s))))


# A secret in a stored value is replaced by its place among the secrets of the channel's
# handle: a feed that moved keeps the ``?key=`` it was configured with, and that key must not
# reach the database. Braces never occur in a URL unescaped, so nothing else reads as one.
_SEALED = re.compile(r"\{\{secret:(\d+)\}\}")


def seal(text: str, secrets: Sequence[str]) -> str:
    """``text`` with each of ``secrets`` replaced by a placeholder naming its position."""
    for index, secret in sorted(enumerate(secrets), key=lambda p: len(p[1]), reverse=True):
        text = text.replace(secret, f"{{{{secret:{index}}}}}")
    return text


def unseal(text: str, secrets: Sequence[str]) -> str | None:
    """What ``seal`` was given, or None when a placeholder's secret is no longer configured."""
    missing = False

    def restore(found: re.Match[str]) -> str:
        nonlocal missing
        index = int(found.group(1))
        if index < len(secrets):
            return secrets[index]
        missing = True
        return ""

    restored = _SEALED.sub(restore, text)
    return None if missing else restored


def masked(text: str) -> str:
    """A sealed value for people: each placeholder shown as ***."""
    return _SEALED.sub(MASK, text)


def seal_checkpoint(checkpoint: Checkpoint, secrets: Sequence[str]) -> Checkpoint:
    """The checkpoint as it is stored: secrets in its ``extra`` values sealed."""
    if not secrets:
        return checkpoint
    return replace(checkpoint, extra={k: seal(v, secrets) for k, v in checkpoint.extra.items()})


def unseal_checkpoint(checkpoint: Checkpoint, secrets: Sequence[str]) -> Checkpoint:
    """The checkpoint as stored, with its secrets back; values whose secret is gone are dropped."""
    extra = {k: unseal(v, secrets) for k, v in checkpoint.extra.items()}
    return replace(checkpoint, extra={k: v for k, v in extra.items() if v is not None})


class RedactingFormatter(logging.Formatter):
    """Formats as usual, then masks secrets in the whole line, tracebacks included."""

    def __init__(self, inner: logging.Formatter, redactor: Redactor) -> None:
        super().__init__()
        self._inner = inner
        self._redact = redactor

    def format(self, record: logging.LogRecord) -> str:
        return self._redact(self._inner.format(record))
