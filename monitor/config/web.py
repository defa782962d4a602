"""The web configuration file: TLS, basic authentication and response headers for the HTTP server.

The format is the Prometheus exporter-toolkit's ``--web.config.file`` (docs/web-configuration.md
in prometheus/exporter-toolkit), so one file serves node_exporter and channel-monitor alike. What
Python's ``ssl`` module cannot do the way Go's ``crypto/tls`` does is refused with a reason, never
ignored: a file that asks for a protection gets it or the daemon does not start.

Relative paths in the file are relative to the file's own directory, as in exporter-toolkit.
Problems name the web configuration file and the key path within it.
"""

from __future__ import annotations

import contextlib
import re
import ssl
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml

from monitor.config.tables import _LoadState
from monitor.config.values import _boolean, _Invalid, _nonempty, _read_text, _unknown
from monitor.settings import WebSettings

_TOP_KEYS = ("tls_server_config", "http_server_config", "basic_auth_users", "rate_limit")
_TLS_KEYS = (
    *("cert", "key", "client_ca", "cert_file", "key_file", "client_auth_type", "client_ca_file"),
    *("client_allowed_sans", "min_version", "max_version", "cipher_suites"),
    *("prefer_server_cipher_suites", "curve_preferences"),
)
_HTTP_KEYS = ("http2", "headers")

# exporter-toolkit's extraHTTPHeaders (web/handler.go): the headers that may be set, and for some
# the only values allowed. Names are matched exactly, as there.
_HEADERS: dict[str, tuple[str, ...]] = {
    "Strict-Transport-Security": (),
    "X-Content-Type-Options": ("nosniff",),
    "X-Frame-Options": ("deny", "sameorigin"),
    "X-XSS-Protection": (),
    "Content-Security-Policy": (),
}

_VERSIONS = {"TLS12": ssl.TLSVersion.TLSv1_2, "TLS13": ssl.TLSVersion.TLSv1_3}
_OLD_VERSIONS = ("TLS10", "TLS11")

# Go's tls.CipherSuites() (the ones exporter-toolkit accepts) by their OpenSSL names. The TLS 1.3
# suites cannot be chosen in Go (Config.CipherSuites ignores them) nor through Python's
# set_ciphers: listing them changes nothing, in either.
_TLS12_SUITES = {
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA": "ECDHE-ECDSA-AES128-SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA": "ECDHE-ECDSA-AES256-SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA": "ECDHE-RSA-AES128-SHA",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA": "ECDHE-RSA-AES256-SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256": "ECDHE-ECDSA-AES128-GCM-SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384": "ECDHE-ECDSA-AES256-GCM-SHA384",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256": "ECDHE-RSA-AES128-GCM-SHA256",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384": "ECDHE-RSA-AES256-GCM-SHA384",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-RSA-CHACHA20-POLY1305",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-ECDSA-CHACHA20-POLY1305",
}
_TLS13_SUITES = ("TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256")
# exporter-toolkit's curve names (web/tls_config.go) by their OpenSSL names
_CURVES = {
    "CurveP256": "prime256v1",
    "CurveP384": "secp384r1",
    "CurveP521": "secp521r1",
    "X25519": "X25519",
}
_CLIENT_AUTH = {
    "NoClientCert": ssl.CERT_NONE,
    "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
    "RequireAndVerifyClientCert": ssl.CERT_REQUIRED,
}
# Go asks for a certificate without verifying it; Python's ssl verifies every one it asks for.
_UNVERIFIED_CLIENT_AUTH = ("RequestClientCert", "RequireAnyClientCert", "RequireClientCert")
_BCRYPT = re.compile(r"\$2[aby]\$(\d\d)\$[./A-Za-z0-9]{53}")
_HASH_HINT = "make one with `htpasswd -nBC 10 \"\" | tr -d ':\\n'`"


class _StrictLoader(yaml.SafeLoader):
    """YAML that refuses a key given twice (Go's yaml.UnmarshalStrict does too)."""


def _mapping(loader: _StrictLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: list[Any] = []
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"{key!r} is given twice", key_node.start_mark
            )
        seen.append(key)
    return dict(loader.construct_mapping(node))


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def _load_yaml(text: str) -> object:
    return yaml.load(text, Loader=_StrictLoader)  # noqa: S506  (a SafeLoader)


class _Web:
    """One reading of one web configuration file, its problems recorded in ``state``."""

    def __init__(self, state: _LoadState, path: Path) -> None:
        self.state, self.path, self.file = state, path, str(path)

    def fail(self, key: str, message: str) -> None:
        self.state.problem(self.file, key, message)

    def table(self, data: Mapping[str, Any], key: str, known: tuple[str, ...]) -> dict[str, Any]:
        """``data[key]`` as a mapping (empty when absent or null), its unknown keys reported."""
        value = data.get(key)
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.fail(key, "must be a mapping")
            return {}
        for name in value:
            if name not in known:
                self.fail(f"{key}.{name}", _unknown("key", str(name), known, _known(known)))
        return value

    def read(
        self, data: Mapping[str, Any], key: str, name: str, convert: Callable[[object], Any]
    ) -> Any:
        if data.get(name) is None:
            return None
        return self.state.convert(self.file, f"{key}.{name}", data[name], convert)

    def file_path(self, data: Mapping[str, Any], key: str, name: str) -> Path | None:
        relative = self.read(data, key, name, _nonempty)
        return None if relative is None else self.path.parent / relative

    def settings(self, document: object) -> WebSettings:
        if document is None:
            document = {}
        if not isinstance(document, dict):
            self.fail("", "must be a mapping of tls_server_config, basic_auth_users, …")
            document = {}
        for name in document:
            if name not in _TOP_KEYS:
                self.fail(str(name), _unknown("key", str(name), _TOP_KEYS, _known(_TOP_KEYS)))
        if document.get("rate_limit") is not None:
            self.fail("rate_limit", "is not supported by channel-monitor (a proxy can limit rates)")
        tls, client_auth = self.tls(self.table(document, "tls_server_config", _TLS_KEYS))
        return WebSettings(
            source=self.file,
            tls=tls,
            client_auth=client_auth,
            users=self.users(document.get("basic_auth_users")),
            headers=self.headers(self.table(document, "http_server_config", _HTTP_KEYS)),
        )

    def users(self, value: object) -> tuple[tuple[str, str], ...]:
        if value is None:
            return ()
        if not isinstance(value, dict):
            self.fail("basic_auth_users", "must be a mapping of user name: bcrypt hash")
            return ()
        users = []
        for name, hashed in value.items():
            key = f"basic_auth_users.{name}"
            if isinstance(name, bool) or not isinstance(name, str | int):
                self.fail(key, "a user name must be a string (quote it)")
                continue
            user = str(name)
            if ":" in user or not user:
                self.fail(key, "a user name cannot be empty or hold ':' (Basic splits at ':')")
                continue
            # the hash is a secret of sorts: no message quotes it
            found = _BCRYPT.fullmatch(hashed) if isinstance(hashed, str) else None
            if found is None:
                self.fail(key, f"is not a bcrypt hash ($2a$, $2b$ or $2y$); {_HASH_HINT}")
            elif not 4 <= int(found[1]) <= 31:
                self.fail(key, "the bcrypt cost must be from 04 to 31")
            else:
                users.append((user, hashed))
        return tuple(users)

    def headers(self, http: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
        # http2 is accepted and has no effect: the server speaks HTTP/1.1 only, which clients
        # that offer HTTP/2 (Prometheus) fall back to
        self.read(http, "http_server_config", "http2", _boolean)
        headers = http.get("headers")
        if headers is None:
            return ()
        if not isinstance(headers, dict):
            self.fail("http_server_config.headers", "must be a mapping of header: value")
            return ()
        result = []
        for name, value in headers.items():
            key = f"http_server_config.headers.{name}"
            if name not in _HEADERS:
                self.fail(key, f"cannot be set (these can: {', '.join(_HEADERS)})")
            elif value is None or value == "":
                continue  # "unset if blank"
            elif not isinstance(value, str) or "\n" in value or "\r" in value:
                self.fail(key, "must be a string on one line")
            elif _HEADERS[name] and value not in _HEADERS[name]:
                self.fail(key, f"must be one of {', '.join(_HEADERS[name])}")
            else:
                result.append((str(name), value))
        return tuple(result)

    def tls(self, data: Mapping[str, Any]) -> tuple[ssl.SSLContext | None, str]:
        """The server's SSL context (None when the section is absent or empty)."""
        key = "tls_server_config"
        if not any(data.get(name) is not None for name in data):
            return None, "NoClientCert"
        for name, instead in (("cert", "cert_file"), ("key", "key_file")):
            if data.get(name) is not None:
                self.fail(
                    f"{key}.{name}",
                    f"inline PEM is not supported (Python's ssl loads files): give {instead}",
                )
        if data.get("client_allowed_sans") is not None:
            self.fail(f"{key}.client_allowed_sans", "is not supported by channel-monitor")
        cert, private = (
            self.file_path(data, key, "cert_file"),
            self.file_path(data, key, "key_file"),
        )
        for name, path in (("cert_file", cert), ("key_file", private)):
            if path is None and data.get(name.removesuffix("_file")) is None:
                self.fail(f"{key}.{name}", "is required to serve TLS")
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.versions(context, data)
        self.ciphers(context, data)
        client_auth = self.client_auth(context, data)
        if cert is not None and private is not None:
            self.certificate(context, cert, private)
        return context, client_auth

    def certificate(self, context: ssl.SSLContext, cert: Path, private: Path) -> None:
        key = "tls_server_config"
        readable = True
        for name, path in (("cert_file", cert), ("key_file", private)):
            if self.state.convert(self.file, f"{key}.{name}", path, _read_text) is None:
                readable = False
        if not readable:
            return

        def no_password() -> str:
            raise _Invalid("key_file is encrypted: give a key without a passphrase")

        try:
            context.load_cert_chain(cert, private, password=no_password)
        except _Invalid as exc:
            self.fail(f"{key}.key_file", str(exc))
        except ssl.SSLError as exc:
            self.fail(
                f"{key}.cert_file",
                f"{cert} and {private} are not a PEM certificate and its key ({exc.reason})",
            )

    def versions(self, context: ssl.SSLContext, data: Mapping[str, Any]) -> None:
        key = "tls_server_config"

        def version(value: object) -> ssl.TLSVersion:
            if value in _OLD_VERSIONS:
                raise _Invalid("TLS 1.0 and 1.1 are not offered (OpenSSL 3 turns them off)")
            if not isinstance(value, str) or value not in _VERSIONS:
                raise _Invalid(f"unknown TLS version {value!r} (one of {', '.join(_VERSIONS)})")
            return _VERSIONS[value]

        low = self.read(data, key, "min_version", version) or ssl.TLSVersion.TLSv1_2
        high = self.read(data, key, "max_version", version) or ssl.TLSVersion.TLSv1_3
        if low > high:
            self.fail(f"{key}.min_version", "is above max_version")
            return
        context.minimum_version, context.maximum_version = low, high

    def ciphers(self, context: ssl.SSLContext, data: Mapping[str, Any]) -> None:
        key = "tls_server_config"
        prefer = self.read(data, key, "prefer_server_cipher_suites", _boolean)
        if prefer is False:
            context.options &= ~ssl.OP_CIPHER_SERVER_PREFERENCE
        else:
            context.options |= ssl.OP_CIPHER_SERVER_PREFERENCE
        suites = self.read(data, key, "cipher_suites", _names(_TLS12_SUITES, _TLS13_SUITES))
        if suites:
            chosen = [_TLS12_SUITES[s] for s in suites if s in _TLS12_SUITES]
            if not chosen:
                if data.get("min_version") != "TLS13":
                    self.fail(
                        f"{key}.cipher_suites",
                        "lists TLS 1.3 suites only, which are always on; "
                        "for TLS 1.3 alone, set min_version: TLS13",
                    )
            else:
                with contextlib.suppress(ssl.SSLError):  # none available: all reported below
                    context.set_ciphers(":".join(chosen))
                available = {c["name"] for c in context.get_ciphers()}
                missing = [
                    s for s in suites if s in _TLS12_SUITES and _TLS12_SUITES[s] not in available
                ]
                if missing:
                    self.fail(
                        f"{key}.cipher_suites",
                        f"not in this OpenSSL ({ssl.OPENSSL_VERSION}): {', '.join(missing)}",
                    )
        curves = self.read(data, key, "curve_preferences", _names(_CURVES))
        if curves and len(curves) > 1:
            self.fail(
                f"{key}.curve_preferences",
                "Python's ssl can set one curve only: list one (or none, for OpenSSL's choice)",
            )
        elif curves:
            context.set_ecdh_curve(_CURVES[curves[0]])

    def client_auth(self, context: ssl.SSLContext, data: Mapping[str, Any]) -> str:
        key = "tls_server_config"
        name = self.read(data, key, "client_auth_type", _nonempty) or "NoClientCert"
        ca_file = self.file_path(data, key, "client_ca_file")
        ca_text = self.read(data, key, "client_ca", _nonempty)
        if ca_file is not None and ca_text is not None:
            self.fail(f"{key}.client_ca", "give client_ca or client_ca_file, not both")
        if name in _UNVERIFIED_CLIENT_AUTH:
            self.fail(
                f"{key}.client_auth_type",
                f"{name} asks for a certificate without verifying it, which Python's ssl cannot "
                "do; use RequireAndVerifyClientCert (or VerifyClientCertIfGiven) with "
                "client_ca_file",
            )
            return name
        if name not in _CLIENT_AUTH:
            known = (*_CLIENT_AUTH, *_UNVERIFIED_CLIENT_AUTH)
            self.fail(f"{key}.client_auth_type", _unknown("client_auth_type", name, known, ""))
            return name
        context.verify_mode = _CLIENT_AUTH[name]
        if context.verify_mode == ssl.CERT_NONE:
            if ca_file is not None or ca_text is not None:
                self.fail(
                    f"{key}.client_auth_type",
                    "client CAs are given but no client certificate is asked for: "
                    "set client_auth_type: RequireAndVerifyClientCert",
                )
            return name
        try:
            if ca_file is not None:
                if self.state.convert(self.file, f"{key}.client_ca_file", ca_file, _read_text):
                    context.load_verify_locations(cafile=ca_file)
            elif ca_text is not None:
                context.load_verify_locations(cadata=ca_text)
            else:  # as Go does without ClientCAs: the system's roots
                context.load_default_certs(ssl.Purpose.CLIENT_AUTH)
        except ssl.SSLError as exc:
            where = "client_ca_file" if ca_file is not None else "client_ca"
            self.fail(f"{key}.{where}", f"not PEM certificates ({exc.reason})")
        return name


def _known(names: tuple[str, ...]) -> str:
    return f"known: {', '.join(names)}"


def _names(*known: Mapping[str, str] | tuple[str, ...]) -> Callable[[object], list[str]]:
    choices = [name for names in known for name in names]

    def convert(value: object) -> list[str]:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise _Invalid("must be a list of names")
        for name in value:
            if name not in choices:
                raise _Invalid(_unknown("name", name, choices, "Go's names are used"))
        return list(value)

    return convert


def _web_settings(state: _LoadState, path: Path, where: tuple[str, str]) -> WebSettings | None:
    """The web configuration file at ``path`` (named at ``where``), or None if it is unusable."""
    try:
        text = _read_text(path)
    except _Invalid as exc:
        state.problem(*where, str(exc))
        return None
    reader = _Web(state, path)
    try:
        document = _load_yaml(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        reader.fail(at, f"not YAML: {problem}")
        return None
    before = len(state.problems)
    settings = reader.settings(document)
    return settings if len(state.problems) == before else None
