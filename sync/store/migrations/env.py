"""Alembic environment for the kiosk's store.

Always given a connection by :mod:`sync.store.migrate` (no URL, no ini file).
``render_as_batch`` because SQLite alters most tables only by re-creating
them; the naming convention is on the metadata, so constraint names are stable.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from sync.store.models import Base

config = context.config
connection = config.attributes.get("connection")
if not isinstance(connection, Connection):
    raise RuntimeError("run the store's migrations through sync.store.migrate")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=True,
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
