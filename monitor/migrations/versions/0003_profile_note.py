"""profile note: what a channel's last profile read could not read, and why

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03 09:00:00.000000

Additive only: one nullable column on channel.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("channel", schema=None) as batch_op:
        batch_op.add_column(sa.Column("profile_note", sa.String(length=500), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("channel", schema=None) as batch_op:
        batch_op.drop_column("profile_note")
