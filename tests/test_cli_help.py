"""Every command and option explains itself, with examples and exit codes, and completes in bash,
zsh and fish."""

from __future__ import annotations

import argparse
import shutil
import subprocess

import pytest

from monitor.cli import main
from monitor.cli.completion import script
from monitor.cli.parser import commands_of, parser

COMMANDS = ("run", "check", "status", "report", "validate", "discover", "demo", "completion")


def test_every_command_and_option_has_help() -> None:
    top = parser()
    assert tuple(commands_of(top)) == COMMANDS
    for name, sub in commands_of(top).items():
        for action in sub._actions:
            assert action.help and action.help != argparse.SUPPRESS, (name, action.dest)


@pytest.mark.parametrize("command", COMMANDS)
def test_help_shows_examples_and_exit_codes(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stopped:
        main([command, "--help"])
    assert stopped.value.code == 0
    text = capsys.readouterr().out
    assert "examples:" in text
    assert f"channel-monitor {command}" in text.split("examples:")[1]
    assert "exit status:" in text
    assert "  0  " in text


def test_top_level_help_lists_the_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    text = capsys.readouterr().out
    for code in ("0", "1", "2", "3"):
        assert f"\n  {code}  " in text


def complete(words: list[str]) -> list[str]:
    """What the bash script offers for the last of ``words``."""
    bash = shutil.which("bash")
    assert bash is not None
    program = (
        f"{script('bash', parser())}\n"
        f"COMP_WORDS=({' '.join(repr(w) for w in words)}); COMP_CWORD={len(words) - 1}\n"
        '_channel_monitor; printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    result = subprocess.run(
        [bash, "--norc", "-c", program], capture_output=True, text=True, timeout=30, check=True
    )
    return [line for line in result.stdout.splitlines() if line]


def test_bash_completes_commands_options_and_choices() -> None:
    assert complete(["channel-monitor", "re"]) == ["report"]
    assert set(complete(["channel-monitor", ""])) >= set(COMMANDS)
    assert complete(["channel-monitor", "report", "--format", ""]) == ["md", "html", "csv"]
    assert complete(["channel-monitor", "check", "--format", ""]) == ["table", "json"]
    assert "--period" in complete(["channel-monitor", "report", "--"])
    assert "--no-progress" in complete(["channel-monitor", "check", "--"])
    assert "--no-progress" not in complete(["channel-monitor", "status", "--"])
    assert complete(["channel-monitor", "completion", "z"]) == ["zsh"]


@pytest.mark.parametrize("shell", ["zsh", "fish"])
def test_zsh_and_fish_scripts_name_every_command_and_option(shell: str) -> None:
    text = script(shell, parser())
    for name, sub in commands_of(parser()).items():
        assert name in text
        for action in sub._actions:
            for flag in action.option_strings:
                assert (flag if shell == "zsh" else flag.lstrip("-")) in text, (shell, flag)


def test_completion_command_prints_the_script(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["completion", "bash"]) == 0
    assert "complete -o default -F _channel_monitor channel-monitor" in capsys.readouterr().out
