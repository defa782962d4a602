"""Which build this is: the version, and the source revision it was built from.

The revision comes from ``monitor/REVISION``, which the container image writes at build time
(``docker build --build-arg REVISION=$(git rev-parse HEAD)``), else from the install's
``direct_url.json`` (PEP 610: ``pip install git+https://…`` records the commit), else it is
``unknown``. It is read once, at import: it is a fact of the build, not configuration.
"""

from __future__ import annotations

import json
from importlib import metadata
from pathlib import Path

from monitor import __version__

DISTRIBUTION = "channel-monitor"
REVISION_FILE = Path(__file__).with_name("REVISION")


def revision(path: Path, direct_url: str | None) -> str:
    """The revision from the image's file, else from PEP 610 VCS metadata, else ``unknown``."""
    try:
        written = path.read_text(encoding="utf-8").strip()
    except OSError:
        written = ""
    if written:
        return written
    try:
        commit = json.loads(direct_url or "")["vcs_info"]["commit_id"]
    except (ValueError, KeyError, TypeError):
        return "unknown"
    return str(commit) if commit else "unknown"


def _direct_url() -> str | None:
    try:
        return metadata.distribution(DISTRIBUTION).read_text("direct_url.json")
    except metadata.PackageNotFoundError:
        return None


VERSION = __version__
REVISION = revision(REVISION_FILE, _direct_url())
