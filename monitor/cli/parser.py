"""The command line's grammar: every command and option, with help, examples and exit codes."""

from __future__ import annotations

import argparse
import textwrap

from monitor import __version__
from monitor.discovery.output import FORMATS as DISCOVER_FORMATS
from monitor.report import REPORT_FORMATS

COMPLETION_SHELLS = ("bash", "zsh", "fish")

EXIT_CODES = """\
exit status:
  0  every channel is active (or parked); or the command did what it was asked
  1  some channel needs attention (below target, quiet, inactive, dormant, never posted)
  2  a usage or configuration mistake (the message says which key)
  3  some channel could not be read (its poll failed or it was never read)"""

_EXAMPLES = {
    None: """\
examples:
  channel-monitor validate --config config.toml
  channel-monitor check --config config.toml
  channel-monitor report --config config.toml --format html --output report.html
  channel-monitor demo --data ./demo""",
    "run": """\
examples:
  channel-monitor run --config /etc/channel-monitor/config.toml
  channel-monitor run --listen 0.0.0.0:9184 --web.config.file web.yml

exit status:
  0  stopped cleanly on SIGTERM or SIGINT (SIGHUP reloads the configuration)
  2  a usage or configuration mistake, or the address cannot be listened on""",
    "check": """\
examples:
  channel-monitor check                       # ./config.toml, a table; progress on a terminal
  channel-monitor check --verbose             # with handles, usual gaps and poll errors in full
  channel-monitor check --format json | jq '.[] | select(.state != "active")'
""",
    "status": """\
examples:
  channel-monitor status --config config.toml
  channel-monitor status --format json > states.json
""",
    "report": """\
examples:
  channel-monitor report                                  # Markdown on stdout
  channel-monitor report --format html --output report.html
  channel-monitor report --format csv --output channels.csv
  channel-monitor report --period 14d                     # with the two-week scorecard

exit status:
  0  the report was written
  2  a usage or configuration mistake""",
    "validate": """\
examples:
  channel-monitor validate --config config.toml

exit status:
  0  the configuration is valid (it lists what would be monitored)
  2  it is not: every problem is listed with its key""",
    "discover": """\
examples:
  channel-monitor discover --config config.toml
  channel-monitor discover --organisation "Gemeente Voorbeeld" --format toml >> config.toml

exit status:
  0  every channel the websites link is monitored
  1  a website links a channel that is not monitored
  3  a website could not be read
  2  a usage or configuration mistake""",
    "demo": """\
examples:
  channel-monitor demo                        # status page at http://127.0.0.1:9184/
  channel-monitor demo --data ./demo          # keep the database; then, in another terminal:
  channel-monitor report --config ./demo/demo.toml

exit status:
  0  stopped cleanly (Ctrl-C)
  2  the port is taken or --data cannot be used""",
    "completion": """\
examples:
  source <(channel-monitor completion bash)    # in ~/.bashrc
  source <(channel-monitor completion zsh)     # in ~/.zshrc
  channel-monitor completion fish > ~/.config/fish/completions/channel-monitor.fish""",
}


class _Formatter(argparse.RawDescriptionHelpFormatter):
    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=32, width=100)


def parser() -> argparse.ArgumentParser:
    """The ``channel-monitor`` argument parser."""
    top = argparse.ArgumentParser(
        prog="channel-monitor",
        description="Which of an organisation's social media channels have gone quiet?",
        epilog=f"{_EXAMPLES[None]}\n\n{EXIT_CODES}",
        formatter_class=_Formatter,
    )
    top.add_argument(
        "--version",
        action="version",
        version=f"channel-monitor {__version__}",
        help="print the version and exit",
    )
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, text: str, *, config: bool = True) -> argparse.ArgumentParser:
        epilog = _EXAMPLES[name]
        if "exit status:" not in epilog:
            epilog = f"{epilog}\n{EXIT_CODES}"
        sub = commands.add_parser(
            name, help=text, description=text, epilog=epilog, formatter_class=_Formatter
        )
        if config:
            sub.add_argument(
                "--config",
                metavar="PATH",
                help="the configuration file (default: $CHANNEL_MONITOR_CONFIG, else "
                "./config.toml)",
            )
        return sub

    run = command("run", "run the daemon: schedule polls, serve metrics and the status page")
    run.add_argument(
        "--listen",
        metavar="HOST:PORT",
        help="where to serve HTTP; overrides [monitor] listen (e.g. 0.0.0.0:9184)",
    )
    run.add_argument(
        "--web.config.file",
        dest="web_config_file",
        metavar="PATH",
        help="TLS and basic auth (exporter-toolkit's format); overrides [monitor] web_config_file",
    )
    check = command("check", "poll every channel once, now, and print each channel's state")
    status = command("status", "print the states from the database, without polling")
    for sub in (check, status):
        sub.add_argument(
            "--format",
            choices=("table", "json"),
            default="table",
            help="a table for people (default) or JSON with every field, one object per channel",
        )
        sub.add_argument(
            "-v",
            "--verbose",
            action="store_true",
            help="a wider table (handle, usual gap) and each poll problem in full with what to do",
        )
    check.add_argument(
        "--no-progress",
        dest="progress",
        action="store_false",
        help="no progress bar (it shows only on a terminal, and never with --format json)",
    )
    report = command(
        "report",
        "the survey's report: per platform, organisations × platforms, and every channel",
    )
    report.add_argument(
        "--format",
        choices=REPORT_FORMATS,
        default="md",
        help="md (Markdown, default), html (one self-contained page, for mail or print) or csv "
        "(one row per channel, numbers in seconds and days)",
    )
    report.add_argument("--output", metavar="FILE", help="write to FILE instead of stdout")
    report.add_argument(
        "--period",
        metavar="DURATION",
        help="add the KPI scorecard: posts in the last DURATION (e.g. 14d) against the one before",
    )
    command("validate", "check the configuration and say what it would monitor")
    websites = command("discover", "read the organisations' websites for the channels they link")
    websites.add_argument(
        "--organisation", action="append", metavar="NAME", help="only this one (repeatable)"
    )
    websites.add_argument(
        "--format",
        choices=DISCOVER_FORMATS,
        default="table",
        help="table (default), json, or toml (the lines to add to the configuration)",
    )
    demo = command(
        "demo",
        "run the daemon against simulated platforms, no tokens or network",
        config=False,
    )
    demo.add_argument(
        "--listen",
        metavar="HOST:PORT",
        default="127.0.0.1:9184",
        help="where to serve the status page (default: 127.0.0.1:9184)",
    )
    demo.add_argument(
        "--data",
        metavar="DIR",
        help="keep the demo's database and configuration in DIR (default: a temporary "
        "directory, removed on exit); `status` and `report --config DIR/demo.toml` read them",
    )
    completion = command("completion", "print a shell completion script", config=False)
    completion.add_argument("shell", choices=COMPLETION_SHELLS, help="the shell to complete in")
    return top


def commands_of(top: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """Each command's own parser, by name, in the order they were added."""
    for action in top._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def describe(top: argparse.ArgumentParser) -> dict[str, str]:
    """Each command's one-line help, by name."""
    for action in top._actions:
        if isinstance(action, argparse._SubParsersAction):
            return {a.dest: textwrap.shorten(a.help or "", 80) for a in action._choices_actions}
    return {}
