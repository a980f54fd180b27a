"""``healthkiosk store ...``: the technician's look into the kiosk's local store.

- ``export [--since DATE] > FILE.jsonl``: every reading as an ``hk.reading/1`` line;
- ``import FILE.jsonl``: restore readings (idempotent; bad lines reported with
  their numbers on stderr, good ones imported; exit 1 when any line was bad);
- ``stats``: counts, the outbox backlog and the oldest undelivered reading;
- ``check``: SQLite's integrity check (exit 1 when the file is damaged);
- ``purge``: remove delivered readings past the retention period now.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from datetime import datetime


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("store", help="technician: export, import and inspect the local store")
    ssub = p.add_subparsers(dest="store_command", metavar="ACTION", required=True)

    q = ssub.add_parser("export", help="readings as hk.reading/1 JSON lines on stdout")
    q.add_argument(
        "--since",
        metavar="ISO_DATE",
        help="only readings measured at or after this date or time "
        "(a date or a time without offset is in the station's time zone)",
    )
    q.set_defaults(handler=_export)

    q = ssub.add_parser("import", help="import hk.reading/1 JSON lines (idempotent)")
    q.add_argument("file", metavar="FILE.jsonl", help="the file to import ('-' for stdin)")
    q.set_defaults(handler=_import)

    q = ssub.add_parser("stats", help="counts, outbox backlog, oldest undelivered reading")
    q.add_argument("--json", action="store_true", help="one JSON object instead of text")
    q.set_defaults(handler=_stats)

    q = ssub.add_parser("check", help="SQLite integrity check of the store file")
    q.set_defaults(handler=_check)

    q = ssub.add_parser("purge", help="remove delivered readings past store.retention_days")
    q.set_defaults(handler=_purge)


def _parse_since(text: str, timezone: str) -> datetime:
    from datetime import date, datetime
    from zoneinfo import ZoneInfo

    from healthkiosk.errors import ConfigError, HealthKioskError

    try:
        zone = ZoneInfo(timezone)
    except (KeyError, ValueError):
        raise ConfigError(f"unknown time zone {timezone!r}", key="station.timezone") from None
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            return datetime(day.year, day.month, day.day, tzinfo=zone)
        when = datetime.fromisoformat(text)
    except ValueError:
        raise HealthKioskError(
            f"--since {text!r} is not an ISO 8601 date or time", reason="usage"
        ) from None
    return when if when.tzinfo else when.replace(tzinfo=zone)


def _export(args: argparse.Namespace) -> int:
    import sys

    from healthkiosk.cli.common import load
    from sync.store.backup import export_lines
    from sync.store.db import open_store

    cfg = load(args)
    since = _parse_since(args.since, cfg.station.timezone) if args.since else None
    factory = open_store(cfg.store_path)
    out = sys.stdout.buffer
    for line in export_lines(factory, station_id=cfg.station.id, since=since):
        out.write(line)
    out.flush()
    return 0


def _import(args: argparse.Namespace) -> int:
    import sys
    from pathlib import Path

    from healthkiosk.cli.common import load
    from healthkiosk.errors import StoreError
    from sync.store.backup import import_lines
    from sync.store.db import open_store
    from sync.store.idhash import IdHasher

    cfg = load(args)
    factory = open_store(cfg.store_path)
    hasher = IdHasher.from_file(cfg.id_hash_key_path)
    try:
        stream = sys.stdin.buffer if args.file == "-" else Path(args.file).open("rb")  # noqa: SIM115
    except OSError as err:
        raise StoreError(f"cannot read {args.file}: {err.strerror}") from None
    with stream:
        report = import_lines(
            factory,
            stream,
            hasher=hasher,
            station_id=cfg.station.id,
            min_free_mb=cfg.store.min_free_mb,
        )
    for bad in report.bad:
        print(f"{args.file}: {bad}", file=sys.stderr)
    print(
        f"imported {report.imported}, already present {report.duplicates}, "
        f"renumbered {report.renumbered}, bad lines {len(report.bad)}"
    )
    return 1 if report.bad else 0


def _stats(args: argparse.Namespace) -> int:
    import json

    from healthkiosk.cli.common import load
    from sync.store.db import open_store
    from sync.store.stats import store_stats

    cfg = load(args)
    stats = store_stats(open_store(cfg.store_path))
    if args.json:
        print(json.dumps({"store": str(cfg.store_path), **stats.as_dict()}))
        return 0
    oldest = stats.oldest_undelivered.isoformat() if stats.oldest_undelivered else "-"
    kinds = ", ".join(f"{k} {n}" for k, n in stats.readings_by_kind.items()) or "none"
    print(f"store:               {cfg.store_path}")
    print(f"store id:            {stats.store_id}")
    print(f"readings:            {stats.readings} ({kinds})")
    print(f"residents:           {stats.residents}")
    print(f"visits:              {stats.visits}")
    print(f"outbox backlog:      {stats.outbox_backlog}")
    print(f"outbox delivered:    {stats.outbox_delivered}")
    print(f"outbox rejected:     {stats.outbox_rejected}")
    print(f"oldest undelivered:  {oldest}")
    print(f"last station_seq:    {stats.last_station_seq}")
    print(f"store size:          {stats.store_size_mb:.1f} MB")
    print(
        f"disk free:           {stats.disk_free_mb:.0f} MB (readings refused below "
        f"{cfg.store.min_free_mb} MB)"
    )
    return 0


def _check(args: argparse.Namespace) -> int:
    import sys

    from healthkiosk.cli.common import load
    from sync.store.db import check_integrity

    cfg = load(args)
    path = cfg.store_path
    if not path.exists():
        print(f"{path}: no store yet", file=sys.stderr)
        return 1
    report = check_integrity(path)
    if report.ok:
        print(f"{path}: ok")
        return 0
    for problem in report.problems:
        print(f"{path}: {problem}", file=sys.stderr)
    return 1


def _purge(args: argparse.Namespace) -> int:
    from datetime import timedelta

    from healthkiosk.cli.common import load
    from sync.store.db import open_store
    from sync.store.purge import purge_delivered

    cfg = load(args)
    report = purge_delivered(
        open_store(cfg.store_path), older_than=timedelta(days=cfg.store.retention_days)
    )
    print(
        f"purged {report.readings} readings, {report.visits} visits, "
        f"{report.residents} residents, {report.device_events} device events"
    )
    return 0
