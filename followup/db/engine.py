"""The follow-up database engine: SQLite (WAL) by default, PostgreSQL by URL.

Made in the composition root (the CLI), never at import. ``create_all`` until
the follow-up side gets its own migrations.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
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


def make_engine(url: str) -> Engine:
    """An engine for ``url`` (``sqlite:///path`` or ``postgresql+psycopg://...``)."""
    u = make_url(url)
    if u.get_backend_name() == "sqlite":
        if u.database and u.database != ":memory:":
            Path(u.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(u, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000})
        event.listen(engine, "connect", _sqlite_pragmas)
        # Several ingest processes may share the file: take the write lock at
        # BEGIN (waiting on busy_timeout) instead of failing on upgrade later.
        event.listen(engine, "connect", _no_autobegin)
        event.listen(engine, "begin", _begin_immediate)
        return engine
    if u.get_backend_name() == "postgresql" and u.drivername == "postgresql":
        u = u.set(drivername="postgresql+psycopg")
    return create_engine(u, pool_pre_ping=True)


def create_all(engine: Engine) -> None:
    """Create every table the follow-up modules define (idempotent)."""
    import followup.db.models  # noqa: F401  (registers the core tables)

    if engine.dialect.name == "postgresql":
        # Several workers may start at once: PostgreSQL's CREATE TABLE races
        # (duplicate pg_type rows) unless they take turns.
        from sqlalchemy import text

        with engine.begin() as conn:
            conn.execute(text("SELECT pg_advisory_xact_lock(4711)"))
            Base.metadata.create_all(conn)
        return
    Base.metadata.create_all(engine)
