"""website check: what discovery last read on each organisation's website

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05 09:00:00.000000

Additive only: one new table.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "website_check",
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("website", sa.String(length=2000), nullable=False),
        sa.Column("checked_at", sa.DateTime(), nullable=False),
        sa.Column("error", sa.String(length=1000), nullable=True),
        sa.Column("found_at", sa.DateTime(), nullable=True),
        sa.Column("found", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["organisation_id"], ["organisation.id"]),
        sa.PrimaryKeyConstraint("organisation_id"),
    )


def downgrade() -> None:
    op.drop_table("website_check")
