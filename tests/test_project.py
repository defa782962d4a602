"""What users and catalogues expect of the project around the code: its licence, its ignore file
and its publiccode.yml (checked against the publiccode.yml standard, version 0.4)."""

from __future__ import annotations

import re
import tomllib
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def _words(text: str) -> set[str]:
    return set(text.split())


# The publiccode.yml standard (docs/standard/schema.core.rst, categories-list.rst and
# scope-list.rst of publiccodeyml/publiccode.yml at v0.4.0).
PLATFORMS = {"web", "windows", "mac", "linux", "ios", "android"}
DEVELOPMENT_STATUSES = {"concept", "development", "beta", "stable", "obsolete"}
SOFTWARE_TYPES = {
    *("standalone/mobile", "standalone/iot", "standalone/desktop", "standalone/web"),
    *("standalone/backend", "standalone/other", "addon", "library", "configurationFiles"),
}
MAINTENANCE_TYPES = {"internal", "contract", "community", "none"}
SCOPES = _words(
    "agriculture culture defence education emergency-services employment energy environment "
    "finance-and-economic-development foreign-affairs government healthcare infrastructures "
    "justice local-authorities manufacturing research science-and-technology security society "
    "sport tourism transportation welfare"
)
CATEGORIES = _words(
    "accounting agile-project-management applicant-tracking application-development "
    "appointment-scheduling backup billing-and-invoicing blog budgeting business-intelligence "
    "business-process-management cad call-center-management cloud-management collaboration "
    "communications compliance-management contact-management content-management crm "
    "customer-service-and-support data-analytics data-collection data-visualization design "
    "design-system digital-asset-management digital-citizenship document-management "
    "donor-management e-commerce e-signature educational-content email-management "
    "email-marketing employee-management enterprise-project-management "
    "enterprise-social-networking erp event-management facility-management "
    "feedback-and-reviews-management financial-reporting fleet-management fundraising "
    "gamification geographic-information-systems grant-management graphic-design help-desk hr "
    "ide identity-management instant-messaging integrated-library-system inventory-management "
    "it-asset-management it-development it-management it-security it-service-management "
    "knowledge-management learning-management-system marketing mind-mapping mobile-marketing "
    "mobile-payment network-management office online-booking online-community payment-gateway "
    "payroll predictive-analysis procurement productivity-suite project-collaboration "
    "project-management property-management real-estate-management regulations-and-directives "
    "remote-support resource-management sales-management seo service-desk "
    "social-media-management survey talent-management task-management taxes-management "
    "test-management time-management time-tracking translation video-conferencing "
    "video-editing visitor-management voip warehouse-management web-collaboration "
    "web-conferencing website-builder whistleblowing workflow-management"
)
BCP47 = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")


def test_licence_file_is_the_eupl_the_metadata_names() -> None:
    assert PYPROJECT["license"] == "EUPL-1.2"
    assert "LICENSE" in PYPROJECT.get("license-files", [])
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert text.lstrip().startswith("EUROPEAN UNION PUBLIC LICENCE v. 1.2")
    assert "EUPL © the European Union 2007, 2016" in text
    articles = re.findall(r"^(\d+)\. ", text, re.MULTILINE)
    assert articles == [str(n) for n in range(1, 16)]  # the fifteen articles, in order
    assert "\nAppendix\n" in text


def test_the_leader_lock_file_is_ignored() -> None:
    """The SQLite leader lock sits next to the database (monitor/leader.py)."""
    patterns = [
        line.strip()
        for line in (ROOT / ".gitignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for name in ("channel-monitor.db", "channel-monitor.db.lock"):
        assert any(fnmatch(name, p) for p in patterns), name


def _publiccode() -> dict[str, Any]:
    return dict(yaml.safe_load((ROOT / "publiccode.yml").read_text(encoding="utf-8")))


def test_publiccode_has_the_mandatory_keys_with_allowed_values() -> None:
    code = _publiccode()
    assert code["publiccodeYmlVersion"] == "0.4"  # a string, as the standard asks
    assert isinstance(code["name"], str) and code["name"]
    assert code["url"].startswith("https://")
    platforms = code["platforms"] if isinstance(code["platforms"], list) else [code["platforms"]]
    assert set(platforms) <= PLATFORMS
    assert code["developmentStatus"] in DEVELOPMENT_STATUSES
    assert code["softwareType"] in SOFTWARE_TYPES
    assert set(code.get("categories", [])) <= CATEGORIES
    assert set(code.get("intendedAudience", {}).get("scope", [])) <= SCOPES
    assert code["legal"]["license"] == PYPROJECT["license"]
    assert code["softwareVersion"] == PYPROJECT["version"]


def test_publiccode_descriptions_fit_the_standard() -> None:
    descriptions = _publiccode()["description"]
    assert descriptions, "at least one language"
    for lang, text in descriptions.items():
        assert BCP47.match(lang), lang
        assert 0 < len(text["shortDescription"]) <= 150, lang
        assert "\n" not in text["shortDescription"].strip(), f"{lang}: one line"
        assert 150 <= len(text["longDescription"]) <= 10000, lang
        assert text["features"] and all(isinstance(f, str) for f in text["features"]), lang


def test_publiccode_maintenance_and_localisation() -> None:
    code = _publiccode()
    maintenance = code["maintenance"]
    assert maintenance["type"] in MAINTENANCE_TYPES
    if maintenance["type"] in ("internal", "community"):
        assert maintenance["contacts"] and all(c["name"] for c in maintenance["contacts"])
    assert ("contractors" in maintenance) == (maintenance["type"] == "contract")
    localisation = code["localisation"]
    assert isinstance(localisation["localisationReady"], bool)
    assert localisation["availableLanguages"]
    assert all(BCP47.match(lang) for lang in localisation["availableLanguages"])
    for dependency in code.get("dependsOn", {}).get("open", []):
        assert dependency["name"]


def test_publiccode_points_at_the_source_the_image_names() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    source = re.search(r'org\.opencontainers\.image\.source="([^"]+)"', dockerfile)
    assert source is not None
    assert _publiccode()["url"].removesuffix(".git") == source.group(1)
