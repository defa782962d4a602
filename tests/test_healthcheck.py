"""``monitor.healthcheck``: where the image's HEALTHCHECK asks (it is run for real in
tests/e2e/test_web_protection.py, over HTTPS and over HTTP)."""

from __future__ import annotations

import pytest

from monitor.healthcheck import url


@pytest.mark.parametrize(
    ("listen", "expected"),
    [
        ("0.0.0.0:9184", "http://127.0.0.1:9184/healthz"),
        (":9184", "http://127.0.0.1:9184/healthz"),
        # asyncio listens on "::" for IPv6 only (IPV6_V6ONLY): 127.0.0.1 would be refused
        ("[::]:9184", "http://[::1]:9184/healthz"),
        ("[::1]:9000", "http://[::1]:9000/healthz"),
        ("10.0.0.5:9184", "http://10.0.0.5:9184/healthz"),
        ("monitor.internal:80", "http://monitor.internal:80/healthz"),
    ],
)
def test_url(listen: str, expected: str) -> None:
    assert url(listen, "http") == expected
    assert url(listen, "https") == expected.replace("http://", "https://")
