"""the dashboard's readings: partial covering indexes for control at a district's size

``ix_readings_bp_control`` (usable blood pressure readings) and
``ix_readings_fasting_glucose`` (fasting glucose readings): each resident's readings
of the year in time order with their values, so the dashboard's "last reading of
each month" (followup/web/dashboard_facts.py) is an index-only scan, never the
readings' rows. At 5,000,000 readings this takes about a minute (and the table's
writes wait for it: run the upgrade when the ingest is quiet).
(Issue 15; the lead renumbers this revision when merging.)

Revision ID: dashboard
Revises: triage
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "dashboard"
down_revision: str | None = "triage"
branch_labels: str | None = None
depends_on: str | None = None

BP = "kind = 'blood_pressure' AND systolic_mmhg IS NOT NULL AND diastolic_mmhg IS NOT NULL"
FASTING = "kind = 'glucose' AND meal_context = 'fasting' AND glucose_mmol_per_l IS NOT NULL"


def upgrade() -> None:
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
    op.drop_index("ix_readings_fasting_glucose", table_name="readings")
    op.drop_index("ix_readings_bp_control", table_name="readings")
