"""Platform text in a webhook message is text: no mention, link, formatting or extra line.

A feed title, a Page name or an address is written by whoever runs the channel, not by us. The
``text`` that chat services render must show it as it is, per receiver's markup; the JSON facts
(``events``) keep it raw, since JSON encoding is already safe.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from monitor.notify.markup import MARKUPS, inert, inert_url
from monitor.notify.message import body
from monitor.settings import WebhookSettings
from tests.test_notify import recorded, run, view

HOSTILE_NAME = (
    "<!channel> Nieuws\n• Website feed Echt has posted nothing for 99 days (dormant)"
    " <https://evil.example/login|Re-enter your password> [x](https://evil.example/y)"
    " **vet** `code` @channel @here\x00\x1b[31m\u202e"
)
HOSTILE_URL = "https://evil.example/login|Re-enter your password <!here>\n[x](y)"


def hostile_message(markup: str) -> dict[str, object]:
    events = [recorded(e, i) for i, e in enumerate(run([view(posts=[])]).events, 1)]
    event = events[0]
    detail = {**event.detail, "name": HOSTILE_NAME, "url": HOSTILE_URL}
    event = replace(event, detail=detail, organisation="Gemeente <!everyone> A\nB")
    return body(event.organisation, [event], "http://monitor.example/", markup=markup)


@pytest.mark.parametrize("markup", MARKUPS)
def test_platform_text_cannot_add_lines_or_control_characters(markup: str) -> None:
    message = hostile_message(markup)
    lines = str(message["text"]).splitlines()
    assert len(lines) == 3, lines  # headline, one event, status page: nothing forged
    assert lines[0].startswith("Gemeente")
    assert lines[1].startswith("• Website feed")
    assert lines[2] == "Status page: http://monitor.example/"
    text = str(message["text"])
    assert not any(ch in text for ch in "\x00\x1b\u202e\r\t")


@pytest.mark.parametrize("markup", MARKUPS)
def test_no_mention_or_link_reaches_any_receiver(markup: str) -> None:
    text = str(hostile_message(markup)["text"])
    # Slack, Mattermost (translates them) and Google Chat: <…> is a link or a mention
    assert "<!" not in text
    assert "<https://" not in text
    assert "|Re-enter" not in text or "<" not in text
    # Markdown links, for Mattermost, Rocket.Chat, Teams, Discord and Google Chat (Slack's
    # mrkdwn has none: its links are <url|text>)
    if markup != "slack":
        assert "](" not in text
    if markup == "markdown":  # Mattermost and Discord notify on a bare @channel
        assert "@channel" not in text and "@here" not in text
        assert "**vet**" not in text and "`code`" not in text


def test_slack_escapes_exactly_as_slack_documents() -> None:
    # https://api.slack.com/reference/surfaces/formatting#escaping: & < > only
    assert inert("A & B <!channel> > C", "slack") == "A &amp; B &lt;!channel&gt; &gt; C"
    assert inert("Stichting *De Brug*", "slack") == "Stichting *De Brug*"


def test_markdown_escapes_with_backslashes_and_entities() -> None:
    assert inert("[x](y) *b* _i_ `c` <u|t> & \\", "markdown") == (
        "\\[x\\]\\(y\\) \\*b\\* \\_i\\_ \\`c\\` &lt;u\\|t&gt; &amp; \\\\"
    )
    assert inert("@channel", "markdown") == "@\u2060channel"


def test_google_chat_gets_no_entities_it_would_show_literally() -> None:
    # Google Chat shows &gt; as "&gt;" (librenms/librenms#18234); <…> are its links/mentions
    text = inert("Discard > 1000 <users/all> [x](y)", "google_chat")
    assert "&" not in text and "<" not in text and ">" not in text
    assert "](" not in text


def test_urls_stay_links_but_cannot_carry_markup() -> None:
    assert inert_url("https://www.example.nl/nieuws_rss?a=1&b=2", "markdown") == (
        "https://www.example.nl/nieuws_rss?a=1&b=2"
    )
    assert inert_url("https://www.example.nl/a?b=1&c=2", "slack") == (
        "https://www.example.nl/a?b=1&amp;c=2"
    )
    assert inert_url(HOSTILE_URL, "markdown") == (
        "https://evil.example/login%7CRe-enter%20your%20password%20%3C!here%3E%20%5Bx%5D%28y%29"
    )
    assert inert_url("javascript:alert(1)", "markdown") is None
    assert inert_url("https://mastodon.example/@gemeente", "markdown") == (
        "https://mastodon.example/@gemeente"
    )
    assert inert_url("https://evil.example/@channel", "markdown") == (
        "https://evil.example/%40channel"
    )


def test_the_json_facts_stay_raw() -> None:
    message = hostile_message("slack")
    events = message["events"]
    assert isinstance(events, list)
    assert events[0]["name"] == HOSTILE_NAME
    assert events[0]["url"] == HOSTILE_URL
    assert message["organisation"] == "Gemeente <!everyone> A\nB"


def test_each_receiver_gets_its_markup_by_host() -> None:
    def markup(url: str) -> str:
        return WebhookSettings("w", url).markup

    assert markup("https://hooks.slack.com/services/T0/B0/x") == "slack"
    assert markup("https://chat.googleapis.com/v1/spaces/x/messages?key=k") == "google_chat"
    assert markup("https://mattermost.example/hooks/abc") == "markdown"
    assert WebhookSettings("w", "https://hooks.slack.com/x", markup="markdown").markup == (
        "markdown"
    )


def test_a_feed_label_with_its_query_digest_reads_as_it_is() -> None:
    label = "https://www.example.nl/nieuws_rss?…1a2b3c4d"
    assert inert_url(label, "markdown") == label
