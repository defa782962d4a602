"""The real daemon behind TLS and basic authentication, from a web configuration file.

Certificates are made with ``openssl`` for the test (tests/tls.py). The last test has a real
Prometheus scrape the daemon over HTTPS with basic_auth and a client certificate.
"""

from __future__ import annotations

import signal
import ssl
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.e2e.daemon import ROOT, Daemon, cli, free_port
from tests.e2e.promstack import PROMETHEUS, Prometheus, binary, until
from tests.tls import Pki, bcrypt_hash, make_pki

pytestmark = pytest.mark.e2e

USER, PASSWORD = "prometheus", "correct horse battery staple"
CONFIG = """
[monitor]
database = "sqlite:///{db}"
jitter = "0s"
{extra}

[[organisation]]
name = "Gemeente Voorbeeld"
rss = "http://127.0.0.1:9/rss"
"""


def write_config(tmp_path: Path, extra: str = "") -> Path:
    config = tmp_path / "config.toml"
    config.write_text(CONFIG.format(db=tmp_path / "m.db", extra=extra), encoding="utf-8")
    return config


def write_web(path: Path, document: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return path


def trusting(pki: Pki, client: str | None = None) -> ssl.SSLContext:
    """A client context that trusts the test CA (and presents ``client``'s certificate)."""
    context = ssl.create_default_context(cafile=pki.ca)
    if client is not None:
        context.load_cert_chain(pki.cert(client), pki.key(client))
    return context


def healthcheck(port: int) -> subprocess.CompletedProcess[str]:
    """The image's HEALTHCHECK command, as the container runs it."""
    return subprocess.run(
        [sys.executable, "-m", "monitor.healthcheck"],
        env={"CHANNEL_MONITOR_LISTEN": f"0.0.0.0:{port}", "PATH": "/usr/bin:/bin"},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


async def status(url: str, **options: Any) -> int:
    async with httpx.AsyncClient(**options) as client:
        return (await client.get(url, timeout=5)).status_code


async def test_tls_and_basic_auth_then_sighup_to_auth_only_then_a_broken_file(
    tmp_path: Path,
) -> None:
    pki = make_pki(tmp_path / "pki")
    web = write_web(
        tmp_path / "web-config.yml",
        {
            "tls_server_config": {"cert_file": "pki/server.crt", "key_file": "pki/server.key"},
            "basic_auth_users": {USER: bcrypt_hash(PASSWORD)},
            "http_server_config": {"headers": {"X-Content-Type-Options": "nosniff"}},
        },
    )
    daemon = Daemon(
        write_config(tmp_path),
        env={"CHANNEL_MONITOR_WEB_CONFIG_FILE": str(web)},
        scheme="https",
        client={"verify": trusting(pki), "auth": (USER, PASSWORD)},
    ).start()
    https = daemon.base
    try:
        await daemon.wait_ready()
        assert "tls=True basic_auth_users=1" in daemon.log

        async with httpx.AsyncClient(verify=trusting(pki)) as anonymous:
            response = await anonymous.get(f"{https}/metrics")
            assert response.status_code == 401
            assert response.headers["WWW-Authenticate"].startswith("Basic")
            assert response.headers["X-Content-Type-Options"] == "nosniff"
            wrong = await anonymous.get(f"{https}/metrics", auth=(USER, "Tr0ub4dor&3"))
            assert wrong.status_code == 401
            assert (await anonymous.get(f"{https}/api/channels")).status_code == 401
            assert (await anonymous.get(f"{https}/healthz")).status_code == 200  # the probes
            assert (await anonymous.get(f"{https}/readyz")).status_code == 200

        metrics = await daemon.get("/metrics")
        assert metrics.status_code == 200
        assert "channel_monitor_build_info" in metrics.text
        assert (await daemon.channels())[0]["organisation"] == "Gemeente Voorbeeld"

        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            await status(f"{https}/healthz")  # the server shows the configured certificate
        with pytest.raises(httpx.HTTPError):
            await status(f"http://127.0.0.1:{daemon.port}/healthz")  # no plain HTTP beside it

        check = healthcheck(daemon.port)
        assert check.returncode == 0, check.stderr

        # SIGHUP: basic auth only, with a new password; TLS off
        write_web(web, {"basic_auth_users": {USER: bcrypt_hash("new password")}})
        assert daemon.proc is not None
        daemon.proc.send_signal(signal.SIGHUP)
        http = f"http://127.0.0.1:{daemon.port}"

        async def plain_http_back() -> bool:
            try:
                return await status(f"{http}/readyz") == 200
            except httpx.HTTPError:
                return False

        await daemon.until(plain_http_back, 20, "plain HTTP after SIGHUP")
        assert await status(f"{http}/metrics", auth=(USER, PASSWORD)) == 401
        assert await status(f"{http}/metrics", auth=(USER, "new password")) == 200
        check = healthcheck(daemon.port)
        assert check.returncode == 0, check.stderr

        # SIGHUP with a broken file: refused, logged with the file and key, the last good one stays
        web.write_text("basic_auth_users:\n  prometheus: not-a-hash\n", encoding="utf-8")
        daemon.proc.send_signal(signal.SIGHUP)
        refusal = f"configuration not reloaded: {web}: basic_auth_users.prometheus: is not a"
        await daemon.until(lambda: refusal in daemon.log, 20, "the refusal")
        assert "not-a-hash" not in daemon.log
        assert await status(f"{http}/metrics", auth=(USER, "new password")) == 200
        assert await status(f"{http}/metrics") == 401
    finally:
        code = daemon.stop()
    assert code == 0, daemon.log
    check = healthcheck(daemon.port)
    assert check.returncode == 1
    assert "unhealthy" in check.stderr


def test_a_broken_web_config_file_stops_the_start_with_exit_2(tmp_path: Path) -> None:
    web = tmp_path / "web.yml"
    web.write_text("tls_server_config:\n  cert_file: missing.crt\n  key_file: missing.key\n")
    result = cli(
        "run", "--config", str(write_config(tmp_path)), "--web.config.file", str(web),
        env={"CHANNEL_MONITOR_LISTEN": f"127.0.0.1:{free_port()}"},
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert f"{web}: tls_server_config.cert_file: cannot read" in result.stderr
    assert f"{web}: tls_server_config.key_file: cannot read" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.prometheus
async def test_prometheus_scrapes_with_basic_auth_and_a_client_certificate(
    tmp_path: Path,
) -> None:
    prometheus_binary = binary(*PROMETHEUS)
    pki = make_pki(tmp_path / "pki", "scraper")
    web = write_web(
        tmp_path / "web-config.yml",
        {
            "tls_server_config": {
                "cert_file": str(pki.cert("server")),
                "key_file": str(pki.key("server")),
                "client_auth_type": "RequireAndVerifyClientCert",
                "client_ca_file": str(pki.ca),
            },
            "basic_auth_users": {USER: bcrypt_hash(PASSWORD)},
        },
    )
    daemon = Daemon(
        write_config(tmp_path),
        env={"CHANNEL_MONITOR_WEB_CONFIG_FILE": str(web)},
        scheme="https",
        client={"verify": trusting(pki, "scraper")},
    ).start()
    tls_config = {
        "ca_file": str(pki.ca),
        "cert_file": str(pki.cert("scraper")),
        "key_file": str(pki.key("scraper")),
    }

    def job(name: str, password: str) -> dict[str, Any]:
        return {
            "job_name": name,
            "scheme": "https",
            "scrape_interval": "1s",
            "scrape_timeout": "1s",
            "basic_auth": {"username": USER, "password": password},
            "tls_config": tls_config,
            "static_configs": [{"targets": [f"127.0.0.1:{daemon.port}"]}],
        }

    config = write_web(
        tmp_path / "prometheus.yml",
        {"scrape_configs": [job("channel-monitor", PASSWORD), job("wrong", "guess")]},
    )
    port = free_port()
    prometheus = Prometheus(
        "prometheus",
        [
            prometheus_binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        port,
        tmp_path,
    )
    try:
        await daemon.wait_ready()
        with pytest.raises(httpx.HTTPError):  # no client certificate: no handshake
            await status(f"{daemon.base}/healthz", verify=trusting(pki))
        await until(prometheus.ready, 30, "Prometheus to start", alive=prometheus.check)

        async def scraped() -> dict[str, tuple[str, str]] | None:
            found = await prometheus.get_json("/api/v1/targets")
            health = {
                t["labels"]["job"]: (t["health"], t["lastError"])
                for t in found["data"]["activeTargets"]
            }
            return health if all(h != "unknown" for h, _ in health.values()) else None

        health = await until(scraped, 30, "both jobs to be scraped", alive=prometheus.check)
        assert health["channel-monitor"] == ("up", "")
        assert health["wrong"][0] == "down"
        assert "401" in health["wrong"][1]
        up = await prometheus.query('channel_monitor_build_info{job="channel-monitor"}')
        assert len(up) == 1
    finally:
        prometheus.stop()
        code = daemon.stop()
    assert code == 0, daemon.log
