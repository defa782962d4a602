"""``channel_monitor_build_info`` names the version and the source revision it was built from."""

from __future__ import annotations

import json
from pathlib import Path

from prometheus_client import CollectorRegistry

from monitor import __version__
from monitor.build import REVISION, revision
from monitor.metrics import ChannelCollector


def test_the_revision_written_at_image_build_wins(tmp_path: Path) -> None:
    (tmp_path / "REVISION").write_text("0123abcd\n", encoding="utf-8")
    direct_url = json.dumps({"url": "https://x", "vcs_info": {"vcs": "git", "commit_id": "ffff"}})
    assert revision(tmp_path / "REVISION", direct_url) == "0123abcd"


def test_a_pip_install_from_git_gives_its_commit(tmp_path: Path) -> None:
    direct_url = json.dumps(
        {"url": "https://example.org/cm.git", "vcs_info": {"vcs": "git", "commit_id": "9f8e7d"}}
    )
    assert revision(tmp_path / "REVISION", direct_url) == "9f8e7d"


def test_unknown_without_either(tmp_path: Path) -> None:
    (tmp_path / "REVISION").write_text("  \n", encoding="utf-8")  # an image built without it
    assert revision(tmp_path / "REVISION", None) == "unknown"
    editable = json.dumps({"url": "file:///src", "dir_info": {"editable": True}})
    assert revision(tmp_path / "missing", editable) == "unknown"
    assert revision(tmp_path / "missing", "not json") == "unknown"


def test_build_info_carries_version_and_revision() -> None:
    registry = CollectorRegistry()
    registry.register(ChannelCollector(lambda: []))
    labels = {"version": __version__, "revision": REVISION}
    assert registry.get_sample_value("channel_monitor_build_info", labels) == 1
