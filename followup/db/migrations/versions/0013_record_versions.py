"""record versions: a saved follow-up record can be corrected, every version kept

``followup_record_versions``: each version of a 随访服务记录表 ever saved (the first
one included), who saved it, when, and which fields it changed. ``followup_records``
gains the current version's number and who corrected it last, when. The records
saved before this revision get their first version from what they hold (issue #15;
the lead re-chains this revision when merging).

Revision ID: record_versions
Revises: triage
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "record_versions"
down_revision: str | None = "triage"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("followup_records", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("version", sa.Integer(), server_default=sa.text("1"), nullable=False)
        )
        batch_op.add_column(sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("updated_by", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_followup_records_updated_by_users"), "users", ["updated_by"], ["id"]
        )
    versions = op.create_table(
        "followup_record_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("record_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("saved_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("saved_by", sa.Integer(), nullable=False),
        sa.Column("content", sa.JSON(), nullable=False),
        sa.Column("changed", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["record_id"],
            ["followup_records.id"],
            name=op.f("fk_followup_record_versions_record_id_followup_records"),
        ),
        sa.ForeignKeyConstraint(
            ["saved_by"], ["users.id"], name=op.f("fk_followup_record_versions_saved_by_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_followup_record_versions")),
        sa.UniqueConstraint(
            "record_id", "version", name="uq_followup_record_versions_record_version"
        ),
    )
    # Every record saved so far: its content is its first (and only) version.
    records = sa.table(
        "followup_records",
        sa.column("id", sa.Integer()),
        sa.column("doctor_id", sa.Integer()),
        sa.column("created_at", sa.DateTime(timezone=True)),
        sa.column("content", sa.JSON()),
    )
    op.execute(
        versions.insert().from_select(
            ["record_id", "version", "saved_at", "saved_by", "content", "changed"],
            sa.select(
                records.c.id,
                sa.literal(1, sa.Integer()),
                records.c.created_at,
                records.c.doctor_id,
                records.c.content,
                sa.literal([], sa.JSON()),
            ),
        )
    )


def downgrade() -> None:
    op.drop_table("followup_record_versions")
    with op.batch_alter_table("followup_records", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_followup_records_updated_by_users"), type_="foreignkey"
        )
        batch_op.drop_column("updated_by")
        batch_op.drop_column("updated_at")
        batch_op.drop_column("version")
