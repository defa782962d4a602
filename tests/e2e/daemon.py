"""Run the real ``channel-monitor`` process and talk to it over HTTP, as a user would."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cli(
    *args: str, env: Mapping[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m monitor ARGS`` to completion."""
    return subprocess.run(
        [sys.executable, "-m", "monitor", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        cwd=ROOT,
        check=False,
    )


class Daemon:
    """``channel-monitor run`` in a subprocess, with its stderr kept in a file."""

    def __init__(
        self,
        config: Path,
        *,
        env: Mapping[str, str] | None = None,
        scheme: str = "http",
        client: Mapping[str, Any] | None = None,  # httpx.AsyncClient options: verify, auth
    ) -> None:
        self.config = config
        self.port = free_port()
        self.base = f"{scheme}://127.0.0.1:{self.port}"
        self.client = dict(client or {})
        self.env = {**os.environ, "CHANNEL_MONITOR_LISTEN": f"127.0.0.1:{self.port}", **(env or {})}
        self.log_path = config.with_suffix(f".{self.port}.log")
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Daemon:
        self._log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "monitor", "run", "--config", str(self.config)],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=self.env,
            cwd=ROOT,
        )
        return self

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    async def wait_ready(self, timeout: float = 30) -> None:
        await self.until(self._ready, timeout, "the daemon to become ready")

    async def _ready(self) -> bool:
        try:
            async with httpx.AsyncClient(**self.client) as client:
                return (await client.get(f"{self.base}/readyz", timeout=2)).status_code == 200
        except httpx.HTTPError:
            return False

    async def until(self, predicate: Callable[[], Any], timeout: float, what: str) -> Any:
        """Poll ``predicate`` (sync or async) until truthy, failing with the log at the deadline."""
        deadline = time.monotonic() + timeout
        while True:
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(
                    f"daemon exited ({self.proc.returncode}) waiting for {what}:\n{self.log}"
                )
            value = predicate()
            if asyncio.iscoroutine(value):
                value = await value
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}:\n{self.log[-5000:]}")
            await asyncio.sleep(0.1)

    async def get(self, path: str, **kwargs: Any) -> httpx.Response:
        async with httpx.AsyncClient(**self.client) as client:
            return await client.get(f"{self.base}{path}", timeout=10, **kwargs)

    async def channels(self) -> list[dict[str, Any]]:
        response = await self.get("/api/channels")
        response.raise_for_status()
        return list(response.json())

    async def metrics(self) -> dict[str, list[tuple[dict[str, str], float]]]:
        """Samples by name: ``{name: [(labels, value), …]}``."""
        response = await self.get("/metrics")
        response.raise_for_status()
        samples: dict[str, list[tuple[dict[str, str], float]]] = {}
        for family in text_string_to_metric_families(response.text):
            for sample in family.samples:
                samples.setdefault(sample.name, []).append((dict(sample.labels), sample.value))
        return samples

    async def metrics_value(self, name: str, **labels: str) -> float | None:
        """One sample of ``name`` as the daemon serves it now (None when absent)."""
        return value(await self.metrics(), name, **labels)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._log.close()
        return int(self.proc.returncode)

    def kill(self) -> None:
        self.stop(signal.SIGKILL)


def value(
    samples: dict[str, list[tuple[dict[str, str], float]]], name: str, **labels: str
) -> float | None:
    """The one sample of ``name`` whose labels include ``labels``, or None."""
    found = [
        v for got, v in samples.get(name, []) if all(got.get(k) == x for k, x in labels.items())
    ]
    assert len(found) <= 1, f"{name}{labels} matched {len(found)} series"
    return found[0] if found else None
