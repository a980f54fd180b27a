"""a value the rules refused goes to the doctor as a device event

A reading row of ``kind`` ``device_event`` keeps what the device reported in
``event`` (the ``hk.reading/1`` DeviceEventValues); its classification columns
are empty. Nothing stored before changes.

Revision ID: device_event_readings
Revises: kiosk_rule_set
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "device_event_readings"
down_revision: str | None = "kiosk_rule_set"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("readings", schema=None) as batch_op:
        batch_op.add_column(sa.Column("event", sa.JSON(none_as_null=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("readings", schema=None) as batch_op:
        batch_op.drop_column("event")
