"""``healthkiosk admin ...``: fleet keys, releases, stations, and the station updater.

Administrator's side: ``keygen``, ``release build|sign|publish|serve``,
``station add|list``, ``config set|show|clear`` and ``command`` (remote
configuration and commands, in :mod:`healthkiosk.cli.fleet_admin`).
Station side (run by the updater's systemd units):
``update apply|resume|rollback|status``.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from healthkiosk.config import Config
    from updater.updater import Result, Updater


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("admin", help="administrator: fleet keys, releases, stations, updates")
    asub = p.add_subparsers(dest="admin_command", metavar="ACTION", required=True)

    q = asub.add_parser("keygen", help="make the fleet's Ed25519 signing key pair")
    q.add_argument("--private", type=Path, required=True, help="private key file (made 0600)")
    q.add_argument("--public", type=Path, required=True, help="public key file for stations")
    q.add_argument("--force", action="store_true", help="overwrite existing files")
    q.set_defaults(handler=_keygen)

    _register_release(asub)
    _register_station(asub)
    _register_update(asub)
    from healthkiosk.cli import admin_rollout

    admin_rollout.register(asub)

    from healthkiosk.cli import fleet_admin

    fleet_admin.register(asub)


def _register_release(asub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    r = asub.add_parser("release", help="build, sign, publish and serve release bundles")
    rsub = r.add_subparsers(dest="release_command", metavar="ACTION", required=True)

    q = rsub.add_parser("build", help="an offline-installable bundle: the wheel and its deps")
    src = q.add_mutually_exclusive_group()
    src.add_argument("--project", type=Path, help="project directory (default: .)")
    src.add_argument("--wheel", type=Path, help="a prebuilt wheel of the project")
    q.add_argument("--out", type=Path, required=True, help="bundle directory to create")
    q.add_argument(
        "--extra", action="append", default=None, help="extras to install (default: station)"
    )
    q.add_argument(
        "--platform",
        action="append",
        default=None,
        help="target wheel platform tag (repeatable; default: the Pi's manylinux/linux aarch64)",
    )
    q.add_argument("--python-version", default=None, help="target Python (default 3.11)")
    q.add_argument("--here", action="store_true", help="target this machine instead of the Pi")
    q.add_argument("--find-links", type=Path, action="append", default=[], help="extra wheels")
    q.add_argument("--no-index", action="store_true", help="only --find-links, no index")
    q.set_defaults(handler=_release_build)

    q = rsub.add_parser("sign", help="write the bundle's signed manifest")
    q.add_argument("bundle", type=Path)
    q.add_argument("--key", type=Path, required=True, help="the fleet's private key")
    q.add_argument("--release", type=int, required=True, help="release number (increasing)")
    q.add_argument("--expires-days", type=float, default=30.0)
    q.add_argument(
        "--rollback",
        action="store_true",
        help="allow stations with a higher release number to install this one",
    )
    q.set_defaults(handler=_release_sign)

    q = rsub.add_parser("publish", help="copy a signed bundle into the release directory")
    q.add_argument("bundle", type=Path)
    q.add_argument("--to", type=Path, help="release directory (default <data_dir>/releases)")
    q.add_argument("--no-latest", action="store_true", help="publish without moving 'latest'")
    q.set_defaults(handler=_release_publish)

    q = rsub.add_parser("serve", help="serve the release directory over HTTP (with Range)")
    q.add_argument("--dir", type=Path, help="release directory (default <data_dir>/releases)")
    q.add_argument("--host", default="127.0.0.1")
    q.add_argument("--port", type=int, default=8081)
    q.set_defaults(handler=_release_serve)


def _register_station(asub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    s = asub.add_parser("station", help="register and list stations (follow-up database)")
    ssub = s.add_subparsers(dest="station_command", metavar="ACTION", required=True)
    q = ssub.add_parser("add", help="register a station")
    q.add_argument("station_id")
    q.add_argument("--group", default="default")
    q.add_argument("--name", default="")
    q.add_argument("--area", default="")
    q.set_defaults(handler=_station_add)
    q = ssub.add_parser("list", help="the registered stations")
    q.set_defaults(handler=_station_list)


def _register_update(asub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    u = asub.add_parser("update", help="station: apply, resume or roll back a software update")
    usub = u.add_subparsers(dest="update_command", metavar="ACTION", required=True)
    q = usub.add_parser("apply", help="update to a release (default: the server's latest)")
    q.add_argument("--manifest-url", help="URL of the release's manifest.json")
    q.add_argument(
        "--drill-stop-at",
        choices=["download", "verify", "install", "switch", "first_start", "stability"],
        help="fault drill: SIGSTOP this process in the middle of STEP (to SIGKILL it there)",
    )
    q.set_defaults(handler=_update_apply)
    q = usub.add_parser("resume", help="finish or undo an update a crash left behind")
    q.set_defaults(handler=_update_resume)
    q = usub.add_parser("rollback", help="roll back an unproven update (OnFailure= of units)")
    q.add_argument("--reason", default="a unit failed")
    q.set_defaults(handler=_update_rollback)
    q = usub.add_parser("status", help="installed release, pending step, last outcome")
    q.set_defaults(handler=_update_status)
    q = usub.add_parser(
        "run-order", help="apply the update order kiosk-sync received over MQTT (its unit)"
    )
    q.set_defaults(handler=_update_run_order)


# --- handlers ----------------------------------------------------------------


def _keygen(args: argparse.Namespace) -> int:
    from updater import keys

    kid = keys.generate(args.private, args.public, overwrite=args.force)
    print(f"fleet key {kid}\nprivate: {args.private} (0600, keep offline)\npublic:  {args.public}")
    return 0


def _release_build(args: argparse.Namespace) -> int:
    from healthkiosk.admin.release import bundle

    extras = tuple(args.extra) if args.extra else ("station",)
    if args.extra == [""]:
        extras = ()
    project = None if args.wheel else (args.project or Path.cwd())
    b = bundle.build(
        args.out,
        project=project,
        wheel=args.wheel,
        extras=extras,
        here=args.here,
        platforms=tuple(args.platform) if args.platform else bundle.PI_PLATFORMS,
        python_version=args.python_version or bundle.PI_PYTHON_VERSION,
        find_links=tuple(args.find_links),
        no_index=args.no_index,
    )
    print(f"bundle {b.path}: {b.requirement}, {len(b.wheels)} wheels")
    for name in b.wheels:
        print(f"  {name}")
    return 0


def _release_sign(args: argparse.Namespace) -> int:
    from datetime import timedelta

    from healthkiosk.admin.release.signing import sign_bundle

    path = sign_bundle(
        args.bundle,
        key_path=args.key,
        release=args.release,
        expires_in=timedelta(days=args.expires_days),
        rollback=args.rollback,
    )
    print(f"signed {path} (release {args.release}{', rollback' if args.rollback else ''})")
    return 0


def _release_publish(args: argparse.Namespace) -> int:
    from healthkiosk.admin.release.publish import publish
    from healthkiosk.cli.common import audit_admin, load

    to = args.to or load(args).data_dir / "releases"
    rel = publish(args.bundle, to, make_latest=not args.no_latest)
    audit_admin(
        args,
        action="release_publish",
        target=f"release:{rel.split('/')[0]}",
        detail={"latest": not args.no_latest, "directory": str(to)},
    )
    print(f"published {to / rel}")
    return 0


def _release_serve(args: argparse.Namespace) -> int:
    from followup.rollout.releases import serve
    from healthkiosk.cli.common import load

    directory = args.dir or load(args).data_dir / "releases"
    print(f"serving {directory} on http://{args.host}:{args.port}/", flush=True)
    serve(directory, args.host, args.port)
    return 0


def _station_engine(args: argparse.Namespace) -> Engine:
    from followup.db.engine import make_engine
    from healthkiosk.cli.common import load

    # Upgraded to the newest schema (created if new), like every follow-up process
    # (the audit log's table too: station add writes to it).
    return make_engine(load(args).followup_database_url)


def _station_add(args: argparse.Namespace) -> int:
    import re

    from sqlalchemy.orm import Session

    from followup.db.audit_log import audit_cli
    from followup.db.models import Station
    from healthkiosk.config import STATION_ID_PATTERN
    from healthkiosk.errors import ConfigError

    for label, value in (("station id", args.station_id), ("group", args.group)):
        if not re.match(STATION_ID_PATTERN, value):
            raise ConfigError(f"{label} {value!r} must match {STATION_ID_PATTERN}")
    engine = _station_engine(args)
    with Session(engine) as session, session.begin():
        if session.get(Station, args.station_id) is not None:
            raise ConfigError(f"station {args.station_id} is already registered")
        session.add(Station(id=args.station_id, group=args.group, name=args.name, area=args.area))
        audit_cli(
            session,
            action="station_add",
            target=f"station:{args.station_id}",
            detail={"group": args.group, "name": args.name, "area": args.area},
        )
    engine.dispose()
    print(f"station {args.station_id} registered in group {args.group}")
    return 0


def _station_list(args: argparse.Namespace) -> int:
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from followup.db.models import Station

    engine = _station_engine(args)
    with Session(engine) as session:
        rows = session.scalars(select(Station).order_by(Station.group, Station.id)).all()
        for st in rows:
            state = "online" if st.online else "offline"
            version = (st.status or {}).get("version", "-")
            print(f"{st.id:24} {st.group:16} {state:8} {version:12} {st.name}")
    engine.dispose()
    return 0


def _updater(args: argparse.Namespace, *, drill_step: str | None = None) -> tuple[Updater, Config]:
    import os
    import signal

    from healthkiosk.cli.common import load
    from updater.settings import from_config
    from updater.updater import ProgressEvent, Updater

    cfg = load(args)
    settings = from_config(cfg)
    last_shown: dict[str, int] = {}

    def progress(ev: ProgressEvent) -> None:
        if ev.done is not None and ev.total:
            percent = 100 * ev.done // ev.total
            if percent - last_shown.get(ev.detail, -100) < 10 and ev.done != ev.total:
                return
            last_shown[ev.detail] = percent
            print(f"[{ev.step}] release {ev.release}: {ev.detail} {percent}%", flush=True)
        else:
            print(f"[{ev.step}] release {ev.release}: {ev.detail}", flush=True)

    def drill(step: object) -> None:
        if drill_step is not None and str(step) == drill_step:
            print(f"[drill] stopped in {drill_step}", flush=True)
            os.kill(os.getpid(), signal.SIGSTOP)

    return Updater(settings, progress=progress, drill=drill), cfg


def _print_result(result: Result) -> int:
    line = f"{result.outcome}: release {result.release}"
    if result.reason:
        line += f" ({result.reason})"
    if result.detail:
        line += f": {result.detail}"
    print(line, flush=True)
    return {
        "installed": 0,
        "up_to_date": 0,
        "nothing_pending": 0,
        "rolled_back": 1,
        "refused": 3,
        "interrupted": 4,
    }.get(result.outcome, 1)


def _update_apply(args: argparse.Namespace) -> int:
    from healthkiosk.errors import ConfigError
    from updater import download

    updater, cfg = _updater(args, drill_step=args.drill_stop_at)
    url = args.manifest_url
    if url is None:
        server = cfg.update.server_url
        if not server:
            raise ConfigError("no --manifest-url and no update.server_url", key="update.server_url")
        import time

        limits = download.Limits(deadline=time.monotonic() + 60)
        latest = download.fetch_bytes(f"{server.rstrip('/')}/latest", max_bytes=4096, limits=limits)
        url = f"{server.rstrip('/')}/{latest.decode('ascii').strip()}"
    return _print_result(updater.apply(url))


def _update_resume(args: argparse.Namespace) -> int:
    updater, _ = _updater(args)
    return _print_result(updater.resume())


def _update_rollback(args: argparse.Namespace) -> int:
    updater, _ = _updater(args)
    return _print_result(updater.rollback_if_pending(args.reason))


def _update_status(args: argparse.Namespace) -> int:
    import json

    updater, _ = _updater(args)
    print(json.dumps(updater.status().to_json(), indent=2, sort_keys=True))
    return 0


def _update_run_order(args: argparse.Namespace) -> int:
    from healthkiosk.cli.common import load
    from management.update_orders import run_order

    return run_order(load(args))
