"""Notifications end to end: the real daemon, feed servers and a webhook receiver on 127.0.0.1.

Done-when 3: a restart between a state change and its notification sends it exactly once, and
a restart after it was sent sends nothing again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from monitor.app import SHUTDOWN_GRACE
from monitor.fakes.feeds import FeedServer, FeedSpec
from tests.e2e.daemon import Daemon, value

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

NOW = datetime.now(UTC)
SECRET = "T0SECRET/B0SECRET/xoxb-hook-secret-4711"  # the part of a webhook URL that is a secret


def every(days: float, count: int, newest_days_ago: float) -> list[datetime]:
    return [NOW - timedelta(days=newest_days_ago + i * days) for i in range(count)]


FEEDS = {
    "/stil/rss": FeedSpec(posts=every(7, 10, 40), title="Stil nieuws"),  # inactive
    "/slaapt/rss": FeedSpec(posts=every(7, 10, 200), title="Slaapt nieuws"),  # dormant
    "/actief/rss": FeedSpec(posts=every(2, 20, 0.5), title="Actief nieuws"),  # active
    "/weg/rss": FeedSpec(posts=[], status=404),  # never read
}


@dataclass
class Receiver:
    """A webhook on 127.0.0.1 that answers ``status`` and records what it was sent."""

    status: int = 500
    received: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    paths: set[str] = field(default_factory=set)
    _runner: web.AppRunner | None = None

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        return f"http://127.0.0.1:{self._runner.addresses[0][1]}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.Response:
        self.paths.add(request.path)
        self.received.append((self.status, await request.json()))
        return web.Response(status=self.status, text="ok" if self.status == 200 else "down")

    @property
    def accepted(self) -> list[dict[str, Any]]:
        return [body for status, body in self.received if status == 200]


def write_config(tmp_path: Path, base: str) -> Path:
    config = tmp_path / "config.toml"
    config.write_text(
        f"""
[monitor]
database = "sqlite:///{tmp_path}/monitor.db"
poll_interval = "1h"
jitter = "0s"

[notify]
evaluate_every = "1s"
failing_after = 1

[[notify.webhook]]
name = "team"
url = "${{TEST_WEBHOOK_URL}}"

[[organisation]]
name = "Gemeente Stil"
rss = ["{base}/stil/rss", "{base}/slaapt/rss"]

[[organisation]]
name = "Gemeente Actief"
rss = "{base}/actief/rss"

[[organisation]]
name = "Gemeente Weg"
rss = "{base}/weg/rss"
"""
    )
    return config


async def events(daemon: Daemon) -> list[dict[str, Any]]:
    response = await daemon.get("/api/events", params={"limit": 100})
    response.raise_for_status()
    return list(response.json())


async def evaluations(daemon: Daemon) -> float:
    return value(await daemon.metrics(), "channel_monitor_notification_evaluations_total") or 0


async def test_restarts_neither_lose_nor_repeat_a_notification(tmp_path: Path) -> None:
    feeds, receiver = FeedServer(FEEDS), Receiver(status=500)
    base = await feeds.start()
    hook = await receiver.start()
    config = write_config(tmp_path, base)
    env = {"TEST_WEBHOOK_URL": f"{hook}/services/{SECRET}"}
    expected = {  # (organisation, kind, state) of the events the channels above call for
        ("Gemeente Stil", "state_changed", "inactive"),
        ("Gemeente Stil", "state_changed", "dormant"),
        ("Gemeente Weg", "poll_failing", None),
    }
    daemons: list[Daemon] = []
    try:
        # (a) the changes are recorded while the webhook answers 500: nothing is delivered
        daemon = Daemon(config, env=env).start()
        daemons.append(daemon)
        await daemon.wait_ready()

        async def recorded_and_tried() -> list[dict[str, Any]] | None:
            found = await events(daemon)
            kinds = {(e["organisation"], e["kind"], e["state"]) for e in found}
            tried = all(d["last_error"] for e in found for d in e["deliveries"])
            return found if kinds == expected and tried else None

        recorded = await daemon.until(recorded_and_tried, 60, "the changes to be recorded")
        assert len(recorded) == 3
        assert all(e["status"] == "pending" and e["notified_at"] is None for e in recorded)
        assert all(e["deliveries"][0]["last_error"] == "HTTP 500" for e in recorded)
        assert all(e["deliveries"][0]["attempts"] >= 1 for e in recorded)
        assert receiver.received and not receiver.accepted
        failed = value(
            await daemon.metrics(), "channel_monitor_notifications_total", result="failed"
        )
        assert failed is not None and failed >= 1
        assert daemon.stop() == 0, daemon.log

        # restart with the webhook up: each recorded change is delivered, exactly once
        receiver.status = 200
        daemon = Daemon(config, env=env).start()
        daemons.append(daemon)
        await daemon.wait_ready()

        async def all_sent() -> list[dict[str, Any]] | None:
            found = await events(daemon)
            return found if all(e["status"] == "sent" for e in found) else None

        sent = await daemon.until(all_sent, 60, "the pending notifications to be sent")
        rounds = await evaluations(daemon)
        await daemon.until(
            lambda: _more(daemon, rounds + 2), 30, "two more evaluation rounds after sending"
        )
        assert [e["id"] for e in sent] == [e["id"] for e in recorded]  # no new event either
        delivered = [e["id"] for body in receiver.accepted for e in body["events"]]
        assert sorted(delivered) == sorted(e["id"] for e in recorded)  # each exactly once
        by_org = {body["organisation"]: body for body in receiver.accepted}
        assert len(receiver.accepted) == len(by_org) == 2  # one message per organisation
        stil = by_org["Gemeente Stil"]
        assert stil["kind"] == "alerts"
        assert stil["text"].startswith("Gemeente Stil: 2 channels need attention")
        assert "has posted nothing for 40 days (inactive)" in stil["text"]
        assert "has posted nothing for 200 days (dormant)" in stil["text"]
        assert {e["state"] for e in stil["events"]} == {"inactive", "dormant"}
        assert stil["status_page"] == f"{daemon.base}/"
        weg = by_org["Gemeente Weg"]["events"][0]
        assert (weg["kind"], weg["poll_error"], weg["never_read"]) == (
            "poll_failing",
            "not_found",
            True,
        )
        sent_total = value(
            await daemon.metrics(), "channel_monitor_notifications_total", result="sent"
        )
        assert sent_total == 2
        assert daemon.stop() == 0, daemon.log

        # (b) restart after sending: nothing is sent again
        accepted_before = len(receiver.accepted)
        daemon = Daemon(config, env=env).start()
        daemons.append(daemon)
        await daemon.wait_ready()
        await daemon.until(lambda: _more(daemon, 3), 30, "three evaluation rounds after restart")
        assert len(receiver.accepted) == accepted_before
        after = await events(daemon)
        assert [(e["id"], e["status"]) for e in after] == [(e["id"], "sent") for e in sent]
        assert [e["deliveries"] for e in after] == [e["deliveries"] for e in sent]
        metrics = await daemon.metrics()
        assert value(metrics, "channel_monitor_notifications_total", result="sent") == 0
        assert value(metrics, "channel_monitor_notifications_pending", webhook="team") == 0

        # the webhook URL is a secret: in no log, page or API
        pages = [
            (await daemon.get(path)).text
            for path in ("/", "/api/channels", "/api/events", "/metrics")
        ]
        assert daemon.stop() == 0, daemon.log
        assert receiver.paths == {f"/services/{SECRET}"}
        for text in [*pages, *(d.log for d in daemons), json.dumps(receiver.received)]:
            assert "B0SECRET" not in text
    finally:
        for d in daemons:
            if d.proc is not None and d.proc.poll() is None:
                d.kill()
        await receiver.stop()
        await feeds.stop()


class Hanging:
    """A server on 127.0.0.1 that answers every request with a body that never ends until
    released: a byte a second, so no read timeout ends the request (only a whole-request
    deadline, or the client giving up)."""

    def __init__(self) -> None:
        self.entered: set[str] = set()
        self.release = asyncio.Event()
        self._runner: web.AppRunner | None = None

    async def start(self) -> str:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        return f"http://127.0.0.1:{self._runner.addresses[0][1]}"

    async def stop(self) -> None:
        self.release.set()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.entered.add(request.method)
        response = web.StreamResponse(status=200)
        await response.prepare(request)
        with contextlib.suppress(ConnectionError):  # the client gave up
            while not self.release.is_set():
                await response.write(b" ")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.release.wait(), 1)
        return response


async def test_a_stop_drains_polls_and_sending_together_within_one_grace(tmp_path: Path) -> None:
    # a poll and a webhook POST both hang when SIGTERM comes, each longer than two graces
    # (the POST until its 15 s deadline): both get the same 5 s, not 5 + 5
    feeds, stuck = FeedServer({"/weg/rss": FeedSpec(posts=[], status=404)}), Hanging()
    base = await feeds.start()
    hang = await stuck.start()
    config = tmp_path / "config.toml"
    config.write_text(
        f"""
[monitor]
database = "sqlite:///{tmp_path}/monitor.db"
poll_interval = "1h"
jitter = "0s"

[notify]
evaluate_every = "1s"
failing_after = 1

[[notify.webhook]]
name = "team"
url = "{hang}/hook"

[[organisation]]
name = "Gemeente Weg"
rss = ["{base}/weg/rss", "{hang}/traag/rss"]
"""
    )
    daemon = Daemon(config, env={"CHANNEL_MONITOR_LOG_FORMAT": "json"}).start()
    try:
        await daemon.wait_ready()
        await daemon.until(
            lambda: {"GET", "POST"} <= stuck.entered, 30, "a poll and a POST to be in flight"
        )
        # in a thread: the hanging server runs on this loop and must keep trickling meanwhile
        assert await asyncio.to_thread(daemon.stop, timeout=60) == 0, daemon.log
        logged = [json.loads(line) for line in daemon.log.splitlines() if line.startswith("{")]
        at = {e["message"]: datetime.fromisoformat(e["time"]) for e in logged}
        assert {"stopping", "stopped"} <= at.keys(), daemon.log
        drain = (at["stopped"] - at["stopping"]).total_seconds()
        # Both hang, so each drain lasts its whole grace; asyncio never times out early, so two
        # drains one after the other take at least twice the grace however idle the machine,
        # and one shared grace fails this only if the daemon stalls for another full grace.
        assert drain >= SHUTDOWN_GRACE - 0.1, f"the drain did not wait its grace:\n{daemon.log}"
        assert drain < 2 * SHUTDOWN_GRACE, (
            f"polls and sending drained one after the other ({drain:.1f} s):\n{daemon.log}"
        )
    finally:
        if daemon.proc is not None and daemon.proc.poll() is None:
            daemon.kill()
        await stuck.stop()
        await feeds.stop()


async def _more(daemon: Daemon, rounds: float) -> bool:
    return await evaluations(daemon) >= rounds
