"""follow-up records: the national 随访服务记录表 for hypertension and type 2 diabetes

``followup_records``: one saved form (its queried fields as columns, the whole
form as JSON, what the kiosk's readings pre-filled), each tied to the review it
made (issue #15; the lead re-chains this revision when merging).

Revision ID: followup_records
Revises: roster
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "followup_records"
down_revision: str | None = "roster"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "followup_records",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("resident_id", sa.Integer(), nullable=False),
        sa.Column("doctor_id", sa.Integer(), nullable=False),
        sa.Column("review_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("visit_date", sa.Date(), nullable=False),
        sa.Column("way", sa.String(length=8), nullable=False),
        sa.Column("classification", sa.String(length=20), nullable=False),
        sa.Column("systolic_mmhg", sa.Integer(), nullable=True),
        sa.Column("diastolic_mmhg", sa.Integer(), nullable=True),
        sa.Column("fasting_glucose_mmol_per_l", sa.Double(), nullable=True),
        sa.Column("next_visit_on", sa.Date(), nullable=False),
        sa.Column("content", sa.JSON(), nullable=False),
        sa.Column("prefill", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["doctor_id"], ["users.id"], name=op.f("fk_followup_records_doctor_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["resident_id"],
            ["residents.id"],
            name=op.f("fk_followup_records_resident_id_residents"),
        ),
        sa.ForeignKeyConstraint(
            ["review_id"], ["reviews.id"], name=op.f("fk_followup_records_review_id_reviews")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_followup_records")),
        sa.UniqueConstraint("review_id", name=op.f("uq_followup_records_review_id")),
    )
    op.create_index(
        "ix_followup_records_resident_kind_created",
        "followup_records",
        ["resident_id", "kind", "created_at"],
        unique=False,
    )
    op.create_index(
        "ix_followup_records_visit_date", "followup_records", ["visit_date"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_followup_records_visit_date", table_name="followup_records")
    op.drop_index("ix_followup_records_resident_kind_created", table_name="followup_records")
    op.drop_table("followup_records")
