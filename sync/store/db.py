"""Opening the kiosk's SQLite store with the settings a Pi needs.

WAL (the kiosk app and kiosk-sync share the file), ``synchronous=FULL`` (a
reading the screen called saved survives a power cut), foreign keys on, a
busy timeout for the other process's write lock.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from sync.store.models import Base

BUSY_TIMEOUT_MS = 10_000


def _on_connect(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=FULL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cur.close()


def make_engine(path: Path) -> Engine:
    """An engine on ``path`` with the pragmas set on every connection."""
    path.parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(f"sqlite:///{path}", future=True)
    event.listen(engine, "connect", _on_connect)
    return engine


def open_store(path: Path) -> sessionmaker[Session]:
    """Open (creating if needed) the store at ``path`` and return a session factory."""
    engine = make_engine(path)
    Base.metadata.create_all(engine)
    return sessionmaker(engine, expire_on_commit=False)
