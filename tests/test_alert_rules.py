"""The shipped Prometheus alert rules, their promtool unit tests and the example configs.

Needs `promtool` (Debian package `prometheus`) and `amtool` (`prometheus-alertmanager`) on PATH.
CI installs them; when they are missing these tests fail rather than skip, so a broken rule file
cannot slip through unnoticed.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
PROMETHEUS_DIR = ROOT / "deploy" / "prometheus"
RULES = PROMETHEUS_DIR / "channel-monitor-rules.yml"
RULE_TESTS = PROMETHEUS_DIR / "channel-monitor-rules.test.yml"
PROMETHEUS_CONFIG = PROMETHEUS_DIR / "prometheus.yml"
ALERTMANAGER_CONFIG = ROOT / "deploy" / "alertmanager" / "alertmanager.yml"
RUNBOOK = ROOT / "docs" / "runbook.md"
RUNBOOK_URL = "https://github.com/channel-monitor/channel-monitor/blob/main/docs/runbook.md"
PROMETHEUS_RULE = ROOT / "deploy" / "kubernetes" / "prometheusrule.yaml"

# CONTRACT.md, "Alerts".
CONTRACT_ALERTS = {
    "ChannelInactive",
    "ChannelDormant",
    "ChannelNeverPosted",
    "ChannelQuiet",
    "ChannelBelowTarget",
    "ChannelPollFailing",
    "ChannelAuthFailing",
    "ChannelMonitorDown",
}
# Shipped beyond the contract: the monitor's own health, so it never goes quiet without saying
# so (it answers scrapes but has stopped polling; it cannot record what it reads).
SHIPPED_ALERTS = CONTRACT_ALERTS | {
    "ChannelMonitorNotPolling",
    "ChannelMonitorStoreFailing",
    "ChannelUnmonitored",  # a channel the organisation's website links is not monitored
}
# Alerts about a channel's activity: a failed fetch must never look like one of these.
ACTIVITY_ALERTS = {
    "ChannelInactive",
    "ChannelDormant",
    "ChannelNeverPosted",
    "ChannelQuiet",
    "ChannelBelowTarget",
}
# Alerts computed live from the timestamps rather than from the state series (which is exclusive,
# so a state-based alert cannot match a parked channel anyway).
LIVE_SILENCE_ALERTS = {"ChannelInactive", "ChannelDormant"}
SEVERITIES = {"critical", "warning", "info"}


def _tool(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(
            f"{name} not found on PATH; these tests need it (Debian/Ubuntu: "
            f"`apt-get install -y {package}`). CI installs it, so this is a failure, not a skip.",
            pytrace=False,
        )
    return path


def _run(*args: str) -> None:
    result = subprocess.run(
        args, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, (
        f"`{' '.join(args)}` exited {result.returncode}\n"
        f"--- stdout ---\n{result.stdout}\n--- stderr ---\n{result.stderr}"
    )


def _load(path: Path) -> Any:
    with path.open(encoding="utf-8") as f:
        return yaml.safe_load(f)


def _alert_rules() -> dict[str, dict[str, Any]]:
    rules: dict[str, dict[str, Any]] = {}
    for group in _load(RULES)["groups"]:
        for rule in group["rules"]:
            if "alert" in rule:
                assert rule["alert"] not in rules, f"alert {rule['alert']} defined twice"
                rules[rule["alert"]] = rule
    return rules


# --- the tools -----------------------------------------------------------------------------------


def test_promtool_check_rules() -> None:
    _run(_tool("promtool", "prometheus"), "check", "rules", str(RULES))


def test_promtool_unit_tests() -> None:
    _run(_tool("promtool", "prometheus"), "test", "rules", str(RULE_TESTS))


def test_promtool_check_prometheus_config() -> None:
    _run(_tool("promtool", "prometheus"), "check", "config", str(PROMETHEUS_CONFIG))


def test_amtool_check_alertmanager_config() -> None:
    _run(_tool("amtool", "prometheus-alertmanager"), "check-config", str(ALERTMANAGER_CONFIG))


# --- the rule file itself ------------------------------------------------------------------------


def test_exactly_the_shipped_alerts() -> None:
    assert set(_alert_rules()) == SHIPPED_ALERTS


@pytest.mark.parametrize("alert", sorted(SHIPPED_ALERTS))
def test_alert_has_severity_summary_and_description(alert: str) -> None:
    rule = _alert_rules()[alert]
    assert rule.get("labels", {}).get("severity") in SEVERITIES
    annotations = rule.get("annotations", {})
    assert annotations.get("summary", "").strip(), "summary missing"
    assert annotations.get("description", "").strip(), "description missing"
    assert "{{" not in annotations["summary"], "summary should be static (it heads a group)"
    assert rule.get("for"), "every alert needs a `for:` duration"


@pytest.mark.parametrize("alert", sorted(SHIPPED_ALERTS))
def test_alert_links_its_runbook_section(alert: str) -> None:
    """Every alert's runbook_url leads to a section of docs/runbook.md written for it."""
    url = _alert_rules()[alert].get("annotations", {}).get("runbook_url")
    assert url == f"{RUNBOOK_URL}#{alert.lower()}"
    headings = re.findall(r"^## (\S+)$", RUNBOOK.read_text(encoding="utf-8"), re.MULTILINE)
    assert alert in headings, f"docs/runbook.md has no '## {alert}' section"
    section = RUNBOOK.read_text(encoding="utf-8").split(f"## {alert}\n", 1)[1].split("\n## ")[0]
    for part in ("What it means", "What to check", "What to do"):
        assert f"**{part}**" in section, f"{alert}: no '{part}' in its runbook section"


def test_prometheus_rule_manifest_is_the_rule_file() -> None:
    """The Kubernetes PrometheusRule carries exactly the shipped rules, as generated."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "prometheusrule.py")],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert PROMETHEUS_RULE.read_text(encoding="utf-8") == result.stdout, (
        "deploy/kubernetes/prometheusrule.yaml is stale: "
        "python scripts/prometheusrule.py > deploy/kubernetes/prometheusrule.yaml"
    )
    manifest = _load(PROMETHEUS_RULE)
    kind = (manifest["apiVersion"], manifest["kind"])
    assert kind == ("monitoring.coreos.com/v1", "PrometheusRule")
    assert manifest["spec"] == _load(RULES)


def test_below_target_is_info() -> None:
    assert _alert_rules()["ChannelBelowTarget"]["labels"]["severity"] == "info"


@pytest.mark.parametrize("alert", sorted(ACTIVITY_ALERTS))
def test_activity_alert_ignores_failing_polls(alert: str) -> None:
    """A fetch failure is not inactivity: the expression must exclude failing channels."""
    assert "channel_monitor_poll_success" in _alert_rules()[alert]["expr"]


@pytest.mark.parametrize("alert", sorted(LIVE_SILENCE_ALERTS | {"ChannelPollFailing"}))
def test_alert_ignores_parked_channels(alert: str) -> None:
    assert 'state="parked"' in _alert_rules()[alert]["expr"]


@pytest.mark.parametrize("alert", sorted(LIVE_SILENCE_ALERTS))
def test_silence_uses_exported_thresholds(alert: str) -> None:
    expr = _alert_rules()[alert]["expr"]
    assert "time()" in expr
    assert "channel_monitor_last_post_timestamp_seconds" in expr
    assert "channel_monitor_dormant_after_seconds" in expr


def test_monitor_down_matches_the_scrape_job() -> None:
    jobs = {job["job_name"] for job in _load(PROMETHEUS_CONFIG)["scrape_configs"]}
    expr = _alert_rules()["ChannelMonitorDown"]["expr"]
    assert "absent(" in expr
    assert any(f'job="{job}"' in expr for job in jobs), (jobs, expr)


def test_not_polling_is_for_daemons_that_poll() -> None:
    """A replica that holds no shard (or a standby on SQLite) polls nothing: it must never look
    stalled; each one that polls is judged on its own heartbeat."""
    expr = _alert_rules()["ChannelMonitorNotPolling"]["expr"]
    assert "channel_monitor_leader == 1" in expr
    assert "channel_monitor_poll_stall_after_seconds" in expr  # the same limit as /healthz


def test_prometheus_config_loads_the_rules() -> None:
    config = _load(PROMETHEUS_CONFIG)
    assert [(PROMETHEUS_DIR / f).resolve() for f in config["rule_files"]] == [RULES.resolve()]
    tests = _load(RULE_TESTS)
    assert [(PROMETHEUS_DIR / f).resolve() for f in tests["rule_files"]] == [RULES.resolve()]


def test_every_alert_is_unit_tested_firing_and_silent() -> None:
    firing: set[str] = set()
    silent: set[str] = set()
    for case in _load(RULE_TESTS)["tests"]:
        for check in case.get("alert_rule_test", []):
            (firing if check.get("exp_alerts") else silent).add(check["alertname"])
    assert firing >= SHIPPED_ALERTS, f"never tested firing: {SHIPPED_ALERTS - firing}"
    assert silent >= SHIPPED_ALERTS, f"never tested silent: {SHIPPED_ALERTS - silent}"


def test_alertmanager_inhibits_activity_alerts_while_polls_fail() -> None:
    config = _load(ALERTMANAGER_CONFIG)
    assert "organisation" in config["route"]["group_by"]
    inhibits = config["inhibit_rules"]

    def inhibited_by(source: str) -> list[dict[str, Any]]:
        return [r for r in inhibits if f'alertname="{source}"' in r["source_matchers"]]

    poll = inhibited_by("ChannelPollFailing")
    assert poll, "no inhibit rule with ChannelPollFailing as source"
    targets = " ".join(m for r in poll for m in r["target_matchers"])
    for alert in ACTIVITY_ALERTS:
        assert alert in targets
    assert all(set(r["equal"]) >= {"organisation", "platform", "channel"} for r in poll)

    auth = inhibited_by("ChannelAuthFailing")
    assert any(
        "ChannelPollFailing" in " ".join(r["target_matchers"]) and r["equal"] == ["platform"]
        for r in auth
    )
