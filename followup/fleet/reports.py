"""Ingest of the stations' fleet reports: configuration, update steps, command
results, and their calls for staff (``hk.help/1``, issue 16).

The ingest worker (:mod:`followup.ingest.worker`) subscribes to
``hk/v1/st/+/config-report``, ``.../update-report`` and ``.../cmd-result``
(not shared: the reports are retained, and retained messages are not
delivered to shared subscriptions) and hands those messages here.

- :func:`check_report` is pure: ``(topic, payload)`` → the message, a
  :class:`Rejection` with its reason, or None for an empty retained payload.
- :class:`FleetStore` writes one checked message in one transaction,
  idempotently: the same report delivered again (after every reconnect, or to
  each of several workers) adds nothing; a command's first result wins. Text
  from the station (log output, reasons) is masked again before it is kept:
  no whole ID number reaches the database or the page even if a station
  failed to mask it. A call for staff is one row per call
  (:class:`~followup.db.fleet.HelpCallRow`): the call again, acknowledged at the
  station, sets its acknowledgement unless the web's came first (and then says
  the station has it).
- :class:`FleetIngest` ties them together for the worker and counts what it
  stored and refused; a malformed message is dead-lettered with its reason and
  logged, and never stops the worker.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.orm import Session

from followup.db.fleet import (
    HelpCallRow,
    StationCommand,
    StationConfigReport,
    StationUpdateReport,
)
from followup.db.models import DeadLetter
from healthkiosk.errors import SchemaError
from healthkiosk.idnumber import mask_in_payload, mask_in_text
from sync.schema import (
    CommandResult,
    ConfigReport,
    HelpCall,
    UpdateReport,
    from_dict,
    to_dict,
)

log = logging.getLogger(__name__)

LEAVES = ("config-report", "update-report", "cmd-result", "help")
FILTERS = tuple(f"hk/v1/st/+/{leaf}" for leaf in LEAVES)
"""The topic filters the ingest subscribes to for fleet reports."""
MAX_REPORT_BYTES = 256 * 1024
"""A command result carries logs (up to 200,000 characters); reports are small."""
MAX_DEAD_LETTER_BYTES = 64 * 1024
_TOPIC = re.compile(
    r"^hk/v1/st/(?P<station>[a-z0-9][a-z0-9-]{0,62})/(?P<leaf>config-report|update-report|cmd-result|help)$"
)
_EXPECTED: dict[str, type[ConfigReport | UpdateReport | CommandResult | HelpCall]] = {
    "config-report": ConfigReport,
    "update-report": UpdateReport,
    "cmd-result": CommandResult,
    "help": HelpCall,
}
Report = ConfigReport | UpdateReport | CommandResult | HelpCall


@dataclass(frozen=True, slots=True)
class Rejection:
    reason: str
    station_id: str | None = None


def is_fleet_topic(topic: str) -> bool:
    return _TOPIC.match(topic) is not None


def check_report(topic: str, payload: bytes) -> Report | Rejection | None:
    """The report on ``topic``; None for an empty (cleared) retained message."""
    m = _TOPIC.match(topic)
    if m is None:
        return Rejection(f"bad_topic: {topic[:100]!r}")
    station, leaf = m["station"], m["leaf"]
    if not payload:
        return None
    if len(payload) > MAX_REPORT_BYTES:
        return Rejection(f"too_large: {len(payload)} bytes", station)
    try:
        data = json.loads(payload)
        if not isinstance(data, dict):
            return Rejection("not_object: a message is a JSON object", station)
        msg = from_dict(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        return Rejection(f"not_json: {err}", station)
    except SchemaError as err:
        return Rejection(f"{err.reason}: {err}", station)
    expected = _EXPECTED[leaf]
    if not isinstance(msg, expected):
        what = f"wrong_type: {leaf} carries {expected.__name__}, got {msg.schema_}"
        return Rejection(what, station)
    if msg.station_id != station:
        return Rejection(
            f"wrong_station: payload says {msg.station_id!r}, topic {station!r}", station
        )
    return msg


def _dedup_key(msg: ConfigReport | UpdateReport) -> str:
    body = json.dumps(to_dict(msg), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(body.encode()).hexdigest()


class FleetStore:
    """Writes checked fleet reports (synchronous; one call, one transaction)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._insert: Any = (
            postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert
        )

    def apply(self, msg: Report, *, received_at: datetime) -> bool | Rejection:
        """True when the report was new, False when it was already stored;
        a :class:`Rejection` when it contradicts what is stored."""
        with Session(self.engine) as s, s.begin():
            if isinstance(msg, CommandResult):
                return self._result(s, msg, received_at)
            if isinstance(msg, HelpCall):
                return self._help(s, msg, received_at)
            table: Any = (
                StationConfigReport.__table__
                if isinstance(msg, ConfigReport)
                else StationUpdateReport.__table__
            )
            row = self._row(msg, received_at)
            done = s.execute(
                self._insert(table)
                .on_conflict_do_nothing(index_elements=["station_id", "dedup_key"])
                .returning(table.c.id),
                [row],
            ).first()
            return done is not None

    @staticmethod
    def _row(msg: ConfigReport | UpdateReport, received_at: datetime) -> dict[str, Any]:
        common = {
            "station_id": msg.station_id,
            "at": msg.at,
            "outcome": msg.outcome,
            "reason": mask_in_text(msg.reason),
            "received_at": received_at,
            "dedup_key": _dedup_key(msg),
        }
        if isinstance(msg, ConfigReport):
            return {
                **common,
                "group_version": msg.group_version,
                "station_version": msg.station_version,
                "running_group_version": msg.running_group_version,
                "running_station_version": msg.running_station_version,
                "restart_needed": msg.restart_needed,
            }
        return {
            **common,
            "rollout_id": msg.rollout_id,
            "release": msg.release,
            "running_release": msg.running_release,
            "step": msg.step,
        }

    @staticmethod
    def _help(s: Session, msg: HelpCall, received_at: datetime) -> bool | Rejection:
        """A call for staff: new, or acknowledged at the station (True when
        something changed)."""
        row = s.scalars(
            select(HelpCallRow).where(HelpCallRow.id == str(msg.id)).with_for_update()
        ).first()
        if row is None:
            row = HelpCallRow(
                id=str(msg.id),
                station_id=msg.station_id,
                reason=msg.reason,
                screen=msg.screen,
                detail=msg.detail,
                called_at=msg.called_at,
                received_at=received_at,
                acknowledged_by="",
            )
            s.add(row)
            changed = True
        elif row.station_id != msg.station_id:
            return Rejection(
                f"wrong_station: call {msg.id} came from {row.station_id!r}", msg.station_id
            )
        else:
            changed = False
        if msg.acknowledged_at is not None:
            if row.acknowledged_at is None:
                row.acknowledged_at = msg.acknowledged_at
                row.acknowledged_by = mask_in_text(msg.acknowledged_by)[:200]
                row.acknowledged_where = msg.acknowledged_where
                changed = True
            if row.station_knows_at is None:
                row.station_knows_at = received_at
                changed = True
        return changed

    @staticmethod
    def _result(s: Session, msg: CommandResult, received_at: datetime) -> bool | Rejection:
        cmd = s.scalars(
            select(StationCommand).where(StationCommand.id == str(msg.id)).with_for_update()
        ).first()
        if cmd is None:
            # Issued by another tool (or before this database existed): keep the
            # answer anyway, marked as not issued from here.
            cmd = StationCommand(
                id=str(msg.id),
                station_id=msg.station_id,
                command=msg.command,
                args={},
                issued_at=msg.at,
                expires_at=msg.at,
                issued_by="",
            )
            s.add(cmd)
        elif cmd.station_id != msg.station_id:
            return Rejection(
                f"wrong_station: command {msg.id} was sent to {cmd.station_id!r}", msg.station_id
            )
        elif cmd.command != msg.command:
            return Rejection(
                f"wrong_command: command {msg.id} is {cmd.command!r}, result says {msg.command!r}",
                msg.station_id,
            )
        if cmd.result_received_at is not None:
            return False
        cmd.result_ok = msg.ok
        # The station masks its logs; masked again here, in case one did not.
        cmd.result_detail = mask_in_text(msg.detail)
        cmd.result_output = mask_in_text(msg.output)
        cmd.result_at = msg.at
        cmd.result_received_at = received_at
        return True

    def dead_letter(self, topic: str, rejection: Rejection, payload: bytes, at: datetime) -> None:
        with Session(self.engine) as s, s.begin():
            s.add(
                DeadLetter(
                    received_at=at,
                    topic=topic[:300],
                    station_id=rejection.station_id,
                    reason=mask_in_text(rejection.reason[:2000]),
                    payload=mask_in_payload(payload[:MAX_DEAD_LETTER_BYTES]),
                )
            )


@dataclass
class FleetCounts:
    stored: int = 0
    duplicates: int = 0
    rejected: int = 0


class FleetIngest:
    """What the ingest worker calls for each fleet message (see the module doc)."""

    def __init__(self, engine: Engine) -> None:
        self.store = FleetStore(engine)
        self.counts = FleetCounts()

    def handle_one(self, topic: str, payload: bytes, now: datetime) -> None:
        checked = check_report(topic, payload)
        if checked is None:
            return
        if not isinstance(checked, Rejection):
            try:
                outcome = self.store.apply(checked, received_at=now)
            except (IntegrityError, DataError) as err:
                outcome = Rejection(
                    f"store_failed: {str(err).splitlines()[0][:300]}", checked.station_id
                )
            if outcome is True:
                self.counts.stored += 1
                log.info("station %s: %s stored", checked.station_id, checked.schema_)
                return
            if outcome is False:
                self.counts.duplicates += 1
                log.debug("station %s: %s already stored", checked.station_id, checked.schema_)
                return
            checked = outcome
        self.counts.rejected += 1
        log.warning("fleet report on %s refused: %s", topic[:100], checked.reason[:300])
        self.store.dead_letter(topic, checked, payload, now)
