"""``channel-monitor completion bash|zsh|fish``: completion scripts made from the parser itself,
so every command, option and choice the parser knows is completed, and nothing else."""

from __future__ import annotations

import argparse
import shlex
from dataclasses import dataclass

from monitor.cli.parser import commands_of, describe

_PROG = "channel-monitor"
_FUNCTION = "_channel_monitor"


@dataclass(frozen=True, slots=True)
class _Option:
    flags: tuple[str, ...]
    help: str
    choices: tuple[str, ...]  # empty: a free value, or none (takes_value says which)
    takes_value: bool
    path: bool  # completes file names


@dataclass(frozen=True, slots=True)
class _Command:
    name: str
    help: str
    options: tuple[_Option, ...]
    positional_choices: tuple[str, ...]


_PATH_METAVARS = ("PATH", "FILE", "DIR")


def _commands(top: argparse.ArgumentParser) -> list[_Command]:
    helps = describe(top)
    result = []
    for name, sub in commands_of(top).items():
        options: list[_Option] = []
        positional: tuple[str, ...] = ()
        for action in sub._actions:
            if isinstance(action, argparse._HelpAction):
                options.append(_Option(tuple(action.option_strings), "show help", (), False, False))
                continue
            if not action.option_strings:
                positional = tuple(str(c) for c in action.choices or ())
                continue
            choices = tuple(str(c) for c in action.choices or ())
            options.append(
                _Option(
                    flags=tuple(action.option_strings),
                    help=(action.help or "").split(";")[0].split("(")[0].strip(),
                    choices=choices,
                    takes_value=action.nargs != 0,
                    path=str(action.metavar or "") in _PATH_METAVARS,
                )
            )
        result.append(_Command(name, helps.get(name, ""), tuple(options), positional))
    return result


def script(shell: str, top: argparse.ArgumentParser) -> str:
    """The completion script for ``shell`` (bash, zsh or fish)."""
    commands = _commands(top)
    if shell == "fish":
        return _fish(commands)
    bash = _bash(commands)
    if shell == "zsh":
        # zsh runs bash completion functions through its bashcompinit layer
        return (
            f"#compdef {_PROG}\n# zsh completion for {_PROG}: source <({_PROG} completion zsh)\n"
            "autoload -U +X compinit && compinit\n"
            "autoload -U +X bashcompinit && bashcompinit\n" + bash
        )
    return f"# bash completion for {_PROG}: source <({_PROG} completion bash)\n" + bash


def _words(values: list[str] | tuple[str, ...]) -> str:
    return shlex.quote(" ".join(values))


def _bash(commands: list[_Command]) -> str:
    names = [c.name for c in commands]
    value_cases, option_cases = [], []
    for command in commands:
        for option in command.options:
            if not option.takes_value:
                continue
            pattern = "|".join(f"{command.name}:{flag}" for flag in option.flags)
            if option.choices:
                action = f'COMPREPLY=($(compgen -W {_words(option.choices)} -- "$cur"))'
            elif option.path:
                action = 'COMPREPLY=($(compgen -f -- "$cur"))'
            else:
                action = "COMPREPLY=()"
            value_cases.append(f"        {pattern}) {action}; return ;;")
        flags = [flag for option in command.options for flag in option.flags]
        words = [*flags, *command.positional_choices]
        option_cases.append(
            f'        {command.name}) COMPREPLY=($(compgen -W {_words(words)} -- "$cur")) ;;'
        )
    return f"""{_FUNCTION}() {{
    local cur="${{COMP_WORDS[COMP_CWORD]}}" prev="${{COMP_WORDS[COMP_CWORD-1]}}" command="" i
    for ((i = 1; i < COMP_CWORD; i++)); do
        case "${{COMP_WORDS[i]}}" in
            {"|".join(names)}) command="${{COMP_WORDS[i]}}"; break ;;
        esac
    done
    case "$command:$prev" in
{chr(10).join(value_cases)}
    esac
    case "$command" in
        "") COMPREPLY=($(compgen -W {_words([*names, "--help", "--version"])} -- "$cur")) ;;
{chr(10).join(option_cases)}
    esac
}}
complete -o default -F {_FUNCTION} {_PROG}
"""


def _fish(commands: list[_Command]) -> str:
    names = " ".join(c.name for c in commands)
    lines = [
        f"# fish completion for {_PROG}: {_PROG} completion fish > "
        f"~/.config/fish/completions/{_PROG}.fish",
        f"complete -c {_PROG} -f",
        f"complete -c {_PROG} -n __fish_use_subcommand -l version -d 'print the version'",
    ]
    for command in commands:
        lines.append(
            f"complete -c {_PROG} -n __fish_use_subcommand -a {command.name} "
            f"-d {shlex.quote(command.help)}"
        )
        seen = f"'__fish_seen_subcommand_from {command.name}'"
        if command.positional_choices:
            lines.append(f"complete -c {_PROG} -n {seen} -a {_words(command.positional_choices)}")
        for option in command.options:
            flags = " ".join(
                f"-l {flag[2:]}" if flag.startswith("--") else f"-s {flag[1:]}"
                for flag in option.flags
            )
            extra = ""
            if option.choices:
                extra = f" -x -a {_words(option.choices)}"
            elif option.path:
                extra = " -r -F"
            elif option.takes_value:
                extra = " -x"
            lines.append(
                f"complete -c {_PROG} -n {seen} {flags}{extra} -d {shlex.quote(option.help)}"
            )
    lines.append(f"# commands: {names}")
    return "\n".join(lines) + "\n"
