"""The deployment bundle: the compose stack, the Grafana dashboard, the Kubernetes example.

Checks what can be checked without a container engine, Grafana or a cluster: the compose stack's
Prometheus and Alertmanager configurations with `promtool` and `amtool` (laid out as compose
mounts them), every file compose mounts, every name that ties the pieces together (service names,
ports, job label, datasource uid, label selectors), the dashboard's structure and every PromQL
expression in it (parsed by `promtool`, and using only the metrics in README's table), and the
Kubernetes manifests. The image itself is tested in tests/e2e/test_container.py.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
import time
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from connectors.registry import supported_platforms
from monitor.config import ConfigError, load_settings
from monitor.fakes.feeds import FeedServer, FeedSpec
from tests.e2e.daemon import Daemon, free_port
from tests.tls import bcrypt_hash, make_pki

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
COMPOSE = DEPLOY / "compose.yaml"
COMPOSE_DEMO = DEPLOY / "compose.demo.yaml"
DASHBOARD = DEPLOY / "grafana" / "channel-monitor.json"
KUBERNETES = DEPLOY / "kubernetes"
DOCKERFILE = ROOT / "Dockerfile"
WEB_CONFIG = DEPLOY / "web-config.yml"
PROTECTED = DEPLOY / "kubernetes-protected"
REPLICAS = DEPLOY / "kubernetes-replicas"

JOB = "channel-monitor"  # ChannelMonitorDown in the shipped rules matches this job label
PORT = 9184
UID = 10001
# Not channel-monitor's own, but fine to query: Prometheus' scrape health.
OTHER_METRICS = {"up"}
PROMQL_WORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset"}


def _tool(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(
            f"{name} not found on PATH; these tests need it (Debian/Ubuntu: "
            f"`apt-get install -y {package}`). CI installs it, so this is a failure, not a skip.",
            pytrace=False,
        )
    return path


def _run(*args: str) -> str:
    result = subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, (
        f"`{' '.join(args)}` exited {result.returncode}\n{result.stdout}\n{result.stderr}"
    )
    return result.stdout


def _yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


@cache
def compose() -> dict[str, Any]:
    return dict(_yaml(COMPOSE))


def service(name: str) -> dict[str, Any]:
    return dict(compose()["services"][name])


def bind_mounts(name: str) -> dict[str, Path]:
    """A service's bind mounts, container path -> host path (named volumes left out)."""
    mounts = {}
    for entry in service(name).get("volumes", []):
        source, target = entry.split(":")[:2]
        if source.startswith((".", "/")):
            mounts[target] = (DEPLOY / source).resolve()
    return mounts


def flags(name: str) -> dict[str, str]:
    """A service's ``--flag=value`` command-line arguments."""
    return dict(arg.removeprefix("--").split("=", 1) for arg in service(name).get("command", []))


def mounted_layout(name: str, tmp_path: Path) -> Path:
    """Copy a service's bind mounts into ``tmp_path`` at their container paths; return the root."""
    for target, source in bind_mounts(name).items():
        dest = tmp_path / target.lstrip("/")
        if source.is_dir():
            shutil.copytree(source, dest)
        else:
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(source, dest)
    return tmp_path


# --- the compose stack ------------------------------------------------------------------------


def test_compose_has_the_four_services() -> None:
    assert set(compose()["services"]) == {
        "channel-monitor",
        "prometheus",
        "alertmanager",
        "grafana",
    }


@pytest.mark.parametrize("name", ["channel-monitor", "prometheus", "alertmanager", "grafana"])
def test_compose_mounts_exist(name: str) -> None:
    for target, source in bind_mounts(name).items():
        assert source.exists(), f"{name}: {source} (mounted at {target}) does not exist"


def test_compose_monitor_runs_locked_down() -> None:
    monitor = service("channel-monitor")
    assert monitor["build"]["context"] == ".."
    assert monitor["read_only"] is True
    assert monitor["cap_drop"] == ["ALL"]
    assert f"127.0.0.1:{PORT}:{PORT}" in monitor["ports"]
    assert bind_mounts("channel-monitor")["/etc/channel-monitor/config.toml"] == (
        ROOT / "config.toml"
    )
    assert any(v.endswith(":/var/lib/channel-monitor") for v in monitor["volumes"])
    assert monitor["stop_grace_period"] == "10s"


def test_compose_demo_override_runs_the_demo_on_the_published_port() -> None:
    demo = _yaml(COMPOSE_DEMO)["services"]["channel-monitor"]
    assert demo["command"] == ["demo", "--listen", f"0.0.0.0:{PORT}"]


def test_compose_prometheus_config_passes_promtool(tmp_path: Path) -> None:
    """`promtool check config` on the configuration as the container sees it, rules included."""
    root = mounted_layout("prometheus", tmp_path)
    config = root / flags("prometheus")["config.file"].lstrip("/")
    out = _run(_tool("promtool", "prometheus"), "check", "config", str(config))
    assert "channel-monitor-rules.yml" in out and "SUCCESS" in out, out


def test_compose_prometheus_mounts_the_shipped_rules() -> None:
    config = _yaml(DEPLOY / "compose" / "prometheus.yml")
    container_dir = Path(flags("prometheus")["config.file"]).parent
    mounts = bind_mounts("prometheus")
    for rule_file in config["rule_files"]:
        assert mounts[str(container_dir / rule_file)] == (
            DEPLOY / "prometheus" / "channel-monitor-rules.yml"
        )


def test_compose_prometheus_scrapes_the_monitor_and_alerts_alertmanager() -> None:
    config = _yaml(DEPLOY / "compose" / "prometheus.yml")
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    targets = [t for sc in jobs[JOB]["static_configs"] for t in sc["targets"]]
    assert targets == [f"channel-monitor:{PORT}"]
    am_targets = [
        t
        for am in config["alerting"]["alertmanagers"]
        for sc in am["static_configs"]
        for t in sc["targets"]
    ]
    listen = flags("alertmanager").get("web.listen-address", ":9093")
    assert am_targets == [f"alertmanager:{listen.rpartition(':')[2]}"]


def test_compose_alertmanager_config_passes_amtool(tmp_path: Path) -> None:
    root = mounted_layout("alertmanager", tmp_path)
    config = root / flags("alertmanager")["config.file"].lstrip("/")
    _run(_tool("amtool", "prometheus-alertmanager"), "check-config", str(config))


def test_compose_alertmanager_keeps_the_example_routing() -> None:
    """The compose copy differs from deploy/alertmanager/alertmanager.yml only in its receivers."""
    example = _yaml(DEPLOY / "alertmanager" / "alertmanager.yml")
    copy = _yaml(DEPLOY / "compose" / "alertmanager.yml")
    assert copy["route"] == example["route"]
    assert copy["inhibit_rules"] == example["inhibit_rules"]
    assert {r["name"] for r in copy["receivers"]} == {r["name"] for r in example["receivers"]}


def test_grafana_provisioning_points_at_prometheus_and_the_dashboard() -> None:
    mounts = bind_mounts("grafana")
    provisioning = mounts["/etc/grafana/provisioning/datasources"]
    datasources = {
        ds["uid"]: ds for path in provisioning.glob("*.yml") for ds in _yaml(path)["datasources"]
    }
    assert datasources["prometheus"]["type"] == "prometheus"
    assert datasources["prometheus"]["url"] == "http://prometheus:9090"
    assert datasources["prometheus"]["isDefault"] is True
    providers = [
        provider
        for path in mounts["/etc/grafana/provisioning/dashboards"].glob("*.yml")
        for provider in _yaml(path)["providers"]
    ]
    paths = {Path(p["options"]["path"]) for p in providers}
    dashboards = [Path(t) for t, s in mounts.items() if s == DASHBOARD]
    assert dashboards and all(d.parent in paths for d in dashboards)
    home = service("grafana")["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert Path(home) in dashboards


# --- the dashboard ------------------------------------------------------------------------------


@cache
def dashboard() -> dict[str, Any]:
    return dict(json.loads(DASHBOARD.read_text(encoding="utf-8")))


def panels() -> list[dict[str, Any]]:
    found = []
    for panel in dashboard()["panels"]:
        found.append(panel)
        found.extend(panel.get("panels", []))  # collapsed rows hold their panels
    return found


def queries() -> list[tuple[str, str]]:
    """Every PromQL expression in the dashboard: (where, expression)."""
    found = [
        (f"panel {p['id']} {p['title']!r} {t['refId']}", t["expr"])
        for p in panels()
        for t in p.get("targets", [])
    ]
    for variable in dashboard()["templating"]["list"]:
        if variable["type"] == "query":
            query = variable["query"]
            query = query["query"] if isinstance(query, dict) else query
            inner = re.fullmatch(r"label_values\((.+),\s*(\w+)\)", query)
            assert inner, f"variable {variable['name']}: expected label_values(selector, label)"
            found.append((f"variable {variable['name']}", inner.group(1)))
    return found


@cache
def readme_metrics() -> set[str]:
    """Metric names from README's "Metrics" table (histograms with their series suffixes)."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("\n## Metrics\n", 1)[1].split("\n## ", 1)[0]
    names = set()
    for line in section.splitlines():
        if not line.startswith("| `"):
            continue
        name_cell, kind = line.split("|")[1:3]
        for written in re.findall(r"`([^`]+)`", name_cell):
            name = re.sub(r"^…_", "channel_monitor_", written.split("{", 1)[0])
            names.add(name)
            if kind.strip() == "histogram":
                names.update(f"{name}_{suffix}" for suffix in ("bucket", "sum", "count"))
    assert "channel_monitor_state" in names and "channel_monitor_dormant_after_seconds" in names
    return names


@cache
def readme_states() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("\n## Activity states\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\| `(\w+)` \|", section, flags=re.MULTILINE)


def metric_names(expr: str) -> set[str]:
    """Names of the series an expression selects."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # label values are not names
    selected = re.findall(r"\b([a-zA-Z_:][\w:]*)\s*[{\[]", expr)
    bare = re.findall(r"\b(channel_monitor_\w+)", expr)
    return (set(selected) | set(bare)) - PROMQL_WORDS


def test_dashboard_identity() -> None:
    board = dashboard()
    assert board["uid"] == "channel-monitor"
    assert board["title"]
    assert isinstance(board["schemaVersion"], int) and board["schemaVersion"] >= 36
    assert "id" not in board or board["id"] is None, "an exported id breaks provisioning"


def test_dashboard_panel_ids_are_unique() -> None:
    ids = [p["id"] for p in panels()]
    assert len(ids) == len(set(ids)), ids
    assert all(isinstance(i, int) and i > 0 for i in ids)


def test_dashboard_panels_fit_the_grid_without_overlapping() -> None:
    cells: dict[tuple[int, int], int] = {}
    for panel in panels():
        grid = panel["gridPos"]
        assert grid["w"] > 0 and grid["h"] > 0 and grid["x"] >= 0 and grid["y"] >= 0
        assert grid["x"] + grid["w"] <= 24, f"panel {panel['id']} is wider than the grid"
        for x in range(grid["x"], grid["x"] + grid["w"]):
            for y in range(grid["y"], grid["y"] + grid["h"]):
                assert (x, y) not in cells, f"panels {cells[x, y]} and {panel['id']} overlap"
                cells[x, y] = panel["id"]


def test_every_panel_has_a_prometheus_datasource_and_queries() -> None:
    variables = {v["name"]: v for v in dashboard()["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    expected = {"type": "prometheus", "uid": "${datasource}"}
    for panel in panels():
        if panel["type"] == "row":
            continue
        where = f"panel {panel['id']} {panel.get('title')!r}"
        assert panel.get("title") and panel.get("description"), where
        assert panel.get("datasource") == expected, where
        targets = panel.get("targets") or []
        assert targets, f"{where} has no query"
        refs = [t["refId"] for t in targets]
        assert len(refs) == len(set(refs)), where
        for target in targets:
            assert target.get("datasource") == expected, where
            assert target.get("expr", "").strip(), where


def test_dashboard_queries_use_only_the_documented_metrics() -> None:
    known = readme_metrics() | OTHER_METRICS
    for where, expr in queries():
        names = metric_names(expr)
        assert names, f"{where}: no metric in {expr!r}"
        unknown = names - known
        assert not unknown, f"{where}: {sorted(unknown)} not in README's metric table"


def test_dashboard_queries_follow_the_organisation_and_platform_filters() -> None:
    for where, expr in queries():
        if where.startswith("variable "):
            continue
        names = metric_names(expr) & readme_metrics()
        if not names or names == {"channel_monitor_build_info"}:
            continue
        assert "$platform" in expr, f"{where} ignores the platform filter: {expr}"
        per_channel = not any(
            n.startswith(("channel_monitor_poll_errors", "channel_monitor_poll_duration"))
            or n.startswith(("channel_monitor_api_", "channel_monitor_channel_info"))
            for n in names
        )
        if per_channel:
            assert "$organisation" in expr, f"{where} ignores the organisation filter: {expr}"


def test_dashboard_queries_parse(tmp_path: Path) -> None:
    """Every expression, with the variables filled in, as a recording rule for promtool."""
    rules = []
    for index, (where, query) in enumerate(queries()):
        expr = substituted(query)
        assert "$" not in expr, f"{where}: unknown variable in {query!r}"
        rules.append({"record": f"dashboard:query_{index}", "expr": expr})
    path = tmp_path / "dashboard-queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    out = _run(_tool("promtool", "prometheus"), "check", "rules", str(path))
    assert f"SUCCESS: {len(rules)} rules found" in out, out


def substituted(expr: str) -> str:
    """An expression with the dashboard's variables filled in as "All" and typical intervals."""
    values = {
        "$organisation": ".*",
        "$platform": ".*",
        "$__rate_interval": "5m",
        "$__interval": "1m",
        "$__range": "1h",
    }
    for variable, value in values.items():
        expr = expr.replace(variable, value)
    return expr


# Queries that may rightly come back empty against the feed platforms of the test below.
MAY_BE_EMPTY = {
    "channel_monitor_api_quota_used_ratio": "no feed sends API usage headers",
}


@pytest.mark.prometheus
async def test_dashboard_queries_return_data(tmp_path: Path) -> None:
    """A real Prometheus scrapes the real daemon; every panel's query finds series."""
    prometheus_bin = _tool("prometheus", "prometheus")
    now = datetime.now(UTC)
    feeds = FeedServer(
        {
            "/actief": FeedSpec(posts=[now - timedelta(days=1 + 3 * i) for i in range(20)]),
            "/stil": FeedSpec(posts=[now - timedelta(days=40 + 7 * i) for i in range(10)]),
            "/weg": FeedSpec(posts=[], status=404),
        }
    )
    base = await feeds.start()
    config = tmp_path / "config.toml"
    config.write_text(
        f'[monitor]\ndatabase = "sqlite:///{tmp_path}/monitor.db"\njitter = "0s"\n'
        f'[[organisation]]\nname = "Gemeente Actief"\nrss = ["{base}/actief", "{base}/weg"]\n'
        f'[[organisation]]\nname = "Gemeente Stil"\nrss = "{base}/stil"\n'
    )
    daemon = Daemon(config).start()
    port = free_port()
    prometheus_config = tmp_path / "prometheus.yml"
    prometheus_config.write_text(
        yaml.safe_dump(
            {
                "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                "scrape_configs": [
                    {
                        "job_name": JOB,
                        "scrape_timeout": "1s",
                        "static_configs": [{"targets": [f"127.0.0.1:{daemon.port}"]}],
                    }
                ],
            }
        )
    )
    log = (tmp_path / "prometheus.log").open("wb")
    prometheus = subprocess.Popen(
        [
            prometheus_bin,
            f"--config.file={prometheus_config}",
            f"--web.listen-address=127.0.0.1:{port}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        await daemon.wait_ready()
        channels = await daemon.until(lambda: _all_polled(daemon), 30, "every channel to be polled")
        assert len(channels) == 3
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:

            async def query(expr: str) -> list[dict[str, Any]]:
                response = await client.get("/api/v1/query", params={"query": expr})
                assert response.status_code == 200, f"{expr}: {response.text}"
                return list(response.json()["data"]["result"])

            deadline = time.monotonic() + 60
            while True:  # rates and increases need a few scrapes after the polls
                try:
                    scrapes = await query(f'count_over_time(up{{job="{JOB}"}}[1m]) >= 4')
                except httpx.HTTPError:
                    scrapes = []
                if scrapes:
                    break
                if prometheus.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(
                        "Prometheus did not scrape the daemon:\n"
                        + (tmp_path / "prometheus.log").read_text(errors="replace")[-3000:]
                    )
                await asyncio.sleep(0.2)
            empty = []
            for where, expr in queries():
                if not await query(substituted(expr)) and not (
                    metric_names(expr) & set(MAY_BE_EMPTY)
                ):
                    empty.append(f"{where}: {expr}")
            assert not empty, "queries that found nothing:\n" + "\n".join(empty)
    finally:
        prometheus.terminate()
        prometheus.wait(10)
        log.close()
        code = daemon.stop()
        await feeds.stop()
    assert code == 0, daemon.log


async def _all_polled(daemon: Daemon) -> list[dict[str, Any]] | None:
    channels = await daemon.channels()
    return channels if all(c["last_poll_at"] for c in channels) else None


def test_dashboard_shows_every_state() -> None:
    """The state timeline and the per-state stat know every state README lists, in colour."""
    states = readme_states()
    assert len(states) == 8, states
    timeline = next(p for p in panels() if p["type"] == "state-timeline")
    mapped = {
        option["text"]
        for mapping in timeline["fieldConfig"]["defaults"]["mappings"]
        for option in mapping["options"].values()
    }
    assert mapped == set(states)
    for state in states:
        assert f'state="{state}"' in timeline["targets"][0]["expr"]
    per_state = next(p for p in panels() if p["title"] == "Channels per state")
    coloured = {o["matcher"]["options"] for o in per_state["fieldConfig"]["overrides"]}
    assert coloured == set(states)


def test_dashboard_covers_the_issue() -> None:
    """States, silence, posts per week, poll health and quota each have a panel."""
    text = json.dumps(dashboard()["panels"])
    for metric in (
        "channel_monitor_state",
        "channel_monitor_last_post_timestamp_seconds",
        "channel_monitor_recent_posts",
        "channel_monitor_poll_success",
        "channel_monitor_poll_errors_total",
        "channel_monitor_api_quota_used_ratio",
    ):
        assert metric in text, metric
    variables = {v["name"] for v in dashboard()["templating"]["list"]}
    assert {"organisation", "platform"} <= variables


# --- Kubernetes ---------------------------------------------------------------------------------

KNOWN_KINDS = {
    ("v1", "ConfigMap"),
    ("v1", "Secret"),
    ("v1", "Service"),
    ("v1", "PersistentVolumeClaim"),
    ("apps/v1", "Deployment"),
    ("apps/v1", "StatefulSet"),
    ("monitoring.coreos.com/v1", "ServiceMonitor"),
    ("monitoring.coreos.com/v1", "PrometheusRule"),
}


@cache
def manifests() -> dict[str, dict[str, Any]]:
    """The resources kustomization.yaml lists, by kind (one of each)."""
    kustomization = _yaml(KUBERNETES / "kustomization.yaml")
    found: dict[str, dict[str, Any]] = {}
    for name in kustomization["resources"]:
        for doc in yaml.safe_load_all((KUBERNETES / name).read_text(encoding="utf-8")):
            assert (doc["apiVersion"], doc["kind"]) in KNOWN_KINDS, f"{name}: {doc['kind']}"
            assert doc["metadata"]["name"], name
            assert "namespace" not in doc["metadata"], f"{name}: leave the namespace to kubectl"
            assert doc["kind"] not in found, f"two {doc['kind']}s"
            found[doc["kind"]] = doc
    return found


def test_kustomization_lists_every_manifest() -> None:
    kustomization = _yaml(KUBERNETES / "kustomization.yaml")
    assert kustomization["kind"] == "Kustomization"
    files = {p.name for p in KUBERNETES.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(kustomization["resources"]) == files
    kinds = {"Deployment", "Service", "ConfigMap", "Secret", "ServiceMonitor", "PrometheusRule"}
    assert kinds <= set(manifests())


def pod_spec() -> dict[str, Any]:
    return dict(manifests()["Deployment"]["spec"]["template"]["spec"])


def container() -> dict[str, Any]:
    (only,) = pod_spec()["containers"]
    return dict(only)


def test_kubernetes_probes() -> None:
    main = container()
    port = main["ports"][0]
    assert port["containerPort"] == PORT
    probes = {kind: main[kind]["httpGet"] for kind in ("livenessProbe", "readinessProbe")}
    assert probes["livenessProbe"]["path"] == "/healthz"
    assert probes["readinessProbe"]["path"] == "/readyz"
    for probe in probes.values():
        assert probe["port"] in (port["name"], PORT)


def test_kubernetes_pod_runs_locked_down() -> None:
    pod, main = pod_spec(), container()
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == UID
    assert main["securityContext"]["readOnlyRootFilesystem"] is True
    assert main["securityContext"]["allowPrivilegeEscalation"] is False
    assert main["securityContext"]["capabilities"]["drop"] == ["ALL"]
    assert pod["terminationGracePeriodSeconds"] >= 10
    # a Service named channel-monitor would inject CHANNEL_MONITOR_SERVICE_HOST and the like
    assert pod["enableServiceLinks"] is False
    assert manifests()["Deployment"]["spec"]["replicas"] == 1, "SQLite has one writer"


def test_kubernetes_volumes_and_references_resolve() -> None:
    pod, main = pod_spec(), container()
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: m["name"] for m in main["volumeMounts"]}
    assert set(mounts.values()) <= set(volumes)
    config = volumes[mounts["/etc/channel-monitor"]]["configMap"]["name"]
    assert config == manifests()["ConfigMap"]["metadata"]["name"]
    assert "config.toml" in manifests()["ConfigMap"]["data"]
    data = volumes[mounts["/var/lib/channel-monitor"]]["persistentVolumeClaim"]["claimName"]
    assert data == manifests()["PersistentVolumeClaim"]["metadata"]["name"]
    secret = volumes[mounts["/run/secrets/channel-monitor"]]["secret"]["secretName"]
    assert secret == manifests()["Secret"]["metadata"]["name"]


def test_kubernetes_service_and_service_monitor_select_the_pod() -> None:
    deployment, svc, monitor = (manifests()[k] for k in ("Deployment", "Service", "ServiceMonitor"))
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    assert svc["spec"]["selector"].items() <= pod_labels.items()
    port_name = container()["ports"][0]["name"]
    (svc_port,) = svc["spec"]["ports"]
    assert svc_port["targetPort"] in (port_name, PORT)
    assert monitor["spec"]["selector"]["matchLabels"].items() <= svc["metadata"]["labels"].items()
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] == svc_port["name"]
    assert endpoint["path"] == "/metrics"
    # the job label comes from the Service's label named by jobLabel, and the rules expect it
    assert svc["metadata"]["labels"][monitor["spec"]["jobLabel"]] == JOB


def test_kubernetes_config_is_valid(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(manifests()["ConfigMap"]["data"]["config.toml"])
    env = {name["name"]: name["value"] for name in container()["env"] if "value" in name}
    settings = load_settings(config, env, supported=supported_platforms())
    assert settings.monitor.listen == f"0.0.0.0:{PORT}"
    assert settings.channels


# --- protecting the endpoints: the web configuration file ---------------------------------------


def _load_web_config(directory: Path, text: str) -> Any:
    """``text`` as the web configuration file of a minimal configuration in ``directory``."""
    (directory / "web-config.yml").write_text(text, encoding="utf-8")
    config = directory / "config.toml"
    config.write_text(
        '[monitor]\nweb_config_file = "web-config.yml"\n'
        '[[organisation]]\nname = "X"\nrss = "https://x.example/rss"\n'
    )
    return load_settings(config, {}, supported=supported_platforms()).monitor.web


def test_web_config_example_refuses_its_placeholder(tmp_path: Path) -> None:
    """Nobody runs the example with a password known to the world: the placeholder is no hash."""
    with pytest.raises(ConfigError) as caught:
        _load_web_config(tmp_path, WEB_CONFIG.read_text(encoding="utf-8"))
    keys = {problem.key for problem in caught.value.problems}
    assert "basic_auth_users.prometheus" in keys


def test_web_config_example_works_with_a_hash_and_a_certificate(tmp_path: Path) -> None:
    pki = make_pki(tmp_path / "pki")
    shutil.copy(pki.cert("server"), tmp_path / "tls.crt")
    shutil.copy(pki.key("server"), tmp_path / "tls.key")
    text = WEB_CONFIG.read_text(encoding="utf-8")
    assert text.count("REPLACE-WITH-A-BCRYPT-HASH") == 1
    web = _load_web_config(tmp_path, text.replace("REPLACE-WITH-A-BCRYPT-HASH", bcrypt_hash("x")))
    assert web.tls is not None
    assert [user for user, _ in web.users] == ["prometheus"]


def test_web_config_example_options_are_valid_when_uncommented(tmp_path: Path) -> None:
    """Every commented option (one-line `# key: value`) parses once uncommented."""
    pki = make_pki(tmp_path / "pki", "client")
    for name, source in (("tls.crt", pki.cert("server")), ("tls.key", pki.key("server"))):
        shutil.copy(source, tmp_path / name)
    shutil.copy(pki.ca, tmp_path / "client-ca.crt")
    lines, started = [], False
    for line in WEB_CONFIG.read_text(encoding="utf-8").splitlines():
        started = started or not line.startswith("#")  # the header is prose
        option = re.fullmatch(r"(\s*)# (\s*)([\w-]+: \S.*|[\w-]+:|- TLS_\w+)", line)
        lines.append("".join(option.groups()) if started and option else line)
    text = "\n".join(lines).replace("REPLACE-WITH-A-BCRYPT-HASH", bcrypt_hash("x"))
    web = _load_web_config(tmp_path, text)
    assert web.client_auth == "RequireAndVerifyClientCert"
    assert dict(web.headers)["X-Frame-Options"] == "deny"
    assert len(web.headers) == 5


def _documents(path: Path) -> list[dict[str, Any]]:
    return [dict(doc) for doc in yaml.safe_load_all(path.read_text(encoding="utf-8"))]


def test_kubernetes_protected_overlay_fits_the_base() -> None:
    """deploy/kubernetes-protected patches the example; kubectl kustomize renders it (checked by
    hand: no kustomize in CI), so here every name, path and key that ties it together."""
    kustomization = _yaml(PROTECTED / "kustomization.yaml")
    assert "../kubernetes" in kustomization["resources"]
    files = {p.name for p in PROTECTED.glob("*.yaml")} - {"kustomization.yaml"}
    listed = set(kustomization["resources"][1:]) | {p["path"] for p in kustomization["patches"]}
    assert listed == files
    secrets = {
        doc["metadata"]["name"]: doc
        for name in kustomization["resources"][1:]
        for doc in _documents(PROTECTED / name)
        if doc["kind"] == "Secret"
    }

    # the web configuration file in the Secret is the documented example's, placeholder and all
    web_secret = secrets["channel-monitor-web"]["stringData"]
    web_config = yaml.safe_load(web_secret["web-config.yml"])
    assert web_config == yaml.safe_load(WEB_CONFIG.read_text(encoding="utf-8"))

    (patch,) = _documents(PROTECTED / "deployment-patch.yaml")
    assert patch["metadata"]["name"] == manifests()["Deployment"]["metadata"]["name"]
    (patched,) = patch["spec"]["template"]["spec"]["containers"]
    assert patched["name"] == container()["name"]
    env = {e["name"]: e["value"] for e in patched["env"]}
    web_file = Path(env["CHANNEL_MONITOR_WEB_CONFIG_FILE"])
    (mount,) = patched["volumeMounts"]
    assert Path(mount["mountPath"]) == web_file.parent
    base_mounts = {m["mountPath"] for m in container()["volumeMounts"]}
    assert not any(Path(mount["mountPath"]).is_relative_to(m) for m in base_mounts)
    (volume,) = patch["spec"]["template"]["spec"]["volumes"]
    assert volume["name"] == mount["name"]
    projected = {s["secret"]["name"]: s["secret"] for s in volume["projected"]["sources"]}
    assert web_file.name in web_secret and "channel-monitor-web" in projected
    tls_files = {i["path"] for i in projected["channel-monitor-tls"]["items"]}
    tls = web_config["tls_server_config"]
    assert {tls["cert_file"], tls["key_file"]} == tls_files
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert probe in container()
        assert patched[probe]["httpGet"] == {"scheme": "HTTPS"}
        assert container()[probe]["httpGet"]["path"] in ("/healthz", "/readyz")  # open paths

    (monitor_patch,) = _documents(PROTECTED / "servicemonitor-patch.yaml")
    (endpoint,) = monitor_patch["spec"]["endpoints"]  # a CRD's list is replaced, not merged
    (base_endpoint,) = manifests()["ServiceMonitor"]["spec"]["endpoints"]
    assert base_endpoint.items() <= endpoint.items()
    assert endpoint["scheme"] == "https"
    scrape = secrets["channel-monitor-scrape"]["stringData"]
    for part in ("username", "password"):
        assert endpoint["basicAuth"][part]["name"] == "channel-monitor-scrape"
        assert endpoint["basicAuth"][part]["key"] in scrape
    assert scrape["username"] in web_config["basic_auth_users"]
    assert endpoint["tlsConfig"]["ca"]["secret"] == {"name": "channel-monitor-tls", "key": "ca.crt"}
    # the overlay's instructions ask for a certificate that names what serverName says
    instructions = (PROTECTED / "kustomization.yaml").read_text(encoding="utf-8")
    assert f"dnsNames: [{endpoint['tlsConfig']['serverName']}," in instructions


def test_kubernetes_replicas_overlay_runs_three_on_postgresql(tmp_path: Path) -> None:
    """deploy/kubernetes-replicas patches the example into three replicas on PostgreSQL
    (rendered by hand with `kubectl kustomize`: no kustomize in CI); here every name, key and
    path that ties it to the base, and that nothing of SQLite's volume is left."""
    kustomization = _yaml(REPLICAS / "kustomization.yaml")
    assert kustomization["resources"][0] == "../kubernetes"
    files = {p.name for p in REPLICAS.glob("*.yaml")} - {"kustomization.yaml"}
    listed = set(kustomization["resources"][1:]) | {p["path"] for p in kustomization["patches"]}
    assert listed == files
    (secret,) = _documents(REPLICAS / "database-secret.yaml")
    url = secret["stringData"]["url"]
    assert url.startswith("postgresql+psycopg://")  # shards need PostgreSQL's advisory locks

    (patch,) = _documents(REPLICAS / "deployment-patch.yaml")
    deployment = manifests()["Deployment"]
    assert patch["metadata"]["name"] == deployment["metadata"]["name"]
    assert patch["spec"]["replicas"] == 3
    assert patch["spec"]["strategy"]["type"] == "RollingUpdate"  # no volume to hand over
    template = patch["spec"]["template"]["spec"]
    (patched,) = template["containers"]
    assert patched["name"] == container()["name"]
    (database,) = [e for e in patched["env"] if e["name"] == "CHANNEL_MONITOR_DATABASE"]
    assert "CHANNEL_MONITOR_DATABASE" in {e["name"] for e in container()["env"]}
    assert database["value"] is None  # the base's SQLite URL removed, not merged beside
    ref = database["valueFrom"]["secretKeyRef"]
    assert (ref["name"], ref["key"]) == (secret["metadata"]["name"], "url")
    # the data volume, its mount and its claim go: nothing else refers to them
    (volume,) = template["volumes"]
    (mount,) = patched["volumeMounts"]
    assert volume == {"name": "data", "$patch": "delete"}
    assert mount == {"mountPath": "/var/lib/channel-monitor", "$patch": "delete"}
    base_mounts = {m["mountPath"]: m["name"] for m in container()["volumeMounts"]}
    assert base_mounts[mount["mountPath"]] == volume["name"]
    (claim,) = _documents(REPLICAS / "persistentvolumeclaim-delete.yaml")
    assert claim["$patch"] == "delete"
    assert claim["metadata"]["name"] == manifests()["PersistentVolumeClaim"]["metadata"]["name"]
    spread = template["topologySpreadConstraints"][0]["labelSelector"]["matchLabels"]
    assert spread.items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
    # the configuration runs as it is with the URL from the Secret
    config = tmp_path / "config.toml"
    config.write_text(manifests()["ConfigMap"]["data"]["config.toml"])
    env = {e["name"]: e["value"] for e in container()["env"] if "value" in e}
    env["CHANNEL_MONITOR_DATABASE"] = url
    settings = load_settings(config, env, supported=supported_platforms())
    assert settings.monitor.database == url


def test_prometheus_example_protected_scrape_passes_promtool(tmp_path: Path) -> None:
    """The commented basic_auth/tls_config block of the example, uncommented, is valid."""
    text = (DEPLOY / "prometheus" / "prometheus.yml").read_text(encoding="utf-8")
    block = re.search(r"\n(    # scheme: https\n(?:    #.*\n)*?    #.*key_file: .*\n)", text)
    assert block, "no commented scheme/basic_auth/tls_config block"
    uncommented = re.sub(r"(?m)^    # ?", "    ", block[1])  # nested "# …" stay comments
    config = tmp_path / "prometheus.yml"
    config.write_text(text.replace(block[1], uncommented), encoding="utf-8")
    shutil.copy(DEPLOY / "prometheus" / "channel-monitor-rules.yml", tmp_path)
    job = next(
        j for j in yaml.safe_load(config.read_text())["scrape_configs"] if j["job_name"] == JOB
    )
    assert job["scheme"] == "https"
    assert set(job["basic_auth"]) == {"username", "password_file"}
    assert set(job["tls_config"]) == {"ca_file", "server_name"}
    for name in ("channel-monitor-password", "channel-monitor-ca.crt"):
        (tmp_path / name).write_text("x\n")
    out = _run(_tool("promtool", "prometheus"), "check", "config", str(config))
    assert "SUCCESS" in out, out


# --- the Dockerfile, read (tests/e2e/test_container.py builds and runs it) ----------------------


def test_dockerfile_conventions() -> None:
    text = DOCKERFILE.read_text(encoding="utf-8")
    lines = [line.strip() for line in text.splitlines()]
    froms = [line for line in lines if line.startswith("FROM ")]
    assert len(froms) >= 2, "multi-stage: wheels in one stage, the runtime in another"
    assert "ARG PYTHON_IMAGE=docker.io/library/python:3.11-slim-bookworm" in lines
    assert f"USER {UID}:{UID}" in lines
    assert f"EXPOSE {PORT}" in lines
    assert 'ENTRYPOINT ["channel-monitor"]' in lines
    assert 'CMD ["run"]' in lines
    assert 'VOLUME ["/var/lib/channel-monitor"]' in lines
    assert not any("curl" in line for line in lines if not line.startswith("#"))
    # HTTP or HTTPS, no password needed (monitor/healthcheck.py; run in test_web_protection.py)
    assert 'CMD ["python", "-m", "monitor.healthcheck"]' in lines
