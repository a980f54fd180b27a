"""``healthkiosk sync ...``: the kiosk's MQTT link (systemd unit ``kiosk-sync``)."""

from __future__ import annotations

import argparse
from typing import Any


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("sync", help="kiosk: the MQTT link to the doctor's side")
    ssub = p.add_subparsers(dest="sync_command", metavar="ACTION", required=True)

    q = ssub.add_parser("run", help="run the link (publish the outbox, apply receipts)")
    q.set_defaults(handler=_run)

    q = ssub.add_parser("status", help="connected or not, backlog, last receipt, rejections")
    q.add_argument("--json", action="store_true", help="machine-readable output")
    q.set_defaults(handler=_status)


def _run(args: argparse.Namespace) -> int:
    import asyncio

    from healthkiosk.cli.common import load
    from management.station import StationManagement
    from sync.link import Link, run_until_signalled
    from sync.store.db import open_store

    cfg = load(args)
    link = Link(cfg, open_store(cfg.store_path), management=StationManagement)
    asyncio.run(run_until_signalled(link))
    return 0


def _status(args: argparse.Namespace) -> int:
    import json

    from healthkiosk.cli.common import load
    from sync import statusfile
    from sync.outbox import Outbox
    from sync.store.db import open_store

    cfg = load(args, log=False)
    state = statusfile.read(statusfile.path_for(cfg.data_dir))
    running = state is not None and statusfile.process_alive(state.pid)
    outbox = Outbox(open_store(cfg.store_path), station_id=cfg.station.id)
    summary = outbox.summary()
    report: dict[str, Any] = {
        "station": cfg.station.id,
        "running": running,
        "connected": bool(running and state and state.connected),
        "broker": (state and state.broker) or f"{cfg.mqtt.host}:{cfg.mqtt.port}",
        "connected_since": state.connected_since if running and state else None,
        "last_error": state.last_error if state else None,
        "backlog": summary.backlog,
        "oldest_undelivered": (
            summary.oldest_undelivered.isoformat() if summary.oldest_undelivered else None
        ),
        "last_receipt": state.last_receipt if state else None,
        "rejected": summary.rejected,
        "rejections": [
            {"uuid": u, "reason": r, "at": t.isoformat() if t else None}
            for u, r, t in outbox.rejected_rows()
        ],
        "alerts": state.alerts if state else [],
    }
    if args.json:
        print(json.dumps(report, indent=1))
        return 0
    conn = "connected" if report["connected"] else ("not connected" if running else "not running")
    print(f"station:            {report['station']}")
    print(f"link:               {conn} ({report['broker']})")
    if report["last_error"] and not report["connected"]:
        print(f"last error:         {report['last_error']}")
    print(f"backlog:            {report['backlog']}")
    print(f"oldest undelivered: {report['oldest_undelivered'] or '-'}")
    print(f"last receipt:       {report['last_receipt'] or '-'}")
    print(f"rejected:           {report['rejected']}")
    for rej in report["rejections"]:
        print(f"  {rej['uuid']}  {rej['reason']}")
    for alert in report["alerts"]:
        print(f"alert: {alert}")
    return 0
