"""Headless Chromium driven through Selenium and Debian's chromedriver: pages as people see them.

``scripts/test`` installs Debian's ``chromium`` and ``chromium-driver`` (a matching pair, from the
distribution: nothing is downloaded at run time). Where they are missing the browser tests skip,
except under CI (``CI`` set), where a missing browser is a failure.
"""

from __future__ import annotations

import base64
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
FLAGS = (  # headless as root in a container, and quiet: no updates, sync or background requests
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
)


def missing() -> str | None:
    """What the browser tests lack on this machine, or None."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[dev]')"
    for path in (CHROMIUM, CHROMEDRIVER):
        if not os.access(path, os.X_OK):
            return f"{path} is missing (apt-get install chromium chromium-driver)"
    return None


def require_browser() -> None:
    """Skip without a browser, or fail under CI, where scripts/test installs one."""
    if (lacking := missing()) is None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"the browser tests need Chromium: {lacking}")
    pytest.skip(lacking)


class Browser:
    """One headless Chromium window."""

    def __init__(self, driver: Any) -> None:
        self.driver = driver

    def viewport(self, width: int, height: int = 900) -> None:
        """Emulate a screen ``width`` CSS pixels wide (a phone below 600: touch, mobile)."""
        self.driver.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600},
        )

    def open(self, url: str) -> None:
        self.driver.get(url)

    @property
    def url(self) -> str:
        return str(self.driver.current_url)

    def js(self, script: str, *args: Any) -> Any:
        return self.driver.execute_script(script, *args)

    def overflow(self) -> tuple[int, int]:
        """(document width, viewport width): the page scrolls sideways when the first is larger."""
        widths = self.js("return [document.documentElement.scrollWidth, window.innerWidth]")
        return int(widths[0]), int(widths[1])

    def screenshot(self, path: Path) -> Path:
        """The whole page, beyond the viewport, as a PNG."""
        shot = self.driver.execute_cdp_cmd(
            "Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True}
        )
        path.write_bytes(base64.b64decode(shot["data"]))
        return path

    def until(self, predicate: Callable[[], Any], what: str, timeout: float = 10) -> Any:
        deadline = time.monotonic() + timeout
        while not (value := predicate()):
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what} at {self.url}")
            time.sleep(0.05)
        return value


@contextmanager
def chromium(lang: str = "en") -> Iterator[Browser]:
    """A fresh headless Chromium with its own profile, closed afterwards."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    with tempfile.TemporaryDirectory(prefix="channel-monitor-chromium-") as profile:
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for flag in (*FLAGS, f"--user-data-dir={profile}", f"--lang={lang}"):
            options.add_argument(flag)
        driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
        try:
            yield Browser(driver)
        finally:
            driver.quit()
