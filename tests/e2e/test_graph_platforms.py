"""Facebook and Instagram end to end: the real daemon against the fake Graph API.

Every state and every failure reason, the access token and app secret nowhere they must not
be (nor the credentials and signature of a feed read alongside them), and a throttled Page
holding back that Page only.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.fakes.feeds import FeedServer, FeedSpec
from monitor.fakes.graph import AccountSpec, GraphServer, PageSpec
from tests.e2e.daemon import Daemon, cli, value

pytestmark = pytest.mark.e2e

NOW = datetime.now(UTC)
TOKEN = "EAAGm0PX4ZCpsBAKtestTOKENthatMustNeverLeak123"
FEED_PASSWORD = "feedPASSWORDthatMustNeverLeak"
FEED_SIGNATURE = "feedSIGNATUREthatMustNeverLeak"
APP_SECRET = "9c1d2e3f4a5b6c7d8e9fa0b1c2d3e4f5"
PROOF = hmac.new(APP_SECRET.encode(), TOKEN.encode(), hashlib.sha256).hexdigest()
OWN_ACCOUNT = "17841400000000001"


def every(days: float, count: int, newest_days_ago: float) -> list[datetime]:
    return [NOW - timedelta(days=newest_days_ago + i * days) for i in range(count)]


QUIET = every(1, 30, 5)  # posted daily, then five days of silence: > 3 × its usual gap
BELOW_TARGET = every(20, 6, 8)  # one post in the last 14 days against a target of two

# handle: (spec, expected state, poll ok, error reason)
PAGES: dict[str, tuple[PageSpec, str, bool, str | None]] = {
    "gemeenteactief": (
        PageSpec("1001", "gemeenteactief", "Gemeente Actief", 5120, posts=every(3, 30, 1)),
        "active",
        True,
        None,
    ),
    "gemeentetijd": (
        PageSpec(
            "1002", "gemeentetijd", posts=every(2, 40, 0.5), paging="time", empty_page_after=1
        ),
        "active",
        True,
        None,
    ),
    "gemeentestil": (
        PageSpec("1003", "gemeentestil", posts=every(7, 10, 40)),
        "inactive",
        True,
        None,
    ),
    "gemeenteslaapt": (
        PageSpec("1004", "gemeenteslaapt", posts=every(7, 10, 200)),
        "dormant",
        True,
        None,
    ),
    "gemeenteleeg": (PageSpec("1005", "gemeenteleeg", posts=[]), "never_posted", True, None),
    "gemeenterustig": (PageSpec("1006", "gemeenterustig", posts=QUIET), "quiet", True, None),
    "gemeentetraag": (
        PageSpec("1007", "gemeentetraag", posts=BELOW_TARGET),
        "below_target",
        True,
        None,
    ),
    "gemeentegeparkeerd": (
        PageSpec("1008", "gemeentegeparkeerd", posts=every(7, 5, 400)),
        "parked",
        True,
        None,
    ),
    "gemeentereels": (
        PageSpec("1015", "gemeentereels", posts=every(7, 6, 60), reels=every(2, 30, 1)),
        "active",  # stale by its posts alone: its Reels keep it active
        True,
        None,
    ),
    "gemeenteanders": (
        PageSpec("1016", "gemeenteanders", posts=every(3, 20, 1), managed=False),
        "active",  # another organisation's Page, read through PPCA with the proof
        True,
        None,
    ),
    "gemeenteverlopen": (
        PageSpec("1009", "gemeenteverlopen", behaviour="token_expired"),
        "unknown",
        False,
        "auth",
    ),
    "gemeentevreemd": (
        PageSpec("1010", "gemeentevreemd", behaviour="ppca_missing"),
        "unknown",
        False,
        "auth",
    ),
    "gemeenteweg": (
        PageSpec("1011", "gemeenteweg", behaviour="not_found"),
        "unknown",
        False,
        "not_found",
    ),
    "gemeentestoring": (
        PageSpec("1012", "gemeentestoring", behaviour="server_error"),
        "unknown",
        False,
        "transient",
    ),
    "gemeentekapot": (
        PageSpec("1013", "gemeentekapot", behaviour="malformed"),
        "unknown",
        False,
        "malformed",
    ),
    "gemeentedruk": (
        PageSpec("1014", "gemeentedruk", behaviour="throttled", regain_minutes=30),
        "unknown",
        False,
        "rate_limited",
    ),
}
ACCOUNTS: dict[str, tuple[AccountSpec, str, bool, str | None]] = {
    OWN_ACCOUNT: (
        AccountSpec(OWN_ACCOUNT, "eigenaccount", followers=800, media=every(2, 60, 1)),
        "active",
        True,
        None,
    ),
    "provincieactief": (
        AccountSpec("17841400000000002", "provincieactief", media=every(3, 30, 2)),
        "active",
        True,
        None,
    ),
    "provinciestil": (
        AccountSpec("17841400000000003", "provinciestil", media=every(5, 12, 45)),
        "inactive",
        True,
        None,
    ),
    "provincieslaapt": (
        AccountSpec("17841400000000004", "provincieslaapt", media=every(9, 8, 250)),
        "dormant",
        True,
        None,
    ),
    "provincieleeg": (
        AccountSpec("17841400000000005", "provincieleeg", media=[]),
        "never_posted",
        True,
        None,
    ),
    "provincierustig": (
        AccountSpec("17841400000000006", "provincierustig", media=QUIET),
        "quiet",
        True,
        None,
    ),
    "provinciepersoonlijk": (
        AccountSpec("17841400000000007", "provinciepersoonlijk", professional=False),
        "unknown",
        False,
        "not_found",
    ),
    "provincieverlopen": (
        AccountSpec("17841400000000008", "provincieverlopen", behaviour="token_expired"),
        "unknown",
        False,
        "auth",
    ),
}


def config(tmp_path: Path, base: str, feeds: str = "") -> Path:
    lines = []
    for handle in PAGES:
        parked = ", parked = true" if handle == "gemeentegeparkeerd" else ""
        channel = f'{{ handle = "{handle}"{parked} }}'
        lines.append(f'[[organisation]]\nname = "Org {handle}"\nfacebook = {channel}\n')
    lines += [f'[[organisation]]\nname = "Org {h}"\ninstagram = "{h}"\n' for h in ACCOUNTS]
    if feeds:  # credentials and a signature written into the feed's address, as some do
        host = feeds.removeprefix("http://")
        feed = f"http://reader:{FEED_PASSWORD}@{host}/nieuws?sig={FEED_SIGNATURE}&format=rss"
        lines.append(f'[[organisation]]\nname = "Org feed"\nrss = "{feed}"\n')
    path = tmp_path / "config.toml"
    path.write_text(
        f"""
[monitor]
database = "sqlite:///{tmp_path}/monitor.db"
poll_interval = "1h"
jitter = "3s"
log_level = "debug"

[platforms.facebook]
access_token = "${{GRAPH_TOKEN}}"
app_secret = "${{GRAPH_APP_SECRET}}"
base_url = "{base}"
concurrency = 8

[platforms.instagram]
access_token_file = "token.txt"
app_secret_file = "app-secret.txt"
account_id = "{OWN_ACCOUNT}"
base_url = "{base}"

"""
        + "\n".join(lines)
    )
    (tmp_path / "token.txt").write_text(TOKEN + "\n")
    (tmp_path / "app-secret.txt").write_text(APP_SECRET + "\n")
    return path


ENV = {"GRAPH_TOKEN": TOKEN, "GRAPH_APP_SECRET": APP_SECRET}
SECRETS = (
    ("token", TOKEN),
    ("app secret", APP_SECRET),
    ("proof", PROOF),
    ("feed password", FEED_PASSWORD),
    ("feed signature", FEED_SIGNATURE),
)


def paused_until(metrics: dict[str, list[tuple[dict[str, str], float]]], scope: str) -> float:
    """Facebook's pause of ``scope`` as served (0 when there is none)."""
    name = "channel_monitor_api_paused_until_timestamp_seconds"
    return value(metrics, name, platform="facebook", scope=scope) or 0.0


async def test_graph_channels_states_reasons_and_token_secrecy(tmp_path: Path) -> None:
    server = GraphServer(
        [spec for spec, *_ in PAGES.values()],
        [spec for spec, *_ in ACCOUNTS.values()],
        access_token=TOKEN,
        app_secret=APP_SECRET,
        require_proof=True,  # "Require App Secret": a request without the proof fails
    )
    base = await server.start()
    feeds = FeedServer({"/nieuws": FeedSpec(posts=every(2, 10, 1))})
    path = config(tmp_path, base, await feeds.start())
    daemon = Daemon(path, env=ENV).start()
    try:
        await daemon.wait_ready()

        async def all_polled() -> list[dict[str, object]] | None:
            got = await daemon.channels()
            done = all(c["last_poll_at"] for c in got)
            return got if done else None

        channels = await daemon.until(all_polled, 45, "every Graph channel to be polled")
        (feed,) = [c for c in channels if c["platform"] == "rss"]
        assert (feed["state"], feed["poll_ok"]) == ("active", True)
        assert str(feed["channel"]).startswith(f"{feeds.base_url}/nieuws?…".replace("//", "//***@"))
        by_handle = {(c["platform"], c["channel"]): c for c in channels if c is not feed}
        expected = {("facebook", h): e[1:] for h, e in PAGES.items()}
        expected |= {("instagram", h): e[1:] for h, e in ACCOUNTS.items()}
        got = {
            key: (c["state"], bool(c["poll_ok"]), c["poll_error"]) for key, c in by_handle.items()
        }
        assert got == expected

        metrics = await daemon.metrics()
        for (platform, handle), (state, _, _) in expected.items():
            labels = {"platform": platform, "channel": handle}
            assert value(metrics, "channel_monitor_state", state=state, **labels) == 1
        errors = {
            (labels["platform"], labels["reason"]): v
            for labels, v in metrics["channel_monitor_poll_errors_total"]
        }
        assert errors[("facebook", "auth")] == 2
        for reason in ("rate_limited", "not_found", "transient", "malformed"):
            assert errors[("facebook", reason)] == 1, reason
        assert errors[("instagram", "auth")] == 1
        assert errors[("instagram", "not_found")] == 1
        assert value(metrics, "channel_monitor_followers", channel="gemeenteactief") == 5120
        assert paused_until(metrics, "object") >= NOW.timestamp() + 29 * 60
        assert server.duplicate_tokens == 0
        assert server.duplicate_proofs == 0
        assert all(r.param("appsecret_proof") == PROOF for r in server.requests)

        # the token is nowhere: not in what the daemon serves, logs, stores or prints
        served = [
            (await daemon.get("/metrics")).text,
            (await daemon.get("/api/channels")).text,
            (await daemon.get("/")).text,
        ]
        status = cli("status", "--config", str(path), "--format", "json", env=ENV)
        assert status.returncode == 3, status.stderr  # some channels could not be polled
        assert json.loads(status.stdout)
    finally:
        daemon.stop()
        await server.stop()
        await feeds.stop()
    log = daemon.log
    assert "HTTP Request: GET" in log, "the daemon did not log requests at debug level"
    assert "access_token=***" in log
    assert "sig=***" in log and "//***@127.0.0.1" in log  # the feed's request, masked
    assert "appsecret_proof=***" in log
    stored = b"".join(p.read_bytes() for p in tmp_path.glob("monitor.db*"))
    for where, text in [
        ("metrics", served[0]),
        ("api", served[1]),
        ("status page", served[2]),
        ("status output", status.stdout + status.stderr),
        ("log", log),
    ]:
        for name, secret in SECRETS:
            assert secret not in text, f"{name} leaked into the {where}"
    for name, secret in SECRETS:
        assert secret.encode() not in stored, f"{name} leaked into the database"
    assert "gemeenteverlopen" in served[1]  # the failing channels are there, tokenless


async def test_a_throttled_page_leaves_the_other_pages_polled_on_time(tmp_path: Path) -> None:
    pages = [
        PageSpec("2001", "druk", behaviour="throttled", throttle_code=80001, regain_minutes=30),
        PageSpec("2002", "rustig", posts=every(3, 10, 1)),
        PageSpec("2003", "kalm", posts=every(4, 10, 2)),
    ]
    server = GraphServer(pages, access_token=TOKEN)
    base = await server.start()
    orgs = "".join(
        f'[[organisation]]\nname = "Org {p.username}"\nfacebook = "{p.username}"\n' for p in pages
    )
    path = tmp_path / "config.toml"
    path.write_text(
        f"""
[monitor]
database = "sqlite:///{tmp_path}/monitor.db"
poll_interval = "1s"
jitter = "0s"

[platforms.facebook]
access_token = "{TOKEN}"
base_url = "{base}"

{orgs}"""
    )
    daemon = Daemon(path).start()
    try:
        await daemon.wait_ready()

        async def last_polls() -> dict[str, float] | None:
            metrics = await daemon.metrics()
            found = {
                labels["channel"]: v
                for labels, v in metrics.get("channel_monitor_last_poll_timestamp_seconds", [])
            }
            return found if len(found) == 3 else None

        first = await daemon.until(last_polls, 30, "every Page to be polled once")

        async def others_polled_again() -> dict[str, float] | None:
            now = await last_polls()
            if now and all(now[h] >= first[h] + 2 for h in ("rustig", "kalm")):
                return now
            return None

        later = await daemon.until(others_polled_again, 30, "the other Pages to be polled again")
        assert later["druk"] == first["druk"], "the throttled Page was polled while paused"
        assert server.count("/v26.0/druk") == 1
        assert server.count("/v26.0/rustig") >= 3
        metrics = await daemon.metrics()
        assert paused_until(metrics, "object") >= NOW.timestamp() + 29 * 60
        for scope in ("platform", "app", "token"):
            assert paused_until(metrics, scope) == 0.0, f"facebook paused by {scope}"
    finally:
        daemon.stop()
        await server.stop()
    assert "pausing facebook:object:2001" in daemon.log
