"""The pages' own words in Dutch, and which language a request gets.

The pages are written in English; ``translator("nl")`` maps each English text to its Dutch one.
The words about channels (reasons, poll health, durations) come from ``monitor.explain``.
"""

from __future__ import annotations

from collections.abc import Callable

from monitor.explain import LANGUAGES, language

_DUTCH: dict[str, str] = {
    "Channel activity": "Activiteit van kanalen",
    "as of {time}": "stand van {time}",
    "Refreshes {every}.": "Ververst {every}.",
    "Simulated data": "Gesimuleerde gegevens",
    "this is a demonstration: the organisations, channels and posts are made up.": (
        "dit is een demonstratie: de organisaties, kanalen en berichten zijn verzonnen."
    ),
    "Per platform": "Per platform",
    "platform": "platform",
    "organisations": "organisaties",
    "Legend": "Legenda",
    "Filters": "Filters",
    "State": "Status",
    "Platform": "Platform",
    "Organisation": "Organisatie",
    "all": "alle",
    "needs attention": "vraagt aandacht",
    "Show": "Toon",
    "Clear filters": "Filters wissen",
    "Showing {shown} of {total} channels.": "{shown} van {total} kanalen getoond.",
    "No channel matches these filters.": "Geen kanaal past bij deze filters.",
    "No channels are configured.": "Er zijn geen kanalen ingesteld.",
    "{count} channels": "{count} kanalen",
    "1 channel": "1 kanaal",
    "last post {when}": "laatste bericht {when}",
    "no post yet": "nog geen bericht",
    "{count} in {period}, target {target}": "{count} in {period}, doel {target}",
    "target": "doel",
    "posts per week": "berichten per week",
    "last poll {when}": "laatste peiling {when}",
    "not polled yet": "nog niet gepeild",
    "next poll {when}": "volgende peiling {when}",
    "next poll in about {duration}": "volgende peiling over ongeveer {duration}",
    "next poll due now": "volgende peiling nu",
    "What to do": "Wat te doen",
    "What the platform said": "Wat het platform zei",
    "open on the platform": "openen op het platform",
    "details": "details",
    "weeks ago": "weken geleden",
    "now": "nu",
    "week of {date}: {posts}": "week van {date}: {posts}",
    "{month}: {posts}": "{month}: {posts}",
    "Back to all channels": "Terug naar alle kanalen",
    "Why this state": "Waarom deze status",
    "How it is read": "Hoe het gelezen wordt",
    "Thresholds": "Drempels",
    "inactive after": "inactief na",
    "dormant after": "slapend na",
    "quiet after": "stil na",
    "{factor} × the usual gap: {silence} of silence": (
        "{factor} × de gebruikelijke tussentijd: {silence} stilte"
    ),
    "too few posts to know a usual gap": "te weinig berichten voor een gebruikelijke tussentijd",
    "target posts": "doel",
    "{target} in {period}": "{target} per {period}",
    "counted": "telt mee",
    "Figures": "Cijfers",
    "silence": "stilte",
    "usual gap": "gebruikelijke tussentijd",
    "posts in the last {period}": "berichten in de afgelopen {period}",
    "Posting history": "Geschiedenis van berichten",
    "posts per week since the first post": "berichten per week sinds het eerste bericht",
    "posts per month since the first post": "berichten per maand sinds het eerste bericht",
    "No post is known.": "Er is geen bericht bekend.",
    "Intervals between posts": "Tijd tussen berichten",
    "The newest {count} intervals, in days. The usual gap is the 90th percentile of "
    "the newest 50.": (
        "De nieuwste {count} tussentijden, in dagen. De gebruikelijke tussentijd is het "
        "90e percentiel van de nieuwste 50."
    ),
    "Too few posts for intervals.": "Te weinig berichten voor tussentijden.",
    "interval {n}: {days} days": "tussentijd {n}: {days} dagen",
    "Recent polls": "Recente peilingen",
    "started": "begonnen",
    "result": "resultaat",
    "new posts": "nieuwe berichten",
    "requests": "verzoeken",
    "seconds": "seconden",
    "ok": "goed",
    "not modified": "ongewijzigd",
    "failed": "mislukt",
    "No poll is recorded yet.": "Er is nog geen peiling vastgelegd.",
    "Events": "Gebeurtenissen",
    "when": "wanneer",
    "what": "wat",
    "No notification event for this channel.": "Geen meldingen voor dit kanaal.",
    "Channel not found": "Kanaal niet gevonden",
    "No configured channel has this number.": "Geen ingesteld kanaal heeft dit nummer.",
    "followers": "volgers",
    "English": "English",
    "Nederlands": "Nederlands",
    "state changed": "status veranderd",
    "recovered": "hersteld",
    "cannot be read": "niet te lezen",
    "read again": "weer gelezen",
    "reminder": "herinnering",
    "digest": "overzicht",
}

CATALOGUES: dict[str, dict[str, str]] = {"en": {}, "nl": _DUTCH}


def translator(lang: str) -> Callable[..., str]:
    """``_(text, **values)``: ``text`` in ``lang``, with ``{values}`` filled in."""
    catalogue = CATALOGUES[language(lang)]

    def translate(text: str, **values: object) -> str:
        words = catalogue.get(text, text)
        return words.format(**values) if values else words

    return translate


def negotiate(asked: str | None, setting: str, accept_language: str | None) -> str:
    """The language of a page: ``?lang=``, else the setting unless it is ``auto``, else the
    browser's first language that is one of LANGUAGES (RFC 9110 quality values), else English."""
    if asked in LANGUAGES:
        return asked
    if setting in LANGUAGES:
        return setting
    weighed: list[tuple[float, int, str]] = []
    for index, item in enumerate((accept_language or "").split(",")):
        tag, _, params = item.strip().partition(";")
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        primary = tag.strip().lower().split("-")[0]
        if primary in LANGUAGES and quality > 0:
            weighed.append((-quality, index, primary))
    return min(weighed)[2] if weighed else LANGUAGES[0]
