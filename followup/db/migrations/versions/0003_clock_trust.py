"""clock trust: readings' clock state and the time the station said; stations' clock state

``readings.clock_synced``: whether the station's clock was synchronised when
the reading was made (NULL: the station did not say). ``readings.station_measured_at``:
what the station's clock said, kept when the doctor's side used its own
arrival time as the reading's time (the station's clock was not trusted);
NULL when ``measured_at`` is the station's own. ``stations.status_clock_synced``:
the clock state of the station's last status, for the fleet page's alert
(the statuses kept so far did not say: NULL).

Revision ID: clock_trust
Revises: 0002
Create Date: 2026-12-20
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "clock_trust"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("readings", schema=None) as batch_op:
        batch_op.add_column(sa.Column("clock_synced", sa.Boolean(), nullable=True))
        batch_op.add_column(
            sa.Column("station_measured_at", sa.DateTime(timezone=True), nullable=True)
        )
    with op.batch_alter_table("stations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("status_clock_synced", sa.Boolean(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("stations", schema=None) as batch_op:
        batch_op.drop_column("status_clock_synced")
    with op.batch_alter_table("readings", schema=None) as batch_op:
        batch_op.drop_column("station_measured_at")
        batch_op.drop_column("clock_synced")
