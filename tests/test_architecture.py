"""The tree shows the architecture: dependencies point one way, monitor → connectors."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN_IN_CONNECTORS = {
    "monitor",
    "sqlmodel",
    "sqlalchemy",
    "apscheduler",
    "prometheus_client",
    "aiohttp",
}


def imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def test_connectors_never_import_the_daemon_or_its_infrastructure() -> None:
    offenders = {
        str(path.relative_to(ROOT)): sorted(imports(path) & FORBIDDEN_IN_CONNECTORS)
        for path in (ROOT / "connectors").glob("*.py")
    }
    assert {"connectors/base.py", "connectors/errors.py", "connectors/rss.py"} <= set(offenders)
    assert {k: v for k, v in offenders.items() if v} == {}


def test_the_cadence_core_is_pure() -> None:
    allowed = {
        "__future__",
        "dataclasses",
        "datetime",
        "enum",
        "math",
        "bisect",
        "collections",
        "typing",
        "itertools",
        "functools",
        "monitor",
    }
    assert imports(ROOT / "monitor" / "cadence.py") <= allowed


def test_every_platform_has_its_own_connector_module() -> None:
    from connectors.registry import CONNECTORS

    platforms = {"rss", "youtube", "facebook", "instagram", "linkedin", "mastodon", "bluesky"}
    assert platforms <= set(CONNECTORS)  # the loop below checks something
    for platform, cls in CONNECTORS.items():
        assert cls.platform == platform
        assert cls.__module__ == f"connectors.{platform}"


def monitor_imports(path: Path) -> set[str]:
    """The ``monitor`` modules ``path`` imports, by dotted name (``from monitor import api`` and
    ``from ..api import x`` both count as ``monitor.api``)."""
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            module = ".".join(m for m in (base, node.module) if m)
            if module.startswith("monitor"):
                found.add(module)
                found.update(f"{module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("monitor"))
    return found


def offenders(paths: list[Path], parts: tuple[str, ...]) -> dict[str, list[str]]:
    """Which of ``parts`` (dotted modules or packages) each of ``paths`` imports, where any does."""

    def inside(module: str) -> bool:
        return any(module == part or module.startswith(f"{part}.") for part in parts)

    found = {str(p.relative_to(ROOT)): sorted(filter(inside, monitor_imports(p))) for p in paths}
    return {path: modules for path, modules in found.items() if modules}


def test_notifications_and_explanations_do_not_depend_on_the_pages() -> None:
    parts = [
        *(ROOT / "monitor" / "notify").glob("*.py"),
        *(ROOT / "monitor" / "explain").glob("*.py"),
    ]
    assert len(parts) > 5
    assert offenders(parts, ("monitor.web",)) == {}


# What the other parts show people, and those parts themselves: the JSON API, the pages, the
# report, the command line, the /metrics exposition, the demo and discovery. ``explain`` is not
# here: it is the judgement in words (pure, no markup), shared so every part says the same thing.
PRESENTATION = (
    "monitor.api",
    "monitor.web",
    "monitor.report",
    "monitor.cli",
    "monitor.exposition",
    "monitor.demo",
    "monitor.discovery",
)


def test_notifications_depend_on_the_judgement_and_the_store_not_on_presentation() -> None:
    modules = sorted((ROOT / "monitor" / "notify").glob("*.py"))
    names = {path.stem for path in modules}
    assert names >= {"__init__", "events", "job", "markup", "message", "store"}
    assert offenders(modules, PRESENTATION) == {}
