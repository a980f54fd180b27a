"""Alembic environment for the follow-up database (PostgreSQL or SQLite).

Always given a connection by :mod:`followup.db.migrate` (no URL, no ini file),
already inside the transaction that holds the schema lock. ``render_as_batch``
because SQLite alters most tables only by re-creating them (PostgreSQL runs
the same batch operations as plain ``ALTER TABLE``); the naming convention is
on the metadata, so constraint names are stable on both.
"""

from __future__ import annotations

from typing import Any, Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy import Connection

from followup.db import tables  # noqa: F401 - registers every table on Base.metadata
from followup.db.base import Base
from healthkiosk.dbtypes import UtcDateTime

config = context.config
connection = config.attributes.get("connection")
if not isinstance(connection, Connection):
    raise RuntimeError("run the follow-up database's migrations through followup.db.migrate")


def render_item(type_: str, obj: Any, autogen_context: AutogenContext) -> str | Literal[False]:
    """Revisions name plain SQLAlchemy types, never the project's own (a
    migration must not change when the application code does)."""
    if type_ == "type" and isinstance(obj, UtcDateTime):
        return "sa.DateTime(timezone=True)"
    return False


context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=True,
    compare_type=True,
    render_item=render_item,
)
with context.begin_transaction():
    context.run_migrations()
