"""LinkedIn, Mastodon and Bluesky end to end: the real daemon against their fake servers."""

from __future__ import annotations

import html
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.fakes import bluesky, linkedin, mastodon
from monitor.fakes._common import FakePost
from tests.e2e.daemon import Daemon, value
from tests.fake_tls import make_pki

pytestmark = pytest.mark.e2e

NOW = datetime.now(UTC)
TOKEN = "AQVlinkedinTOKENthatMustNeverLeak0987"


def every(days: float, count: int, newest_days_ago: float, kind: str = "post") -> list[FakePost]:
    return [
        FakePost(NOW - timedelta(days=newest_days_ago + i * days), kind=kind)  # type: ignore[arg-type]
        for i in range(count)
    ]


def mixed(days: float, count: int, newest_days_ago: float) -> list[FakePost]:
    """Own posts with replies and reposts in between."""
    posts = every(days, count, newest_days_ago)
    posts += every(days, count // 2, newest_days_ago + 0.3, "reply")
    posts += every(days, count // 2, newest_days_ago + 0.6, "repost")
    return posts


Expect = tuple[str, bool, str | None]  # state, poll ok, reason

LINKEDIN: dict[str, tuple[linkedin.OrganizationSpec, Expect]] = {
    "1000001": (
        linkedin.OrganizationSpec(
            "1000001",
            "Gemeente Actief",
            "gemeente-actief",
            3400,
            mixed(3, 20, 1),
            withheld=every(0.01, 250, 10),  # dark posts: a short page, then an empty one
        ),
        ("active", True, None),
    ),
    "urn:li:organization:1000002": (
        linkedin.OrganizationSpec("1000002", "Gemeente Stil", posts=every(7, 10, 40)),
        ("inactive", True, None),
    ),
    "1000003": (
        linkedin.OrganizationSpec("1000003", posts=every(9, 10, 220)),
        ("dormant", True, None),
    ),
    "1000004": (linkedin.OrganizationSpec("1000004", posts=[]), ("never_posted", True, None)),
    "1000005": (
        linkedin.OrganizationSpec("1000005", behaviour="not_found"),
        ("unknown", False, "not_found"),
    ),
    "1000006": (linkedin.OrganizationSpec("1000006", behaviour="auth"), ("unknown", False, "auth")),
    "1000007": (
        linkedin.OrganizationSpec("1000007", posts=every(3, 20, 1), role=None),
        ("unknown", False, "auth"),
    ),
    "1000008": (
        linkedin.OrganizationSpec("1000008", behaviour="sunset_version"),
        ("unknown", False, "auth"),
    ),
    "1000009": (
        linkedin.OrganizationSpec("1000009", behaviour="server_error"),
        ("unknown", False, "transient"),
    ),
    "1000010": (
        linkedin.OrganizationSpec("1000010", behaviour="malformed"),
        ("unknown", False, "malformed"),
    ),
    # posts readable, the organization lookup not (no ADMINISTRATOR role): read, with a note
    "1000012": (
        linkedin.OrganizationSpec(
            "1000012", "Gemeente Redactie", posts=every(3, 20, 1), role="CONTENT_ADMINISTRATOR"
        ),
        ("active", True, None),
    ),
}
NO_NAME = (
    "name and followers not readable: the token lacks rw_organization_admin "
    "(with the ADMINISTRATOR role on this page) or r_compliance"
)
MASTODON: dict[str, tuple[mastodon.AccountSpec, Expect]] = {
    "@actief@social.example": (
        mastodon.AccountSpec("actief", followers=120, posts=mixed(2, 30, 1)),
        ("active", True, None),
    ),
    "@rustig@social.example": (
        mastodon.AccountSpec("rustig", posts=every(1, 30, 6)),
        ("quiet", True, None),
    ),
    "@stil@social.example": (
        mastodon.AccountSpec("stil", posts=every(4, 10, 35)),
        ("inactive", True, None),
    ),
    "@geschorst@social.example": (
        mastodon.AccountSpec("geschorst", behaviour="suspended"),
        ("unknown", False, "not_found"),
    ),
    "@verhuisd@social.example": (
        mastodon.AccountSpec("verhuisd", behaviour="moved", moved_to="nieuw@social.example"),
        ("unknown", False, "not_found"),
    ),
    "@storing@social.example": (
        mastodon.AccountSpec("storing", behaviour="server_error"),
        ("unknown", False, "transient"),
    ),
    "@kapot@social.example": (
        mastodon.AccountSpec("kapot", behaviour="malformed"),
        ("unknown", False, "malformed"),
    ),
}
BLUESKY: dict[str, tuple[bluesky.AccountSpec, Expect]] = {
    "actief.bsky.social": (
        bluesky.AccountSpec("actief.bsky.social", followers=90, posts=mixed(2, 30, 1), pinned=3),
        ("active", True, None),
    ),
    "traag.bsky.social": (
        bluesky.AccountSpec("traag.bsky.social", posts=every(20, 6, 8)),
        ("below_target", True, None),
    ),
    "slaapt.bsky.social": (
        bluesky.AccountSpec("slaapt.bsky.social", posts=every(10, 10, 300)),
        ("dormant", True, None),
    ),
    # only reposts lately: inactive by default, active where reposts are counted (below)
    "deelt.bsky.social": (
        bluesky.AccountSpec("deelt.bsky.social", posts=every(2, 10, 1, "repost") + every(5, 5, 60)),
        ("inactive", True, None),
    ),
    "deeltmee.bsky.social": (
        bluesky.AccountSpec(
            "deeltmee.bsky.social", posts=every(2, 10, 1, "repost") + every(5, 5, 60)
        ),
        ("active", True, None),
    ),
    "bestaatniet.bsky.social": (
        bluesky.AccountSpec("bestaatniet.bsky.social", behaviour="not_found"),
        ("unknown", False, "not_found"),
    ),
    "kapot.bsky.social": (
        bluesky.AccountSpec("kapot.bsky.social", behaviour="malformed"),
        ("unknown", False, "malformed"),
    ),
}
# throttled channels come last: the pause they cause holds for their whole platform (or server)
THROTTLED: dict[str, Expect] = {
    "linkedin 1000011": ("unknown", False, "rate_limited"),
    "mastodon @druk@social.example": ("unknown", False, "rate_limited"),
    "bluesky druk.bsky.social": ("unknown", False, "rate_limited"),
}


def org(name: str, platform: str, channel: str) -> str:
    return f'[[organisation]]\nname = "{name}"\n{platform} = {channel}\n'


def write_config(tmp_path: Path, li: str, ma: str, bs: str) -> Path:
    blocks: list[str] = []
    for handles, platform in ((LINKEDIN, "linkedin"), (MASTODON, "mastodon"), (BLUESKY, "bluesky")):
        for handle in handles:
            channel = f'"{handle}"'
            if handle == "deeltmee.bsky.social":
                channel = f'{{ handle = "{handle}", count_kinds = ["post", "repost"] }}'
            blocks.append(org(f"{platform} {handle}", platform, channel))
    for key in THROTTLED:
        platform, handle = key.split(" ")
        blocks.append(org(key, platform, f'"{handle}"'))
    path = tmp_path / "config.toml"
    path.write_text(
        f"""
[monitor]
database = "sqlite:///{tmp_path}/monitor.db"
poll_interval = "1h"
jitter = "3s"

[platforms.linkedin]
access_token = "{TOKEN}"
base_url = "{li}"
api_version = "202603"

[platforms.mastodon]
base_url = "{ma}"

[platforms.bluesky]
base_url = "{bs}"

"""
        + "\n".join(blocks)
    )
    return path


def expected() -> dict[tuple[str, str], Expect]:
    result = {("linkedin", h): e for h, (_, e) in LINKEDIN.items()}
    result |= {("mastodon", h): e for h, (_, e) in MASTODON.items()}
    result |= {("bluesky", h): e for h, (_, e) in BLUESKY.items()}
    for key, e in THROTTLED.items():
        platform, handle = key.split(" ")
        result[(platform, handle)] = e
    return result


def specs(table: dict[str, tuple[object, Expect]]) -> Sequence[object]:
    return [spec for spec, _ in table.values()]


async def test_a_split_domain_mastodon_account_is_found_read_and_judged(tmp_path: Path) -> None:
    """Handles on ``127.0.0.1:A``, a website that redirects WebFinger; Mastodon runs at
    ``localhost:B`` (LOCAL_DOMAIN vs WEB_DOMAIN). No base_url: the daemon finds the host itself,
    over https it trusts through SSL_CERT_FILE."""
    pki = make_pki(tmp_path / "pki")
    api = mastodon.MastodonServer()
    api.web_domain = "localhost:" + (await api.start(tls=pki.server_context())).rsplit(":", 1)[1]
    site = mastodon.WebsiteServer(f"https://{api.web_domain}")
    domain = (await site.start(tls=pki.server_context())).removeprefix("https://")
    api.accounts = [
        mastodon.AccountSpec("actief", domain, "Gemeente Gesplitst", 55, mixed(2, 30, 1)),
        mastodon.AccountSpec("stil", domain, posts=every(4, 10, 35)),
    ]
    active, quiet = f"@actief@{domain}", f"@stil@{domain}"
    config = tmp_path / "config.toml"
    config.write_text(
        f"""
[monitor]
database = "sqlite:///{tmp_path}/monitor.db"
poll_interval = "1h"
jitter = "1s"

{org("Gesplitst", "mastodon", f'"{active}"')}
{org("Stil", "mastodon", f'"{quiet}"')}
"""
    )
    daemon = Daemon(config, env={"SSL_CERT_FILE": str(pki.ca)}).start()
    try:
        await daemon.wait_ready()

        async def all_polled() -> list[dict[str, object]] | None:
            got = await daemon.channels()
            return got if all(c["last_poll_at"] for c in got) else None

        channels = await daemon.until(all_polled, 30, "both channels to be polled")
        by_handle = {c["channel"]: c for c in channels}
        assert {h: (c["state"], c["poll_ok"]) for h, c in by_handle.items()} == {
            active: ("active", True),
            quiet: ("inactive", True),
        }, daemon.log
        assert by_handle[active]["url"] == f"https://{api.web_domain}/@actief"
        assert by_handle[active]["followers"] == 55
        assert site.log.counts["/.well-known/webfinger"] == 2  # one per account, then remembered
        looked_up = {r.param("acct") for r in api.log.requests if r.path.endswith("/lookup")}
        assert looked_up == {f"actief@{domain}", f"stil@{domain}"}
        metrics = await daemon.metrics()
        assert value(metrics, "channel_monitor_state", channel=active, state="active") == 1
    finally:
        assert daemon.stop() == 0, daemon.log
        await site.stop()
        await api.stop()


async def test_social_channels_states_and_reasons(tmp_path: Path) -> None:
    servers = (
        linkedin.LinkedInServer(
            [*specs(LINKEDIN), linkedin.OrganizationSpec("1000011", behaviour="rate_limited")],  # type: ignore[list-item]
            access_token=TOKEN,
        ),
        mastodon.MastodonServer(
            [*specs(MASTODON), mastodon.AccountSpec("druk", behaviour="rate_limited")]  # type: ignore[list-item]
        ),
        bluesky.BlueskyServer(
            [*specs(BLUESKY), bluesky.AccountSpec("druk.bsky.social", behaviour="rate_limited")]  # type: ignore[list-item]
        ),
    )
    bases = [await s.start() for s in servers]
    daemon = Daemon(write_config(tmp_path, *bases)).start()
    try:
        await daemon.wait_ready()

        async def all_polled() -> list[dict[str, object]] | None:
            got = await daemon.channels()
            return got if all(c["last_poll_at"] for c in got) else None

        channels = await daemon.until(all_polled, 45, "every channel to be polled")
        by_key = {(c["platform"], c["channel"]): c for c in channels}
        got = {k: (c["state"], bool(c["poll_ok"]), c["poll_error"]) for k, c in by_key.items()}
        assert got == expected()

        sunset = by_key[("linkedin", "1000008")]["poll_error_detail"]
        assert "api_version" in str(sunset), sunset
        no_role = by_key[("linkedin", "1000007")]["poll_error_detail"]
        assert "r_organization_social" in str(no_role), no_role
        assert "CONTENT_ADMINISTRATOR" in str(no_role), no_role
        editor = by_key[("linkedin", "1000012")]
        assert (editor["profile_note"], editor["name"], editor["posts_30d"]) == (NO_NAME, None, 10)
        assert by_key[("linkedin", "1000001")]["profile_note"] is None
        assert by_key[("linkedin", "1000001")]["posts_90d"] == 20  # read past the dark posts

        active = by_key[("mastodon", "@actief@social.example")]
        kinds = active["posts_30d_by_kind"]
        assert isinstance(kinds, dict)
        assert kinds["reply"] > 0 and kinds["repost"] > 0
        assert active["posts_30d"] == kinds["post"]  # only own posts count by default

        metrics = await daemon.metrics()
        for (platform, handle), (state, _, _) in expected().items():
            labels = {"platform": platform, "channel": handle}
            assert value(metrics, "channel_monitor_state", state=state, **labels) == 1
        assert value(metrics, "channel_monitor_followers", channel="1000001") == 3400
        shares = value(
            metrics, "channel_monitor_recent_posts", channel="deeltmee.bsky.social", window="30d"
        )
        assert shares == 10  # reposts count where count_kinds says so
        errors = {
            (labels["platform"], labels["reason"]): v
            for labels, v in metrics["channel_monitor_poll_errors_total"]
        }
        assert errors[("linkedin", "auth")] == 3
        assert errors[("mastodon", "not_found")] == 2
        for platform in ("linkedin", "mastodon", "bluesky"):
            assert errors[(platform, "rate_limited")] == 1
        assert (
            value(metrics, "channel_monitor_api_quota_used_ratio", platform="mastodon") is not None
        )
    finally:
        assert daemon.stop() == 0, daemon.log
        for server in servers:
            await server.stop()
    assert TOKEN not in daemon.log


async def test_linkedin_token_without_the_admin_scope_still_reads_posts(tmp_path: Path) -> None:
    server = linkedin.LinkedInServer(
        [
            linkedin.OrganizationSpec(
                "2000001", posts=mixed(3, 20, 1), withheld=every(0.01, 250, 10)
            ),
            linkedin.OrganizationSpec("2000002", posts=every(7, 10, 40)),
        ],
        access_token=TOKEN,
        scopes={"r_organization_social"},
    )
    base = await server.start()
    config = tmp_path / "config.toml"
    config.write_text(
        f"""
[monitor]
database = "sqlite:///{tmp_path}/monitor.db"
poll_interval = "1h"
jitter = "1s"

[platforms.linkedin]
access_token = "{TOKEN}"
base_url = "{base}"

[[organisation]]
name = "Gemeente Actief"
linkedin = "2000001"

[[organisation]]
name = "Gemeente Stil"
linkedin = "2000002"
"""
    )
    daemon = Daemon(config).start()
    try:
        await daemon.wait_ready()

        async def all_polled() -> list[dict[str, object]] | None:
            got = await daemon.channels()
            return got if all(c["last_poll_at"] for c in got) else None

        channels = await daemon.until(all_polled, 30, "both LinkedIn channels to be polled")
        by_handle = {c["channel"]: c for c in channels}
        active, quiet = by_handle["2000001"], by_handle["2000002"]
        assert (active["state"], active["poll_ok"], active["posts_30d"]) == ("active", True, 10)
        assert (quiet["state"], quiet["poll_ok"]) == ("inactive", True)
        for channel in (active, quiet):
            assert channel["profile_note"] == NO_NAME
            assert channel["name"] is None and channel["followers"] is None
            assert channel["url"] == f"https://www.linkedin.com/company/{channel['channel']}/"
        page = (await daemon.get("/")).text
        assert html.escape(NO_NAME) in page
        assert server.log.count("/rest/organizations/2000001") == 1
        assert not [r for r in server.log.requests if "networkSizes" in r.path]
        metrics = await daemon.metrics()
        assert value(metrics, "channel_monitor_poll_success", channel="2000001") == 1
    finally:
        assert daemon.stop() == 0, daemon.log
        await server.stop()
    assert daemon.log.count(f"polled, but {NO_NAME}") == 2  # once per channel
    assert TOKEN not in daemon.log
