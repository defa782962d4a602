"""Certificates for tests, made with the ``openssl`` command line (Debian's ``openssl`` package).

A small CA signs a server certificate for 127.0.0.1 and localhost, and client certificates. A
missing ``openssl`` fails the test (CI installs it, scripts/test), it is never skipped.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import bcrypt
import pytest


def openssl(*args: str, cwd: Path) -> None:
    binary = shutil.which("openssl")
    if binary is None:
        pytest.fail(
            "openssl not found on PATH; these tests make their certificates with it "
            "(Debian/Ubuntu: `apt-get install -y openssl`). CI installs it: a failure, not a skip.",
            pytrace=False,
        )
    result = subprocess.run(
        [binary, *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, f"openssl {' '.join(args)}:\n{result.stderr}"


@dataclass(frozen=True)
class Pki:
    """A CA and what it signed, as PEM files in one directory."""

    directory: Path

    @property
    def ca(self) -> Path:
        return self.directory / "ca.crt"

    def cert(self, name: str) -> Path:
        return self.directory / f"{name}.crt"

    def key(self, name: str) -> Path:
        return self.directory / f"{name}.key"


def make_pki(directory: Path, *clients: str) -> Pki:
    """``ca``, ``server`` (127.0.0.1, ::1, localhost) and one client certificate per name."""
    directory.mkdir(parents=True, exist_ok=True)
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    openssl(
        "req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "2",
        "-subj", "/CN=channel-monitor test CA", cwd=directory,
    )  # fmt: skip
    for name, extension in (
        ("server", "subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost"),
        *((client, "extendedKeyUsage=clientAuth") for client in clients),
    ):
        openssl(
            "req", "-new", *ec, "-keyout", f"{name}.key", "-out", f"{name}.csr",
            "-subj", f"/CN={name}", cwd=directory,
        )  # fmt: skip
        (directory / f"{name}.ext").write_text(extension + "\n")
        openssl(
            "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
            "-CAcreateserial", "-days", "2", "-out", f"{name}.crt",
            "-extfile", f"{name}.ext", cwd=directory,
        )  # fmt: skip
    return Pki(directory)


def bcrypt_hash(password: str) -> str:
    """A bcrypt hash at the lowest cost, so that tests stay fast."""
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()
