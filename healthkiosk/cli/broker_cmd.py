"""``healthkiosk broker ...``: the Mosquitto broker of a deployment."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("broker", help="admin: Mosquitto configuration for a deployment")
    bsub = p.add_subparsers(dest="broker_command", metavar="ACTION", required=True)
    q = bsub.add_parser(
        "config",
        help="write mosquitto.conf, the dynamic-security accounts and their credentials",
    )
    q.add_argument("--out", required=True, help="directory to write into")
    q.add_argument(
        "--station",
        action="append",
        default=[],
        metavar="ID[:GROUP]",
        help="a station (repeat); username = station id",
    )
    q.add_argument("--stations-file", help="a file with one ID[:GROUP] per line")
    q.add_argument(
        "--ingest-workers",
        type=int,
        default=2,
        help="accounts followup-ingest-1..N, one per ingest worker (default 2)",
    )
    q.add_argument(
        "--ingest-group",
        help="the ingest's shared-subscription group (default: a generated secret, kept)",
    )
    q.add_argument(
        "--gateway",
        action="append",
        default=[],
        metavar="NAME",
        help="an account that may only read the urgent-reading alerts (repeat)",
    )
    q.add_argument("--broker-user", default="mosquitto", help="the user Mosquitto runs as")
    q.add_argument("--plugin", help="path of mosquitto_dynamic_security.so (default: found)")
    q.add_argument("--tls-port", type=int, default=8883, help="0 for no TLS listener")
    q.add_argument("--tls-bind", default="0.0.0.0")  # noqa: S104
    q.add_argument("--tls-cert")
    q.add_argument("--tls-key")
    q.add_argument("--tls-ca")
    q.add_argument("--require-client-cert", action="store_true")
    q.add_argument("--plain-port", type=int, help="also a plain listener on 127.0.0.1")
    q.add_argument("--persistence-dir", default="/var/lib/mosquitto/")
    q.add_argument(
        "--extra",
        action="append",
        default=[],
        metavar="LINE",
        help="an extra mosquitto.conf line (repeat)",
    )
    q.set_defaults(handler=_config)
    e = bsub.add_parser(
        "embedded",
        help="DEMO ONLY: a small in-memory MQTT v5 broker on 127.0.0.1 (no TLS, no ACL; "
        "needs the emulation package)",
    )
    e.add_argument("--port", type=int, default=1883)
    e.set_defaults(handler=_embedded)


def _embedded(args: argparse.Namespace) -> int:
    import asyncio
    import contextlib

    from healthkiosk.cli.emulation_hook import require_emulation
    from healthkiosk.logsetup import setup_logging

    broker = require_emulation("minibroker.broker", wanted_by="healthkiosk broker embedded")
    setup_logging(level=args.log_level or "INFO", fmt=args.log_format or "text")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(broker.serve(args.port))
    return 0


def _config(args: argparse.Namespace) -> int:
    import sys
    from pathlib import Path

    from healthkiosk.admin.brokerconf import Deployment, parse_station, write_deployment

    specs = list(args.station)
    if args.stations_file:
        text = Path(args.stations_file).read_text(encoding="utf-8")
        specs += [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    d = Deployment(
        stations=[parse_station(s) for s in specs],
        ingest_workers=args.ingest_workers,
        ingest_group=args.ingest_group,
        gateways=list(args.gateway),
        broker_user=args.broker_user,
        plugin=Path(args.plugin) if args.plugin else None,
        tls_port=args.tls_port or None,
        tls_bind=args.tls_bind,
        tls_cert=Path(args.tls_cert).resolve() if args.tls_cert else None,
        tls_key=Path(args.tls_key).resolve() if args.tls_key else None,
        tls_ca=Path(args.tls_ca).resolve() if args.tls_ca else None,
        require_client_cert=args.require_client_cert,
        plain_port=args.plain_port,
        persistence_dir=Path(args.persistence_dir),
        extra=list(args.extra),
    )
    w = write_deployment(d, Path(args.out))
    print(f"wrote {w.conf} and {w.dynsec}; passwords in {w.credentials}/")
    print(
        f"the doctor's side: copy {w.credentials}/followup-*.password and "
        f"{w.credentials}/ingest-group into [followup] mqtt_accounts_dir"
    )
    if w.todo:
        print(
            "Mosquitto reads these files as its user: run as root, or run these first:",
            file=sys.stderr,
        )
        for line in w.todo:
            print(f"  {line}", file=sys.stderr)
    return 0
