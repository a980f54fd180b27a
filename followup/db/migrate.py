"""Alembic for the follow-up database, configured in code (no ``alembic.ini``),
so it works the same from a checkout and from an installed wheel.

Every process that opens the database (the web app, each ingest worker, the
rollout driver, the administrator's commands) brings it to the newest
revision first (:func:`ensure_schema`):

- Already at head (the usual start): ``alembic_version`` is read (the head
  comes from the revision files' names); Alembic itself is not imported.
- Otherwise the upgrade runs in one transaction that first takes the schema
  lock: ``pg_advisory_xact_lock`` on PostgreSQL (the same key the former
  ``create_all`` used, so an older process starting beside a newer one is
  serialised too), ``BEGIN IMMEDIATE`` on SQLite. Workers starting at once
  wait for the first one, then find the database at head.
- A database made before migrations existed (``create_all``: the tables, no
  ``alembic_version``) is adopted at 0001: the baseline's
  ``CREATE ... IF NOT EXISTS`` adds only what an older ``create_all`` had not
  made yet, then it is stamped.

On SQLite the upgrade runs with foreign keys off (a batch migration re-creates
tables; with foreign keys on, dropping the old copy would cascade) and a
``foreign_key_check`` before it commits.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, inspect, text

from healthkiosk.errors import StoreError

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
VERSIONS_DIR = MIGRATIONS_DIR / "versions"
FIRST_REVISION = "0001"
VERSION_TABLE = "alembic_version"

# pg_advisory_xact_lock key: "hkfu" — serialises schema changes across processes.
SCHEMA_LOCK_KEY = 0x686B6675

_REVISION_FILE = re.compile(r"^(\d{4})_\w+\.py$")
_REVISION_LINE = re.compile(r"^revision(?:\s*:\s*str)?\s*=\s*[\"']([^\"']+)[\"']", re.MULTILINE)


def alembic_config(connection: Connection | None = None) -> AlembicConfig:
    """An Alembic configuration for the follow-up database; ``connection`` is used by env.py."""
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("version_path_separator", "os")
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def known_revisions() -> list[str]:
    """Every revision this software ships, oldest first: the files ``NNNN_what.py``
    in the order of their numbers (one line of history), each one's id from its
    ``revision = "..."`` line (the number itself when there is none): no Alembic
    import at start. A test checks they are Alembic's own history."""
    files = sorted(p for p in VERSIONS_DIR.iterdir() if _REVISION_FILE.match(p.name))
    out = []
    for p in files:
        m = _REVISION_LINE.search(p.read_text(encoding="utf-8"))
        out.append(m.group(1) if m else p.name[:4])
    return out


def head_revision() -> str:
    """The newest revision."""
    revisions = known_revisions()
    if not revisions:  # pragma: no cover - the package always ships its migrations
        raise StoreError("no follow-up database migrations found")
    return revisions[-1]


def _read_revision(conn: Connection) -> str | None:
    if not inspect(conn).has_table(VERSION_TABLE):
        return None
    rows = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    if len(rows) > 1:
        raise StoreError(f"the follow-up database has several revisions: {', '.join(rows)}")
    return str(rows[0]) if rows else None


def current_revision(engine: Engine) -> str | None:
    """The database's revision (``None``: no ``alembic_version``, or empty)."""
    with engine.connect() as conn:
        return _read_revision(conn)


def has_tables(engine: Engine) -> bool:
    """Whether the database holds any table besides Alembic's own."""
    with engine.connect() as conn:
        return bool(set(inspect(conn).get_table_names()) - {VERSION_TABLE})


def ensure_schema(engine: Engine) -> None:
    """Bring the database to the newest revision, unless it is there already."""
    if current_revision(engine) == head_revision():
        return
    upgrade(engine)


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the database's schema up to ``revision`` (default: the newest)."""
    _run(engine, up=True, revision=revision)


def downgrade(engine: Engine, revision: str) -> None:
    """Take the database's schema down to ``revision`` (tests and rollbacks)."""
    _run(engine, up=False, revision=revision)


def _run(engine: Engine, *, up: bool, revision: str) -> None:
    alembic_log = logging.getLogger("alembic")
    if alembic_log.level == logging.NOTSET:
        # Its INFO lines (plugins set up at import, each step) would reach every
        # command's stderr; the one line below says what changed.
        alembic_log.setLevel(logging.WARNING)
    from alembic import command
    from alembic.util.exc import CommandError

    with engine.connect() as conn:
        sqlite = conn.dialect.name == "sqlite"
        if sqlite:
            # A no-op inside a transaction: set on the driver's connection before BEGIN.
            _driver_execute(conn, "PRAGMA foreign_keys=OFF")
        try:
            with conn.begin():  # BEGIN IMMEDIATE on SQLite (the engine's begin event)
                if conn.dialect.name == "postgresql":
                    conn.execute(
                        text("SELECT pg_advisory_xact_lock(:key)"), {"key": SCHEMA_LOCK_KEY}
                    )
                cfg = alembic_config(conn)
                before = _read_revision(conn)
                adopted = False
                try:
                    if up:
                        adopted = _adopt_unversioned(conn, cfg, before)
                        command.upgrade(cfg, revision)
                    else:
                        command.downgrade(cfg, revision)
                except CommandError as err:
                    raise StoreError(
                        f"cannot migrate the follow-up database from {before or 'empty'}"
                        f" to {revision} (this software knows up to {head_revision()}): {err}",
                        reason="schema_unknown",
                    ) from err
                if sqlite:
                    broken = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                    if broken:
                        tables = sorted({str(row[0]) for row in broken})
                        raise StoreError(
                            f"migration to {revision} left broken references in {', '.join(tables)}"
                        )
                after = _read_revision(conn)
                if after != before:
                    # A new database (a test, the demo, a first start) is routine.
                    log.log(
                        logging.INFO if before or adopted else logging.DEBUG,
                        "follow-up database schema migrated from %s to %s",
                        before or ("create_all (no version)" if adopted else "empty"),
                        after or "empty",
                    )
        finally:
            if sqlite:
                _driver_execute(conn, "PRAGMA foreign_keys=ON")


def _driver_execute(conn: Connection, statement: str) -> None:
    raw = conn.connection.driver_connection
    if raw is None:  # pragma: no cover - a pooled connection always has one
        raise StoreError("no database connection")
    raw.execute(statement)


def _adopt_unversioned(conn: Connection, cfg: AlembicConfig, revision: str | None) -> bool:
    """A database made before migrations existed (``create_all``) has tables but
    no version: run the baseline over it (it creates only what is missing)."""
    if revision is not None:
        return False
    tables = set(inspect(conn).get_table_names()) - {VERSION_TABLE}
    if not tables:
        return False  # a new database: the ordinary upgrade creates it
    from alembic import command

    command.upgrade(cfg, FIRST_REVISION)
    return True
