"""``monitor.config``: config.toml (and its organisations CSV) into frozen, validated Settings."""

from __future__ import annotations

import hashlib
import hmac
import textwrap
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.base import PlatformOptions
from monitor.config import (
    ConfigError,
    Problem,
    format_duration,
    load_settings,
    parse_duration,
    resolve_config_path,
)
from monitor.settings import PLATFORMS, MonitorSettings, Policy, Settings

FIXTURES = Path(__file__).parent / "fixtures" / "config"
ALL = frozenset(PLATFORMS)
TODAY = frozenset({"rss", "youtube"})
YT = "UC" + "a" * 22  # a well-formed YouTube channel id
YT2 = "UC" + "b" * 22
TOKENS = {
    "FACEBOOK_ACCESS_TOKEN": "EAAB-facebook-secret-0001",
    "INSTAGRAM_ACCESS_TOKEN": "IGQV-instagram-secret-0002",
    "INSTAGRAM_ACCOUNT_ID": "17841400000000000",
    "LINKEDIN_ACCESS_TOKEN": "AQX-linkedin-secret-0003",
}
TOKEN_PLATFORMS = ("facebook", "instagram", "linkedin")
SECRETS = {v for k, v in TOKENS.items() if k.endswith("TOKEN")}


def write(directory: Path, text: str, name: str = "config.toml") -> Path:
    path = directory / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def load(
    tmp_path: Path,
    text: str,
    env: dict[str, str] | None = None,
    supported: frozenset[str] = ALL,
) -> Settings:
    return load_settings(write(tmp_path, text), env or {}, supported=supported)


def problems(
    tmp_path: Path,
    text: str,
    env: dict[str, str] | None = None,
    supported: frozenset[str] = ALL,
) -> list[Problem]:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, text, env, supported)
    return list(caught.value.problems)


def by_key(found: list[Problem]) -> dict[str, str]:
    """Problems as {key path: message}; fails if two share a key (each test expects one each)."""
    result = {p.key: p.message for p in found}
    assert len(result) == len(found), found
    return result


def only(
    tmp_path: Path,
    text: str,
    env: dict[str, str] | None = None,
    supported: frozenset[str] = ALL,
) -> Problem:
    found = problems(tmp_path, text, env, supported)
    assert len(found) == 1, found
    return found[0]


# --- durations --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90s", timedelta(seconds=90)),
        ("15m", timedelta(minutes=15)),
        ("6h", timedelta(hours=6)),
        ("14d", timedelta(days=14)),
        ("2w", timedelta(weeks=2)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("1w2d3h4m5s", timedelta(weeks=1, days=2, hours=3, minutes=4, seconds=5)),
        ("1h 30m", timedelta(hours=1, minutes=30)),
        (" 6h ", timedelta(hours=6)),
        ("0s", timedelta()),
        ("180d", timedelta(days=180)),
    ],
)
def test_parse_duration(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "empty duration"),
        ("   ", "empty duration"),
        ("6", "not a duration"),
        ("h", "not a duration"),
        ("1.5h", "not a duration"),
        ("-5m", "not a duration"),
        ("6x", "unknown unit 'x'"),
        ("6H", "unknown unit 'H'"),
        ("6 hours", "unknown unit 'hours'"),
        ("30m1h", "largest first"),
        ("1h1h", "largest first"),
        ("99999999999w", "too long"),
    ],
)
def test_parse_duration_rejects(text: str, says: str) -> None:
    with pytest.raises(ValueError, match=says) as caught:
        parse_duration(text)
    if text.strip():
        assert repr(text) in str(caught.value)  # the message shows what was given


@pytest.mark.parametrize(
    ("td", "text"),
    [
        (timedelta(hours=6), "6h"),
        (timedelta(days=14), "14d"),
        (timedelta(weeks=2), "14d"),
        (timedelta(hours=1, minutes=30), "1h30m"),
        (timedelta(seconds=90), "1m30s"),
        (timedelta(days=1, seconds=1), "1d1s"),
        (timedelta(), "0s"),
        (timedelta(seconds=1.5), "1.5s"),
        (timedelta(minutes=-5), "-5m"),
    ],
)
def test_format_duration(td: timedelta, text: str) -> None:
    assert format_duration(td) == text


@given(st.integers(min_value=0, max_value=10**10))
def test_format_duration_is_the_inverse_of_parse(seconds: int) -> None:
    td = timedelta(seconds=seconds)
    assert parse_duration(format_duration(td)) == td


# --- problems, errors and where the file is ---------------------------------------------------


def test_problem_reads_file_key_message() -> None:
    problem = Problem(
        "config.toml",
        "organisation[2].youtube",
        "not a YouTube channel id (UC followed by 22 characters)",
    )
    assert str(problem) == (
        "config.toml: organisation[2].youtube: "
        "not a YouTube channel id (UC followed by 22 characters)"
    )


def test_config_error_lists_every_problem_one_per_line() -> None:
    error = ConfigError([Problem("a.toml", "x", "bad"), Problem("a.toml", "y", "worse")])
    assert str(error) == "a.toml: x: bad\na.toml: y: worse"
    assert len(error.problems) == 2


def test_resolve_config_path_precedence() -> None:
    env = {"CHANNEL_MONITOR_CONFIG": "/etc/cm.toml"}
    assert resolve_config_path("given.toml", env) == Path("given.toml")
    assert resolve_config_path(None, env) == Path("/etc/cm.toml")
    assert resolve_config_path(None, {}) == Path("config.toml")
    assert resolve_config_path(None, {"CHANNEL_MONITOR_CONFIG": ""}) == Path("config.toml")


def test_missing_file_is_one_problem(tmp_path: Path) -> None:
    path = tmp_path / "nope.toml"
    with pytest.raises(ConfigError) as caught:
        load_settings(path, {}, supported=ALL)
    [problem] = caught.value.problems
    assert problem.file == str(path)
    assert "file not found" in problem.message


def test_toml_syntax_error_is_one_problem_with_line_and_column(tmp_path: Path) -> None:
    problem = only(tmp_path, '[monitor]\nlisten = "127.0.0.1:9184"\njitter = "15m\n')
    assert str(problem) == f"{tmp_path / 'config.toml'}: line 3, column 14: Illegal character '\\n'"


def test_file_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_bytes(b'name = "caf\xe9"\n')
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_settings(path, {}, supported=ALL)


# --- the contract's example -------------------------------------------------------------------


def test_contract_example_parses(tmp_path: Path) -> None:
    settings = load_settings(FIXTURES / "contract.toml", TOKENS, supported=ALL)

    assert settings.source == str(FIXTURES / "contract.toml")
    assert settings.monitor == MonitorSettings(
        database="sqlite:///channel-monitor.db",
        listen="127.0.0.1:9184",
        poll_interval=timedelta(hours=6),
        jitter=timedelta(minutes=15),
    )
    assert settings.policy == Policy()
    assert set(settings.platforms) == set(PLATFORMS)
    assert settings.platforms["facebook"].options == PlatformOptions(
        base_url="https://graph.facebook.com",
        api_version="v26.0",
        access_token=TOKENS["FACEBOOK_ACCESS_TOKEN"],
    )
    instagram = settings.platforms["instagram"].options
    assert instagram.account_id == TOKENS["INSTAGRAM_ACCOUNT_ID"]
    assert instagram.access_token == TOKENS["INSTAGRAM_ACCESS_TOKEN"]
    assert instagram.api_version == "v26.0"
    assert settings.platforms["linkedin"].options.api_version == "202603"
    assert settings.platforms["mastodon"].options.base_url is None
    assert settings.platforms["rss"].options.base_url is None
    assert settings.platforms["youtube"].options.base_url == "https://www.youtube.com"
    assert settings.platforms["bluesky"].concurrency == 4
    assert settings.platforms["bluesky"].timeout == timedelta(seconds=30)
    assert settings.secrets == frozenset(SECRETS)

    assert settings.organisations == (
        "Gemeente Voorbeeld",
        "Provincie Voorbeeld",
        "Waterschap Voorbeeld",
        "Veiligheidsregio Voorbeeld",
    )
    assert [c.key for c in settings.channels] == [
        ("Gemeente Voorbeeld", "facebook", "gemeentevoorbeeld"),
        ("Gemeente Voorbeeld", "instagram", "gemeentevoorbeeld"),
        ("Gemeente Voorbeeld", "linkedin", "1234567"),
        ("Gemeente Voorbeeld", "mastodon", "@voorbeeld@social.overheid.nl"),
        ("Gemeente Voorbeeld", "bluesky", "voorbeeld.bsky.social"),
        ("Gemeente Voorbeeld", "youtube", "UCxxxxxxxxxxxxxxxxxxxxxx"),
        ("Gemeente Voorbeeld", "rss", "https://www.voorbeeld.nl/nieuws/rss"),
        ("Provincie Voorbeeld", "instagram", "provincievoorbeeld"),
        ("Provincie Voorbeeld", "linkedin", "urn:li:organization:7654321"),
        ("Waterschap Voorbeeld", "youtube", "UCyyyyyyyyyyyyyyyyyyyyyy"),
        ("Waterschap Voorbeeld", "rss", "https://www.waterschap.example/rss"),
        ("Waterschap Voorbeeld", "rss", "https://www.waterschap.example/atom"),
        ("Veiligheidsregio Voorbeeld", "facebook", "veiligheidsregio.voorbeeld"),
    ]
    channels = {c.key: c for c in settings.channels}
    facebook = channels["Gemeente Voorbeeld", "facebook", "gemeentevoorbeeld"]
    assert facebook.policy == Policy(inactive_after=timedelta(days=14))
    assert facebook.poll_interval == timedelta(hours=6)
    assert not facebook.parked
    provincial = channels["Provincie Voorbeeld", "instagram", "provincievoorbeeld"]
    assert provincial.policy == Policy(inactive_after=timedelta(days=60), target_posts=1)
    assert channels["Provincie Voorbeeld", "linkedin", "urn:li:organization:7654321"].parked


def test_contract_example_without_its_environment(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(FIXTURES / "contract.toml", {}, supported=ALL)
    assert [p.key for p in caught.value.problems] == [
        "platforms.facebook.access_token",
        "platforms.instagram.access_token",
        "platforms.instagram.account_id",
        "platforms.linkedin.access_token",
    ]
    assert caught.value.problems[0].message == (
        "environment variable FACEBOOK_ACCESS_TOKEN is not set"
    )


def test_shipped_config_is_valid_with_todays_connectors() -> None:
    shipped = Path(__file__).parent.parent / "config.toml"
    settings = load_settings(shipped, {}, supported=TODAY)
    assert settings.channels
    assert {c.platform for c in settings.channels} <= TODAY


def test_minimal_config_gets_every_default(tmp_path: Path) -> None:
    settings = load(tmp_path, "")
    assert settings.monitor == MonitorSettings()
    assert settings.policy == Policy()
    assert settings.organisations == ()
    assert settings.channels == ()
    assert settings.secrets == frozenset()
    defaults = {name: p.options.base_url for name, p in settings.platforms.items()}
    assert defaults == {
        "facebook": "https://graph.facebook.com",
        "instagram": "https://graph.facebook.com",
        "linkedin": "https://api.linkedin.com",
        "mastodon": None,
        "bluesky": "https://public.api.bsky.app",
        "youtube": "https://www.youtube.com",
        "rss": None,
    }
    versions = {name: p.options.api_version for name, p in settings.platforms.items()}
    assert versions == {
        **dict.fromkeys(PLATFORMS),
        "facebook": "v26.0",
        "instagram": "v26.0",
        "linkedin": "202603",
    }
    for platform in settings.platforms.values():
        # a feed host is read 16 feeds at a time; the APIs' limit is per token, app or server
        concurrency = 16 if platform.name == "rss" else 4
        assert (platform.concurrency, platform.timeout) == (concurrency, timedelta(seconds=30))
        assert platform.options.page_limit == 5
    assert settings.monitor.max_in_flight == 64


# --- all problems at once ---------------------------------------------------------------------


def test_five_mistakes_make_exactly_five_problems(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        f"""
        [monitor]
        listen = "localhost:99999"
        poll_interval = 6

        [platforms.rss]
        base_url = "https://example.org"

        [[organisation]]
        name = "A"
        youtube = "{YT}"

        [[organisation]]
        name = "B"
        rss = ["https://b.example/rss", "not a url"]

        [[organisation]]
        name = "C"
        youtube = "https://www.youtube.com/@c"
        """,
        supported=TODAY,
    )
    assert by_key(found) == {
        "monitor.listen": "the port must be from 1 to 65535",
        "monitor.poll_interval": 'durations are strings such as "6h" or "14d"',
        "platforms.rss.base_url": "rss feeds are full URLs; base_url does not apply",
        "organisation[1].rss[1]": "a feed is an absolute http:// or https:// URL",
        "organisation[2].youtube": (
            "give a YouTube channel id (UC followed by 22 characters), not a web address"
        ),
    }
    assert all(p.file == str(tmp_path / "config.toml") for p in found)


# --- [monitor] --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "listen", ["127.0.0.1:9184", "[::1]:9184", "[::]:1", "localhost:65535", ":9184", "0.0.0.0:80"]
)
def test_listen_accepts(tmp_path: Path, listen: str) -> None:
    assert load(tmp_path, f'[monitor]\nlisten = "{listen}"\n').monitor.listen == listen


@pytest.mark.parametrize(
    ("listen", "says"),
    [
        ("9184", "host:port"),
        ("localhost", "host:port"),
        ("localhost:http", "host:port"),
        ("::1:9184", "host:port"),
        ("host:0", "from 1 to 65535"),
        ("host:65536", "from 1 to 65535"),
        ("[nonsense]:80", "not an IPv6 address"),
        ("bad host:80", "not a host name"),
    ],
)
def test_listen_rejects(tmp_path: Path, listen: str, says: str) -> None:
    problem = only(tmp_path, f'[monitor]\nlisten = "{listen}"\n')
    assert problem.key == "monitor.listen"
    assert says in problem.message


@pytest.mark.parametrize(
    ("database", "says"),
    [
        ("not a url", "not a SQLAlchemy URL"),
        ("nosuchdb://x/y", "unknown kind of database"),
    ],
)
def test_database_must_be_a_sqlalchemy_url(tmp_path: Path, database: str, says: str) -> None:
    problem = only(tmp_path, f'[monitor]\ndatabase = "{database}"\n')
    assert (problem.key, says in problem.message) == ("monitor.database", True)


def test_database_password_is_a_secret(tmp_path: Path) -> None:
    url = "postgresql+psycopg://monitor:pg-secret-pass@db.example/monitor"
    settings = load(tmp_path, f'[monitor]\ndatabase = "{url}"\n')
    assert settings.monitor.database == url
    assert "pg-secret-pass" in settings.secrets


def test_bad_database_url_is_not_repeated(tmp_path: Path) -> None:
    env = {"CHANNEL_MONITOR_DATABASE": "nosuchdb://monitor:hunter2-pass@db.example/x"}
    problem = only(tmp_path, "", env)
    assert problem.key == "$CHANNEL_MONITOR_DATABASE"
    assert "hunter2-pass" not in str(problem)


def test_monitor_values(tmp_path: Path) -> None:
    settings = load(
        tmp_path,
        """
        [monitor]
        poll_interval = "1h30m"
        jitter = "0s"
        poll_timeout = "45s"
        max_in_flight = 200
        log_level = "DEBUG"
        log_format = "json"
        """,
    )
    assert settings.monitor.max_in_flight == 200
    assert settings.monitor.poll_interval == timedelta(hours=1, minutes=30)
    assert settings.monitor.jitter == timedelta()
    assert settings.monitor.poll_timeout == timedelta(seconds=45)
    assert (settings.monitor.log_level, settings.monitor.log_format) == ("debug", "json")


def test_monitor_mistakes(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        """
        [monitor]
        poll_interval = "0s"
        jitter = "-1m"
        poll_timeout = 120
        max_in_flight = 0
        log_level = "verbose"
        log_format = "yaml"
        listen = 9184
        databse = "sqlite://"
        """,
    )
    assert by_key(found) == {
        "monitor.poll_interval": "must be longer than 0s",
        "monitor.jitter": "not a duration: '-1m'; use a whole number and a unit (s, m, h, d, w), "
        "such as 90s, 15m, 6h, 14d or 1h30m",
        "monitor.poll_timeout": 'durations are strings such as "6h" or "14d"',
        "monitor.max_in_flight": "must be from 1 to 1024",
        "monitor.log_level": "must be one of debug, info, warning, error",
        "monitor.log_format": "must be one of text, json",
        "monitor.listen": "must be a string",
        "monitor.databse": "unknown key 'databse' (did you mean \"database\"?)",
    }


def test_the_pages_time_zone_and_language(tmp_path: Path) -> None:
    assert (MonitorSettings().timezone, MonitorSettings().language) == ("Europe/Amsterdam", "auto")
    settings = load(tmp_path, '[monitor]\ntimezone = "America/Curacao"\nlanguage = "NL"\n')
    assert (settings.monitor.timezone, settings.monitor.language) == ("America/Curacao", "nl")
    found = problems(tmp_path, '[monitor]\ntimezone = "Europe/Utrecht"\nlanguage = "fr"\n')
    assert by_key(found) == {
        "monitor.timezone": "unknown time zone 'Europe/Utrecht': use an IANA name such as "
        "Europe/Amsterdam or UTC",
        "monitor.language": "must be one of auto, en, nl",
    }
    assert "monitor.timezone" in by_key(problems(tmp_path, '[monitor]\ntimezone = "../etc"\n'))


def test_simulated_data_is_flagged_for_every_view(tmp_path: Path) -> None:
    """``[monitor] simulated = true`` (the demo's) labels pages, reports and tables."""
    assert load(tmp_path, "[monitor]\nsimulated = true\n").monitor.simulated is True
    assert load(tmp_path, "[monitor]\n").monitor.simulated is False
    assert by_key(problems(tmp_path, '[monitor]\nsimulated = "yes"\n')) == {
        "monitor.simulated": "must be true or false"
    }


def test_environment_overrides_the_file(tmp_path: Path) -> None:
    env = {
        "CHANNEL_MONITOR_DATABASE": "sqlite:///other.db",
        "CHANNEL_MONITOR_LISTEN": "[::1]:9999",
        "CHANNEL_MONITOR_POLL_INTERVAL": "2h",
        "CHANNEL_MONITOR_JITTER": "0s",
        "CHANNEL_MONITOR_LOG_LEVEL": "warning",
        "CHANNEL_MONITOR_LOG_FORMAT": "json",
    }
    text = '[monitor]\nlisten = "127.0.0.1:9184"\npoll_interval = "6h"\n'
    settings = load(tmp_path, text, env)
    assert settings.monitor == MonitorSettings(
        database="sqlite:///other.db",
        listen="[::1]:9999",
        poll_interval=timedelta(hours=2),
        jitter=timedelta(),
        log_level="warning",
        log_format="json",
    )
    # an empty variable is as good as unset
    assert load(tmp_path, text, {"CHANNEL_MONITOR_LISTEN": ""}).monitor.listen == "127.0.0.1:9184"


def test_environment_override_problems_name_the_variable(tmp_path: Path) -> None:
    env = {"CHANNEL_MONITOR_LISTEN": "nowhere", "CHANNEL_MONITOR_POLL_INTERVAL": "soon"}
    found = problems(tmp_path, "", env)
    assert {(p.file, p.key) for p in found} == {
        ("environment", "$CHANNEL_MONITOR_LISTEN"),
        ("environment", "$CHANNEL_MONITOR_POLL_INTERVAL"),
    }


# --- ${VAR} -----------------------------------------------------------------------------------


def test_any_string_may_use_environment_variables(tmp_path: Path) -> None:
    settings = load(
        tmp_path,
        """
        [monitor]
        database = "sqlite:///${DATA}/cm.db"
        [[organisation]]
        name = "${ORG} $$1"
        rss = ["https://${HOST}/rss",
               { handle = "https://${HOST}/atom", inactive_after = "${LONG}" }]
        """,
        {"DATA": "/var/lib", "ORG": "Gemeente", "HOST": "news.example", "LONG": "40d"},
    )
    assert settings.monitor.database == "sqlite:////var/lib/cm.db"
    assert settings.organisations == ("Gemeente $1",)
    assert [c.handle for c in settings.channels] == [
        "https://news.example/rss",
        "https://news.example/atom",
    ]
    assert settings.channels[1].policy.inactive_after == timedelta(days=40)


def test_environment_variable_problems(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        """
        [[organisation]]
        name = "${NAME}"
        rss = ["https://${NO_SUCH_HOST}/rss", "https://a.example/${}", "https://a.example/${oops"]
        """,
        {"NAME": "X"},
    )
    assert by_key(found) == {
        "organisation[0].rss[0]": "environment variable NO_SUCH_HOST is not set",
        "organisation[0].rss[1]": "bad ${...} reference: write ${NAME} for a variable, $$ for a $",
        "organisation[0].rss[2]": "bad ${...} reference: write ${NAME} for a variable, $$ for a $",
    }


def test_a_lone_dollar_is_kept(tmp_path: Path) -> None:
    settings = load(tmp_path, '[[organisation]]\nname = "Cost $5"\n')
    assert settings.organisations == ("Cost $5",)


# --- secrets ----------------------------------------------------------------------------------


def test_access_token_file_relative_to_the_config(tmp_path: Path) -> None:
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "facebook").write_text("  EAAB-file-token-1234\n", encoding="utf-8")
    absolute = tmp_path / "linkedin-token"
    absolute.write_text("AQX-file-token-5678", encoding="utf-8")
    settings = load(
        tmp_path,
        f"""
        [platforms.facebook]
        access_token_file = "secrets/facebook"
        [platforms.linkedin]
        access_token_file = "{absolute}"
        [[organisation]]
        name = "A"
        facebook = "gemeente.a"
        linkedin = "123"
        """,
    )
    assert settings.platforms["facebook"].options.access_token == "EAAB-file-token-1234"
    assert settings.platforms["linkedin"].options.access_token == "AQX-file-token-5678"
    assert settings.secrets == {"EAAB-file-token-1234", "AQX-file-token-5678"}


def test_access_token_file_problems(tmp_path: Path) -> None:
    (tmp_path / "empty").write_text(" \n", encoding="utf-8")
    found = problems(
        tmp_path,
        """
        [platforms.facebook]
        access_token_file = "missing"
        [platforms.instagram]
        access_token_file = "empty"
        [platforms.linkedin]
        access_token = "AQX-direct-token"
        access_token_file = "empty"
        """,
    )
    assert by_key(found) == {
        "platforms.facebook.access_token_file": (
            f"cannot read {tmp_path / 'missing'}: No such file or directory"
        ),
        "platforms.instagram.access_token_file": f"{tmp_path / 'empty'} is empty",
        "platforms.linkedin.access_token_file": (
            "give access_token or access_token_file, not both"
        ),
    }


def test_secrets_never_appear_in_problems_or_repr(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("EAAB-from-a-file-9999", encoding="utf-8")
    secrets = SECRETS | {"EAAB-from-a-file-9999"}
    text = """
        [platforms.facebook]
        access_token = "${FACEBOOK_ACCESS_TOKEN}"
        count_kinds = ["${FACEBOOK_ACCESS_TOKEN}"]
        [platforms.instagram]
        access_token = "${INSTAGRAM_ACCESS_TOKEN}"
        account_id = "${INSTAGRAM_ACCOUNT_ID}"
        concurrency = 0
        [platforms.linkedin]
        access_token_file = "token"
        acces_token = "${LINKEDIN_ACCESS_TOKEN}"
        [[organisation]]
        name = "A"
        facebook = "https://facebook.com/${FACEBOOK_ACCESS_TOKEN}"
        instagram = "${INSTAGRAM_ACCESS_TOKEN}!"
        linkedin = "${LINKEDIN_ACCESS_TOKEN}"
        """
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, text, TOKENS)
    message = str(caught.value)
    assert len(caught.value.problems) == 6, message
    assert "***" in message  # the unknown kind would have quoted the token
    for secret in secrets:
        assert secret not in message

    settings = load(
        tmp_path,
        """
        [platforms.facebook]
        access_token = "${FACEBOOK_ACCESS_TOKEN}"
        [platforms.instagram]
        access_token = "${INSTAGRAM_ACCESS_TOKEN}"
        account_id = "${INSTAGRAM_ACCOUNT_ID}"
        [platforms.linkedin]
        access_token_file = "token"
        [[organisation]]
        name = "A"
        facebook = "gemeente.a"
        instagram = "gemeente.a"
        linkedin = "123"
        """,
        TOKENS,
    )
    assert settings.secrets == secrets - {TOKENS["LINKEDIN_ACCESS_TOKEN"]}
    for secret in secrets:
        assert secret not in repr(settings)
        assert secret not in str(settings)


def test_app_secret_for_graph_platforms_is_a_secret(tmp_path: Path) -> None:
    (tmp_path / "app-secret").write_text("ig-app-secret-5678\n", encoding="utf-8")
    settings = load(
        tmp_path,
        """
        [platforms.facebook]
        access_token = "1234567890|fb-app-secret-1234"
        app_secret = "${FB_APP_SECRET}"
        [platforms.instagram]
        access_token = "${INSTAGRAM_ACCESS_TOKEN}"
        app_secret_file = "app-secret"
        account_id = "17841400000000000"
        [[organisation]]
        name = "A"
        facebook = "gemeente.a"
        instagram = "gemeente.a"
        """,
        {**TOKENS, "FB_APP_SECRET": "fb-app-secret-1234"},
    )
    assert settings.platforms["facebook"].options.app_secret == "fb-app-secret-1234"
    assert settings.platforms["instagram"].options.app_secret == "ig-app-secret-5678"
    assert {"fb-app-secret-1234", "ig-app-secret-5678"} <= settings.secrets
    proof = hmac.new(b"fb-app-secret-1234", b"1234567890|fb-app-secret-1234", hashlib.sha256)
    assert proof.hexdigest() in settings.secrets  # sent with every request: masked too
    assert "ig-app-secret-5678" not in repr(settings)
    assert "fb-app-secret-1234" not in repr(settings)


def test_app_secret_problems(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        """
        [platforms.facebook]
        app_secret = "direct-secret"
        app_secret_file = "missing"
        [platforms.linkedin]
        app_secret = "not-for-linkedin"
        """,
    )
    assert by_key(found) == {
        "platforms.facebook.app_secret_file": "give app_secret or app_secret_file, not both",
        "platforms.linkedin.app_secret": "app_secret applies to facebook and instagram only",
    }
    assert "not-for-linkedin" not in str(found)


# --- policy -----------------------------------------------------------------------------------


def test_policy_precedence_default_policy_platform_channel(tmp_path: Path) -> None:
    settings = load(
        tmp_path,
        f"""
        [policy]
        inactive_after = "20d"
        quiet_factor = 2
        target_posts = 3
        [platforms.youtube]
        inactive_after = "40d"
        target_period = "30d"
        count_kinds = ["post", "reply", "post"]
        [[organisation]]
        name = "A"
        youtube = "{YT}"
        rss = "https://a.example/rss"
        [[organisation]]
        name = "B"
        [[organisation.youtube]]
        handle = "{YT2}"
        inactive_after = "50d"
        target_posts = 0
        quiet_factor = 4.5
        count_kinds = ["repost"]
        """,
    )
    assert settings.policy == Policy(
        inactive_after=timedelta(days=20), quiet_factor=2.0, target_posts=3
    )
    plain, custom = settings.channels[0].policy, settings.channels[2].policy
    assert plain == Policy(
        inactive_after=timedelta(days=40),
        quiet_factor=2.0,
        target_posts=3,
        target_period=timedelta(days=30),
        count_kinds=("post", "reply"),
    )
    assert settings.channels[1].policy == settings.policy  # rss: [policy] only
    assert custom.inactive_after == timedelta(days=50)
    assert custom.target_posts == 0
    assert custom.quiet_factor == 4.5
    assert custom.count_kinds == ("repost",)
    assert custom.target_period == timedelta(days=30)


def test_policy_mistakes(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        """
        [policy]
        quiet_factor = 0
        target_posts = -1
        target_period = "0s"
        count_kinds = []
        poll_interval = "1h"
        [platforms.rss]
        quiet_factor = true
        target_posts = 1.5
        count_kinds = ["post", "like"]
        inactive_after = 30
        [platforms.youtube]
        count_kinds = "post"
        quiet_factor = "3"
        """,
    )
    assert by_key(found) == {
        "policy.quiet_factor": "must be a number above 0 and at most 1000",
        "policy.target_posts": "must be from 0 to 10000",
        "policy.target_period": "must be longer than 0s",
        "policy.count_kinds": "must be a non-empty list of post, reply, repost",
        "policy.poll_interval": "unknown key 'poll_interval'",
        "platforms.rss.quiet_factor": "must be a number",
        "platforms.rss.target_posts": "must be a whole number",
        "platforms.rss.count_kinds": "unknown kind 'like' (known: post, reply, repost)",
        "platforms.rss.inactive_after": 'durations are strings such as "6h" or "14d"',
        "platforms.youtube.count_kinds": "must be a non-empty list of post, reply, repost",
        "platforms.youtube.quiet_factor": "must be a number",
    }


def test_dormant_before_inactive_is_blamed_on_the_most_specific_key(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        f"""
        [policy]
        dormant_after = "20d"          # below the default inactive_after of 30d
        [platforms.youtube]
        inactive_after = "10d"         # repairs it for youtube
        [platforms.rss]
        dormant_after = "5d"           # breaks it again for rss
        [[organisation]]
        name = "A"
        youtube = [{{ handle = "{YT}", inactive_after = "25d" }},
                   {{ handle = "{YT2}", dormant_after = "100d", inactive_after = "200d" }}]
        rss = ["https://a.example/1", "https://a.example/2"]
        """,
    )
    message = "dormant_after ({}) is shorter than inactive_after ({})"
    assert by_key(found) == {
        "policy.dormant_after": message.format("20d", "30d"),
        "platforms.rss.dormant_after": message.format("5d", "30d"),
        "organisation[0].youtube[0].inactive_after": message.format("20d", "25d"),
        "organisation[0].youtube[1].dormant_after": message.format("100d", "200d"),
    }


def test_equal_dormant_and_inactive_is_allowed(tmp_path: Path) -> None:
    settings = load(tmp_path, '[policy]\ninactive_after = "30d"\ndormant_after = "30d"\n')
    assert settings.policy.dormant_after == settings.policy.inactive_after


def test_poll_interval_precedence(tmp_path: Path) -> None:
    text = f"""
        [monitor]
        poll_interval = "6h"
        [platforms.rss]
        poll_interval = "3h"
        [[organisation]]
        name = "A"
        rss = ["https://a.example/1", {{ handle = "https://a.example/2", poll_interval = "1h" }}]
        youtube = "{YT}"
        """
    intervals = [c.poll_interval for c in load(tmp_path, text).channels]
    assert intervals == [timedelta(hours=3), timedelta(hours=1), timedelta(hours=6)]
    env = {"CHANNEL_MONITOR_POLL_INTERVAL": "12h"}
    intervals = [c.poll_interval for c in load(tmp_path, text, env).channels]
    assert intervals == [timedelta(hours=3), timedelta(hours=1), timedelta(hours=12)]


# --- [platforms.X] ----------------------------------------------------------------------------


def test_platform_values(tmp_path: Path) -> None:
    settings = load(
        tmp_path,
        """
        [platforms.mastodon]
        base_url = "http://127.0.0.1:8080/"
        concurrency = 64
        timeout = "10s"
        page_limit = 100
        [platforms.facebook]
        api_version = "v27.0"
        concurrency = 1
        page_limit = 1
        """,
    )
    mastodon = settings.platforms["mastodon"]
    assert mastodon.options.base_url == "http://127.0.0.1:8080"
    assert (mastodon.concurrency, mastodon.timeout, mastodon.options.page_limit) == (
        64,
        timedelta(seconds=10),
        100,
    )
    facebook = settings.platforms["facebook"]
    assert facebook.options.api_version == "v27.0"
    assert (facebook.concurrency, facebook.options.page_limit) == (1, 1)
    assert facebook.options.base_url == "https://graph.facebook.com"


def test_platform_mistakes(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        """
        [platforms]
        tiktok = {}
        facebok = {}
        youtube = "https://www.youtube.com"
        [platforms.rss]
        base_url = "https://example.org"
        [platforms.mastodon]
        base_url = "ftp://mastodon.example"
        concurrency = 0
        page_limit = 101
        timeout = 30
        acces_token = "x"
        [platforms.bluesky]
        concurrency = 65
        page_limit = 0
        account_id = "123"
        base_url = "public.api.bsky.app"
        """,
    )
    assert by_key(found) == {
        "platforms.tiktok": (
            "unknown platform 'tiktok' (known: facebook, instagram, linkedin, mastodon, bluesky, "
            "youtube, rss)"
        ),
        "platforms.facebok": "unknown platform 'facebok' (did you mean \"facebook\"?)",
        "platforms.youtube": "must be a table ([platforms.youtube])",
        "platforms.rss.base_url": "rss feeds are full URLs; base_url does not apply",
        "platforms.mastodon.base_url": "must be an absolute http:// or https:// URL",
        "platforms.mastodon.concurrency": "must be from 1 to 64",
        "platforms.mastodon.page_limit": "must be from 1 to 100",
        "platforms.mastodon.timeout": 'durations are strings such as "6h" or "14d"',
        "platforms.mastodon.acces_token": (
            "unknown key 'acces_token' (did you mean \"access_token\"?)"
        ),
        "platforms.bluesky.concurrency": "must be from 1 to 64",
        "platforms.bluesky.page_limit": "must be from 1 to 100",
        "platforms.bluesky.account_id": "account_id applies to instagram only",
        "platforms.bluesky.base_url": "must be an absolute http:// or https:// URL",
    }


def test_inapplicable_keys_are_one_problem_each(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        """
        [platforms.rss]
        base_url = "not even a url"
        [platforms.youtube]
        account_id = 5
        """,
    )
    assert by_key(found) == {
        "platforms.rss.base_url": "rss feeds are full URLs; base_url does not apply",
        "platforms.youtube.account_id": "account_id applies to instagram only",
    }


@pytest.mark.parametrize(
    ("platform", "handle"),
    [("facebook", "gemeente.a"), ("instagram", "gemeente.a"), ("linkedin", "123")],
)
def test_token_is_required_for_channels_on_api_platforms(
    tmp_path: Path, platform: str, handle: str
) -> None:
    text = f'[[organisation]]\nname = "A"\n{platform} = "{handle}"\n'
    found = problems(tmp_path, text)
    assert found[0] == Problem(
        str(tmp_path / "config.toml"),
        f"platforms.{platform}",
        f"access_token (or access_token_file) is required for {platform} channels",
    )
    if platform == "instagram":
        assert found[1].key == "platforms.instagram"
        assert "account_id" in found[1].message
    assert len(found) == (2 if platform == "instagram" else 1)


def test_no_token_needed_without_channels_or_on_public_platforms(tmp_path: Path) -> None:
    settings = load(
        tmp_path,
        """
        [platforms.facebook]
        inactive_after = "14d"
        [[organisation]]
        name = "A"
        mastodon = "voorbeeld@social.example"
        bluesky = "a.bsky.social"
        """,
    )
    assert settings.platforms["facebook"].options.access_token is None
    assert len(settings.channels) == 2


# --- organisations ----------------------------------------------------------------------------


def test_channel_forms(tmp_path: Path) -> None:
    settings = load(
        tmp_path,
        f"""
        [[organisation]]
        name = "  Gemeente A  "
        youtube = "{YT}"
        rss = ["https://a.example/1", {{ handle = "https://a.example/2", parked = true }}]
        mastodon = {{ handle = "@a@social.example", target_posts = 1 }}

        [[organisation]]
        name = "Gemeente B"
        youtube = "{YT}"       # the same channel under another organisation is fine
        rss = []
        """,
    )
    assert settings.organisations == ("Gemeente A", "Gemeente B")
    assert [(c.platform, c.handle, c.parked) for c in settings.channels] == [
        ("youtube", YT, False),
        ("rss", "https://a.example/1", False),
        ("rss", "https://a.example/2", True),
        ("mastodon", "@a@social.example", False),
        ("youtube", YT, False),
    ]
    assert settings.channels[3].policy.target_posts == 1


def test_organisation_mistakes(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        f"""
        [[organisation]]
        name = "A"
        youtube = ["{YT}", "{YT}"]
        youtub = "x"
        twitter = "x"

        [[organisation]]
        name = "A"
        rss = "https://a.example/rss"

        [[organisation]]
        rss = "https://c.example/rss"

        [[organisation]]
        name = ""
        rss = [["https://d.example/rss"]]

        [[organisation]]
        name = "E"
        rss = {{ parked = true, inactive_after = "40d", colour = "red" }}
        youtube = 5
        mastodon = {{ handle = "@e@social.example", parked = "yes" }}
        """,
    )
    assert by_key(found) == {
        "organisation[0].youtube[1]": "duplicate channel (first at organisation[0].youtube[0])",
        "organisation[0].youtub": "unknown key 'youtub' (did you mean \"youtube\"?)",
        "organisation[0].twitter": (
            "unknown key 'twitter' (expected name, website or a platform: facebook, instagram, "
            "linkedin, mastodon, bluesky, youtube, rss)"
        ),
        "organisation[1].name": "duplicate organisation name (first at organisation[0])",
        "organisation[2]": "name is required",
        "organisation[3].name": "must not be empty",
        "organisation[3].rss[0]": "must be a handle, a table { handle = … }, or a list",
        "organisation[4].rss": 'a channel table needs handle = "…"',
        "organisation[4].rss.colour": "unknown key 'colour'",
        "organisation[4].youtube": "must be a handle, a table { handle = … }, or a list",
        "organisation[4].mastodon.parked": "must be true or false",
    }


def test_channel_table_key_paths(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        """
        [platforms.instagram]
        access_token = "t0ken-value"
        account_id = "1"
        [[organisation]]
        name = "A"
        [[organisation]]
        name = "B"
        instagram = { handle = "b", inactive_after = "soon", target_posts = -2 }
        rss = ["https://b.example/1", { handle = "https://b.example/2", poll_interval = 60 }]
        """,
    )
    assert [p.key for p in found] == [
        "organisation[1].instagram.inactive_after",
        "organisation[1].instagram.target_posts",
        "organisation[1].rss[1].poll_interval",
    ]


def test_organisation_must_be_an_array_of_tables(tmp_path: Path) -> None:
    problem = only(tmp_path, 'organisation = ["A"]\n')
    assert (problem.key, problem.message) == ("organisation", "must be [[organisation]] tables")


def test_unknown_top_level_key(tmp_path: Path) -> None:
    problem = only(tmp_path, '[[organisations]]\nname = "A"\n')
    assert problem.key == "organisations"
    assert problem.message == "unknown key 'organisations' (did you mean \"organisation\"?)"


def test_unsupported_platform(tmp_path: Path) -> None:
    text = f"""
        [[organisation]]
        name = "A"
        facebook = ["one.page", "two.page"]
        youtube = "{YT}"
        """
    problem = only(tmp_path, text, supported=TODAY)
    assert str(problem) == (
        f"{tmp_path / 'config.toml'}: organisation[0].facebook: "
        "facebook is not supported yet (supported: rss, youtube)"
    )


@pytest.mark.parametrize(
    ("platform", "handle"),
    [
        ("rss", "https://www.voorbeeld.nl/nieuws/rss"),
        ("rss", "http://example.org/feed?format=atom"),
        ("youtube", "UC_x5XG1OV2P6uZZ5FSM9Ttw"),
        ("mastodon", "@voorbeeld@social.overheid.nl"),
        ("mastodon", "voorbeeld@mastodon.social"),
        ("mastodon", "@voorbeeld@social.example:8443"),  # a domain may carry a port
        ("mastodon", "@admin@localhost:3000"),
        ("mastodon", "@voorbeeld@127.0.0.1:8443"),
        ("bluesky", "voorbeeld.bsky.social"),
        ("bluesky", "www.rijksoverheid.nl"),
        ("bluesky", "did:plc:z72i7hdynmk6r22z27h6tvur"),
        ("bluesky", "did:web:example.com"),
        ("linkedin", "1234567"),
        ("linkedin", "urn:li:organization:1234567"),
        ("facebook", "gemeentevoorbeeld"),
        ("facebook", "Gemeente.Voorbeeld"),
        ("facebook", "nasa"),
        ("facebook", "100064512345678"),
        ("instagram", "gemeente_voorbeeld.nl"),
    ],
)
def test_handles_accepted(tmp_path: Path, platform: str, handle: str) -> None:
    token = 'access_token = "t0ken-value"' if platform in TOKEN_PLATFORMS else ""
    text = f"""
        [platforms.{platform}]
        {token}
        {'account_id = "1"' if platform == "instagram" else ""}
        [[organisation]]
        name = "A"
        {platform} = "{handle}"
        """
    assert load(tmp_path, text).channels[0].handle == handle


@pytest.mark.parametrize(
    ("platform", "handle", "message"),
    [
        ("rss", "www.example.org/rss", "a feed is an absolute http:// or https:// URL"),
        ("rss", "ftp://example.org/rss", "a feed is an absolute http:// or https:// URL"),
        ("rss", "/nieuws/rss", "a feed is an absolute http:// or https:// URL"),
        ("youtube", "UCshort", "not a YouTube channel id (UC followed by 22 characters)"),
        ("youtube", "@gemeente", "not a YouTube channel id (UC followed by 22 characters)"),
        (
            "youtube",
            "https://www.youtube.com/channel/UC_x5XG1OV2P6uZZ5FSM9Ttw",
            "give a YouTube channel id (UC followed by 22 characters), not a web address",
        ),
        ("mastodon", "voorbeeld", "not a Mastodon account (@name@server.example)"),
        (
            "mastodon",
            "https://social.example/@voorbeeld",
            "give a Mastodon account (@name@server.example), not a web address",
        ),
        ("bluesky", "voorbeeld", "not a Bluesky handle"),
        ("bluesky", "@voorbeeld.bsky.social", "without the @"),
        ("bluesky", "did:plc:short", "not a Bluesky handle"),
        ("linkedin", "gemeente-voorbeeld", "not a LinkedIn organization id"),
        (
            "linkedin",
            "https://www.linkedin.com/company/1234567",
            "give a LinkedIn organization id (digits or urn:li:organization:…), not a web address",
        ),
        (
            "facebook",
            "https://www.facebook.com/gemeentevoorbeeld",
            "give a Facebook Page username or numeric id, not a web address",
        ),
        ("facebook", "facebook.com/gemeente", "not a web address"),
        ("facebook", "Gemeente Voorbeeld", "not a Facebook Page username or numeric id"),
        ("instagram", "@gemeente", "give an Instagram username without the @"),
        ("instagram", "a" * 31, "not an Instagram username"),
        ("instagram", "gemeente-voorbeeld", "not an Instagram username"),
        ("instagram", "", "the handle is empty"),
    ],
)
def test_handles_rejected(tmp_path: Path, platform: str, handle: str, message: str) -> None:
    text = f"""
        [[organisation]]
        name = "A"
        {platform} = "{handle}"
        """
    found = [p for p in problems(tmp_path, text) if not p.key.startswith("platforms.")]
    assert [p.key for p in found] == [f"organisation[0].{platform}"]
    assert message in found[0].message


# --- the organisations CSV --------------------------------------------------------------------


def test_csv_organisations(tmp_path: Path) -> None:
    (tmp_path / "orgs").mkdir()
    write(
        tmp_path / "orgs",
        f"""\
        Name;YouTube;rss
        Gemeente B;{YT};https://b.example/1  https://b.example/2
        ;;
        Gemeente C;;
        Gemeente D;{YT2};
        """,
        "list.csv",
    )
    settings = load(
        tmp_path,
        f"""
        [monitor]
        organisations_file = "orgs/list.csv"
        [[organisation]]
        name = "Gemeente A"
        youtube = "{YT}"
        """,
    )
    assert settings.organisations == ("Gemeente A", "Gemeente B", "Gemeente C", "Gemeente D")
    assert [c.key for c in settings.channels] == [
        ("Gemeente A", "youtube", YT),
        ("Gemeente B", "youtube", YT),
        ("Gemeente B", "rss", "https://b.example/1"),
        ("Gemeente B", "rss", "https://b.example/2"),
        ("Gemeente D", "youtube", YT2),
    ]
    assert all(c.policy == Policy() and not c.parked for c in settings.channels)


def test_csv_mistakes(tmp_path: Path) -> None:
    csv_path = write(
        tmp_path,
        f"""\
        name,youtube,rss,tiktok,facebook
        Gemeente A,{YT},,,
        Gemeente B,UCbad,https://b.example/1 nope,,
        Gemeente A,,,,
        ,{YT2},,,
        "Gemeente E",{YT2} {YT2},,,
        Gemeente F,,,,gemeente.f
        """,
        "organisations.csv",
    )
    found = problems(
        tmp_path,
        """
        [monitor]
        organisations_file = "organisations.csv"
        [[organisation]]
        name = "Gemeente B"
        """,
        supported=TODAY,
    )
    assert all(p.file == str(csv_path) for p in found)
    assert by_key(found) == {
        "row 1": "unknown column 'tiktok' (known: name, website, facebook, instagram, linkedin, "
        "mastodon, bluesky, youtube, rss)",
        "row 3: youtube": "not a YouTube channel id (UC followed by 22 characters)",
        "row 3: rss[1]": "a feed is an absolute http:// or https:// URL",
        "row 3: name": "duplicate organisation name (first at organisation[0])",
        "row 4: name": "duplicate organisation name (first at organisations.csv row 2)",
        "row 5: name": "name is required",
        "row 6: youtube[1]": "duplicate channel (first at row 6: youtube[0])",
        "row 7: facebook": "facebook is not supported yet (supported: rss, youtube)",
    }


def test_csv_needs_a_name_column(tmp_path: Path) -> None:
    write(tmp_path, f"organisation,youtube\nA,{YT}\n", "orgs.csv")
    problem = only(tmp_path, '[monitor]\norganisations_file = "orgs.csv"\n')
    assert (problem.file, problem.key) == (str(tmp_path / "orgs.csv"), "row 1")
    assert '"name"' in problem.message


def test_unreadable_csv_row(tmp_path: Path) -> None:
    write(tmp_path, 'name,rss\nA,"' + "x" * 200_000 + "\n", "orgs.csv")
    problem = only(tmp_path, '[monitor]\norganisations_file = "orgs.csv"\n')
    assert problem.key == "row 2"
    assert problem.message.startswith("not readable as CSV: field larger than field limit")


def test_missing_csv(tmp_path: Path) -> None:
    problem = only(tmp_path, '[monitor]\norganisations_file = "orgs.csv"\n')
    assert problem.key == "monitor.organisations_file"
    assert problem.message == f"cannot read {tmp_path / 'orgs.csv'}: No such file or directory"


def test_a_key_inside_a_feed_url_stays_out_of_labels_and_the_database(tmp_path: Path) -> None:
    from monitor.config import load_settings

    config = tmp_path / "config.toml"
    config.write_text(
        '[[organisation]]\nname = "Intranet"\n'
        'rss = ["https://intranet.example/feed?key=${FEED_KEY}", "https://example.nl/?feed=rss2"]\n'
    )
    settings = load_settings(config, {"FEED_KEY": "s3cr3t-feed-key"}, supported=frozenset({"rss"}))
    keyed, plain = settings.channels
    assert keyed.handle == "https://intranet.example/feed?key=s3cr3t-feed-key"  # what is read
    assert "s3cr3t-feed-key" in settings.secrets
    for channel in (keyed, plain):
        assert "?" in channel.label
        assert "key=" not in channel.label and "feed=" not in channel.label
        assert channel.key[2] == channel.label  # the database never sees the handle
    assert keyed.label.startswith("https://intranet.example/feed?…")


@pytest.mark.parametrize("separator", [",", ";", "\t"])
def test_csv_doubled_quotes_are_quotes(tmp_path: Path, separator: str) -> None:
    # RFC 4180 §2.7, and what every spreadsheet writes: "" inside a quoted field is one "
    rows = [
        ["name", "youtube"],
        ['"Stichting ""De Brug"", Utrecht"', YT],
        ['"Gemeente ""t Hoogt"""', YT2],
    ]
    write(tmp_path, "\n".join(separator.join(row) for row in rows) + "\n", "orgs.csv")
    settings = load(tmp_path, '[monitor]\norganisations_file = "orgs.csv"\n')
    assert settings.organisations == ('Stichting "De Brug", Utrecht', 'Gemeente "t Hoogt"')


def test_credentials_in_a_feed_url_stay_out_of_labels_and_reach_the_redactor(
    tmp_path: Path,
) -> None:
    settings = load(
        tmp_path,
        """
        [[organisation]]
        name = "Intranet"
        rss = [
            "https://feeds:hunter2-pass@intranet.example/nieuws?sig=a1b2c3d4e5&format=rss",
            "https://token-only-user@intranet.example/agenda",
        ]
        """,
        supported=TODAY,
    )
    with_password, token_as_user = settings.channels
    assert with_password.handle.startswith("https://feeds:hunter2-pass@")  # what is read
    assert with_password.label.startswith("https://***@intranet.example/nieuws?…")
    assert token_as_user.label == "https://***@intranet.example/agenda"
    for channel in settings.channels:
        assert channel.key[2] == channel.label
        assert "hunter2" not in channel.label and "token-only-user" not in channel.label
    # logs mask them wherever they show: the password, the user, and unknown parameters
    assert {"hunter2-pass", "feeds:hunter2-pass", "token-only-user"} <= settings.secrets
    assert "sig" in settings.secret_params
    assert "format" not in settings.secret_params  # what a feed's format is says nothing


def test_feeds_that_differ_only_in_credentials_are_one_channel_too_many(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        """
        [[organisation]]
        name = "Intranet"
        rss = ["https://a:first-pass@intranet.example/rss", "https://b:other-pass@intranet.example/rss"]
        """,
        supported=TODAY,
    )
    assert by_key(found) == {
        "organisation[0].rss[1]": "the same feed as organisation[0].rss[0] but for its"
        " credentials; give each feed once"
    }
    assert "first-pass" not in str(found) and "other-pass" not in str(found)


@pytest.mark.parametrize(
    ("text", "key", "message"),
    [
        ("[policy]\ntarget_posts = 99999999999999999999\n", "policy.target_posts", "0 to 10000"),
        ("[policy]\nquiet_factor = 1e300\n", "policy.quiet_factor", "at most 1000"),
        ('[policy]\ninactive_after = "99999999d"\n', "policy.inactive_after", "36500d"),
        ('[monitor]\npoll_interval = "999999999d"\n', "monitor.poll_interval", "36500d"),
        ("[notify]\nfailing_after = 4294967296\n", "notify.failing_after", "1 to 1000"),
    ],
)
def test_numbers_are_bounded_to_sane_ranges(
    tmp_path: Path, text: str, key: str, message: str
) -> None:
    hook = '[[notify.webhook]]\nurl = "https://hooks.example/x"\n' if "notify" in text else ""
    found = problems(tmp_path, text + hook + f'[[organisation]]\nname = "A"\nyoutube = "{YT}"\n')
    assert [p.key for p in found] == [key]
    assert message in found[0].message, found[0].message
