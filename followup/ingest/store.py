"""Writing checked messages into the follow-up database (synchronous).

Readings are inserted by UUID with ``INSERT .. ON CONFLICT DO NOTHING`` (the
same statement on SQLite and PostgreSQL): a duplicate changes nothing. Each
reading is classified again with the doctor's side's rules and both
classifications are kept (the kiosk's with its rule set, and ours); a device
event is kept as a row of its own kind, its values in ``event``
(docs/clinical.md, "One meaning").
Residents are created from the first reading that names them, found by a
keyed hash of the ID number. One call is one transaction; the caller publishes
receipts only after it returns.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from followup.db.models import DeadLetter, Reading, Resident, Station
from followup.ingest.timing import AHEAD_TOLERANCE, reading_time
from healthkiosk.atomicfile import write_atomic
from healthkiosk.errors import ImplausibleValueError
from healthkiosk.idnumber import mask, mask_in_payload, mask_in_text
from healthkiosk.rules import RulesConfig, load_rules, rules_digest
from healthkiosk.rules.status import ReadingFacts, age_on, classify_reading
from sync import schema
from sync.schema import (
    BloodPressureValues,
    DeviceEventValues,
    GlucoseValues,
    ReadingMessage,
    Spo2Values,
    StatusMessage,
    TemperatureValues,
    WeightValues,
    to_dict,
)

MAX_DEAD_LETTER_BYTES = 64 * 1024
LAST_SEEN_EVERY = timedelta(seconds=30)
"""How often a station's ``last_seen`` is refreshed by its readings."""
RESIDENT_CACHE_SIZE = 500_000


def load_or_create_key(path: Path) -> bytes:
    """The follow-up service's secret for keyed hashes (32 random bytes, 0600)."""
    try:
        key = path.read_bytes()
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        key = secrets.token_bytes(32)
        try:
            write_atomic(path, key, mode=0o600, overwrite=False)
        except FileExistsError:  # another process made it first: use theirs
            return path.read_bytes()
        return key
    if len(key) < 16:
        from healthkiosk.errors import ConfigError

        raise ConfigError(f"{path}: the key is too short", key="followup.id_hash_key_file")
    return key


def id_hash(key: bytes, id_number: str) -> str:
    return hmac.new(key, id_number.encode(), hashlib.sha256).hexdigest()


# On PostgreSQL a batch's rows go as ONE parameter, a JSON array, expanded by
# the server (json_populate_recordset): one short statement whatever the batch
# size, so the driver neither parses a long multi-row INSERT nor sends one
# statement per row (executemany), and the server can keep it prepared.
_READING_COLUMNS = [c.name for c in Reading.__table__.columns]
_RESIDENT_COLUMNS = [c.name for c in Resident.__table__.columns if c.name != "id"]
_RESIDENT_DEFAULTS = {
    c.name: c.default.arg
    for c in Resident.__table__.columns
    if c.default is not None and c.default.is_scalar
}
"""The models' Python-side defaults, which the server does not know."""


def _populate(table: str, columns: list[str], conflict: str, returning: str = "") -> Any:
    cols = ", ".join(columns)
    return text(
        f"INSERT INTO {table} ({cols}) SELECT {cols} "  # noqa: S608  (our own names)
        f"FROM json_populate_recordset(NULL::{table}, CAST(:rows AS json)) "
        f"ON CONFLICT ({conflict}) DO NOTHING{returning}"
    )


_PG_READINGS = _populate("readings", _READING_COLUMNS, "uuid")
_PG_RESIDENTS = _populate("residents", _RESIDENT_COLUMNS, "id_hash", " RETURNING id_hash, id")


def _json_default(v: object) -> str:
    if isinstance(v, datetime | date):
        return v.isoformat()
    raise TypeError(f"not JSON: {type(v).__name__}")


def _json_rows(rows: list[dict[str, Any]]) -> str:
    return json.dumps(rows, ensure_ascii=False, default=_json_default, separators=(",", ":"))


def stored_payload(r: ReadingMessage) -> dict[str, Any]:
    """The message as kept in ``readings.payload``: the resident's ID number
    masked (the whole number is kept once, in ``residents``; issue 19)."""
    out = to_dict(r)
    out["resident"]["id_number"] = mask(r.resident.id_number)
    return out


@dataclass(frozen=True, slots=True)
class DeadLetterIn:
    topic: str
    station_id: str | None
    reason: str
    payload: bytes


class IngestStore:
    def __init__(
        self,
        engine: Engine,
        *,
        key: bytes,
        rules: RulesConfig | None = None,
        tz: tzinfo,
        max_ahead: timedelta = AHEAD_TOLERANCE,
    ) -> None:
        self.engine = engine
        self.tz = tz
        """The district's time zone (``followup.timezone``): a resident's age on a
        reading is counted on the district's day of it, as the doctor's pages count."""
        self.max_ahead = max_ahead
        """``followup.max_clock_ahead_s``: a station's time further ahead is not believed."""
        self.key = key
        self.rules = rules if rules is not None else load_rules()
        """The doctor's side's rules: every reading is classified again with them."""
        self.rules_digest = rules_digest(self.rules)
        # Facts that never change once committed, so a batch need not ask again:
        # which stations exist (and when we last wrote last_seen), residents' ids.
        self._seen: dict[str, datetime] = {}
        self._resident_ids: dict[str, int] = {}
        self._pg = engine.dialect.name == "postgresql"
        self._insert: Any = postgresql.insert if self._pg else sqlite.insert

    def store(
        self,
        readings: Sequence[ReadingMessage],
        dead_letters: Sequence[DeadLetterIn],
        *,
        received_at: datetime,
    ) -> None:
        """Upsert ``readings`` and add ``dead_letters`` in one transaction."""
        with Session(self.engine) as s:
            try:
                with s.begin():
                    self._store(s, readings, dead_letters, received_at=received_at)
            except IntegrityError:
                # Nothing committed. Were a cached id ever stale, the caller's
                # one-message-at-a-time retry must not reuse it.
                self._seen.clear()
                self._resident_ids.clear()
                raise
            # Committed: remember what now surely exists.
            self._seen.update(s.info.get("seen", ()))
            if len(self._resident_ids) > RESIDENT_CACHE_SIZE:
                self._resident_ids.clear()
            self._resident_ids.update(s.info.get("residents", {}))

    def _store(
        self,
        s: Session,
        readings: Sequence[ReadingMessage],
        dead_letters: Sequence[DeadLetterIn],
        *,
        received_at: datetime,
    ) -> None:
        if readings:
            self._stations(s, {r.station_id for r in readings}, received_at)
            resident_ids = self._residents(s, readings, received_at)
            rows = [
                self._row(r, resident_ids[id_hash(self.key, r.resident.id_number)], received_at)
                for r in readings
            ]
            if self._pg:
                s.execute(_PG_READINGS, {"rows": _json_rows(rows)})
            else:
                s.execute(
                    self._insert(Reading.__table__).on_conflict_do_nothing(index_elements=["uuid"]),
                    rows,
                )
        if dead_letters:
            s.add_all(
                DeadLetter(
                    received_at=received_at,
                    topic=d.topic[:300],
                    station_id=d.station_id,
                    reason=mask_in_text(d.reason),
                    payload=mask_in_payload(d.payload[:MAX_DEAD_LETTER_BYTES]),
                )
                for d in dead_letters
            )

    def _stations(self, s: Session, ids: Iterable[str], at: datetime) -> None:
        """Make sure the stations exist and refresh ``last_seen`` at most every
        :data:`LAST_SEEN_EVERY`: a row lock per station per batch would make
        parallel workers queue behind each other."""
        stale = sorted(
            i for i in ids
            if (seen := self._seen.get(i)) is None or at - seen >= LAST_SEEN_EVERY
        )  # fmt: skip
        if not stale:
            return
        s.execute(
            self._insert(Station.__table__).on_conflict_do_nothing(index_elements=["id"]),
            [{"id": i, "first_seen": at, "last_seen": at} for i in stale],
        )
        s.execute(update(Station).where(Station.id.in_(stale)).values(last_seen=at))
        s.info.setdefault("seen", []).extend((i, at) for i in stale)

    def _residents(
        self, s: Session, readings: Sequence[ReadingMessage], at: datetime
    ) -> dict[str, int]:
        ids: dict[str, int] = {}
        first: dict[str, dict[str, Any]] = {}
        for r in readings:
            h = id_hash(self.key, r.resident.id_number)
            known = self._resident_ids.get(h)
            if known is not None:
                ids[h] = known
            elif h not in first:
                first[h] = {
                    "id_hash": h,
                    "id_number": r.resident.id_number,
                    "id_masked": mask(r.resident.id_number),
                    "name": r.resident.name,
                    "sex": r.resident.sex,
                    "birth_date": r.resident.birth_date,
                    "home_station_id": r.station_id,
                    "created_at": at,
                    "updated_at": at,
                }
        if first:
            found: dict[str, int] = {}
            if self._pg:
                # New residents come back from RETURNING; only those already
                # there (or inserted by another worker) need the SELECT below.
                found.update(
                    (h, rid)
                    for h, rid in s.execute(
                        _PG_RESIDENTS,
                        {"rows": _json_rows([_RESIDENT_DEFAULTS | r for r in first.values()])},
                    )
                )
            else:
                s.execute(
                    self._insert(Resident.__table__).on_conflict_do_nothing(
                        index_elements=["id_hash"]
                    ),
                    list(first.values()),
                )
            missing = [h for h in first if h not in found]
            if missing:
                # (a Result has .keys(), so dict() would take it for a mapping)
                found.update(
                    (h, rid)
                    for h, rid in s.execute(
                        select(Resident.id_hash, Resident.id).where(Resident.id_hash.in_(missing))
                    )
                )
            ids.update(found)
            s.info.setdefault("residents", {}).update(found)
        return ids

    def _row(self, r: ReadingMessage, resident_id: int, received_at: datetime) -> dict[str, Any]:
        when = reading_time(
            r.measured_at,
            received_at=received_at,
            clock_synced=r.clock_synced,
            ahead=self.max_ahead,
        )
        row: dict[str, Any] = {
            "uuid": str(r.uuid),
            "station_id": r.station_id,
            "station_seq": r.station_seq,
            "resident_id": resident_id,
            "kind": r.kind,
            "measured_at": when.measured_at,
            "device_time": r.device_time,
            "received_at": received_at,
            "clock_synced": r.clock_synced,
            "station_measured_at": when.station_measured_at,
            "systolic_mmhg": None,
            "diastolic_mmhg": None,
            "mean_arterial_mmhg": None,
            "pulse_bpm": None,
            "irregular_pulse": False,
            "glucose_mmol_per_l": None,
            "meal_context": None,
            "out_of_range": None,
            "weight_kg": None,
            "height_m": None,
            "bmi": None,
            "spo2_percent": None,
            "temperature_c": None,
            "temperature_site": None,
            "device_model": r.device.model,
            "device_serial": r.device.serial,
            "category": "",
            "urgent": False,
            "isolated_systolic": None,
            "kiosk_rules_name": None,
            "kiosk_rules_digest": None,
            "server_category": None,
            "server_urgent": None,
            "server_rule": None,
            "server_rules_digest": None,
            "event": None,
            "software_version": r.software_version,
            "payload": stored_payload(r),
            "reviewed_at": None,
        }
        v = r.values
        if isinstance(v, DeviceEventValues):
            # never in the measurement columns: it is not a reading
            row["event"] = v.model_dump(mode="json")
            return row
        if isinstance(v, BloodPressureValues):
            row.update(
                systolic_mmhg=v.systolic,
                diastolic_mmhg=v.diastolic,
                mean_arterial_mmhg=v.mean_arterial_pressure,
                pulse_bpm=v.pulse,
                irregular_pulse=v.irregular_pulse,
            )
        elif isinstance(v, GlucoseValues):
            row.update(
                glucose_mmol_per_l=v.mmol_per_l,
                meal_context=v.meal_context,
                out_of_range=v.out_of_range,
            )
        elif isinstance(v, WeightValues):
            row.update(weight_kg=v.weight_kg, height_m=v.height_m, bmi=v.bmi)
        elif isinstance(v, Spo2Values):
            row.update(spo2_percent=v.spo2_percent, pulse_bpm=v.pulse)
        elif isinstance(v, TemperatureValues):
            row.update(temperature_c=v.celsius, temperature_site=v.site)
        c = r.classification
        if c is not None:  # the schema requires it for a reading
            row.update(category=c.category, urgent=c.urgent, isolated_systolic=c.isolated_systolic)
            if c.rules is not None:
                row.update(kiosk_rules_name=c.rules.name, kiosk_rules_digest=c.rules.digest)
        birth = r.resident.birth_date
        day = when.measured_at.astimezone(self.tz).date()
        row.update(self._classify(row, age=age_on(birth, day)))
        return row

    def _classify(self, row: dict[str, Any], *, age: int | None = None) -> dict[str, Any]:
        """The doctor's side's own classification of a reading's columns."""
        facts = ReadingFacts(
            uuid=row["uuid"],
            kind=row["kind"],
            measured_at=row["measured_at"],
            systolic=row["systolic_mmhg"],
            diastolic=row["diastolic_mmhg"],
            glucose_mmol_per_l=row["glucose_mmol_per_l"],
            meal=row["meal_context"],
            out_of_range=row["out_of_range"],
            weight_kg=row["weight_kg"],
            height_m=row["height_m"],
            spo2_percent=row["spo2_percent"],
            pulse_bpm=row["pulse_bpm"],
            celsius=row["temperature_c"],
            age=age,
        )
        try:
            c = classify_reading(facts, self.rules)
        except ImplausibleValueError as err:
            return {
                "server_rule": f"implausible.{err.reason}",
                "server_rules_digest": self.rules_digest,
            }
        return {
            "server_category": c.category,
            "server_urgent": c.urgent,
            "server_rule": c.rule,
            "server_rules_digest": self.rules_digest,
        }

    def apply_status(self, msg: StatusMessage, *, received_at: datetime) -> bool:
        """Record a station's status if it is newer than the one kept (by boot
        number, then sequence); True when it was applied."""
        with Session(self.engine) as s, s.begin():
            s.execute(
                self._insert(Station).on_conflict_do_nothing(index_elements=["id"]),
                [{"id": msg.station_id, "first_seen": received_at, "last_seen": received_at}],
            )
            st = s.scalars(
                select(Station).where(Station.id == msg.station_id).with_for_update()
            ).one()
            if not schema.is_newer(
                msg.boot_id, msg.seq, than_boot=st.status_boot_id, than_seq=st.status_seq
            ):
                return False
            st.online = msg.online
            st.status_boot_id = msg.boot_id
            st.status_seq = msg.seq
            st.status = to_dict(msg)
            st.last_seen = received_at
            return True
