"""weight and BMI, oxygen saturation and body temperature readings

Readings of the kinds ``weight``, ``spo2`` and ``temperature`` (``hk.reading/1``
minor 1.1) keep their values in columns of their own (the oximeter's pulse in
``pulse_bpm``), so the follow-up forms can take weight, BMI and heart rate
from them and the list can classify them.

Revision ID: vital_signs
Revises: help_calls
Create Date: 2026-12-07
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "vital_signs"
down_revision: str | None = "help_calls"
branch_labels: str | None = None
depends_on: str | None = None

_COLUMNS: tuple[tuple[str, Any], ...] = (
    ("weight_kg", sa.Double()),
    ("height_m", sa.Double()),
    ("bmi", sa.Double()),
    ("spo2_percent", sa.Integer()),
    ("temperature_c", sa.Double()),
    ("temperature_site", sa.String(length=30)),
)


def upgrade() -> None:
    with op.batch_alter_table("readings", schema=None) as batch_op:
        for name, type_ in _COLUMNS:
            batch_op.add_column(sa.Column(name, type_, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("readings", schema=None) as batch_op:
        for name, _ in reversed(_COLUMNS):
            batch_op.drop_column(name)
