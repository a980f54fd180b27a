"""Making the follow-up database engine (the composition root calls this; never at import).

SQLite (the default) gets WAL, ``foreign_keys=ON`` and a busy timeout on
every connection; PostgreSQL is used as is. Tables are created if missing
(``create_all``) until the schema moves to Alembic.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, create_engine, event


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def make_engine(url: str, *, create: bool = True, echo: bool = False) -> Engine:
    """An engine for ``url`` with every follow-up table registered and created."""
    import followup.db.tables  # noqa: F401  (registers every table module on Base)
    from followup.db.base import Base

    kwargs: dict[str, Any] = {"echo": echo}
    if url.startswith("sqlite"):
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": 10}
    else:
        kwargs.update(pool_pre_ping=True, pool_size=10, max_overflow=10)
    engine = create_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    if create:
        Base.metadata.create_all(engine)
    return engine
