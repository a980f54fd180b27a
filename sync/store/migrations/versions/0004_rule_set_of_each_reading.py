"""the rule set that classified each reading

Each reading keeps the name and digest of the rule set the kiosk classified it
with (``hk.reading/1`` ``classification.rules``). Readings stored before have
none (the doctor's side then shows the rule set as unknown).

Revision ID: kiosk_rule_set
Revises: clock_synced
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "kiosk_rule_set"
down_revision: str | None = "clock_synced"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("readings", schema=None) as batch_op:
        batch_op.add_column(sa.Column("rules_name", sa.String(length=60), nullable=True))
        batch_op.add_column(sa.Column("rules_digest", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("readings", schema=None) as batch_op:
        batch_op.drop_column("rules_digest")
        batch_op.drop_column("rules_name")
