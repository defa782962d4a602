"""The web configuration file (exporter-toolkit's format) as ``monitor.config`` reads it.

What the format says is in prometheus/exporter-toolkit docs/web-configuration.md; what Go does
with it is web/tls_config.go and web/handler.go there. Certificates come from ``openssl``.
"""

from __future__ import annotations

import re
import shutil
import ssl
import subprocess
import textwrap
from pathlib import Path

import pytest

from monitor.config import ConfigError, Problem, load_settings
from monitor.config.web import _TLS12_SUITES
from monitor.settings import WebSettings
from tests.e2e.daemon import cli
from tests.tls import Pki, bcrypt_hash, make_pki, openssl

ALL = frozenset({"rss"})
CONFIG = """
[monitor]
{monitor}

[[organisation]]
name = "Gemeente Voorbeeld"
rss = "https://voorbeeld.nl/rss"
"""
HASH = bcrypt_hash("s3cret")


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"), "scraper")


def web_file(directory: Path, text: str, name: str = "web-config.yml") -> Path:
    path = directory / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def load_web(
    tmp_path: Path,
    text: str | None = None,
    *,
    monitor: str = 'web_config_file = "web-config.yml"',
    env: dict[str, str] | None = None,
    explicit: str | None = None,
) -> WebSettings | None:
    if text is not None:
        web_file(tmp_path, text)
    config = tmp_path / "config.toml"
    config.write_text(CONFIG.format(monitor=monitor), encoding="utf-8")
    settings = load_settings(config, env or {}, supported=ALL, web_config_file=explicit)
    return settings.monitor.web


def problems(tmp_path: Path, text: str | None = None, **kwargs: object) -> list[Problem]:
    with pytest.raises(ConfigError) as caught:
        load_web(tmp_path, text, **kwargs)  # type: ignore[arg-type]
    return list(caught.value.problems)


def only(tmp_path: Path, text: str | None = None, **kwargs: object) -> Problem:
    found = problems(tmp_path, text, **kwargs)
    assert len(found) == 1, found
    return found[0]


def tls_yaml(pki: Pki, extra: str = "") -> str:
    lines = [
        "tls_server_config:",
        f"  cert_file: {pki.cert('server')}",
        f"  key_file: {pki.key('server')}",
        *(f"  {line}" for line in textwrap.dedent(extra).strip().splitlines()),
    ]
    return "\n".join(lines) + "\n"


# --- where the file comes from ------------------------------------------------------------------


def test_no_web_config_file_means_plain_http_without_authentication(tmp_path: Path) -> None:
    assert load_web(tmp_path, monitor="") is None


def test_the_key_is_relative_to_the_configuration_file(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    web_file(tmp_path / "etc", f"basic_auth_users:\n  alice: {HASH}\n", "web.yml")
    web = load_web(tmp_path, monitor='web_config_file = "etc/web.yml"')
    assert web is not None
    assert web.source == str(tmp_path / "etc" / "web.yml")
    assert web.users == (("alice", HASH),)
    assert web.tls is None


def test_the_command_line_beats_the_variable_which_beats_the_key(tmp_path: Path) -> None:
    for name in ("key", "variable", "option"):
        web_file(tmp_path, f"basic_auth_users:\n  {name}: {HASH}\n", f"{name}.yml")
    variable = {"CHANNEL_MONITOR_WEB_CONFIG_FILE": str(tmp_path / "variable.yml")}
    key = 'web_config_file = "key.yml"'

    def user(**kwargs: object) -> str:
        web = load_web(tmp_path, monitor=key, **kwargs)  # type: ignore[arg-type]
        assert web is not None
        return web.users[0][0]

    assert user() == "key"
    assert user(env=variable) == "variable"
    assert user(env=variable, explicit=str(tmp_path / "option.yml")) == "option"
    assert user(env={"CHANNEL_MONITOR_WEB_CONFIG_FILE": " "}) == "key"  # blank: not set


def test_a_missing_file_is_blamed_on_what_named_it(tmp_path: Path) -> None:
    problem = only(tmp_path, monitor='web_config_file = "nope.yml"')
    assert (problem.file, problem.key) == (str(tmp_path / "config.toml"), "monitor.web_config_file")
    assert "nope.yml" in problem.message and "No such file" in problem.message
    problem = only(tmp_path, env={"CHANNEL_MONITOR_WEB_CONFIG_FILE": "/nope/web.yml"})
    assert (problem.file, problem.key) == ("environment", "$CHANNEL_MONITOR_WEB_CONFIG_FILE")
    problem = only(tmp_path, explicit=str(tmp_path / "gone.yml"))
    assert problem.file == "--web.config.file"


def test_an_empty_file_protects_nothing_as_in_exporter_toolkit(tmp_path: Path) -> None:
    web = load_web(tmp_path, "# nothing yet\n")
    assert web == WebSettings(source=str(tmp_path / "web-config.yml"))


# --- the document -------------------------------------------------------------------------------


def test_yaml_syntax_error_names_line_and_column(tmp_path: Path) -> None:
    problem = only(tmp_path, "basic_auth_users:\n  alice: [unclosed\n")
    assert problem.file == str(tmp_path / "web-config.yml")
    assert re.fullmatch(r"line \d+, column \d+", problem.key), problem
    assert problem.message.startswith("not YAML")


def test_a_key_given_twice_is_refused_as_go_yaml_strict_does(tmp_path: Path) -> None:
    problem = only(tmp_path, f"basic_auth_users:\n  alice: {HASH}\n  alice: {HASH}\n")
    assert problem.key == "line 3, column 3"
    assert "'alice' is given twice" in problem.message


def test_unknown_keys_are_named_with_a_suggestion(tmp_path: Path, pki: Pki) -> None:
    found = problems(
        tmp_path,
        tls_yaml(pki, "min_versoin: TLS12")
        + "basic_auth_user: {}\nhttp_server_config:\n  header: {}\n",
    )
    by_key = {p.key: p.message for p in found}
    assert by_key == {
        "basic_auth_user": "unknown key 'basic_auth_user' (did you mean \"basic_auth_users\"?)",
        "tls_server_config.min_versoin": (
            "unknown key 'min_versoin' (did you mean \"min_version\"?)"
        ),
        "http_server_config.header": "unknown key 'header' (did you mean \"headers\"?)",
    }


@pytest.mark.parametrize(
    ("text", "key", "says"),
    [
        ("- a list\n", "", "must be a mapping"),
        ("tls_server_config: yes\n", "tls_server_config", "must be a mapping"),
        ("basic_auth_users: [alice]\n", "basic_auth_users", "must be a mapping"),
        ("rate_limit:\n  interval: 1s\n  burst: 20\n", "rate_limit", "not supported"),
        ("http_server_config:\n  http2: maybe\n", "http_server_config.http2", "true or false"),
    ],
)
def test_document_mistakes(tmp_path: Path, text: str, key: str, says: str) -> None:
    problem = only(tmp_path, text)
    assert problem.key == key
    assert says in problem.message


# --- basic_auth_users ---------------------------------------------------------------------------


def test_users_with_bcrypt_hashes_of_every_common_prefix(tmp_path: Path) -> None:
    go = "$2a" + HASH[3:]  # Go's bcrypt writes $2a$
    htpasswd = "$2y" + HASH[3:]  # htpasswd -B writes $2y$
    web = load_web(
        tmp_path, f"basic_auth_users:\n  alice: '{go}'\n  bob: '{htpasswd}'\n  carol: {HASH}\n"
    )
    assert web is not None
    assert dict(web.users) == {"alice": go, "bob": htpasswd, "carol": HASH}


@pytest.mark.parametrize(
    ("user", "value", "says"),
    [
        ("alice", "s3cret", "is not a bcrypt hash"),  # a password where the hash should be
        ("alice", "$2b$03$" + HASH[7:], "cost must be from 04 to 31"),
        ("alice", "$2$10$" + HASH[7:], "is not a bcrypt hash"),
        ("alice", HASH[:-1], "is not a bcrypt hash"),
        ("alice", "", "is not a bcrypt hash"),
        ("'al:ice'", HASH, "cannot be empty or hold ':'"),
        ("true", HASH, "must be a string"),
    ],
)
def test_user_mistakes_never_quote_the_value(
    tmp_path: Path, user: str, value: str, says: str
) -> None:
    problem = only(tmp_path, f"basic_auth_users:\n  {user}: '{value}'\n")
    assert problem.key.startswith("basic_auth_users.")
    assert says in problem.message
    if value:
        assert value not in str(problem)


# --- http_server_config.headers -----------------------------------------------------------------


def test_headers_as_exporter_toolkit_allows_them(tmp_path: Path) -> None:
    web = load_web(
        tmp_path,
        """
        http_server_config:
          http2: false
          headers:
            X-Frame-Options: deny
            X-Content-Type-Options: nosniff
            Strict-Transport-Security: max-age=31536000
            Content-Security-Policy: ""
        """,
    )
    assert web is not None
    assert web.headers == (
        ("X-Frame-Options", "deny"),
        ("X-Content-Type-Options", "nosniff"),
        ("Strict-Transport-Security", "max-age=31536000"),
    )  # a blank value is unset


@pytest.mark.parametrize(
    ("header", "value", "says"),
    [
        ("X-Frame-Options", "allow", "must be one of deny, sameorigin"),
        ("X-Content-Type-Options", "sniff", "must be one of nosniff"),
        ("Server", "nginx", "cannot be set"),
        ("x-frame-options", "deny", "cannot be set"),  # exact names, as in Go's map
        ("Content-Security-Policy", "a\nb", "one line"),
    ],
)
def test_header_mistakes(tmp_path: Path, header: str, value: str, says: str) -> None:
    quoted = value.replace("\n", "\\n")
    problem = only(tmp_path, f'http_server_config:\n  headers:\n    {header}: "{quoted}"\n')
    assert problem.key == f"http_server_config.headers.{header}"
    assert says in problem.message


# --- tls_server_config --------------------------------------------------------------------------


def test_tls_defaults_as_exporter_toolkit(tmp_path: Path, pki: Pki) -> None:
    web = load_web(tmp_path, tls_yaml(pki))
    assert web is not None and web.tls is not None
    assert web.tls.minimum_version == ssl.TLSVersion.TLSv1_2
    assert web.tls.maximum_version == ssl.TLSVersion.TLSv1_3
    assert web.tls.verify_mode == ssl.CERT_NONE
    assert web.tls.options & ssl.OP_CIPHER_SERVER_PREFERENCE
    assert web.client_auth == "NoClientCert"


def test_cert_and_key_files_are_relative_to_the_web_config_file(tmp_path: Path, pki: Pki) -> None:
    (tmp_path / "tls").mkdir()
    for name in ("server.crt", "server.key"):
        shutil.copy(pki.directory / name, tmp_path / "tls" / name)
    web = load_web(
        tmp_path, "tls_server_config:\n  cert_file: tls/server.crt\n  key_file: tls/server.key\n"
    )
    assert web is not None and web.tls is not None


def test_tls_options_are_honoured(tmp_path: Path, pki: Pki) -> None:
    web = load_web(
        tmp_path,
        tls_yaml(
            pki,
            f"""
            client_auth_type: RequireAndVerifyClientCert
            client_ca_file: {pki.ca}
            min_version: TLS13
            max_version: TLS13
            prefer_server_cipher_suites: false
            curve_preferences: [X25519]
            """,
        ),
    )
    assert web is not None and web.tls is not None
    assert web.tls.verify_mode == ssl.CERT_REQUIRED
    assert web.client_auth == "RequireAndVerifyClientCert"
    assert web.tls.minimum_version == web.tls.maximum_version == ssl.TLSVersion.TLSv1_3
    assert not web.tls.options & ssl.OP_CIPHER_SERVER_PREFERENCE
    assert [c["subject"] for c in web.tls.get_ca_certs()] == [
        ((("commonName", "channel-monitor test CA"),),)
    ]


def test_cipher_suites_by_go_names_become_exactly_those_suites(tmp_path: Path, pki: Pki) -> None:
    web = load_web(
        tmp_path,
        tls_yaml(
            pki,
            """
            cipher_suites:
              - TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
              - TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256
              - TLS_AES_128_GCM_SHA256
            """,
        ),
    )
    assert web is not None and web.tls is not None
    tls12 = {c["name"] for c in web.tls.get_ciphers() if c["protocol"] == "TLSv1.2"}
    assert tls12 == {"ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-CHACHA20-POLY1305"}


def test_the_cipher_name_table_agrees_with_openssl(tmp_path: Path) -> None:
    """OpenSSL's own IANA-to-OpenSSL names are the oracle for the table (Go uses IANA's)."""
    assert shutil.which("openssl"), "openssl is needed (tests/tls.py)"
    listing = subprocess.run(
        ["openssl", "ciphers", "-stdname", "ALL"],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout
    standard = dict(re.findall(r"^(\S+)\s+-\s+(\S+)", listing, flags=re.MULTILINE))
    for go_name, openssl_name in _TLS12_SUITES.items():
        assert standard.get(go_name) == openssl_name, go_name


@pytest.mark.parametrize(
    ("extra", "key", "says"),
    [
        ("min_version: TLS10", "min_version", "TLS 1.0 and 1.1 are not offered"),
        ("max_version: TLS14", "max_version", "unknown TLS version 'TLS14'"),
        ("min_version: TLS13\nmax_version: TLS12", "min_version", "is above max_version"),
        ("cipher_suites: [TLS_RSA_WITH_RC4_128_SHA]", "cipher_suites", "unknown name"),
        ("cipher_suites: [TLS_AES_256_GCM_SHA384]", "cipher_suites", "TLS 1.3 suites only"),
        ("curve_preferences: [X25519, CurveP256]", "curve_preferences", "one curve only"),
        ("curve_preferences: [CurveP224]", "curve_preferences", "unknown name"),
        ("client_auth_type: RequireAnyClientCert", "client_auth_type", "cannot do"),
        ("client_auth_type: RequestClientCert", "client_auth_type", "cannot do"),
        ("client_auth_type: Always", "client_auth_type", "unknown client_auth_type"),
        ("client_ca_file: ca.crt", "client_auth_type", "no client certificate is asked for"),
        ("client_allowed_sans: [scraper]", "client_allowed_sans", "not supported"),
        ("cert: '-----BEGIN CERTIFICATE-----'", "cert", "inline PEM is not supported"),
    ],
)
def test_tls_mistakes(tmp_path: Path, pki: Pki, extra: str, key: str, says: str) -> None:
    shutil.copy(pki.ca, tmp_path / "ca.crt")
    problem = only(tmp_path, tls_yaml(pki, extra))
    assert problem.file == str(tmp_path / "web-config.yml")
    assert problem.key == f"tls_server_config.{key}"
    assert says in problem.message


def test_a_cert_without_its_key_and_unreadable_files(tmp_path: Path, pki: Pki) -> None:
    found = problems(
        tmp_path,
        f"tls_server_config:\n  cert_file: {pki.cert('server')}\n  client_auth_type: Nope\n",
    )
    assert {p.key for p in found} == {
        "tls_server_config.key_file",
        "tls_server_config.client_auth_type",
    }
    found = problems(tmp_path, "tls_server_config:\n  cert_file: a.crt\n  key_file: a.key\n")
    missing = "No such file or directory"
    assert {p.key: p.message for p in found} == {
        "tls_server_config.cert_file": f"cannot read {tmp_path / 'a.crt'}: {missing}",
        "tls_server_config.key_file": f"cannot read {tmp_path / 'a.key'}: {missing}",
    }


def test_a_key_that_does_not_belong_to_the_cert(tmp_path: Path, pki: Pki) -> None:
    problem = only(
        tmp_path,
        f"tls_server_config:\n  cert_file: {pki.cert('server')}\n"
        f"  key_file: {pki.key('scraper')}\n",
    )
    assert problem.key == "tls_server_config.cert_file"
    assert "not a PEM certificate and its key" in problem.message


def test_an_encrypted_key_is_refused_without_asking_for_a_passphrase(
    tmp_path: Path, pki: Pki
) -> None:
    openssl(
        "pkey", "-in", str(pki.key("server")), "-out", "encrypted.key",
        "-aes256", "-passout", "pass:hunter22", cwd=tmp_path,
    )  # fmt: skip
    problem = only(
        tmp_path,
        f"tls_server_config:\n  cert_file: {pki.cert('server')}\n  key_file: encrypted.key\n",
    )
    assert problem.key == "tls_server_config.key_file"
    assert "encrypted" in problem.message


def test_every_problem_is_reported_together_with_the_rest_of_the_configuration(
    tmp_path: Path, pki: Pki
) -> None:
    web_file(tmp_path, tls_yaml(pki, "min_version: TLS11") + "basic_auth_users:\n  a: plain\n")
    config = tmp_path / "config.toml"
    config.write_text(
        CONFIG.format(monitor='web_config_file = "web-config.yml"\nlisten = "nowhere"')
    )
    with pytest.raises(ConfigError) as caught:
        load_settings(config, {}, supported=ALL)
    assert {p.key for p in caught.value.problems} == {
        "monitor.listen",
        "tls_server_config.min_version",
        "basic_auth_users.a",
    }


def test_validate_says_how_http_is_protected(tmp_path: Path, pki: Pki) -> None:
    client_certs = f"client_auth_type: VerifyClientCertIfGiven\nclient_ca_file: {pki.ca}"
    web_file(tmp_path, tls_yaml(pki, client_certs) + f"basic_auth_users:\n  alice: {HASH}\n")
    config = tmp_path / "config.toml"
    config.write_text(CONFIG.format(monitor='web_config_file = "web-config.yml"'))
    result = cli("validate", "--config", str(config))
    assert result.returncode == 0, result.stderr
    assert (
        "(HTTPS, client certificates (VerifyClientCertIfGiven), basic auth for 1 user(s), "
        f"from {tmp_path / 'web-config.yml'})"
    ) in " ".join(result.stdout.split())  # rich may wrap the line
