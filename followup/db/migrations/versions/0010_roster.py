"""the resident roster: enrolment dates of the management programmes

``residents.hypertension_enrolled_on`` and ``residents.diabetes_enrolled_on``
(the 公卫 roster's 纳入管理日期; ``healthkiosk followup roster import``,
issue #15; the lead re-chains this revision when merging).

Revision ID: roster
Revises: vital_signs
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "roster"
down_revision: str | None = "vital_signs"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("residents", schema=None) as batch_op:
        batch_op.add_column(sa.Column("hypertension_enrolled_on", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("diabetes_enrolled_on", sa.Date(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("residents", schema=None) as batch_op:
        batch_op.drop_column("diabetes_enrolled_on")
        batch_op.drop_column("hypertension_enrolled_on")
