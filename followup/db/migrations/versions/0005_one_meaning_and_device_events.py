"""one meaning: both classifications of a reading, and device events

Each reading keeps the rule set the kiosk classified it with (name, digest)
beside the doctor's side's own classification at ingest (category, urgent,
rule, digest). A device event (``hk.reading/1`` kind ``device_event``: a value
the rules refused) is stored as a row of its own kind with its values in
``event``. Existing rows keep NULL: the kiosk's rule set is unknown and the
status refresher classifies them again as before.

Revision ID: one_meaning
Revises: user_language
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "one_meaning"
down_revision: str | None = "user_language"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("readings", schema=None) as batch_op:
        batch_op.add_column(sa.Column("kiosk_rules_name", sa.String(length=60), nullable=True))
        batch_op.add_column(sa.Column("kiosk_rules_digest", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("server_category", sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column("server_urgent", sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column("server_rule", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("server_rules_digest", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("event", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("readings", schema=None) as batch_op:
        for name in (
            "event",
            "server_rules_digest",
            "server_rule",
            "server_urgent",
            "server_category",
            "kiosk_rules_digest",
            "kiosk_rules_name",
        ):
            batch_op.drop_column(name)
