"""Website checks in the database: kept across restarts, shared with a standby and ``report``.

One row per organisation (``website_check``): the last attempt (when, and its error) and what the
last successful read found. A failed read keeps what was found before: a website that cannot be
read now says nothing new about the channels it links.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, col, select

from monitor.discovery.compare import Finding, compare
from monitor.discovery.model import WebsiteCheck, from_json, to_json
from monitor.models import Channel, Organisation
from monitor.models import WebsiteCheck as WebsiteCheckRow
from monitor.records import ChannelKey
from monitor.settings import Settings
from monitor.storage import StorageError, Store

log = logging.getLogger("channel_monitor.discovery")


@dataclass(frozen=True, slots=True)
class StoredCheck:
    """An organisation's website as last checked."""

    website: str
    checked_at: datetime  # the last attempt
    error: str | None  # why it failed; None when it succeeded
    found: WebsiteCheck | None  # the last successful read


def save_checks(store: Store, checks: Sequence[WebsiteCheck]) -> None:
    """Record one run's checks; a failed check keeps the last successful read."""
    with Session(store.engine) as session:
        orgs = {o.name: o.id for o in session.exec(select(Organisation)).all()}
        for check in checks:
            org_id = orgs.get(check.organisation)
            if org_id is None:  # removed from the configuration meanwhile
                continue
            row = session.get(WebsiteCheckRow, org_id)
            if row is None:
                row = WebsiteCheckRow(
                    organisation_id=org_id, website=check.website, checked_at=check.checked_at
                )
            elif row.website != check.website:  # another site: what was found is not its
                row.found, row.found_at = None, None
            row.website, row.checked_at = check.website, check.checked_at
            row.error = check.error[:1000] if check.error else None
            if check.ok:
                row.found, row.found_at = to_json(check), check.checked_at
            session.add(row)
        session.commit()


def load_checks(store: Store) -> dict[str, StoredCheck]:
    """Every organisation's stored check, by organisation name."""
    with Session(store.engine) as session:
        rows = session.exec(
            select(Organisation.name, WebsiteCheckRow).join(
                WebsiteCheckRow, col(WebsiteCheckRow.organisation_id) == Organisation.id
            )
        ).all()
    result = {}
    for name, row in rows:
        found = None
        if row.found:
            try:
                found = from_json(row.found)
            except (ValueError, KeyError, TypeError):
                log.warning("the stored website check of %s cannot be read; it is redone", name)
        result[name] = StoredCheck(row.website, row.checked_at, row.error, found)
    return result


def channel_urls(store: Store) -> dict[ChannelKey, str | None]:
    """The public URL each configured channel's last poll stored, by channel key."""
    with Session(store.engine) as session:
        rows = session.exec(
            select(Organisation.name, Channel.platform, Channel.handle, Channel.url)
            .join(Channel, col(Channel.organisation_id) == Organisation.id)
            .where(col(Channel.configured).is_(True))
        ).all()
    return {(name, platform, handle): url for name, platform, handle, url in rows}


def stored_findings(store: Store, settings: Settings) -> list[Finding]:
    """Each organisation's stored check compared with the configuration as it is now (those
    whose website was never checked, or has changed since, are left out)."""
    stored, urls = load_checks(store), channel_urls(store)
    findings = []
    for name, website in settings.websites.items():
        check = stored.get(name)
        if check is None or check.website != website:
            continue
        latest = WebsiteCheck(name, website, check.checked_at, error=check.error)
        found = check.found if check.found and check.found.website == website else None
        findings.append(Finding(latest, compare(name, website, found, settings.channels, urls)))
    return findings


def read_findings(settings: Settings) -> list[Finding]:
    """``stored_findings`` from the configured database; none when it cannot be read."""
    try:
        store = Store(settings.monitor.database)
    except (StorageError, sa.exc.SQLAlchemyError, ImportError):
        return []
    try:
        return stored_findings(store, settings)
    except sa.exc.SQLAlchemyError:  # not migrated yet, or not reachable
        return []
    finally:
        store.close()
