"""Discovery's configuration: ``website`` per organisation (TOML and CSV) and ``[discovery]``."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from monitor.settings import DiscoverySettings
from tests.test_config import by_key, load, problems, write


def test_websites_from_tables_and_the_csv(tmp_path: Path) -> None:
    write(
        tmp_path,
        "name;website;rss\n"
        "Gemeente B;https://www.gemeente-b.nl/;https://www.gemeente-b.nl/feed\n"
        "Gemeente C;;\n",
        "organisations.csv",
    )
    settings = load(
        tmp_path,
        """
        [monitor]
        organisations_file = "organisations.csv"

        [[organisation]]
        name = "Gemeente A"
        website = "https://www.gemeente-a.nl"
        """,
    )
    assert settings.organisations == ("Gemeente A", "Gemeente B", "Gemeente C")
    assert settings.websites == {
        "Gemeente A": "https://www.gemeente-a.nl",
        "Gemeente B": "https://www.gemeente-b.nl/",
    }
    assert settings.discovery == DiscoverySettings()  # off unless [discovery] every is set


def test_discovery_section(tmp_path: Path) -> None:
    settings = load(
        tmp_path,
        """
        [discovery]
        every = "7d"
        max_pages = 3
        """,
    )
    assert settings.discovery == DiscoverySettings(every=timedelta(days=7), max_pages=3)


def test_websites_are_not_read_more_than_hourly(tmp_path: Path) -> None:
    found = problems(tmp_path, '[discovery]\nevery = "10m"\n')
    assert by_key(found) == {
        "discovery.every": "at least 1h: a website is read politely, and changes seldom"
    }


def test_mistakes(tmp_path: Path) -> None:
    write(tmp_path, "name,website\nGemeente B,www.gemeente-b.nl\n", "organisations.csv")
    found = problems(
        tmp_path,
        """
        [monitor]
        organisations_file = "organisations.csv"

        [discovery]
        every = "weekly"
        max_pages = 50
        pages = 3

        [[organisation]]
        name = "Gemeente A"
        website = "gemeente-a.nl"
        """,
    )
    messages = by_key(found)
    assert messages.pop("discovery.every").startswith("not a duration: 'weekly'")
    assert messages == {
        "discovery.max_pages": "must be from 1 to 20",
        "discovery.pages": "unknown key 'pages' (did you mean \"max_pages\"?)",
        "organisation[0].website": "must be an absolute http:// or https:// URL",
        "row 2: website": "must be an absolute http:// or https:// URL",
    }
