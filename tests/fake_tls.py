"""https for the fake platform servers on loopback: a throwaway certificate authority and a
server certificate for 127.0.0.1 and localhost, made with the ``openssl`` command line in a
test's temporary directory. A missing ``openssl`` fails the test; it is never skipped.
"""

from __future__ import annotations

import shutil
import ssl
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest


@dataclass(frozen=True)
class Pki:
    """The authority and the server certificate it signed, as PEM files in one directory."""

    directory: Path

    @property
    def ca(self) -> Path:
        return self.directory / "ca.crt"

    def server_context(self) -> ssl.SSLContext:
        """What a fake server presents."""
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.directory / "server.crt", self.directory / "server.key")
        return context

    def client_context(self) -> ssl.SSLContext:
        """What a client trusts: this authority only (a daemon: ``SSL_CERT_FILE=ca``)."""
        return ssl.create_default_context(cafile=self.ca)


def make_pki(directory: Path) -> Pki:
    """A CA (valid two days) and a ``serverAuth`` certificate for 127.0.0.1 and localhost."""
    directory.mkdir(parents=True, exist_ok=True)
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    _openssl(
        "req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "2",
        "-subj", "/CN=channel-monitor fake platforms CA", cwd=directory,
    )  # fmt: skip
    _openssl(
        "req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost",
        cwd=directory,
    )  # fmt: skip
    (directory / "server.ext").write_text(
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n"
    )
    _openssl(
        "x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
        "-CAcreateserial", "-days", "2", "-extfile", "server.ext", "-out", "server.crt",
        cwd=directory,
    )  # fmt: skip
    return Pki(directory)


def _openssl(*args: str, cwd: Path) -> None:
    binary = shutil.which("openssl")
    if binary is None:
        pytest.fail(
            "openssl not found on PATH; the https fakes make their certificates with it "
            "(Debian/Ubuntu: `apt-get install -y openssl`)",
            pytrace=False,
        )
    result = subprocess.run(
        [binary, *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, f"openssl {' '.join(args)}:\n{result.stderr}"
