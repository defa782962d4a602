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

from sqlmodel import Session, col, select

from monitor.discovery.model import WebsiteCheck, from_json, to_json
from monitor.models import Channel, Organisation
from monitor.models import WebsiteCheck as WebsiteCheckRow
from monitor.records import ChannelKey
from monitor.storage import Store

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
