"""Alembic for the kiosk's store, configured in code (no ``alembic.ini``), so
it works the same from a checkout and from an installed wheel.

The whole upgrade runs in one ``BEGIN IMMEDIATE`` transaction with foreign
keys off (a batch migration re-creates tables; with foreign keys on, dropping
the old copy would cascade into the outbox) and a ``foreign_key_check`` before
it commits. Two processes opening an old store at once are serialised: the
second waits, then finds the store already at head.
"""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, inspect

from healthkiosk.errors import StoreError
from sync.store.db import IMMEDIATE

log = logging.getLogger(__name__)

FIRST_REVISION = "0001"
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def alembic_config(connection: Connection | None = None) -> AlembicConfig:
    """An Alembic configuration for the store; ``connection`` is used by env.py."""
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("version_path_separator", "os")
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:  # pragma: no cover - the package always ships its migrations
        raise StoreError("no store migrations found")
    return head


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def _run(engine: Engine, *, up: bool, revision: str) -> None:
    with engine.connect() as conn:
        # A no-op inside a transaction: set on the driver's connection before BEGIN.
        raw = conn.connection.driver_connection
        if raw is None:  # pragma: no cover - a pooled connection always has one
            raise StoreError("no database connection")
        raw.execute("PRAGMA foreign_keys=OFF")
        try:
            conn.execution_options(**{IMMEDIATE: True})
            with conn.begin():
                cfg = alembic_config(conn)
                before = MigrationContext.configure(conn).get_current_revision()
                if up:
                    _adopt_unversioned(conn, cfg)
                    command.upgrade(cfg, revision)
                else:
                    command.downgrade(cfg, revision)
                broken = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                if broken:
                    tables = sorted({str(row[0]) for row in broken})
                    raise StoreError(
                        f"migration to {revision} left broken references in {', '.join(tables)}"
                    )
                after = MigrationContext.configure(conn).get_current_revision()
                if after != before:
                    log.info("store schema migrated from %s to %s", before or "empty", after)
        finally:
            raw.execute("PRAGMA foreign_keys=ON")


def _adopt_unversioned(conn: Connection, cfg: AlembicConfig) -> None:
    """A store made before migrations existed (``create_all`` of the first
    schema) has the tables but no version: it is at 0001."""
    tables = set(inspect(conn).get_table_names())
    if "readings" in tables and "alembic_version" not in tables:
        command.stamp(cfg, FIRST_REVISION)


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the store's schema up to ``revision`` (default: the newest)."""
    _run(engine, up=True, revision=revision)


def downgrade(engine: Engine, revision: str) -> None:
    """Take the store's schema down to ``revision`` (tests and rollbacks)."""
    _run(engine, up=False, revision=revision)
