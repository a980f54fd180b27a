"""Opening the kiosk's SQLite store with the settings a Pi needs.

WAL (the kiosk app and kiosk-sync share the file), ``synchronous=FULL`` (a
reading the screen called saved survives a power cut), foreign keys on, a
busy timeout for the other process's write lock.

At open the file's integrity is checked; a corrupt file is moved aside
(never deleted: it may hold undelivered readings) and a fresh store is
created in its place. The schema is then brought to the newest Alembic
revision, so an older store is upgraded in place.

Transactions are begun explicitly: ``BEGIN`` for reads, ``BEGIN IMMEDIATE``
for writes that must not interleave with the other process's (see
:func:`write_session`), so a writer waits on the busy timeout instead of
failing half-way.
"""

from __future__ import annotations

import fcntl
import logging
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from healthkiosk.errors import StoreError, StoreFullError

log = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 10_000
IMMEDIATE = "hk_begin_immediate"
"""Execution option: begin the transaction with ``BEGIN IMMEDIATE``."""


def _on_connect(dbapi_conn: Any, _record: Any) -> None:
    # The driver's own implicit transactions are off; _on_begin emits BEGIN.
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=FULL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def _on_begin(conn: Connection) -> None:
    immediate = conn.get_execution_options().get(IMMEDIATE, False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def make_engine(path: Path) -> Engine:
    """An engine on ``path`` with the pragmas set on every connection."""
    path.parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(f"sqlite:///{path}")
    event.listen(engine, "connect", _on_connect)
    event.listen(engine, "begin", _on_begin)
    return engine


@dataclass(frozen=True, slots=True)
class IntegrityReport:
    ok: bool
    problems: tuple[str, ...]
    """What ``PRAGMA integrity_check`` said (at most the first 20 lines), or why
    the file could not be read as a database at all."""


# What SQLite says when the file itself is damaged (anything else, such as a
# lock held too long or a failing SD card read, must not move a store aside).
_CORRUPT = frozenset({"SQLITE_CORRUPT", "SQLITE_NOTADB"})


def check_integrity(path: Path) -> IntegrityReport:
    """Run ``PRAGMA integrity_check`` on the file (a missing file is fine).

    Raises :class:`StoreError` when the check cannot run for a reason other
    than damage (locked past the busy timeout, I/O error): the caller must not
    take that for corruption."""
    if not path.exists():
        return IntegrityReport(ok=True, problems=())
    try:
        # Read-only: the check must never change a file that may be moved aside
        # as evidence (a read-write close would checkpoint and delete its WAL).
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_MS / 1000)
    except sqlite3.Error as err:
        raise StoreError(f"cannot open the store {path}: {err}") from err
    try:
        rows = conn.execute("PRAGMA integrity_check(20)").fetchall()
    except sqlite3.DatabaseError as err:
        if getattr(err, "sqlite_errorname", "") in _CORRUPT:
            return IntegrityReport(ok=False, problems=(str(err),))
        raise StoreError(f"cannot check the store {path}: {err}") from err
    finally:
        conn.close()
    lines = tuple(str(r[0]) for r in rows)
    return IntegrityReport(ok=lines == ("ok",), problems=() if lines == ("ok",) else lines)


def quarantine(path: Path, *, now: datetime | None = None) -> Path:
    """Move a store (and its ``-wal``/``-shm`` companions) aside under a
    timestamped name; returns the new path of the main file."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    target = path.with_name(f"{path.name}.corrupt-{stamp}")
    n = 1
    while target.exists():
        n += 1
        target = path.with_name(f"{path.name}.corrupt-{stamp}-{n}")
    for suffix in ("-wal", "-shm"):
        companion = path.with_name(path.name + suffix)
        if companion.exists():
            companion.rename(target.with_name(target.name + suffix))
    path.rename(target)
    return target


def _salvage_last_seq(path: Path) -> int:
    """Best effort: the highest ``station_seq`` a corrupt store still shows, so
    the fresh store does not hand out the same numbers again."""
    best = 0
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error:
        return 0
    try:
        for sql in (
            "SELECT max(station_seq) FROM readings",
            "SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'station_seq'",
        ):
            try:
                row = conn.execute(sql).fetchone()
            except sqlite3.Error:
                continue
            if row and isinstance(row[0], int):
                best = max(best, row[0])
    finally:
        conn.close()
    return best


@contextmanager
def _opening_lock(path: Path) -> Iterator[None]:
    """Serialise check, quarantine and migration between processes opening the
    same store (the kiosk app and kiosk-sync start together): without it one
    could move aside the fresh store the other has just created."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lock_path = path.with_name(path.name + ".open-lock")
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def open_engine(path: Path) -> Engine:
    """Check, (re)create and migrate the store at ``path``; returns its engine."""
    with _opening_lock(path):
        return _open_engine(path)


def _open_engine(path: Path) -> Engine:
    from sync.store import meta, migrate

    report = check_integrity(path)
    carried_seq = 0
    if not report.ok:
        moved = quarantine(path)
        carried_seq = _salvage_last_seq(moved)
        # Only SQLite's own words and file names: never row contents.
        log.error(
            "store %s failed its integrity check (%s); moved aside to %s, starting a fresh "
            "store (station_seq continues after %d)",
            path,
            "; ".join(report.problems[:3]),
            moved.name,
            carried_seq,
        )
    engine = make_engine(path)
    try:
        migrate.upgrade(engine)
    except Exception:
        engine.dispose()
        raise
    if carried_seq:
        with Session(engine.execution_options(**{IMMEDIATE: True})) as session:
            meta.raise_seq_floor(session, carried_seq)
            session.commit()
    return engine


def open_store(path: Path) -> sessionmaker[Session]:
    """Open (creating or upgrading if needed) the store at ``path`` and return a
    session factory."""
    try:
        engine = open_engine(path)
    except (OSError, sqlite3.Error, DBAPIError) as err:
        raise StoreError(f"cannot open the store {path}: {err}") from err
    return sessionmaker(engine, expire_on_commit=False)


def store_path(factory: sessionmaker[Session]) -> Path:
    """The SQLite file behind a session factory made by ``open_store``."""
    bind = factory.kw.get("bind")
    database = getattr(getattr(bind, "url", None), "database", None)
    if not database:
        raise ValueError("the session factory is not bound to a SQLite file")
    return Path(database)


@contextmanager
def write_session(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session whose transaction starts with ``BEGIN IMMEDIATE`` (the write
    lock is taken first, so two processes never interleave their writes);
    committed on success, rolled back on error. SQLite's "disk full" becomes
    :class:`StoreFullError`, a lock held past the busy timeout a
    :class:`StoreError` with reason ``busy``."""
    with factory() as session:
        try:
            session.connection(execution_options={IMMEDIATE: True})
            yield session
            session.commit()
        except OperationalError as err:
            session.rollback()
            raise _store_error(err) from err
        except BaseException:
            session.rollback()
            raise


def _store_error(err: OperationalError) -> StoreError:
    """SQLite's "disk full" and "still locked after the busy timeout" as ours."""
    name = getattr(err.orig, "sqlite_errorname", "")
    if name == "SQLITE_FULL":
        return StoreFullError("the store's disk is full: nothing was written")
    if name.startswith("SQLITE_BUSY") or name.startswith("SQLITE_LOCKED"):
        return StoreError(
            f"the store stayed locked by another process for {BUSY_TIMEOUT_MS} ms", reason="busy"
        )
    return StoreError(f"the store failed: {err.orig}")
