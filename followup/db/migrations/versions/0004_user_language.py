"""users' language: the pages' language chosen on the account page

``users.language``: zh_CN or en, or NULL to follow the browser's
Accept-Language (issue #15; the lead re-chains this revision when merging).

Revision ID: user_language
Revises: clock_trust
Create Date: 2026-12-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "user_language"
down_revision: str | None = "clock_trust"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("language", sa.String(length=8), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("language")
