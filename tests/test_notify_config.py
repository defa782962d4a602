"""``[notify]`` in config.toml: defaults, every problem with its key path, URLs kept secret."""

from __future__ import annotations

import textwrap
from datetime import timedelta
from pathlib import Path

import pytest

from monitor.config import ConfigError, Problem, load_settings
from monitor.settings import PLATFORMS, NotifySettings, Settings

HOOK = "https://hooks.slack.com/services/T000/B000/XXXXsecretXXXX"
ORGS = """
[[organisation]]
name = "Gemeente A"
rss = "https://a.example/rss"

[[organisation]]
name = "Gemeente B"
rss = "https://b.example/rss"
"""


def write(directory: Path, text: str) -> Path:
    path = directory / "config.toml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def load(tmp_path: Path, notify: str, env: dict[str, str] | None = None) -> Settings:
    return load_settings(write(tmp_path, notify + ORGS), env or {}, supported=frozenset(PLATFORMS))


def problems(tmp_path: Path, notify: str, env: dict[str, str] | None = None) -> list[Problem]:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, notify, env)
    return list(caught.value.problems)


def test_without_notify_nothing_is_sent(tmp_path: Path) -> None:
    settings = load(tmp_path, "")
    assert settings.notify == NotifySettings()
    assert not settings.notify.enabled


def test_defaults_and_every_key(tmp_path: Path) -> None:
    (tmp_path / "hook").write_text(HOOK + "/file\n")
    settings = load(
        tmp_path,
        """
        [notify]
        [[notify.webhook]]
        url = "${SLACK_WEBHOOK}"
        """,
        {"SLACK_WEBHOOK": HOOK},
    )
    notify = settings.notify
    assert notify.enabled
    assert (notify.evaluate_every, notify.failing_after) == (timedelta(minutes=1), 3)
    assert (notify.remind_every, notify.digest_every) == (timedelta(days=7), timedelta(days=14))
    assert notify.states == ("never_posted", "dormant", "inactive", "quiet")
    assert notify.status_page_url is None
    (hook,) = notify.webhooks
    assert (hook.name, hook.url, hook.organisations) == ("webhook-1", HOOK, None)

    settings = load(
        tmp_path,
        """
        [notify]
        evaluate_every = "30s"
        failing_after = 5
        remind_every = "0s"
        digest_every = "7d"
        states = ["inactive", "dormant", "below_target"]
        status_page_url = "https://monitor.example/"

        [[notify.webhook]]
        name = "press-office"
        url_file = "hook"
        organisations = ["Gemeente B"]

        [[notify.webhook]]
        url = "https://chat.example/hooks/abc"
        """,
    )
    notify = settings.notify
    assert (notify.evaluate_every, notify.failing_after) == (timedelta(seconds=30), 5)
    assert (notify.remind_every, notify.digest_every) == (timedelta(0), timedelta(days=7))
    assert notify.states == ("inactive", "dormant", "below_target")
    assert notify.status_page_url == "https://monitor.example/"
    press, second = notify.webhooks
    assert (press.name, press.url, press.organisations) == (
        "press-office",
        HOOK + "/file",
        frozenset({"Gemeente B"}),
    )
    assert (press.wants("Gemeente A"), press.wants("Gemeente B")) == (False, True)
    assert second.name == "webhook-2"
    assert {HOOK + "/file", "https://chat.example/hooks/abc"} <= settings.secrets


def test_format_defaults_to_text_for_google_chat_and_full_elsewhere(tmp_path: Path) -> None:
    settings = load(
        tmp_path,
        f"""
        [[notify.webhook]]
        name = "slack"
        url = "{HOOK}"

        [[notify.webhook]]
        name = "google"
        url = "https://chat.googleapis.com/v1/spaces/AAAA/messages?key=k&token=XXXXsecretXXXX"

        [[notify.webhook]]
        name = "google-full"
        url = "https://chat.googleapis.com/v1/spaces/BBBB/messages?key=k&token=t"
        format = "full"

        [[notify.webhook]]
        name = "slack-text"
        url = "{HOOK}/2"
        format = "text"

        [[notify.webhook]]
        name = "lookalike"
        url = "https://chat.googleapis.com.example/hook"
        """,
    )
    assert {w.name: w.format for w in settings.notify.webhooks} == {
        "slack": "full",
        "google": "text",
        "google-full": "full",
        "slack-text": "text",
        "lookalike": "full",
    }


@pytest.mark.parametrize("value", ['"json"', '"Text"', "1", '["text"]'])
def test_an_unknown_format_is_a_problem(tmp_path: Path, value: str) -> None:
    found = problems(tmp_path, f'[[notify.webhook]]\nurl = "{HOOK}"\nformat = {value}\n')
    assert [p.key for p in found] == ["notify.webhook[0].format"]
    message = found[0].message
    assert message.startswith(("unknown format", "must be a string")), message
    if message.startswith("unknown format"):
        assert message.endswith('(possible: "full" or "text")')
    assert "XXXXsecretXXXX" not in str(found[0])


def test_a_single_webhook_table_is_accepted(tmp_path: Path) -> None:
    settings = load(tmp_path, f'[notify.webhook]\nurl = "{HOOK}"\n')
    assert [w.url for w in settings.notify.webhooks] == [HOOK]


def test_every_problem_with_its_key_path(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        """
        [notify]
        evaluate_every = "0s"
        failing_after = -1
        remind_every = "-3d"
        digest_every = 14
        states = ["quiet", "busy"]
        status_page_url = "monitor.example"
        colour = "red"

        [[notify.webhook]]
        url = "ftp://hooks.example/XXXXsecretXXXX"

        [[notify.webhook]]
        name = "team"
        url = "${MISSING}"
        organisations = ["Gemeente A", "Gemeente Z"]

        [[notify.webhook]]
        name = "team"
        url = "https://hooks.example/1"
        url_file = "hook"

        [[notify.webhook]]
        name = "bad name!"
        """,
    )
    assert {p.key: p.message for p in found} == {
        "notify.evaluate_every": "must be longer than 0s",
        "notify.failing_after": "must be from 1 to 1000",
        "notify.remind_every": "not a duration: '-3d'; use a whole number and a unit"
        " (s, m, h, d, w), such as 90s, 15m, 6h, 14d or 1h30m",
        "notify.digest_every": 'durations are strings such as "6h" or "14d"',
        "notify.states": "unknown state 'busy' (possible: never_posted, dormant, inactive,"
        " quiet, below_target)",
        "notify.status_page_url": "must be an absolute http:// or https:// URL",
        "notify.colour": "unknown key 'colour'",
        "notify.webhook[0].url": "must be an absolute http:// or https:// URL",
        "notify.webhook[1].url": "environment variable MISSING is not set",
        "notify.webhook[1].organisations": "unknown organisation 'Gemeente Z'"
        ' (did you mean "Gemeente B"?)',
        "notify.webhook[2].name": "duplicate webhook name 'team' (first at notify.webhook[1])",
        "notify.webhook[2].url_file": "give url or url_file, not both",
        "notify.webhook[3].name": "letters, digits, '.', '_' and '-' only, at most 100 characters",
        "notify.webhook[3]": "url (or url_file) is required",
    }
    assert all(p.file.endswith("config.toml") for p in found)


@pytest.mark.parametrize(
    ("text", "key", "message"),
    [
        ("[notify]\n", "notify", "no [[notify.webhook]]: give at least one webhook, or remove"),
        ('notify = "yes"\n', "notify", "must be a table ([notify])"),
        ("[notify]\nwebhook = 3\n", "notify.webhook", "must be [[notify.webhook]] tables"),
        (
            f'[[notify.webhook]]\nurl = "{HOOK}"\norganisations = []\n',
            "notify.webhook[0].organisations",
            "must be a non-empty list of organisation names",
        ),
        ('[notify]\nstates = "quiet"\n', "notify.states", "must be a list of states from"),
    ],
)
def test_shape_problems(tmp_path: Path, text: str, key: str, message: str) -> None:
    found = [p for p in problems(tmp_path, text) if p.key == key]
    assert len(found) == 1, found
    assert found[0].message.startswith(message)


def test_webhook_urls_never_appear_in_messages_or_repr(tmp_path: Path) -> None:
    secret_file = tmp_path / "hook"
    secret_file.write_text("https://hooks.example/XXXXsecretXXXX with a space\n")
    found = problems(
        tmp_path,
        """
        [notify]
        [[notify.webhook]]
        url = "https://hooks.example/XXXXsecretXXXX?x=1 y"

        [[notify.webhook]]
        url_file = "hook"

        [[notify.webhook]]
        url = "${HOOK}/../XXXXsecretXXXX again"
        """,
        {"HOOK": HOOK},
    )
    assert len(found) == 3
    assert all("XXXXsecretXXXX" not in str(p) for p in found)

    settings = load(tmp_path, '[[notify.webhook]]\nurl = "${HOOK}"\n', {"HOOK": HOOK})
    assert "XXXXsecretXXXX" not in repr(settings)
    assert "XXXXsecretXXXX" not in repr(settings.notify.webhooks)
    assert HOOK in settings.secrets


def test_markup_defaults_by_host_and_can_be_set(tmp_path: Path) -> None:
    settings = load(
        tmp_path,
        """
        [[notify.webhook]]
        name = "slack"
        url = "https://hooks.slack.com/services/T0/B0/XXXXsecretXXXX"

        [[notify.webhook]]
        name = "google"
        url = "https://chat.googleapis.com/v1/spaces/AAAA/messages?key=k&token=t"

        [[notify.webhook]]
        name = "mattermost"
        url = "https://mattermost.example/hooks/abc"

        [[notify.webhook]]
        name = "slack-as-markdown"
        url = "https://hooks.slack.com/services/T0/B0/other"
        markup = "markdown"
        """,
    )
    assert {w.name: w.markup for w in settings.notify.webhooks} == {
        "slack": "slack",
        "google": "google_chat",
        "mattermost": "markdown",
        "slack-as-markdown": "markdown",
    }
    found = problems(tmp_path, f'[[notify.webhook]]\nurl = "{HOOK}"\nmarkup = "html"\n')
    assert [p.key for p in found] == ["notify.webhook[0].markup"]
    assert found[0].message.endswith('(possible: "slack" or "markdown" or "google_chat")')
