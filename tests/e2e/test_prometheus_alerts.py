"""The shipped alert rules, end to end: feeds → daemon → Prometheus → Alertmanager → webhook.

Everything runs on 127.0.0.1: the fake feed server, ``channel-monitor run``, a real Prometheus
(Debian package) scraping it every second with a copy of the shipped rules whose ``for:`` and
``keep_firing_for:`` are shortened (the expressions stay as shipped), and a real Alertmanager with
the shipped inhibit rules, notifying a webhook receiver of the test's own.

Three channels:
- active: a post every 2 days, the newest 1 day ago → no alert;
- stale: the newest post 40 days ago → ``ChannelInactive``;
- failing: read once (inactive_after 1d, newest post just under 1 day old), then answering 404.
  Its silence crosses inactive_after while its polls fail, so it WOULD be inactive if failures were
  ignored (the test checks that with the shipped expression minus its guard); it must show up as
  ``ChannelPollFailing`` only, never as ``ChannelInactive``.

The failing feed is dated when it is read, and Prometheus already scrapes the daemon's address
before the daemon starts: however long the set-up takes, the failed poll has the time of two polls
and a scrape (a few seconds of CROSSING) to reach Prometheus before the silence crosses.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web

from monitor.fakes.feeds import CONTENT_TYPES, FeedServer, FeedSpec, render
from tests.e2e.daemon import ROOT, Daemon
from tests.e2e.promstack import (
    Prometheus,
    Service,
    WebhookReceiver,
    matches,
    require_binaries,
    shorten_rules,
    start_alertmanager,
    start_prometheus,
    until,
)

pytestmark = [pytest.mark.e2e, pytest.mark.prometheus]

RULES = ROOT / "deploy" / "prometheus" / "channel-monitor-rules.yml"
ALERTMANAGER_CONFIG = ROOT / "deploy" / "alertmanager" / "alertmanager.yml"
JOB = "channel-monitor"  # ChannelMonitorDown matches this job name

ACTIVE, STALE, FAILING = "Gemeente Actief", "Gemeente Stil", "Gemeente Kapot"
PATHS = {ACTIVE: "/actief/rss", STALE: "/stil/rss", FAILING: "/kapot/rss"}
ACTIVITY_ALERTS = {
    "ChannelInactive",
    "ChannelDormant",
    "ChannelQuiet",
    "ChannelNeverPosted",
    "ChannelBelowTarget",
}
GUARD = "unless channel_monitor_poll_success == 0"

# The failing channel's silence reaches its inactive_after (1d) this long after its only
# successful read: by then its polls must have been failing for a while (checked), and the test
# watches on for SETTLE more, longer than `for:` plus scrape, evaluation and group_wait.
CROSSING = timedelta(seconds=25)
SETTLE = timedelta(seconds=6)
DEADLINE = 90  # seconds for the whole picture to arrive


def every(days: float, count: int, newest: datetime) -> list[datetime]:
    return [newest - timedelta(days=i * days) for i in range(count)]


def write_config(tmp_path: Path, channels: dict[str, str]) -> Path:
    config = tmp_path / "config.toml"
    config.write_text(
        f"""
[monitor]
database = "sqlite:///{tmp_path}/monitor.db"
poll_interval = "2s"
jitter = "0s"

[[organisation]]
name = "{ACTIVE}"
rss = "{channels[ACTIVE]}"

[[organisation]]
name = "{STALE}"
rss = "{channels[STALE]}"

[[organisation]]
name = "{FAILING}"
rss = {{ handle = "{channels[FAILING]}", inactive_after = "1d" }}
""",
        encoding="utf-8",
    )
    return config


def load_yaml(path: Path) -> Any:
    with path.open(encoding="utf-8") as f:
        return yaml.safe_load(f)


def shipped_expr(rules: dict[str, Any], alertname: str) -> str:
    found = [r for g in rules["groups"] for r in g["rules"] if r.get("alert") == alertname]
    assert len(found) == 1, alertname
    return str(found[0]["expr"])


class ReadOnce:
    """The failing channel's feed: the first read gets ten posts, the newest CROSSING short of a
    day old at that moment; every later read gets 404."""

    def __init__(self) -> None:
        self.read_at: datetime | None = None  # when the one successful read was served
        self.refused = 0  # 404s served since
        self._runner: web.AppRunner | None = None

    async def start(self) -> str:
        app = web.Application()
        app.router.add_get(PATHS[FAILING], self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        return f"http://127.0.0.1:{self._runner.addresses[0][1]}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def crossing(self) -> datetime:
        assert self.read_at is not None
        return self.read_at + CROSSING

    async def _handle(self, request: web.Request) -> web.Response:
        if self.read_at is not None:
            self.refused += 1
            return web.Response(status=404, text="404 Not Found")
        self.read_at = datetime.now(UTC).replace(microsecond=0)
        posts = every(2, 10, newest=self.crossing - timedelta(days=1))
        body = render(PATHS[FAILING], FeedSpec(posts=posts), self.read_at)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPES["rss"]})


def brief(alert: dict[str, Any]) -> str:
    """``ChannelInactive{Gemeente Stil} firing``: enough to read a failure message."""
    labels = alert["labels"]
    state = alert.get("status") or alert.get("state")
    where = labels.get("organisation") or labels.get("platform") or labels.get("job", "")
    return f"{labels['alertname']}{{{where}}} {state}"


@pytest.mark.timeout(300)
async def test_inactive_and_poll_failing_reach_the_webhook(tmp_path: Path) -> None:
    require_binaries()
    start = datetime.now(UTC)
    server = FeedServer(
        {
            PATHS[ACTIVE]: FeedSpec(posts=every(2, 20, newest=start - timedelta(days=1))),
            PATHS[STALE]: FeedSpec(posts=every(7, 10, newest=start - timedelta(days=40))),
        }
    )
    base = await server.start()
    read_once = ReadOnce()
    channels = {org: base + path for org, path in PATHS.items()}
    channels[FAILING] = await read_once.start() + PATHS[FAILING]
    daemon = Daemon(write_config(tmp_path, channels))
    webhook = WebhookReceiver()
    services: list[Service] = []
    prom: Prometheus | None = None
    seen_in_prometheus: set[str] = set()  # brief() of every alert Prometheus ever reported

    rules = load_yaml(RULES)
    # ChannelMonitorDown keeps a longer `for:`: Prometheus evaluates rules from its start but
    # hands the first targets to the scrape manager only after its discovery tick (5 s), so
    # absent(up{job="channel-monitor"}) holds for a few seconds after every start, and
    # up == 0 until the daemon, started after Prometheus, answers.
    test_rules = shorten_rules(
        rules, for_="2s", keep_firing_for="0s", for_by_alert={"ChannelMonitorDown": "60s"}
    )
    inhibit_rules = load_yaml(ALERTMANAGER_CONFIG)["inhibit_rules"]
    assert inhibit_rules, "the shipped Alertmanager config has no inhibit rules"
    inactive_expr = shipped_expr(rules, "ChannelInactive")
    assert GUARD in inactive_expr, "ChannelInactive no longer drops channels whose polls fail"
    unguarded_expr = inactive_expr.replace(GUARD, "")

    def alive() -> None:
        if daemon.proc is not None and daemon.proc.poll() is not None:
            raise AssertionError(f"daemon exited ({daemon.proc.returncode}):\n{daemon.log[-5000:]}")
        for service in services:
            service.check()

    def forbidden(labels: dict[str, str]) -> bool:
        """An activity alert for the active or the failing channel."""
        return labels.get("alertname") in ACTIVITY_ALERTS and any(
            matches(labels, organisation=org, channel=channels[org]) for org in (ACTIVE, FAILING)
        )

    async def observe() -> list[dict[str, Any]]:
        """Prometheus' active alerts; fail at once on a forbidden one, here or at the webhook."""
        assert prom is not None
        alerts = await prom.alerts()
        seen_in_prometheus.update(brief(a) for a in alerts)
        wrong = [brief(a) for a in [*alerts, *webhook.alerts()] if forbidden(a["labels"])]
        assert not wrong, f"activity alerts for the active or failing channel: {wrong}"
        return alerts

    t_start = time.monotonic()

    def notifications() -> str:
        return "webhook notifications:\n" + "\n".join(
            f"  +{at - t_start:4.1f}s {body['status']}: {', '.join(map(brief, body['alerts']))}"
            for at, body in zip(webhook.arrivals, webhook.bodies, strict=True)
        )

    try:
        # Prometheus and Alertmanager first, however long they take: the daemon starts once
        # Prometheus scrapes its address (its first scrape comes after a 5 s discovery tick)
        await webhook.start()
        alertmanager = start_alertmanager(
            tmp_path / "alertmanager", webhook_url=webhook.url, inhibit_rules=inhibit_rules
        )
        services.append(alertmanager)
        prom = start_prometheus(
            tmp_path / "prometheus",
            target=daemon.base.removeprefix("http://"),
            job=JOB,
            rules=test_rules,
            alertmanager=alertmanager.base.removeprefix("http://"),
        )
        services.append(prom)
        for service in services:
            await until(service.ready, 120, f"{service.name} to be ready", alive=alive)

        async def scraping() -> bool:
            assert prom is not None
            return bool(await prom.query(f'up{{job="{JOB}"}}'))

        await until(scraping, 120, "Prometheus to scrape the daemon's address", alive=alive)
        daemon.start()
        await daemon.wait_ready(120)
        # the failing channel is read once, with its posts, and from then on answers 404
        await daemon.until(lambda: read_once.refused, 120, "the failing channel's second read")
        crossing = read_once.crossing

        failing = f'{{organisation="{FAILING}"}}'

        async def failure_scraped() -> bool:
            assert prom is not None
            await observe()
            return bool(await prom.query(f"channel_monitor_poll_success{failing} == 0"))

        await until(failure_scraped, 120, "Prometheus to see the failing poll", alive=alive)
        print(f"failing poll in Prometheus +{time.monotonic() - t_start:.1f}s")
        # two polls and a scrape after the read: only a daemon or Prometheus stalled for most
        # of CROSSING misses this (then the guard cannot be shown; raise CROSSING)
        left = (crossing - datetime.now(UTC)).total_seconds()
        assert left > 3, f"the failed poll reached Prometheus {3 - left:.1f} s too late"

        async def picture() -> bool:
            assert prom is not None
            await observe()
            if datetime.now(UTC) < crossing + SETTLE:
                return False
            # the shipped expression without its guard does count the failing channel as inactive
            unguarded = {r["metric"]["organisation"] for r in await prom.query(unguarded_expr)}
            assert unguarded == {STALE, FAILING}, unguarded
            return bool(
                webhook.firing("ChannelInactive", organisation=STALE, channel=channels[STALE])
                and webhook.firing(
                    "ChannelPollFailing", organisation=FAILING, channel=channels[FAILING]
                )
            )

        await until(picture, DEADLINE, "the alerts at the webhook", alive=alive)
        print(f"picture complete +{time.monotonic() - t_start:.1f}s")

        # the same picture in Prometheus: exactly these two alerts, both firing
        alerts = await observe()
        firing = {
            (a["labels"]["alertname"], a["labels"].get("organisation"), a["labels"].get("channel"))
            for a in alerts
            if a["state"] == "firing"
        }
        assert firing == {
            ("ChannelInactive", STALE, channels[STALE]),
            ("ChannelPollFailing", FAILING, channels[FAILING]),
        }, sorted(brief(a) for a in alerts)
        inactive = next(a for a in alerts if a["labels"]["alertname"] == "ChannelInactive")
        assert inactive["labels"]["job"] == JOB
        assert inactive["labels"]["severity"] == "warning"
        assert "40 days" in inactive["annotations"]["description"]

        assert await prom.query(f"channel_monitor_poll_success{failing} == 0"), "still failing"

        # every notification, firing or resolved: ChannelInactive only ever for the stale channel
        notified = {
            (a["labels"]["alertname"], a["labels"].get("organisation")) for a in webhook.alerts()
        }
        assert notified == {("ChannelInactive", STALE), ("ChannelPollFailing", FAILING)}, notified
        print("seen in Prometheus:", sorted(seen_in_prometheus))
        print(notifications())
    except BaseException:
        print(notifications())
        print("seen in Prometheus:", sorted(seen_in_prometheus))
        for service in services:
            print(f"--- {service.name} log ---\n{service.log[-3000:]}")
        print(f"--- daemon log ---\n{daemon.log[-3000:] if daemon.proc else ''}")
        raise
    finally:
        for service in reversed(services):
            service.stop()
        await webhook.stop()
        code = daemon.stop() if daemon.proc is not None else 0
        await server.stop()
        await read_once.stop()
    assert code == 0, daemon.log
