"""The follow-up database engine: SQLite (WAL) by default, PostgreSQL by URL.

Made in the composition root (the CLI), never at import. Tables are created
if missing (``create_all``) until the follow-up side gets its own migrations.
"""

from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url

from followup.db.base import Base

BUSY_TIMEOUT_MS = 30_000


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=FULL")  # a receipt promises the row survives
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cur.close()


def _no_autobegin(dbapi_conn: Any, _record: Any) -> None:
    dbapi_conn.isolation_level = None


def _begin_immediate(conn: Any) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def make_engine(url: str, *, create: bool = True, echo: bool = False) -> Engine:
    """An engine for ``url`` (``sqlite:///path`` or ``postgresql+psycopg://...``);
    with ``create`` every follow-up table is created if missing."""
    u = make_url(url)
    if u.get_backend_name() == "sqlite":
        if u.database and u.database != ":memory:":
            Path(u.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            u,
            echo=echo,
            connect_args={"timeout": BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        # Several ingest processes may share the file: take the write lock at
        # BEGIN (waiting on busy_timeout) instead of failing on upgrade later.
        event.listen(engine, "connect", _no_autobegin)
        event.listen(engine, "begin", _begin_immediate)
    else:
        if u.get_backend_name() == "postgresql" and u.drivername == "postgresql":
            u = u.set(drivername="postgresql+psycopg")
        engine = create_engine(u, echo=echo, pool_pre_ping=True, pool_size=10, max_overflow=10)
    if create:
        create_all(engine)
    return engine


# pg_advisory_xact_lock key: "hkfu" — serialises schema creation across workers.
SCHEMA_LOCK_KEY = 0x686B6675


def create_all(engine: Engine) -> None:
    """Create every table the follow-up modules define (idempotent).

    Several ingest workers and the web app may start at the same moment: on
    PostgreSQL concurrent ``CREATE TABLE`` races fail, so schema creation
    holds an advisory lock for its transaction (SQLite's ``BEGIN IMMEDIATE``
    already serialises it).
    """
    importlib.import_module("followup.db.models")  # registers the core tables
    if importlib.util.find_spec("followup.db.tables") is not None:
        importlib.import_module("followup.db.tables")  # and every other table module
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": SCHEMA_LOCK_KEY})
        Base.metadata.create_all(conn)
        # create_all adds the indexes of new tables only: add those a newer
        # version defines on tables that already exist.
        for table in Base.metadata.sorted_tables:
            for index in table.indexes:
                index.create(conn, checkfirst=True)
