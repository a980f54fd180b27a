"""device-memory records: what a device sent outside a visit's step

Records a device made between visits, sent from its memory at connect, or
printed while no visit waited are kept here for the technician (the station's
status counts them), never attributed to a resident and never sent as readings.

Revision ID: device_memory
Revises: device_event_readings
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision: str = "device_memory"
down_revision: str | None = "device_event_readings"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "device_memory",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("role", sa.String(length=40), nullable=False),
        sa.Column("device", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("reason", sa.String(length=40), nullable=False),
        sa.Column("device_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("values", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_device_memory")),
    )
    with op.batch_alter_table("device_memory", schema=None) as batch_op:
        batch_op.create_index("ix_device_memory_received_at", ["received_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("device_memory", schema=None) as batch_op:
        batch_op.drop_index("ix_device_memory_received_at")
    op.drop_table("device_memory")
