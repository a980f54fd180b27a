"""fleet page columns on stations

What the fleet page counts, filters and orders by in SQL, copied out of each
station's last status (``followup.db.models.status_columns``): the version,
backlog, free disk, the oldest last-seen among its devices, whether one was
never seen, and the lowest device battery; and two indexes. Existing rows are
filled from the status they already hold.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-05
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None

COLUMNS = (
    "status_version",
    "status_backlog",
    "status_disk_free_percent",
    "status_device_oldest_seen",
    "status_device_never_seen",
    "status_device_min_battery",
)


def upgrade() -> None:
    with op.batch_alter_table("stations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("status_version", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("status_backlog", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("status_disk_free_percent", sa.Double(), nullable=True))
        batch_op.add_column(
            sa.Column("status_device_oldest_seen", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column(
                "status_device_never_seen", sa.Boolean(), server_default=sa.false(), nullable=False
            )
        )
        batch_op.add_column(sa.Column("status_device_min_battery", sa.Integer(), nullable=True))
        batch_op.create_index("ix_stations_group_id", ["group", "id"], unique=False)
        batch_op.create_index("ix_stations_status_version", ["status_version"], unique=False)
    _fill_from_stored_status()


def _fill_from_stored_status() -> None:
    from followup.db.models import status_columns  # a pure function of the status document

    stations = sa.table(
        "stations",
        sa.column("id", sa.String()),
        sa.column("status", sa.JSON()),
        sa.column("status_version", sa.String()),
        sa.column("status_backlog", sa.Integer()),
        sa.column("status_disk_free_percent", sa.Double()),
        sa.column("status_device_oldest_seen", sa.DateTime(timezone=True)),
        sa.column("status_device_never_seen", sa.Boolean()),
        sa.column("status_device_min_battery", sa.Integer()),
    )
    bind = op.get_bind()
    rows = bind.execute(
        sa.select(stations.c.id, stations.c.status).where(stations.c.status.is_not(None))
    ).all()
    for sid, status in rows:
        values: dict[str, Any] = status_columns(status)
        bind.execute(
            stations.update().where(stations.c.id == sid).values({k: values[k] for k in COLUMNS})
        )


def downgrade() -> None:
    with op.batch_alter_table("stations", schema=None) as batch_op:
        batch_op.drop_index("ix_stations_status_version")
        batch_op.drop_index("ix_stations_group_id")
        for name in reversed(COLUMNS):
            batch_op.drop_column(name)
