"""ingest safety: readings set aside by the status refresher; stations' daily counts

``readings.set_aside``: why the status refresher could not use this reading
(NULL: it can); such a reading is dead-lettered once and left out of its
resident's status, so it can never freeze the list or the alerts.
``station_day_counts``: per station and day (UTC, the station's own time of the
reading), how many readings the station holds and how many it had
acknowledged, as its daily ``hk.counts/1`` said, and how many the doctor's
side had stored when it compared; the fleet page raises an alert where they
differ. (Issue 19; the lead renumbers this revision when merging.)

Revision ID: ingest_safety
Revises: sessions_login_limits
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "ingest_safety"
down_revision: str | None = "sessions_login_limits"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("readings", schema=None) as batch_op:
        batch_op.add_column(sa.Column("set_aside", sa.String(length=300), nullable=True))
    op.create_table(
        "station_day_counts",
        sa.Column("station_id", sa.String(length=63), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("held", sa.Integer(), nullable=False),
        sa.Column("acknowledged", sa.Integer(), nullable=False),
        sa.Column("stored", sa.Integer(), nullable=False),
        sa.Column("reported_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("compared_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("differs", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("station_id", "day", name=op.f("pk_station_day_counts")),
    )
    op.create_index(
        "ix_station_day_counts_differs", "station_day_counts", ["differs", "station_id"]
    )


def downgrade() -> None:
    op.drop_index("ix_station_day_counts_differs", table_name="station_day_counts")
    op.drop_table("station_day_counts")
    with op.batch_alter_table("readings", schema=None) as batch_op:
        batch_op.drop_column("set_aside")
