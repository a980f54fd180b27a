"""calls for staff from the stations (issue 16)

``help_calls``: each ``hk.help/1`` a station sent (an urgent result, or the
elder pressed 呼叫工作人员), with the station, the screen and the time, until
someone acknowledges it at the station or on the web.

Revision ID: help_calls
Revises: ingest_safety
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "help_calls"
down_revision: str | None = "ingest_safety"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "help_calls",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("station_id", sa.String(length=63), nullable=False),
        sa.Column("reason", sa.String(length=16), nullable=False),
        sa.Column("screen", sa.String(length=40), nullable=False),
        sa.Column("detail", sa.String(length=80), nullable=False),
        sa.Column("called_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_by", sa.String(length=200), nullable=False),
        sa.Column("acknowledged_where", sa.String(length=8), nullable=True),
        sa.Column("ack_command_id", sa.String(length=36), nullable=True),
        sa.Column("station_knows_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_help_calls")),
    )
    op.create_index(
        "ix_help_calls_open", "help_calls", ["acknowledged_at", "called_at"], unique=False
    )
    op.create_index(
        "ix_help_calls_station_called", "help_calls", ["station_id", "called_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_help_calls_station_called", table_name="help_calls")
    op.drop_index("ix_help_calls_open", table_name="help_calls")
    op.drop_table("help_calls")
