"""replica: the daemons that share one PostgreSQL database, by heartbeat

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03 09:00:00.000000

Additive only: one new table. Each daemon writes its heartbeat here every few seconds and counts
the live ones to take its fair share of the shards (``monitor.leader``); SQLite leaves it empty.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "replica",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("seen_at", sa.DateTime(), nullable=False),
        sa.Column("backend_pid", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    op.drop_table("replica")
