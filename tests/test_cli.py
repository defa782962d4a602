"""The command line as users meet it: exit codes and messages, never tracebacks."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors.base import FetchResult, Profile
from monitor.cli import main
from monitor.config import load_settings
from monitor.records import PollOutcome
from monitor.settings import PLATFORMS
from monitor.storage import Store
from tests.conftest import NOW
from tests.e2e.daemon import cli

FIVE_MISTAKES = """
[monitor]
poll_interval = "6 hours"          # 1: not a duration
listen = "localhost"               # 2: no port

[policy]
target_posts = -1                  # 3: negative

[[organisation]]
name = "Gemeente Voorbeeld"
youtube = "voorbeeld"              # 4: not a channel id
rss = "ftp://voorbeeld.nl/rss"     # 5: not an http(s) URL
"""


def test_validate_reports_all_five_mistakes_and_exits_2(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(FIVE_MISTAKES)
    result = cli("validate", "--config", str(config))
    assert result.returncode == 2, result.stderr
    for key in (
        "monitor.poll_interval",
        "monitor.listen",
        "policy.target_posts",
        "organisation[0].youtube",
        "organisation[0].rss",
    ):
        assert key in result.stderr, key
    assert "5 problem" in result.stderr
    assert "Traceback" not in result.stderr


def test_validate_accepts_the_shipped_config() -> None:
    result = cli("validate", env={"CHANNEL_MONITOR_CONFIG": "config.toml"})
    assert result.returncode == 0, result.stderr
    assert "organisations" in result.stdout


def test_missing_config_is_one_clear_line(tmp_path: Path) -> None:
    result = cli("status", "--config", str(tmp_path / "nope.toml"))
    assert result.returncode == 2
    assert "nope.toml" in result.stderr
    assert "Traceback" not in result.stderr


def test_unwritable_database_directory_is_a_clear_error(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        f'[monitor]\ndatabase = "sqlite:///{tmp_path}/missing/dir/cm.db"\n'
        '[[organisation]]\nname = "X"\nrss = "http://127.0.0.1:9/rss"\n'
    )
    result = cli("status", "--config", str(config))
    assert result.returncode == 2
    assert "does not exist" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_bad_listen_option_is_a_usage_error(tmp_path: Path) -> None:
    for bad in ("garbage", "127.0.0.1:99999"):
        result = cli("run", "--listen", bad, env={"CHANNEL_MONITOR_CONFIG": "config.toml"})
        assert result.returncode == 2, result.stderr
        assert "--listen" in result.stderr
        assert "Traceback" not in result.stderr


HOSTILE_ORG = "[red]x"
HOSTILE_DETAIL = (
    "HTTP 404 from https://feeds.example/[/bold]: [link=https://evil.example]here\x1b[2J"
)


def stored_with_markup(tmp_path: Path) -> Path:
    """A configuration and a database in which platform text looks like rich markup."""
    config = tmp_path / "config.toml"
    config.write_text(
        f'[monitor]\ndatabase = "sqlite:///{tmp_path}/cm.db"\n'
        f'[[organisation]]\nname = "{HOSTILE_ORG}"\nrss = "https://feeds.example/[b]nieuws"\n'
    )
    settings = load_settings(config, {}, supported=frozenset(PLATFORMS))
    store = Store(settings.monitor.database)
    store.migrate()
    (channel_id,) = store.sync(settings.organisations, settings.channels, NOW).values()
    profile = Profile(name="[red]x[/red] [/]", url="https://feeds.example/[i]")
    ok = PollOutcome(NOW, NOW, 1, result=FetchResult(profile=profile))
    failed = PollOutcome(NOW, NOW, 1, error_reason="not_found", error_detail=HOSTILE_DETAIL)
    store.record_polls([(channel_id, ok), (channel_id, failed)])
    store.close()
    return config


def test_status_prints_platform_text_as_text(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = stored_with_markup(tmp_path)
    code = main(["status", "--config", str(config)])
    out = capsys.readouterr().out
    assert code == 3, out  # could not be read: not a crash (1 means "some channel flagged")
    assert HOSTILE_ORG in out
    assert "[red]x[/red] [/]" in out  # the platform's display name, as text
    assert "\x1b" not in out  # no terminal escape from a platform reaches the terminal
    # --verbose adds the handle and the platform's words for the failure, in full
    assert main(["status", "--config", str(config), "--verbose"]) == 3
    out = capsys.readouterr().out
    assert "[/bold]" in out
    assert "[link=https://evil.example]here" in out
    assert "https://feeds.example/[b]nieuws" in out
    assert "\x1b" not in out


def test_validate_prints_names_and_problems_as_text(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = stored_with_markup(tmp_path)
    assert main(["validate", "--config", str(config)]) == 0
    assert HOSTILE_ORG in capsys.readouterr().out
    config.write_text('"[/bold]" = 1\n')
    assert main(["validate", "--config", str(config)]) == 2
    assert "[/bold]" in capsys.readouterr().err


def test_a_configuration_without_channels_is_valid_but_said_so(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text("")
    result = cli("validate", "--config", str(config))
    assert result.returncode == 0, result.stderr  # a first step: add organisations, then SIGHUP
    assert "no channels" in result.stderr
    config.write_text('[[organisation]]\nname = "A"\nrss = "https://a.example/rss"\n')
    assert "no channels" not in cli("validate", "--config", str(config)).stderr


def test_report_period_must_be_a_duration(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = stored_with_markup(tmp_path)
    assert main(["report", "--config", str(config), "--period", "two weeks"]) == 2
    assert "--period two weeks" in capsys.readouterr().err
    assert main(["report", "--config", str(config), "--period", "0d"]) == 2
    assert main(["report", "--config", str(config), "--period", "14d"]) == 0
    assert "## Scorecard: the last 14 days against the 14 days before" in capsys.readouterr().out
