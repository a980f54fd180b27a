"""``healthkiosk followup ...``: the doctor's side.

``ingest`` lives here; the web app's commands (``serve``, ``user add``) are
registered by ``healthkiosk/cli/followup_web.py`` when that module exists.
"""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("followup", help="doctor's side: ingest worker and web app")
    fsub = p.add_subparsers(dest="followup_command", metavar="ACTION", required=True)

    q = fsub.add_parser("ingest", help="run an MQTT ingest worker (shared subscription)")
    q.add_argument(
        "--client-id",
        help="fixed MQTT client id of this worker "
        "(default followup.ingest_client_id); one per worker",
    )
    q.add_argument("--group", help="shared subscription group (default followup.ingest_group)")
    q.set_defaults(handler=_ingest)

    import importlib.util

    if importlib.util.find_spec("healthkiosk.cli.followup_web") is not None:
        import importlib

        importlib.import_module("healthkiosk.cli.followup_web").register(fsub)


def _ingest(args: argparse.Namespace) -> int:
    import asyncio

    from followup.db.engine import create_all, make_engine
    from followup.ingest import IngestWorker, run_until_signalled
    from followup.ingest_store import load_or_create_key
    from healthkiosk.cli.common import load

    cfg = load(args)
    engine = make_engine(cfg.followup_database_url)
    create_all(engine)
    key = load_or_create_key(cfg.followup_id_hash_key_path)
    worker = IngestWorker(cfg, engine, key=key, client_id=args.client_id, group=args.group)
    try:
        asyncio.run(run_until_signalled(worker))
    finally:
        engine.dispose()
    return 0
