"""A test certificate authority, so fake servers can speak https on 127.0.0.1 and localhost.

``fixtures/tls/ca.pem`` is the authority; its key was thrown away once ``server.pem`` was
signed, so it vouches for nothing else. ``server.pem``/``server.key`` hold for ``localhost`` and
``127.0.0.1`` until 2126. Made with openssl: an EC P-256 authority (``CA:TRUE``,
``keyCertSign``) and a leaf with ``subjectAltName = DNS:localhost, IP:127.0.0.1`` for
``serverAuth``. A daemon trusts it through ``SSL_CERT_FILE``, which httpx reads.
"""

from __future__ import annotations

import ssl
from pathlib import Path

TLS = Path(__file__).parent / "fixtures" / "tls"
CA_FILE = TLS / "ca.pem"


def server_context() -> ssl.SSLContext:
    """What a fake server presents: the leaf for localhost and 127.0.0.1."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(TLS / "server.pem", TLS / "server.key")
    return context


def client_context() -> ssl.SSLContext:
    """What a client trusts: the test authority only."""
    return ssl.create_default_context(cafile=CA_FILE)
