"""weight and BMI, oxygen saturation and body temperature readings

Readings of the kinds ``weight``, ``spo2`` and ``temperature`` (``hk.reading/1``
minor 1.1) keep their values in columns of their own; the pulse of an
oximeter goes in ``pulse_bpm`` and a scale's or thermometer's own value and
unit in ``original_value``/``original_unit``, as a glucose meter's do.

Revision ID: vital_signs
Revises: device_memory
Create Date: 2026-12-07
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "vital_signs"
down_revision: str | None = "device_memory"
branch_labels: str | None = None
depends_on: str | None = None

_COLUMNS: tuple[tuple[str, Any], ...] = (
    ("weight_kg", sa.Double()),
    ("height_m", sa.Double()),
    ("height_source", sa.String(length=10)),
    ("bmi", sa.Double()),
    ("device_bmi", sa.Double()),
    ("spo2_percent", sa.Integer()),
    ("oximetry_mode", sa.String(length=20)),
    ("pulse_amplitude_index", sa.Double()),
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
