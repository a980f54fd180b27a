"""triage, dashboard and escalation: the duty chain's steps, residents by area

``escalation_steps``: each step of the duty chain (the responsible doctor, the
station's duty phone, the centre) taken for an urgent reading (or a station's help
call) that nobody acknowledged in time. ``ix_residents_area``: the dashboard per area.
(Issue 15; the lead renumbers this revision when merging.)

Revision ID: triage
Revises: followup_records
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "triage"
down_revision: str | None = "followup_records"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "escalation_steps",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subject_kind", sa.String(length=20), nullable=False),
        sa.Column("subject_ref", sa.String(length=64), nullable=False),
        sa.Column("resident_id", sa.Integer(), nullable=True),
        sa.Column("station_id", sa.String(length=63), nullable=True),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("target", sa.String(length=100), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_escalation_steps")),
        sa.UniqueConstraint(
            "subject_kind", "subject_ref", "step", name="uq_escalation_subject_step"
        ),
    )
    op.create_index(
        "ix_escalation_steps_resident", "escalation_steps", ["resident_id", "at"], unique=False
    )
    with op.batch_alter_table("residents", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_residents_area"), ["area"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("residents", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_residents_area"))
    op.drop_index("ix_escalation_steps_resident", table_name="escalation_steps")
    op.drop_table("escalation_steps")
