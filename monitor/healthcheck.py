"""The container's HEALTHCHECK: ``python -m monitor.healthcheck`` exits 0 when /healthz says ok.

It asks the daemon on the port that ``$CHANNEL_MONITOR_LISTEN`` names (the image sets it, and it
overrides the configuration file); a wildcard address is asked on loopback. It tries plain HTTP,
then HTTPS without checking the certificate (it asks its own container, by address, not a name
a certificate could vouch for), so it needs to know nothing of the web configuration file:
/healthz never asks for a password. A server that demands client certificates cannot be asked
this way; README, "Protecting the endpoints", says what to do then.

Standard library only, and no configuration to read: it runs every 30 s in a fresh interpreter.
"""

from __future__ import annotations

import http.client
import os
import ssl
import sys
import urllib.request

TIMEOUT = 2.0  # seconds per attempt; Docker gives the whole check 5


def url(listen: str, scheme: str) -> str:
    """``scheme://host:port/healthz`` for a ``host:port`` to listen on."""
    host, _, port = listen.rpartition(":")
    host = host.strip("[]")
    if host in ("", "0.0.0.0"):  # noqa: S104  (the address the daemon listens on, not ours)
        host = "127.0.0.1"
    elif host == "::":  # asyncio listens on "::" for IPv6 only
        host = "::1"
    if ":" in host:
        host = f"[{host}]"
    return f"{scheme}://{host}:{port}/healthz"


def check(listen: str) -> str | None:
    """None when /healthz answers 2xx over HTTP or HTTPS, else what went wrong."""
    unverified = ssl.create_default_context()
    unverified.check_hostname = False
    unverified.verify_mode = ssl.CERT_NONE
    problems = []
    for scheme in ("http", "https"):
        target = url(listen, scheme)
        try:
            with urllib.request.urlopen(  # noqa: S310  (http or https, built above)
                target, timeout=TIMEOUT, context=unverified if scheme == "https" else None
            ):
                return None
        except (OSError, ValueError, http.client.HTTPException) as exc:  # refused, 5xx, garbage
            problems.append(f"{target}: {exc}")
    return "; ".join(problems)


def main() -> int:
    problem = check(os.environ.get("CHANNEL_MONITOR_LISTEN", ":9184"))
    if problem is not None:
        print(f"unhealthy: {problem}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
