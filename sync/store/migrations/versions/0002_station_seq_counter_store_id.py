"""station_seq counter and store id in meta; index readings.visit_id

The station sequence number was derived from ``max(readings.station_seq)``;
once delivered readings are purged that maximum can fall and a number would
be handed out twice. From here the last number handed out lives in
``meta.station_seq``, seeded from the readings already in the store. Each
store also gets a ``store_id``. Readings are looked up by visit (the result
screen of one visit, purging old visits), hence the index.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None

_meta = sa.table("meta", sa.column("key", sa.String), sa.column("value", sa.Text))


def upgrade() -> None:
    with op.batch_alter_table("readings", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_readings_visit_id"), ["visit_id"], unique=False)

    conn = op.get_bind()
    last = conn.execute(sa.text("SELECT max(station_seq) FROM readings")).scalar()
    existing = {
        str(k) for k in conn.execute(sa.select(_meta.c.key)).scalars()
    }
    rows = []
    if "station_seq" not in existing:
        rows.append({"key": "station_seq", "value": str(int(last or 0))})
    if "store_id" not in existing:
        rows.append({"key": "store_id", "value": str(uuid.uuid4())})
    if rows:
        op.bulk_insert(_meta, rows)


def downgrade() -> None:
    op.execute(_meta.delete().where(_meta.c.key.in_(["station_seq", "store_id"])))
    with op.batch_alter_table("readings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_readings_visit_id"))
