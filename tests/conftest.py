"""Shared fixtures: a store per database backend, a fixed clock."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from monitor.storage import Store, create_db_engine

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)

# Set to a PostgreSQL URL (postgresql+psycopg://…) to run every storage test there too.
POSTGRES_URL = os.environ.get("CHANNEL_MONITOR_TEST_POSTGRES") or None
NO_POSTGRES = (
    "no PostgreSQL: set CHANNEL_MONITOR_TEST_POSTGRES to a postgresql+psycopg:// URL "
    "(scripts/test starts one when PostgreSQL is installed)"
)

# Always generated, so a run without PostgreSQL says in its summary what it skipped.
BACKENDS = [
    "sqlite",
    pytest.param("postgresql", marks=pytest.mark.skipif(POSTGRES_URL is None, reason=NO_POSTGRES)),
]


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A migrated, empty store on each backend (PostgreSQL cases skip without a server)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/test.db"
        yield _migrated(url)
        return
    if POSTGRES_URL is None:  # chosen directly, e.g. parametrize("store", ["postgresql"], …)
        pytest.skip(NO_POSTGRES)
    with postgres_schema(POSTGRES_URL) as url:
        yield _migrated(url)


@contextmanager
def postgres_schema(server: str) -> Iterator[str]:
    """A URL to a fresh schema in the PostgreSQL database at ``server``, dropped afterwards."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_db_engine(server)
    with admin.begin() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
    url = sa.engine.make_url(server).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def _migrated(url: str) -> Store:
    s = Store(url)
    s.migrate()
    return s
