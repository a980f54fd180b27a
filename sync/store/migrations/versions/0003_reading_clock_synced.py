"""readings.clock_synced: the station's clock state when a reading was made

Whether the station's clock was synchronised when the reading was completed
(``hk.reading/1`` ``clock_synced``); NULL for the readings made before it was
kept (the station did not say).

Revision ID: clock_synced
Revises: 0002
Create Date: 2026-12-20
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "clock_synced"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("readings", schema=None) as batch_op:
        batch_op.add_column(sa.Column("clock_synced", sa.Boolean(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("readings", schema=None) as batch_op:
        batch_op.drop_column("clock_synced")
