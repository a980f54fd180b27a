"""a district's size: the dashboard's readings, the list by doctor

``ix_readings_bp_control`` (usable blood pressure readings) and
``ix_readings_fasting_glucose`` (fasting glucose readings): each resident's readings
of the year in time order with their values, so the dashboard's "last reading of
each month" (followup/web/dashboard_facts.py) is an index-only scan, never the
readings' rows. ``resident_status.doctor_id``: the resident's responsible doctor,
copied by the status refresher, so the list of one doctor's residents is an index
range (``ix_resident_status_doctor_*``) instead of a join walking everyone's. At
5,000,000 readings the upgrade took about 20 s on the (loaded) bench machine (the readings'
writes wait for it: run it when the ingest is quiet).
(Issue 15.)

Revision ID: district_speed
Revises: record_versions
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "district_speed"
down_revision: str | None = "record_versions"
branch_labels: str | None = None
depends_on: str | None = None

BP = "kind = 'blood_pressure' AND systolic_mmhg IS NOT NULL AND diastolic_mmhg IS NOT NULL"
FASTING = "kind = 'glucose' AND meal_context = 'fasting' AND glucose_mmol_per_l IS NOT NULL"


def upgrade() -> None:
    with op.batch_alter_table("resident_status", schema=None) as batch_op:
        batch_op.add_column(sa.Column("doctor_id", sa.Integer(), nullable=True))
    op.execute(
        "UPDATE resident_status SET doctor_id = (SELECT residents.responsible_doctor_id"
        " FROM residents WHERE residents.id = resident_status.resident_id)"
    )
    op.create_index(
        "ix_resident_status_doctor_level_trigger",
        "resident_status",
        ["doctor_id", "level", "trigger_at"],
        unique=False,
    )
    op.create_index(
        "ix_resident_status_doctor_level_due_on",
        "resident_status",
        ["doctor_id", "level", "due_on"],
        unique=False,
    )
    op.create_index(
        "ix_readings_bp_control",
        "readings",
        ["resident_id", "measured_at", "systolic_mmhg", "diastolic_mmhg"],
        unique=False,
        postgresql_where=sa.text(BP),
        sqlite_where=sa.text(BP),
    )
    op.create_index(
        "ix_readings_fasting_glucose",
        "readings",
        ["resident_id", "measured_at", "glucose_mmol_per_l"],
        unique=False,
        postgresql_where=sa.text(FASTING),
        sqlite_where=sa.text(FASTING),
    )


def downgrade() -> None:
    op.drop_index("ix_resident_status_doctor_level_due_on", table_name="resident_status")
    op.drop_index("ix_resident_status_doctor_level_trigger", table_name="resident_status")
    with op.batch_alter_table("resident_status", schema=None) as batch_op:
        batch_op.drop_column("doctor_id")
    op.drop_index("ix_readings_fasting_glucose", table_name="readings")
    op.drop_index("ix_readings_bp_control", table_name="readings")
