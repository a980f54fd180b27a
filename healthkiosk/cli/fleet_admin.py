"""``healthkiosk admin config ...`` and ``admin command ...``: remote configuration
and remote commands, over the broker with the administrator's account
(``followup-admin`` in ``[followup] mqtt_accounts_dir``, else ``[followup.mqtt]``).

- ``admin config set (--group G | --station S) KEY=VALUE... [--file partial.toml]``
  reads the scope's retained ``hk.config/1``, merges the new settings into it
  (``--replace``: start from nothing), signs it with the configuration key
  (``--key``, default ``followup.config_key_file``; the stations trust its public
  half in ``fleet.config_keys``) and publishes it retained with version + 1;
  a ``rules`` table must be a rule set the doctor's side holds (its ``[rules]`` or
  a ``[followup.rule_sets.<name>]``): its digest goes into the document;
- ``admin config show (--group G | --station S)``: the retained document (and a
  station's last ``hk.config-report/1``);
- ``admin config clear (--group G | --station S)``: publishes a signed clear
  (``cleared``, version + 1) in its place;
- ``admin command STATION logs|resync|restart|repair [--role R] [--wait S]``
  publishes an ``hk.command/1`` and prints the ``hk.command-result/1`` as JSON
  (exit 1 when the station answered ``ok: false``, 3 when no answer came).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from healthkiosk.mqtt import Connection, MqttSettings


def register(asub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    c = asub.add_parser("config", help="remote configuration of groups and stations")
    csub = c.add_subparsers(dest="config_command", metavar="ACTION", required=True)

    def signing(q: argparse.ArgumentParser) -> None:
        q.add_argument(
            "--key",
            type=Path,
            help="the private configuration key (default followup.config_key_file)",
        )
        q.add_argument(
            "--expires-days",
            type=float,
            default=90.0,
            help="a station refuses the document after this many days (default 90)",
        )

    def scope(q: argparse.ArgumentParser) -> None:
        where = q.add_mutually_exclusive_group(required=True)
        where.add_argument("--group", help="the configuration of a group of stations")
        where.add_argument("--station", help="the configuration of one station")

    q = csub.add_parser("set", help="publish settings (retained, version + 1)")
    scope(q)
    q.add_argument("pairs", nargs="*", metavar="KEY=VALUE", help="e.g. kiosk.done_s=5")
    q.add_argument("--file", type=Path, help="a partial configuration (TOML)")
    q.add_argument("--replace", action="store_true", help="drop the settings published before")
    q.add_argument(
        "--no-check",
        action="store_true",
        help="publish even if the settings do not validate here (the station decides)",
    )
    q.add_argument("--by", default="", help="who issues it (kept in the document)")
    signing(q)
    q.set_defaults(handler=_config_set)

    q = csub.add_parser("show", help="the retained configuration (and a station's report)")
    scope(q)
    q.set_defaults(handler=_config_show)

    q = csub.add_parser("clear", help="clear a scope's configuration (a signed clear)")
    scope(q)
    q.add_argument("--by", default="", help="who issues it (kept in the document)")
    signing(q)
    q.set_defaults(handler=_config_clear)

    q = asub.add_parser("command", help="run a remote command on a station, print its result")
    q.add_argument("station")
    q.add_argument("command", choices=["logs", "resync", "restart", "repair"])
    q.add_argument("--role", choices=["blood_pressure", "glucose", "id_card"], help="repair")
    q.add_argument("--lines", type=int, default=200, help="logs: how many lines")
    q.add_argument("--wait", type=float, default=30.0, help="seconds to wait for the result")
    q.add_argument("--expires", type=float, default=300.0, help="the command's lifetime (s)")
    q.add_argument("--by", default="")
    q.set_defaults(handler=_command)


# --- helpers -----------------------------------------------------------------------


def parse_value(text: str) -> Any:
    """A TOML value (``5``, ``true``, ``"x"``, ``[1, 2]``), else the text as a string."""
    import tomllib

    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def settings_from_pairs(pairs: list[str]) -> dict[str, Any]:
    from healthkiosk.config import merge
    from healthkiosk.errors import ConfigError

    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"expected KEY=VALUE, got {pair!r}")
        parts = key.strip().split(".")
        nested: dict[str, Any] = {parts[-1]: parse_value(value.strip())}
        for part in reversed(parts[:-1]):
            nested = {part: nested}
        out = merge(out, nested)
    return out


def _settings(args: argparse.Namespace) -> MqttSettings:
    import dataclasses

    from healthkiosk.cli.common import load
    from healthkiosk.config import ADMIN_ACCOUNT
    from healthkiosk.mqtt import settings_from

    cfg = load(args, log=False)
    # The administrator's own broker account, bound to its client id: two admin
    # commands at the same moment take turns by reconnecting.
    s = settings_from(cfg.followup.account_mqtt(ADMIN_ACCOUNT), client_id=ADMIN_ACCOUNT)
    return dataclasses.replace(s, clean_start=True, session_expiry_s=0, manual_ack=False)


def _target(args: argparse.Namespace) -> tuple[str, str, str]:
    """(scope, target, topic)."""
    import re

    from healthkiosk.config import STATION_ID_PATTERN
    from healthkiosk.errors import ConfigError
    from sync.schema import group_topic, topic

    scope, target = ("group", args.group) if args.group else ("station", args.station)
    if not re.match(STATION_ID_PATTERN, target):
        raise ConfigError(f"{scope} {target!r} must match {STATION_ID_PATTERN}")
    name = group_topic(target, "config") if scope == "group" else topic(target, "config")
    return scope, target, name


async def _retained(conn: Connection, name: str, *, wait_s: float = 1.0) -> bytes | None:
    """The retained payload on ``name`` (None when there is none)."""
    from healthkiosk.errors import SyncTimeoutError

    await conn.subscribe([(name, 1)], timeout=10.0)
    try:
        while True:
            msg = await conn.next_message(timeout=wait_s)
            if msg.topic == name and msg.retain:
                return msg.payload
    except SyncTimeoutError:
        return None


def _signing_key(args: argparse.Namespace) -> Ed25519PrivateKey:
    from healthkiosk.cli.common import load
    from healthkiosk.errors import ConfigError
    from updater.keys import load_private

    path = args.key or load(args, log=False).followup.config_key_file
    if path is None:
        raise ConfigError("give --key (the configuration key) or set followup.config_key_file")
    return load_private(Path(path).expanduser())


async def _retained_version(conn: Connection, name: str) -> tuple[int, dict[str, Any]]:
    """The retained document's version and settings (0, {} when there is none)."""
    from healthkiosk.errors import ConfigError, SchemaError
    from sync.schema import DesiredConfig, decode

    old = await _retained(conn, name)
    if not old:
        return 0, {}
    try:
        prev = decode(old)
    except SchemaError as err:
        raise ConfigError(f"the retained document on {name} is unreadable: {err}") from None
    if isinstance(prev, DesiredConfig):
        return prev.version, ({} if prev.cleared else dict(prev.settings))
    return 0, {}


# --- handlers ----------------------------------------------------------------------------


def held_rules_digest(settings: dict[str, Any], held: dict[str, Any]) -> str | None:
    """The digest of a document's ``rules`` table (None without one), which must be
    a rule set the doctor's side holds (``held``: digest → :class:`RuleSetId`);
    :class:`ConfigError` naming ``rules`` if it is not."""
    from healthkiosk.errors import ConfigError
    from healthkiosk.rules import load_rules, rules_digest

    if "rules" not in settings:
        return None
    table = settings["rules"]
    if not isinstance(table, dict):
        raise ConfigError("must be a table", key="rules")
    digest = rules_digest(load_rules(table))
    if digest not in held:
        names = ", ".join(f"{r.name} {r.short}" for r in held.values())
        raise ConfigError(
            f"the doctor's side does not hold this rule set ({digest[:12]}); it holds: {names}. "
            "Add it as [followup.rule_sets.<name>] to its configuration first",
            key="rules",
        )
    return digest


def _config_set(args: argparse.Namespace) -> int:
    import asyncio
    import json
    from datetime import UTC, datetime, timedelta

    from healthkiosk.cli.common import audit_admin, load
    from healthkiosk.config import from_mapping, merge, read_mapping
    from healthkiosk.errors import ConfigError
    from healthkiosk.mqtt import connect
    from healthkiosk.rules import held_rule_sets
    from management.remote_config import check_remote_keys, flatten
    from management.signedconfig import sign
    from sync.schema import DesiredConfig

    scope, target, name = _target(args)
    cfg = load(args, log=False)
    held = held_rule_sets(cfg.rules, cfg.followup.rule_sets)
    new: dict[str, Any] = read_mapping(args.file) if args.file else {}
    new = merge(new, settings_from_pairs(args.pairs))
    if not new and not args.replace:
        raise ConfigError("nothing to set: give KEY=VALUE pairs or --file")
    if not args.no_check:
        check_remote_keys(new)
        from_mapping(new)  # the types and ranges (the station checks again on its file)
    settings = _settings(args)
    key = _signing_key(args)

    async def go() -> DesiredConfig:
        async with connect(settings) as conn:
            version, base = await _retained_version(conn, name)
            now = datetime.now(UTC)
            settings_out = new if args.replace else merge(base, new)
            # never skipped (not even by --no-check): a station runs only a held rule set
            digest = held_rules_digest(settings_out, held)
            doc = DesiredConfig(
                scope="group" if scope == "group" else "station",
                target=target,
                version=version + 1,
                settings=settings_out,
                issued_at=now,
                issued_by=args.by,
                expires=now + timedelta(days=args.expires_days),
                rules_digest=digest,
            )
            # audited before it is published: an action that cannot be audited is not done
            await asyncio.to_thread(
                audit_admin,
                args,
                action="config_set",
                target=f"{scope}:{target}",
                detail={
                    "version": doc.version,
                    "keys": sorted(flatten(new)),  # the values stay in the document
                    "replace": bool(args.replace),
                    "checked": not args.no_check,
                },
            )
            await conn.publish(name, sign(doc, key), retain=True, timeout=10.0)
            return doc

    doc = asyncio.run(go())
    out: dict[str, Any] = {"topic": name, "version": doc.version, "settings": doc.settings}
    if doc.rules_digest is not None:
        out["rules_digest"] = doc.rules_digest
    print(json.dumps(out))
    return 0


def _config_show(args: argparse.Namespace) -> int:
    import asyncio
    import json

    from healthkiosk.mqtt import connect
    from sync.schema import topic

    scope, target, name = _target(args)
    settings = _settings(args)

    async def go() -> dict[str, Any]:
        async with connect(settings) as conn:
            out: dict[str, Any] = {"topic": name, "document": None}
            raw = await _retained(conn, name)
            if raw:
                out["document"] = json.loads(raw)
            if scope == "station":
                rep = await _retained(conn, topic(target, "config-report"))
                out["report"] = json.loads(rep) if rep else None
            return out

    print(json.dumps(asyncio.run(go()), indent=1, ensure_ascii=False))
    return 0


def _config_clear(args: argparse.Namespace) -> int:
    import asyncio
    import json
    from datetime import UTC, datetime, timedelta

    from healthkiosk.cli.common import audit_admin
    from healthkiosk.mqtt import connect
    from management.signedconfig import sign
    from sync.schema import DesiredConfig

    scope, target, name = _target(args)
    settings = _settings(args)
    key = _signing_key(args)

    async def go() -> int:
        async with connect(settings) as conn:
            version, _base = await _retained_version(conn, name)
            now = datetime.now(UTC)
            doc = DesiredConfig(
                scope="group" if scope == "group" else "station",
                target=target,
                version=version + 1,
                settings={},
                cleared=True,
                issued_at=now,
                issued_by=args.by,
                expires=now + timedelta(days=args.expires_days),
            )
            await asyncio.to_thread(
                audit_admin,
                args,
                action="config_clear",
                target=f"{scope}:{target}",
                detail={"version": doc.version},
            )
            await conn.publish(name, sign(doc, key), retain=True, timeout=10.0)
            return doc.version

    version = asyncio.run(go())
    print(json.dumps({"topic": name, "version": version, "cleared": True}))
    return 0


def _command(args: argparse.Namespace) -> int:
    import asyncio
    import json
    import sys
    import uuid
    from datetime import UTC, datetime, timedelta

    from healthkiosk.cli.common import audit_admin
    from healthkiosk.errors import SchemaError, SyncTimeoutError
    from healthkiosk.mqtt import connect
    from sync.schema import Command, CommandResult, decode, encode, to_dict, topic

    cmd_args: dict[str, Any] = {}
    if args.command == "repair":
        if not args.role:
            print("healthkiosk: repair needs --role", file=sys.stderr)
            return 2
        cmd_args["role"] = args.role
    if args.command == "logs":
        cmd_args["lines"] = args.lines
    now = datetime.now(UTC)
    cmd = Command(
        id=uuid.uuid4(),
        command=args.command,
        args=cmd_args,
        issued_at=now,
        expires_at=now + timedelta(seconds=args.expires),
        issued_by=args.by,
    )
    settings = _settings(args)
    result_topic = topic(args.station, "cmd-result")
    audit_admin(
        args,
        action="fleet_command",  # as the web app's station page
        target=f"station:{args.station}",
        detail={"command": cmd.command, "args": cmd_args, "id": str(cmd.id)},
    )

    async def go() -> CommandResult | None:
        async with connect(settings) as conn:
            await conn.subscribe([(result_topic, 1)], timeout=10.0)
            await conn.publish(topic(args.station, "cmd"), encode(cmd), timeout=10.0)
            loop = asyncio.get_running_loop()
            deadline = loop.time() + args.wait
            while True:
                left = deadline - loop.time()
                if left <= 0:
                    return None
                try:
                    msg = await conn.next_message(timeout=left)
                except SyncTimeoutError:
                    return None
                try:
                    res = decode(msg.payload)
                except SchemaError:
                    continue
                if isinstance(res, CommandResult) and res.id == cmd.id:
                    return res

    result = asyncio.run(go())
    if result is None:
        print(
            json.dumps({"id": str(cmd.id), "ok": False, "detail": f"no result in {args.wait:g} s"})
        )
        return 3
    print(json.dumps(to_dict(result), ensure_ascii=False))
    return 0 if result.ok else 1
