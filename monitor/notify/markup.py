"""Platform text made inert for a chat message's ``text``, per receiver's markup.

Names and addresses in a notification come from the platforms (a feed's title, a Page's name
and link) or from whoever edits the configuration, never from us: in ``text`` they must read as
what they are, not as a mention, a link, formatting or an extra bullet line. Each receiver
parses ``text`` differently, so each gets its own escaping:

* ``slack`` (Slack mrkdwn): ``&``, ``<`` and ``>`` become ``&amp;``, ``&lt;``, ``&gt;``, the
  escaping Slack documents (api.slack.com/reference/surfaces/formatting#escaping); ``<…>`` is
  how Slack writes links and mentions (``<!channel>``). Slack has no escape for ``*_~```: those
  only style text.
* ``markdown`` (Mattermost, Rocket.Chat, Microsoft Teams, Discord, your own service): the same
  entities (Mattermost translates Slack's ``<url|text>`` and ``<!channel>`` too, see
  developers.mattermost.com/integrate/slash-commands/slack), Markdown punctuation escaped with a
  backslash (CommonMark: any ASCII punctuation), and ``@`` followed by a word joiner, since
  Mattermost and Discord notify on a bare ``@channel``, ``@here``, ``@all`` or ``@name``.
* ``google_chat``: Google Chat shows entities literally (``&gt;`` stays "&gt;",
  librenms/librenms#18234) and has no escape; its links and mentions are ``<url|text>`` and
  ``<users/all>``, so ``<``/``>`` become the look-alikes U+2039/U+203A, and a word joiner keeps
  ``](`` from reading as a Markdown link.

Everywhere, control and bidirectional-override characters are dropped and every run of white
space, newlines included, becomes one space, so no platform text starts a line of its own.
"""

from __future__ import annotations

import re
from urllib.parse import quote, urlsplit

from monitor.settings import WEBHOOK_MARKUPS as MARKUPS
from monitor.untrusted import plain

__all__ = ["MARKUPS", "inert", "inert_url", "plain"]

WORD_JOINER = "\u2060"  # invisible, and not a space: "@⁠channel" is no mention
_LOOKALIKE = {"<": "\u2039", ">": "\u203a"}  # single angle quotation marks
_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
_MARKDOWN = re.compile(r"([\\`*_~\[\]()#|!])")  # punctuation Markdown gives a meaning to
_MENTION = re.compile(r"@(?=\w)")
_BROADCAST = re.compile(r"@(?=(?:channel|here|all|everyone)\b)", re.IGNORECASE)
_URL_SAFE = "/?#@!$&'+,;=%:~"  # besides letters, digits and "_.-": what a URL keeps as it is
_HOST = re.compile(r"[\w.\-:\[\]]+")


def inert(text: str, markup: str) -> str:
    """``text`` as it reads, in a ``text`` field for a receiver with ``markup``."""
    text = plain(text)
    if markup == "slack":
        return _entities(text)
    if markup == "google_chat":
        text = text.replace("<", _LOOKALIKE["<"]).replace(">", _LOOKALIKE[">"])
        return text.replace("](", f"]{WORD_JOINER}(")
    text = _MARKDOWN.sub(r"\\\1", text)
    return _MENTION.sub(f"@{WORD_JOINER}", _entities(text))


def inert_url(url: str, markup: str) -> str | None:
    """An http(s) address that stays a link but carries no markup: characters a receiver could
    read as syntax are percent-encoded (it is the same address). None if it is no web address."""
    text = plain(url)
    try:
        parts = urlsplit(text)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not _HOST.fullmatch(parts.netloc):
        return None  # also refuses user:password@ (masked before it is stored, anyway)
    rest = text[len(parts.scheme) + 3 + len(parts.netloc) :]
    # ASCII outside the URL's own syntax is encoded; other letters stay readable ("…", "é")
    path = "".join(quote(ch, safe=_URL_SAFE) if ch.isascii() else ch for ch in rest)
    safe = f"{parts.scheme}://{parts.netloc}{path}"
    if markup == "markdown":  # Mattermost finds mentions inside addresses too (/@channel)
        return _BROADCAST.sub("%40", safe)
    return _entities(safe) if markup == "slack" else safe


def _entities(text: str) -> str:
    return "".join(_ENTITIES.get(ch, ch) for ch in text)
