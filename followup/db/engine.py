"""The follow-up database engine: SQLite (WAL) by default, PostgreSQL by URL.

Made in the composition root (the CLI), never at import. The schema is
brought to the newest Alembic revision when the engine is made
(:mod:`followup.db.migrate`: one query when it is there already).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

from followup.db.migrate import ensure_schema

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
    with ``create`` the database is upgraded to the newest revision (created if
    empty, adopted if an older ``create_all`` made it)."""
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
        ensure_schema(engine)
    return engine
