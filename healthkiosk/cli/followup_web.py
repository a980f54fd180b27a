"""The web app's actions in the ``healthkiosk followup`` group: serve, user add, rebuild-status.

``healthkiosk/cli/followup_cmd.py`` calls :func:`register` with its sub-parsers.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def register(fsub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    s = fsub.add_parser("serve", help="serve the doctor's follow-up web app")
    s.add_argument("--host", help="listen address (default: followup.listen_host)")
    s.add_argument("--port", type=int, help="listen port (default: followup.listen_port)")
    s.add_argument("--database-url", help="SQLAlchemy URL (default: followup.database_url)")
    s.add_argument(
        "--no-mqtt-alerts", action="store_true", help="do not publish urgent alerts to MQTT"
    )
    s.add_argument(
        "--https-only",
        action="store_true",
        help="mark the session cookie Secure on every request (it is whenever the request "
        "came over TLS, by a trusted proxy's X-Forwarded-Proto)",
    )
    s.set_defaults(handler=_serve)

    u = fsub.add_parser("user", help="accounts of the follow-up web app")
    usub = u.add_subparsers(dest="user_command", metavar="ACTION", required=True)
    a = usub.add_parser("add", help="create an account (password from a prompt or stdin)")
    a.add_argument("username")
    a.add_argument("--role", choices=["doctor", "admin"], required=True)
    a.add_argument("--display-name", default="")
    a.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from the first line of stdin",
    )
    a.add_argument("--database-url")
    a.set_defaults(handler=_user_add)
    pw = usub.add_parser(
        "password", help="set an account's password (every session of the account ends)"
    )
    pw.add_argument("username")
    pw.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from the first line of stdin",
    )
    pw.add_argument("--database-url")
    pw.set_defaults(handler=_user_password)

    r = fsub.add_parser(
        "rebuild-status", help="recompute every resident's follow-up status (after a rules change)"
    )
    r.add_argument("--database-url")
    r.set_defaults(handler=_rebuild)

    ro = fsub.add_parser("roster", help="the resident roster from the district's 公卫 system")
    rosub = ro.add_subparsers(dest="roster_command", metavar="ACTION", required=True)
    ri = rosub.add_parser(
        "import",
        help="import a roster (CSV or XLSX; every row checked, all or nothing; "
        "a re-import updates, matched by ID number)",
    )
    ri.add_argument("file", type=Path, help="the roster, .csv (UTF-8 or GBK) or .xlsx")
    ri.add_argument("--dry-run", action="store_true", help="check and report, write nothing")
    ri.add_argument("--encoding", help="the CSV's encoding (default: UTF-8, else GB18030)")
    ri.add_argument("--database-url")
    ri.set_defaults(handler=_roster_import)


def _url(args: argparse.Namespace, cfg: object) -> str:
    from healthkiosk.config import Config

    assert isinstance(cfg, Config)
    url: str = args.database_url or cfg.followup_database_url
    if url.startswith("sqlite:///"):
        from pathlib import Path

        Path(url.removeprefix("sqlite:///")).expanduser().parent.mkdir(parents=True, exist_ok=True)
    return url


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from followup.alerts.escalation import DutyChain
    from followup.alerts.publish import make_publisher
    from followup.db.engine import make_engine
    from followup.web.app import create_app
    from followup.web.common import WebSettings
    from followup.web.secret import load_or_create_secret
    from healthkiosk.cli.common import load
    from healthkiosk.config import WEB_ACCOUNT
    from healthkiosk.rules import held_rule_sets, load_rules

    cfg = load(args)
    rules = load_rules(cfg.rules)
    held_rule_sets(cfg.rules, cfg.followup.rule_sets)  # every rule set it holds, checked
    engine = make_engine(_url(args, cfg))
    esc = cfg.followup.escalation
    key_path = cfg.followup.secret_key_file or cfg.data_dir / "followup-secret.key"
    settings = WebSettings(
        secret_key=load_or_create_secret(key_path),
        https_only=args.https_only,
        webhook_url=cfg.followup.alert_webhook,
        timezone=cfg.followup.timezone,
        duty_chain=DutyChain(
            after_minutes=esc.after_minutes,
            doctor_phones=dict(esc.doctor_phones),
            station_phones=dict(esc.station_phones),
            centre_phone=esc.centre_phone,
            give_up_after_hours=esc.give_up_after_hours,
        ),
    )
    # One broker account (bound to one client id) for the alerts and the commands:
    # one publisher, its calls take turns.
    web = make_publisher(cfg.followup.account_mqtt(WEB_ACCOUNT), client_id=WEB_ACCOUNT)
    publish = None if args.no_mqtt_alerts else web
    app = create_app(engine, rules, settings, publish=publish, commands=web)
    uvicorn.run(
        app,
        host=args.host or cfg.followup.listen_host,
        port=args.port or cfg.followup.listen_port,
        log_level=cfg.logging.level.lower(),
        # The client's address and scheme from X-Forwarded-For/-Proto, only when the
        # connection comes from a trusted proxy (never "*": anyone could claim TLS or
        # another address, and the per-address sign-in limit would count nothing).
        proxy_headers=True,
        forwarded_allow_ips=list(cfg.followup.trusted_proxies),
        server_header=False,
    )
    return 0


def _read_password(args: argparse.Namespace) -> str | None:
    import getpass
    import sys

    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("Password: ")
    if getpass.getpass("Again: ") != first:
        print("healthkiosk: the passwords differ", file=sys.stderr)
        return None
    return first


def _user_add(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from sqlalchemy.orm import Session

    from followup.db.audit_log import audit_cli
    from followup.db.engine import make_engine
    from followup.web.accounts import add_user
    from healthkiosk.cli.common import load

    cfg = load(args)
    password = _read_password(args)
    if password is None:
        return 2
    engine = make_engine(_url(args, cfg))
    now = datetime.now(UTC)
    try:
        with Session(engine) as session, session.begin():
            user = add_user(
                session,
                username=args.username,
                password=password,
                role=args.role,
                display_name=args.display_name,
                now=now,
            )
            audit_cli(
                session,
                action="user_add",
                now=now,
                target=f"user:{user.id}",
                detail={"username": user.username, "role": user.role},
            )
            print(f"created {user.role} {user.username!r} (id {user.id})")
    finally:
        engine.dispose()
    return 0


def _user_password(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from sqlalchemy.orm import Session

    from followup.db.audit_log import audit_cli
    from followup.db.engine import make_engine
    from followup.web.accounts import set_password
    from healthkiosk.cli.common import load

    cfg = load(args)
    password = _read_password(args)
    if password is None:
        return 2
    engine = make_engine(_url(args, cfg))
    try:
        with Session(engine) as session, session.begin():
            user = set_password(session, username=args.username, password=password)
            audit_cli(
                session,
                action="user_password",
                now=datetime.now(UTC),
                target=f"user:{user.id}",
                detail={"username": user.username, "sessions_ended": True},
            )
            print(f"new password for {user.username!r}; every session of the account ended")
    finally:
        engine.dispose()
    return 0


def _rebuild(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from followup.db.audit_log import audit_cli
    from followup.db.engine import make_engine
    from followup.db.models import Resident
    from followup.db.status_store import refresh_residents
    from followup.web.i18n import load_zone
    from healthkiosk.cli.common import load
    from healthkiosk.rules import load_rules

    cfg = load(args)
    rules = load_rules(cfg.rules)
    tz = load_zone(cfg.followup.timezone)
    engine = make_engine(_url(args, cfg))
    try:
        with Session(engine) as session:
            ids = list(session.scalars(select(Resident.id)))
        for i in range(0, len(ids), 5000):
            with Session(engine) as session, session.begin():
                refresh_residents(
                    session, ids[i : i + 5000], rules=rules, now=datetime.now(UTC), tz=tz
                )
        with Session(engine) as session, session.begin():
            audit_cli(session, action="status_rebuild", detail={"residents": len(ids)})
        print(f"refreshed {len(ids)} residents")
    finally:
        engine.dispose()
    return 0


def _roster_import(args: argparse.Namespace) -> int:
    """Exit 0: imported (or a clean dry run); 1: bad lines, nothing imported; 2: unreadable."""
    import sys
    from datetime import UTC, datetime

    from sqlalchemy.orm import Session

    from followup.db.audit_log import audit_cli
    from followup.db.engine import make_engine
    from followup.db.status_store import refresh_residents
    from followup.ingest.store import load_or_create_key
    from followup.roster import RosterError, import_roster, read_rows
    from followup.web.i18n import load_zone
    from healthkiosk.cli.common import load
    from healthkiosk.rules import load_rules

    cfg = load(args)
    try:
        cols, rows = read_rows(args.file, encoding=args.encoding)
    except (RosterError, OSError, UnicodeDecodeError, LookupError) as e:
        print(f"healthkiosk: {e}", file=sys.stderr)
        return 2
    key = load_or_create_key(cfg.followup_id_hash_key_path)
    rules = load_rules(cfg.rules)
    tz = load_zone(cfg.followup.timezone)
    engine = make_engine(_url(args, cfg))
    now = datetime.now(UTC)
    try:
        with Session(engine) as session:  # one transaction: all rows or none
            report = import_roster(
                session, rows, cols, key=key, now=now, tz=tz, dry_run=args.dry_run
            )
            if report.bad or args.dry_run:
                session.rollback()
            else:
                refresh_residents(session, report.resident_ids, rules=rules, now=now, tz=tz)
                audit_cli(
                    session,
                    action="roster_import",
                    now=now,
                    target=args.file.name,
                    detail={
                        "rows": report.rows,
                        "created": report.created,
                        "updated": report.updated,
                        "unchanged": report.unchanged,
                    },
                )
                session.commit()
    finally:
        engine.dispose()
    for line in report.lines():
        print(line)
    return 1 if report.bad else 0
