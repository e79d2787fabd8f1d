"""study state reason: why the controller paused a study

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03 22:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("hps_studies", schema=None) as batch_op:
        batch_op.add_column(sa.Column("state_reason", sa.String(length=2000), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("hps_studies", schema=None) as batch_op:
        batch_op.drop_column("state_reason")
