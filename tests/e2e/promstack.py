"""A real Prometheus and Alertmanager (Debian packages) on 127.0.0.1, and a webhook receiver.

For end-to-end alert tests: ``start_prometheus`` scrapes a target with a rule file and sends its
alerts to ``start_alertmanager``, which posts notifications to a ``WebhookReceiver`` running in
the test's own event loop. Everything lives in a directory the caller gives (``tmp_path``).

The binaries are required: when one is missing the test fails rather than skips (CI installs
them; see scripts/test).
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from aiohttp import web

from tests.e2e.daemon import free_port

PROMETHEUS = ("prometheus", "prometheus")  # (binary, Debian package)
ALERTMANAGER = ("prometheus-alertmanager", "prometheus-alertmanager")


def binary(name: str, package: str) -> str:
    """The binary's path; a missing one fails the test (it must not be skipped silently)."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(
            f"{name} not found on PATH; this test needs it (Debian/Ubuntu: "
            f"`apt-get install -y {package}`). CI installs it, so this is a failure, not a skip.",
            pytrace=False,
        )
    return path


def require_binaries() -> None:
    """Fail now, before anything is started, when Prometheus or Alertmanager is missing."""
    binary(*PROMETHEUS)
    binary(*ALERTMANAGER)


class Service:
    """A server process on 127.0.0.1 with its output in a log file."""

    def __init__(self, name: str, args: list[str], port: int, workdir: Path) -> None:
        self.name = name
        self.base = f"http://127.0.0.1:{port}"
        self.log_path = workdir / f"{name}.log"
        self._log = self.log_path.open("ab")
        self.proc = subprocess.Popen(args, stdout=self._log, stderr=subprocess.STDOUT, cwd=workdir)

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def check(self) -> None:
        """Raise if the process has exited."""
        if self.proc.poll() is not None:
            raise AssertionError(
                f"{self.name} exited ({self.proc.returncode}):\n{self.log[-5000:]}"
            )

    async def ready(self) -> bool:
        """``GET /-/ready`` answers 200 (both Prometheus and Alertmanager have it)."""
        self.check()
        try:
            async with httpx.AsyncClient() as client:
                return (await client.get(f"{self.base}/-/ready", timeout=2)).status_code == 200
        except httpx.HTTPError:
            return False

    async def get_json(self, path: str, **params: str) -> Any:
        self.check()
        async with httpx.AsyncClient() as client:
            response = await client.get(f"{self.base}{path}", params=params, timeout=10)
        response.raise_for_status()
        body = response.json()
        assert body.get("status", "success") == "success", body
        return body

    def stop(self, timeout: float = 10) -> None:
        """Terminate, wait, and kill if it does not stop in time."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._log.close()


class Prometheus(Service):
    async def alerts(self) -> list[dict[str, Any]]:
        """Active alerts (pending and firing) from ``/api/v1/alerts``."""
        return list((await self.get_json("/api/v1/alerts"))["data"]["alerts"])

    async def query(self, expr: str) -> list[dict[str, Any]]:
        """An instant query's result vector: ``[{"metric": {...}, "value": [t, "v"]}, …]``."""
        return list((await self.get_json("/api/v1/query", query=expr))["data"]["result"])


def _dump(path: Path, document: object) -> Path:
    path.write_text(yaml.safe_dump(document, sort_keys=False, width=100), encoding="utf-8")
    return path


def shorten_rules(
    rules: Mapping[str, Any],
    *,
    for_: str,
    keep_firing_for: str,
    for_by_alert: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """A copy of a rule file with every ``for:`` and ``keep_firing_for:`` replaced (``for:`` by
    ``for_by_alert[alertname]`` where given); expressions, labels and annotations stay as they are.
    """
    copy = yaml.safe_load(yaml.safe_dump(dict(rules)))  # deep copy, plain types only
    for group in copy["groups"]:
        for rule in group["rules"]:
            if "for" in rule:
                rule["for"] = (for_by_alert or {}).get(rule.get("alert", ""), for_)
            if "keep_firing_for" in rule:
                rule["keep_firing_for"] = keep_firing_for
    return dict(copy)


def start_prometheus(
    workdir: Path,
    *,
    target: str,
    job: str,
    rules: Mapping[str, Any],
    alertmanager: str,
    interval: str = "1s",
) -> Prometheus:
    """Prometheus scraping ``target`` (host:port) as ``job`` every ``interval``, evaluating
    ``rules`` (a rule-file document) as often, and alerting to ``alertmanager`` (host:port)."""
    workdir.mkdir(parents=True, exist_ok=True)
    rule_file = _dump(workdir / "rules.yml", rules)
    config = {
        "global": {"scrape_interval": interval, "evaluation_interval": interval},
        "rule_files": [str(rule_file)],
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": [alertmanager]}]}]},
        "scrape_configs": [
            {
                "job_name": job,
                "scrape_timeout": interval,
                "static_configs": [{"targets": [target]}],
            }
        ],
    }
    port = free_port()
    args = [
        binary(*PROMETHEUS),
        f"--config.file={_dump(workdir / 'prometheus.yml', config)}",
        f"--storage.tsdb.path={workdir / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--log.level=info",
    ]
    return Prometheus("prometheus", args, port, workdir)


def start_alertmanager(
    workdir: Path,
    *,
    webhook_url: str,
    inhibit_rules: Iterable[Mapping[str, Any]] = (),
    group_by: Iterable[str] = ("...",),
) -> Service:
    """Alertmanager without clustering, sending every notification (resolved ones too) to
    ``webhook_url`` after 1 s of ``group_wait``/``group_interval``."""
    workdir.mkdir(parents=True, exist_ok=True)
    config = {
        "route": {
            "receiver": "test-webhook",
            "group_by": list(group_by),
            "group_wait": "1s",
            "group_interval": "1s",
            "repeat_interval": "1h",
        },
        "receivers": [
            {
                "name": "test-webhook",
                "webhook_configs": [{"url": webhook_url, "send_resolved": True}],
            }
        ],
        "inhibit_rules": [dict(rule) for rule in inhibit_rules],
    }
    port = free_port()
    args = [
        binary(*ALERTMANAGER),
        f"--config.file={_dump(workdir / 'alertmanager.yml', config)}",
        f"--storage.path={workdir / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--cluster.listen-address=",  # no gossip cluster
        "--log.level=info",
    ]
    return Service("alertmanager", args, port, workdir)


class WebhookReceiver:
    """An Alertmanager webhook receiver on 127.0.0.1 that keeps every JSON body posted to it."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.arrivals: list[float] = []  # time.monotonic() of each body
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/alerts", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}/alerts"
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _handle(self, request: web.Request) -> web.Response:
        self.bodies.append(await request.json())
        self.arrivals.append(time.monotonic())
        return web.Response(text="ok")

    def alerts(self) -> Iterator[dict[str, Any]]:
        """Every alert of every notification, in the order received."""
        for body in self.bodies:
            yield from body.get("alerts", [])

    def firing(self, alertname: str, **labels: str) -> list[dict[str, Any]]:
        return [
            a
            for a in self.alerts()
            if a["status"] == "firing" and matches(a["labels"], alertname=alertname, **labels)
        ]


def matches(labels: Mapping[str, str], **wanted: str) -> bool:
    return all(labels.get(k) == v for k, v in wanted.items())


async def until(
    predicate: Callable[[], Any], timeout: float, what: str, *, alive: Callable[[], None]
) -> Any:
    """Await ``predicate`` (async) until truthy; ``alive`` raises when a process died."""
    deadline = time.monotonic() + timeout
    while True:
        alive()
        value = await predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        await asyncio.sleep(0.2)
