"""The container image, built and run the way the README tells people to run it.

Reads the engine from ``CONTAINER_ENGINE`` (default ``docker``; anything with docker's command
line, e.g. ``podman`` or ``../shared/tools/podman-here``). Without a working engine the tests
skip, unless ``CONTAINER_ENGINE`` is set: then a missing engine is a failure, so CI (which sets
it) cannot skip them silently.

The container runs as UID 10001 with a read-only root filesystem (on podman without even the
tmpfs mounts it adds by default), all capabilities dropped, the test configuration and a secret
file mounted, on the host network against a fake feed server on 127.0.0.1. Image size, time to
ready and time to stop are printed (also without ``-s``) and written to ``container-timings.json``
in the test's temporary directory.
"""

from __future__ import annotations

import asyncio
import json
import os
import shlex
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from monitor import __version__
from monitor.fakes.feeds import FeedServer, FeedSpec
from tests.e2e.daemon import free_port, value

pytestmark = [pytest.mark.container, pytest.mark.timeout(900)]

ROOT = Path(__file__).resolve().parents[2]
UID = "10001"  # the image's user (Dockerfile)
DATA_DIR = "/var/lib/channel-monitor"
CONFIG_PATH = "/etc/channel-monitor/config.toml"
SECRET_PATH = "/run/secrets/facebook-access-token"
TOKEN = "EAAtest-container-secret-0123456789"
STOP_BUDGET = 10.0  # Docker's default stop timeout: SIGTERM, then SIGKILL after 10 s
YOUTUBE_ID = "UCcontainer0000000000000"
REVISION = "0123456789abcdef0123456789abcdef01234567"  # --build-arg REVISION
NOW = datetime.now(UTC)


def every(days: float, count: int, newest_days_ago: float) -> list[datetime]:
    return [NOW - timedelta(days=newest_days_ago + i * days) for i in range(count)]


FEEDS = {
    "/actief/rss": FeedSpec(posts=every(3, 20, 1)),
    "/stil/atom": FeedSpec(posts=every(7, 10, 40), format="atom"),
    YOUTUBE_ID: FeedSpec(posts=every(3, 15, 1), format="youtube"),
}
EXPECTED = {  # organisation: (platform, state)
    "Gemeente Actief": ("rss", "active"),
    "Gemeente Stil": ("rss", "inactive"),
    "Provincie Video": ("youtube", "active"),
}


@dataclass(frozen=True)
class Engine:
    """A docker-compatible command line."""

    argv: tuple[str, ...]
    podman: bool

    def __call__(
        self, *args: str, timeout: float = 60, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [*self.argv, *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"`{shlex.join([*self.argv, *args])}` exited {result.returncode}:\n"
                f"{result.stdout}\n{result.stderr}"
            )
        return result


@pytest.fixture(scope="module")
def engine() -> Engine:
    explicit = os.environ.get("CONTAINER_ENGINE", "").strip()
    argv = tuple(shlex.split(explicit or "docker"))

    def unavailable(why: str) -> None:
        if explicit:
            pytest.fail(
                f"CONTAINER_ENGINE={explicit!r} is set but {why}; set it to a working "
                "docker-compatible engine, or unset it to skip the container tests",
                pytrace=False,
            )
        pytest.skip(
            f"no container engine: {why}. Set CONTAINER_ENGINE to docker, podman or "
            "../shared/tools/podman-here (after ../shared/tools/container-setup)"
        )

    if shutil.which(argv[0]) is None:
        unavailable(f"{argv[0]!r} is not on PATH")
    try:
        probe = subprocess.run(
            [*argv, "info"], capture_output=True, text=True, timeout=60, check=False
        )
    except subprocess.TimeoutExpired:
        unavailable(f"`{shlex.join(argv)} info` did not answer within 60 s")
    if probe.returncode != 0:
        unavailable(f"`{shlex.join(argv)} info` failed ({probe.stderr.strip()[-500:]})")
    version = subprocess.run(
        [*argv, "--version"], capture_output=True, text=True, timeout=60, check=False
    )
    return Engine(argv, podman="podman" in version.stdout.lower())


@dataclass(frozen=True)
class Image:
    ref: str
    info: dict[str, Any]
    size: int  # bytes, uncompressed, as the engine reports it
    base_size: int | None  # the base image, to tell what this image adds
    build_seconds: float


@pytest.fixture(scope="module")
def image(engine: Engine) -> Iterator[Image]:
    ref = f"localhost/channel-monitor:pytest-{uuid.uuid4().hex[:8]}"
    started = time.monotonic()
    engine("build", "--tag", ref, "--build-arg", f"REVISION={REVISION}", str(ROOT), timeout=900)
    build_seconds = time.monotonic() - started
    info = json.loads(engine("image", "inspect", ref).stdout)[0]
    base = engine(
        "image", "inspect", "--format", "{{.Size}}", "python:3.11-slim-bookworm", check=False
    )
    base_size = int(base.stdout.strip()) if base.returncode == 0 else None
    try:
        yield Image(ref, info, int(info["Size"]), base_size, build_seconds)
    finally:
        engine("image", "rm", ref, check=False)


def test_image_metadata(image: Image) -> None:
    """Labels, user, port, volume, entrypoint and health check are what the README promises."""
    config = image.info["Config"]
    labels = config.get("Labels") or {}
    assert labels["org.opencontainers.image.title"] == "channel-monitor"
    assert labels["org.opencontainers.image.version"] == __version__
    for key in ("description", "licenses", "source", "documentation"):
        assert labels.get(f"org.opencontainers.image.{key}"), key
    assert config["User"] == f"{UID}:{UID}"
    assert "9184/tcp" in config["ExposedPorts"]
    assert DATA_DIR in config["Volumes"]
    assert config["Entrypoint"] == ["channel-monitor"]
    assert config["Cmd"] == ["run"]
    env = dict(item.split("=", 1) for item in config["Env"])
    assert env["CHANNEL_MONITOR_CONFIG"] == CONFIG_PATH
    assert env["CHANNEL_MONITOR_DATABASE"] == f"sqlite:///{DATA_DIR}/channel-monitor.db"
    # docker reports the health check in Config, podman beside it
    health = config.get("Healthcheck") or image.info.get("Healthcheck")
    assert health, "no HEALTHCHECK"
    assert health["Test"][0] == "CMD", "the health check must not need a shell"
    # monitor/healthcheck.py asks /healthz over HTTP or HTTPS (tests/e2e/test_web_protection.py)
    assert health["Test"][1:] == ["python", "-m", "monitor.healthcheck"]


def write_config(tmp_path: Path, base: str) -> tuple[Path, Path]:
    secret = tmp_path / "facebook-access-token"
    secret.write_text(TOKEN + "\n")
    config = tmp_path / "config.toml"
    # No [monitor] database or listen: the image's defaults and the -e overrides apply.
    config.write_text(
        f"""
[monitor]
poll_interval = "1h"
jitter = "0s"

[platforms.facebook]                       # no facebook channels: only shows the secret is read
access_token_file = "{SECRET_PATH}"

[platforms.youtube]
base_url = "{base}"

[[organisation]]
name = "Gemeente Actief"
rss = "{base}/actief/rss"

[[organisation]]
name = "Gemeente Stil"
rss = "{base}/stil/atom"

[[organisation]]
name = "Provincie Video"
youtube = "{YOUTUBE_ID}"
"""
    )
    for path in (config, secret):  # the container's user is not the test's
        path.chmod(0o644)
    return config, secret


async def until(predicate: Any, timeout: float, what: str, logs: Any) -> Any:
    """Poll ``predicate`` (async) until truthy; at the deadline fail with the container's log."""
    deadline = time.monotonic() + timeout
    while True:
        got = await predicate()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}:\n{logs()}")
        await asyncio.sleep(0.1)


async def engine_async(engine: Engine, *args: str, timeout: float = 60) -> tuple[int, str, str]:
    """Run the engine without blocking the event loop that serves the fake feeds."""
    proc = await asyncio.create_subprocess_exec(
        *engine.argv,
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise AssertionError(
            f"`{shlex.join([*engine.argv, *args])}` took over {timeout} s"
        ) from None
    return int(proc.returncode or 0), out.decode(errors="replace"), err.decode(errors="replace")


async def test_runs_read_only_as_non_root_and_stops_on_sigterm(
    engine: Engine, image: Image, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server = FeedServer(FEEDS)
    base = await server.start("127.0.0.1")
    config, secret = write_config(tmp_path, base)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    name = f"channel-monitor-pytest-{uuid.uuid4().hex[:8]}"
    volume = f"{name}-data"
    engine("volume", "create", volume)

    def logs() -> str:
        got = engine("logs", name, check=False)
        return (got.stdout + got.stderr)[-8000:]

    run = [
        "run",
        "--detach",
        "--name",
        name,
        "--network",
        "host",  # the fake feed server listens on the host's 127.0.0.1
        "--user",
        f"{UID}:{UID}",
        "--read-only",
        *(["--read-only-tmpfs=false"] if engine.podman else []),  # no writable /tmp, /run
        "--cap-drop",
        "ALL",
        "--security-opt",
        "no-new-privileges",
        "--env",
        f"CHANNEL_MONITOR_LISTEN=127.0.0.1:{port}",
        "--env",
        "CHANNEL_MONITOR_LOG_FORMAT=json",
        "--volume",
        f"{config}:{CONFIG_PATH}:ro",
        "--volume",
        f"{secret}:{SECRET_PATH}:ro",
        "--volume",
        f"{volume}:{DATA_DIR}",
        # docker runs the image's check on this interval; podman needs systemd timers for that,
        # which this machine lacks, so there the test runs the check with `healthcheck run`
        "--health-interval",
        "1s",
        image.ref,
    ]
    try:
        async with httpx.AsyncClient(base_url=url, timeout=5) as client:

            async def ready() -> bool:
                try:
                    return (await client.get("/readyz")).status_code == 200
                except httpx.HTTPError:
                    return False

            started = time.monotonic()
            code, out, err = await engine_async(engine, *run)
            assert code == 0, f"{out}\n{err}"
            await until(ready, 60, "/readyz to answer 200", logs)
            time_to_ready = time.monotonic() - started

            state = json.loads(
                engine("inspect", "--format", "{{json .HostConfig.ReadonlyRootfs}}", name).stdout
            )
            assert state is True
            code, out, err = await engine_async(
                engine, "exec", name, "python", "-c", "import os; print(os.getuid(), os.getgid())"
            )
            assert out.split() == [UID, UID], err
            code, _, err = await engine_async(
                engine, "exec", name, "python", "-c", "open('/etc/channel-monitor/x', 'w')"
            )
            assert code != 0 and "Read-only file system" in err

            async def all_polled() -> list[dict[str, Any]] | None:
                channels = (await client.get("/api/channels")).json()
                return channels if all(c["last_poll_at"] for c in channels) else None

            channels = await until(all_polled, 60, "every channel to be polled", logs)
            by_org = {c["organisation"]: c for c in channels}
            assert {o: (c["platform"], c["state"]) for o, c in by_org.items()} == EXPECTED
            assert all(c["poll_ok"] for c in channels)

            metrics_text = (await client.get("/metrics")).text
            samples: dict[str, list[tuple[dict[str, str], float]]] = {}
            for family in text_string_to_metric_families(metrics_text):
                for sample in family.samples:
                    samples.setdefault(sample.name, []).append((dict(sample.labels), sample.value))
            build = {"version": __version__, "revision": REVISION}  # the build argument
            assert value(samples, "channel_monitor_build_info", **build) == 1
            for org, (platform, channel_state) in EXPECTED.items():
                labels = {"organisation": org, "platform": platform}
                assert value(samples, "channel_monitor_state", state=channel_state, **labels) == 1
                assert value(samples, "channel_monitor_poll_success", **labels) == 1
                assert value(samples, "channel_monitor_last_post_timestamp_seconds", **labels)
            assert TOKEN not in metrics_text

            if engine.podman:
                code, out, err = await engine_async(engine, "healthcheck", "run", name)
                assert code == 0, f"health check failed: {out}{err}\n{logs()}"

            async def healthy() -> bool:
                code, out, _ = await engine_async(
                    engine, "inspect", "--format", "{{.State.Health.Status}}", name
                )
                return code == 0 and out.strip() == "healthy"

            await until(healthy, 30, "the health status to be healthy", logs)

            started = time.monotonic()
            code, out, err = await engine_async(
                engine, "stop", "--time", str(int(STOP_BUDGET)), name, timeout=30
            )
            time_to_stop = time.monotonic() - started
            assert code == 0, f"{out}\n{err}"
        exit_code = engine("inspect", "--format", "{{.State.ExitCode}}", name).stdout.strip()
        log = logs()
        # 0, not 137: it stopped on SIGTERM before the engine's SIGKILL after STOP_BUDGET
        assert exit_code == "0", log
        # CHANNEL_MONITOR_LOG_FORMAT=json took effect: one JSON object per line (the engine's own
        # warnings, e.g. podman's about systemd timers, are not the container's and start with
        # something else)
        output = engine("logs", name)
        lines = (output.stdout + output.stderr).splitlines()
        events = [json.loads(line) for line in lines if line.startswith("{")]
        assert [e["message"] for e in events if e["message"] in ("stopping", "stopped")] == [
            "stopping",
            "stopped",
        ], log
        assert TOKEN not in log

        # the database is on the volume, where the next container finds it
        listing = engine(
            "run",
            "--rm",
            "--network",
            "none",
            "--read-only",
            "--volume",
            f"{volume}:{DATA_DIR}",
            "--entrypoint",
            "python",
            image.ref,
            "-c",
            f"import os; print(' '.join(sorted(os.listdir('{DATA_DIR}'))))",
        ).stdout.split()
        assert "channel-monitor.db" in listing
    finally:
        engine("rm", "--force", "--volumes", name, check=False, timeout=60)
        engine("volume", "rm", "--force", volume, check=False)
        await server.stop()

    timings = {
        "engine": shlex.join(engine.argv),
        "image_size_bytes": image.size,
        "image_size_mb": round(image.size / 1e6, 1),
        "base_image_size_mb": round(image.base_size / 1e6, 1) if image.base_size else None,
        "added_to_base_mb": (
            round((image.size - image.base_size) / 1e6, 1) if image.base_size else None
        ),
        "build_seconds": round(image.build_seconds, 1),
        "time_to_ready_seconds": round(time_to_ready, 2),
        "time_to_stop_seconds": round(time_to_stop, 2),
    }
    report = tmp_path / "container-timings.json"
    report.write_text(json.dumps(timings, indent=2) + "\n")
    with capsys.disabled():
        print(f"\ncontainer image: {json.dumps(timings)}\n  (written to {report})")
