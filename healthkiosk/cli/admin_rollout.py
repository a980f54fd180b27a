"""``healthkiosk admin rollout ...``: staged software rollouts over MQTT.

``start`` plans a rollout over the registered stations and stores it in the
follow-up database; ``run`` is the driver that publishes the orders and reads
the reports (one per deployment, systemd unit ``followup-rollout``);
``status``, ``pause``, ``resume``, ``abort`` act on the database, and the
driver follows on its next tick.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy import Engine


def register(asub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    r = asub.add_parser("rollout", help="staged software rollouts over MQTT")
    rsub = r.add_subparsers(dest="rollout_command", metavar="ACTION", required=True)

    q = rsub.add_parser("start", help="roll a published release out, stage by stage")
    q.add_argument("--release", type=int, required=True, help="the signed release number")
    q.add_argument("--manifest-url", required=True, help="URL of the release's manifest.json")
    q.add_argument(
        "--stages", default="5,25,70", help="percent of the stations per stage (default 5,25,70)"
    )
    q.add_argument("--success-threshold", type=float, default=0.95, help="default 0.95")
    q.add_argument("--error-threshold", type=float, default=0.10, help="default 0.10")
    q.add_argument("--group", help="only this group's stations")
    q.add_argument("--canary", action="append", default=[], help="station to go first")
    q.add_argument(
        "--no-check", action="store_true", help="do not fetch the manifest to check its release"
    )
    q.set_defaults(handler=_start)

    q = rsub.add_parser("status", help="the active (else latest) rollout and its stations")
    q.add_argument("--id", help="a rollout id")
    q.add_argument("--json", action="store_true")
    q.set_defaults(handler=_status)

    for action, text in (
        ("pause", "no further stage starts (stations already ordered go on)"),
        ("resume", "go on with a paused rollout"),
        ("abort", "stop for good; orders of stations that have not started are withdrawn"),
    ):
        q = rsub.add_parser(action, help=text)
        q.add_argument("--id", help="a rollout id (default: the active one)")
        q.set_defaults(handler=_change, action=action)

    q = rsub.add_parser("run", help="the driver: publish orders, read reports (one per fleet)")
    q.add_argument("--tick", type=float, default=2.0, help="seconds between passes")
    q.add_argument("--client-id", default="followup-rollout")
    q.set_defaults(handler=_run)


def _engine(args: argparse.Namespace) -> Engine:
    from followup.db.engine import make_engine
    from healthkiosk.cli.common import load

    return make_engine(load(args).followup_database_url)


def _who() -> str:
    """``cli:<OS user>``: the rollout's ``created_by`` and its audit entries' user."""
    from followup.db.audit_log import cli_actor

    return cli_actor()


def _manifest_version(url: str, release: int) -> str:
    """The manifest's version; its release number must be the one given."""
    import urllib.request

    from pydantic import ValidationError

    from healthkiosk.errors import RolloutError
    from healthkiosk.validation import describe
    from updater.manifest import MAX_MANIFEST_BYTES, read_signed

    try:
        with urllib.request.urlopen(url, timeout=10) as resp:  # noqa: S310 - admin's URL
            signed = read_signed(resp.read(MAX_MANIFEST_BYTES + 1))
    except ValidationError as err:
        raise RolloutError(f"cannot read the manifest at {url}: {describe(err)}") from None
    except (OSError, ValueError) as err:
        raise RolloutError(f"cannot read the manifest at {url}: {err}") from None
    found, version = signed.release, signed.version
    if found != release:
        raise RolloutError(f"the manifest at {url} is release {found}, not {release}")
    return version


def _start(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from sqlalchemy.orm import Session

    from followup.db.audit_log import cli_host
    from followup.rollout import decisions as rollout
    from followup.rollout import store as rollout_store
    from healthkiosk.errors import RolloutError

    try:
        stages = tuple(float(p) / 100 for p in args.stages.split(",") if p.strip())
        policy = rollout.Policy(
            stages=stages,
            success_threshold=args.success_threshold,
            error_threshold=args.error_threshold,
        )
    except ValueError as err:
        raise RolloutError(f"bad policy: {err}") from None
    version = "" if args.no_check else _manifest_version(args.manifest_url, args.release)
    engine = _engine(args)
    try:
        with Session(engine) as session, session.begin():
            row = rollout_store.start(
                session,
                release=args.release,
                version=version,
                manifest_url=args.manifest_url,
                policy=policy,
                now=datetime.now(UTC),
                group=args.group,
                canaries=args.canary,
                by=_who(),
                remote=cli_host(),
            )
            info = rollout_store.overview(session, row.id)
    finally:
        engine.dispose()
    sizes = ", ".join(str(s["stations"]) for s in info["stages"])
    print(f"rollout {info['id']}: release {args.release} ({version or '?'}), stages of {sizes}")
    print("the driver (healthkiosk admin rollout run) publishes the orders")
    return 0


def _status(args: argparse.Namespace) -> int:
    import json

    from sqlalchemy.orm import Session

    from followup.rollout import store as rollout_store

    engine = _engine(args)
    try:
        with Session(engine) as session:
            info = rollout_store.overview(session, args.id)
    finally:
        engine.dispose()
    if args.json:
        print(json.dumps(info, indent=1))
        return 0
    print(f"rollout {info['id']}: release {info['release']} ({info['version']}) {info['state']}")
    if info["reason"]:
        print(f"  {info['reason']}")
    for s in info["stages"]:
        print(
            f"  stage {s['stage']}: {s['stations']} stations, {s['succeeded']} succeeded, "
            f"{s['failed']} failed, {s['waiting']} waiting"
        )
    for m in info["stations"]:
        outcome = m["outcome"] or ("ordered" if m["ordered"] else "-")
        print(f"  {m['station']:24} stage {m['stage']}  {outcome:12} {m['step']:12} {m['reason']}")
    return 0


def _change(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from sqlalchemy.orm import Session

    from followup.db.audit_log import cli_host
    from followup.rollout import store as rollout_store

    engine = _engine(args)
    fn = getattr(rollout_store, args.action)
    try:
        with Session(engine) as session, session.begin():
            row = fn(session, args.id, now=datetime.now(UTC), by=_who(), remote=cli_host())
            line = f"rollout {row.id}: {row.state}"
    finally:
        engine.dispose()
    print(line)
    return 0


def _run(args: argparse.Namespace) -> int:
    import asyncio

    from followup.db.engine import make_engine
    from followup.rollout.driver import RolloutDriver, run_until_signalled
    from healthkiosk.cli.common import load

    cfg = load(args)
    engine = make_engine(cfg.followup_database_url)
    driver = RolloutDriver(cfg, engine, client_id=args.client_id, tick_s=args.tick)
    try:
        asyncio.run(run_until_signalled(driver))
    finally:
        engine.dispose()
    return 0
