"""``healthkiosk followup ...``: the doctor's side.

``ingest`` and ``db upgrade|current`` live here; the web app's commands
(``serve``, ``user add``) are registered by ``healthkiosk/cli/followup_web.py``
when that module exists.
"""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("followup", help="doctor's side: ingest worker and web app")
    fsub = p.add_subparsers(dest="followup_command", metavar="ACTION", required=True)

    q = fsub.add_parser("ingest", help="run an MQTT ingest worker (shared subscription)")
    q.add_argument(
        "--client-id",
        help="fixed MQTT client id of this worker, also its broker account with "
        "[followup] mqtt_accounts_dir (default followup.ingest_client_id); one per worker",
    )
    q.add_argument(
        "--group",
        help="shared subscription group (default followup.ingest_group, else the "
        "accounts directory's ingest-group)",
    )
    q.set_defaults(handler=_ingest)

    d = fsub.add_parser("db", help="the follow-up database's schema (Alembic migrations)")
    dsub = d.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    u = dsub.add_parser(
        "upgrade", help="upgrade the schema to the newest revision (adopts a pre-migration one)"
    )
    u.add_argument("--database-url", help="SQLAlchemy URL (default: followup.database_url)")
    u.set_defaults(handler=_db_upgrade)
    c = dsub.add_parser("current", help="print the schema's revision and the newest one")
    c.add_argument("--database-url", help="SQLAlchemy URL (default: followup.database_url)")
    c.set_defaults(handler=_db_current)

    import importlib.util

    if importlib.util.find_spec("healthkiosk.cli.followup_web") is not None:
        import importlib

        importlib.import_module("healthkiosk.cli.followup_web").register(fsub)


def _ingest(args: argparse.Namespace) -> int:
    import asyncio

    from followup.db.engine import make_engine
    from followup.ingest.store import load_or_create_key
    from followup.ingest.worker import IngestWorker, run_until_signalled
    from healthkiosk.cli.common import load
    from healthkiosk.rules import held_rule_sets

    cfg = load(args)
    held_rule_sets(cfg.rules, cfg.followup.rule_sets)  # checked at start: every problem named
    engine = make_engine(cfg.followup_database_url)
    key = load_or_create_key(cfg.followup_id_hash_key_path)
    worker = IngestWorker(cfg, engine, key=key, client_id=args.client_id, group=args.group)
    try:
        asyncio.run(run_until_signalled(worker))
    finally:
        engine.dispose()
    return 0


def _db_url(args: argparse.Namespace) -> tuple[str, str]:
    """The database URL, and the same with any password hidden (to print)."""
    from sqlalchemy.engine import make_url

    from healthkiosk.cli.common import load

    url: str = args.database_url or load(args).followup_database_url
    return url, make_url(url).render_as_string(hide_password=True)


def _db_upgrade(args: argparse.Namespace) -> int:
    from followup.db import migrate
    from followup.db.engine import make_engine

    url, shown = _db_url(args)
    engine = make_engine(url, create=False)
    try:
        before = migrate.current_revision(engine)
        migrate.upgrade(engine)
        after = migrate.current_revision(engine)
    finally:
        engine.dispose()
    if before == after:
        print(f"{shown}: already at {after} (head)")
    else:
        print(f"{shown}: upgraded from {before or 'no revision'} to {after} (head)")
    return 0


def _db_current(args: argparse.Namespace) -> int:
    from followup.db import migrate
    from followup.db.engine import make_engine

    url, shown = _db_url(args)
    engine = make_engine(url, create=False)
    try:
        current = migrate.current_revision(engine)
        tables = migrate.has_tables(engine)
    finally:
        engine.dispose()
    head = migrate.head_revision()
    if current == head:
        state = "(head)"
    elif current is None:
        state = (
            f"(made before migrations: 'db upgrade' adopts it at {migrate.FIRST_REVISION})"
            if tables
            else "(empty: 'db upgrade' creates it)"
        )
    elif current in migrate.known_revisions():
        state = f"(head is {head}: run 'healthkiosk followup db upgrade')"
    else:
        state = f"(unknown to this software, whose newest revision is {head})"
    print(f"{shown}: {current or 'no revision'} {state}")
    return 0 if current == head else 1
