"""The wire schema: versioned JSON messages between kiosks and the doctor's side.

Defined once, validated on both ends. Every message names its schema as
``"hk.<name>/<major>"``; a major version this software does not know is
refused with a clear reason. Within a major version fields may be added, so
unknown fields are ignored, and every known field is checked.

Messages:

- ``hk.reading/1``: one reading (:class:`ReadingMessage`): blood pressure,
  glucose and, from minor version 1.1 (:data:`READING_MINOR`), weight with BMI,
  oxygen saturation and body temperature; or a device event
  (``kind`` ``device_event``, :class:`DeviceEventValues`: a value the rules
  refused, which the doctor's side shows); the classification names the rule
  set that made it (:class:`WireRuleSet`);
- ``hk.reading-batch/1``: several (:class:`ReadingBatch`);
- ``hk.receipt/1``: which reading UUIDs the doctor's side stored or rejected;
- ``hk.status/1``: a station's health, retained, with a boot id and sequence
  so that a stale retained message never wins over a newer one;
- ``hk.counts/1``: once a day, per day, how many readings a station holds and
  how many the doctor's side acknowledged (:class:`CountsMessage`): loss you can see.

Fleet management (administrators → stations, and the stations' answers):

- ``hk.config/1``: desired configuration for a group or one station, retained,
  versioned (:class:`DesiredConfig`); the station answers with
  ``hk.config-report/1`` (:class:`ConfigReport`): applied, rejected or reverted;
- ``hk.update-order/1``: the release a group or station should run, retained
  (:class:`UpdateOrder`); the station reports every step with
  ``hk.update-report/1`` (:class:`UpdateReport`);
- ``hk.command/1``: a remote command (:class:`Command`), answered by
  ``hk.command-result/1`` (:class:`CommandResult`).

Calls for a person at the station (issue 16):

- ``hk.help/1``: a station asks for staff (:class:`HelpCall`: an urgent
  result, or the elder pressed 呼叫工作人员), on ``hk/v1/st/<id>/help``; sent
  again with ``acknowledged_at`` when someone at the station acknowledges it.
  An acknowledgement from the web goes back to the station as the command
  ``help_ack`` (``args``: ``call``, ``by``) on ``.../cmd``.
"""

from __future__ import annotations

import json
import secrets
from datetime import UTC, date, datetime
from typing import Annotated, Any, Final, Literal, cast
from uuid import UUID

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from healthkiosk.errors import IdNumberError, SchemaError
from healthkiosk.idnumber import parse as parse_id_number

READING: Final = "hk.reading/1"
READING_BATCH: Final = "hk.reading-batch/1"
RECEIPT: Final = "hk.receipt/1"
STATUS: Final = "hk.status/1"
CONFIG: Final = "hk.config/1"
CONFIG_REPORT: Final = "hk.config-report/1"
UPDATE_ORDER: Final = "hk.update-order/1"
UPDATE_REPORT: Final = "hk.update-report/1"
COMMAND: Final = "hk.command/1"
COMMAND_RESULT: Final = "hk.command-result/1"
COUNTS: Final = "hk.counts/1"
HELP: Final = "hk.help/1"

READING_MINOR: Final = 1
"""The minor version of ``hk.reading/1`` this software writes: 1 adds the
kinds ``weight``, ``spo2`` and ``temperature`` (issue #17). Minor versions
only add: a receiver of minor 0 ignores the new fields and refuses a reading
of a kind it does not know, one by one (a batch's other readings are stored,
see ``followup/ingest/check.py``), so upgrade the doctor's side first."""

SUPPORTED = {
    "hk.reading": 1,
    "hk.reading-batch": 1,
    "hk.receipt": 1,
    "hk.status": 1,
    "hk.config": 1,
    "hk.config-report": 1,
    "hk.update-order": 1,
    "hk.update-report": 1,
    "hk.command": 1,
    "hk.command-result": 1,
    "hk.counts": 1,
    "hk.help": 1,
}

MAX_BATCH = 500
MAX_RECEIPT = 200 * MAX_BATCH
"""UUIDs in one receipt: every reading of the ingest's largest transaction (200 messages)."""
StationId = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")]
Text = Annotated[str, Field(max_length=200)]

# --- bounds (issue 19) ------------------------------------------------------------------
# Every number a message carries fits the column it is stored in (PostgreSQL
# ``integer`` is 32 bits) and a plausible range; no float is NaN or infinite
# (``allow_inf_nan=False`` on every model); every time lies in
# [EARLIEST, LATEST) in UTC, so that no date arithmetic downstream (a review due
# in 90 days, an age) can overflow. A station's clock that is wrong but within
# these bounds is the doctor's side's business (:mod:`followup.ingest.timing`):
# its readings are kept, with the arrival time.

INT32_MAX: Final = 2**31 - 1
EARLIEST: Final = datetime(1970, 1, 1, tzinfo=UTC)
"""A Raspberry Pi without a real-time clock may boot at the epoch: still a reading."""
LATEST: Final = datetime(2200, 1, 1, tzinfo=UTC)
EARLIEST_DATE: Final = date(1900, 1, 1)
"""For birth dates."""


def _plausible_time(value: datetime) -> datetime:
    try:
        utc = value.astimezone(UTC)
    except OverflowError:
        raise ValueError("time out of range") from None
    if not EARLIEST <= utc < LATEST:
        raise ValueError(f"time out of range ({EARLIEST.year} to {LATEST.year - 1})")
    return value


def _plausible_date(value: date) -> date:
    if not EARLIEST_DATE <= value < LATEST.date():
        raise ValueError(f"date out of range ({EARLIEST_DATE.year} to {LATEST.year - 1})")
    return value


WireTime = Annotated[AwareDatetime, AfterValidator(_plausible_time)]
"""A time with its offset, within [EARLIEST, LATEST) in UTC."""
WireDate = Annotated[date, AfterValidator(_plausible_date)]
Count = Annotated[int, Field(ge=0, le=INT32_MAX)]
"""A count or sequence number stored in a 32-bit column."""
Version = Annotated[int, Field(ge=0, le=INT32_MAX)]
Percent = Annotated[int, Field(ge=0, le=100)]
Seconds = Annotated[float, Field(ge=-1e9, le=1e9)]
"""A duration or difference in seconds (about ±31 years)."""
Measure = Annotated[float, Field(ge=-1e9, le=1e9)]
"""Any other float a status reports (megabytes, degrees, percent)."""


class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, allow_inf_nan=False)


class WireResident(_Wire):
    id_number: str = Field(repr=False, max_length=40)
    name: Annotated[str, Field(max_length=100)] | None = None
    """``residents.name`` holds 100 characters."""
    sex: Literal["male", "female", "unknown"] = "unknown"
    birth_date: WireDate | None = None

    @field_validator("id_number")
    @classmethod
    def _valid_id(cls, v: str) -> str:
        try:
            return parse_id_number(v).value
        except IdNumberError as err:
            # The message names the problem, never the number.
            raise ValueError(f"resident.id_number: {err}") from None


class WireDevice(_Wire):
    model: Text
    manufacturer: Text = ""
    serial: Annotated[str, Field(max_length=100)] = ""
    """``readings.device_serial`` holds 100 characters."""
    firmware: Text = ""
    transport: Literal["ble", "serial", "emulated"]


class WireBpMeasurement(_Wire):
    """One of the measurements averaged into a blood pressure reading."""

    systolic: int = Field(ge=0, le=400)
    diastolic: int = Field(ge=0, le=300)
    pulse: int | None = Field(default=None, ge=0, le=400)
    measured_at: WireTime
    device_time: WireTime | None = None
    irregular_pulse: bool = False


class BloodPressureValues(_Wire):
    systolic: int = Field(ge=0, le=400)
    diastolic: int = Field(ge=0, le=300)
    mean_arterial_pressure: int | None = Field(default=None, ge=0, le=400)
    pulse: int | None = Field(default=None, ge=0, le=400)
    unit: Literal["mmHg"] = "mmHg"
    irregular_pulse: bool = False
    measurements: list[WireBpMeasurement] = Field(default_factory=list, max_length=10)


_REPORTED = 100_000


class GlucoseValues(_Wire):
    mmol_per_l: float | None = Field(ge=0, le=100)
    """None only when the meter showed LO or HI (``out_of_range``)."""
    meal_context: Literal["fasting", "after_meal", "random"] = "random"
    original_value: float | None = Field(default=None, ge=-_REPORTED, le=_REPORTED)
    original_unit: Literal["mmol/L", "mg/dL", "kg/L", "mol/L"] = "mmol/L"
    out_of_range: Literal["LO", "HI"] | None = None

    @model_validator(mode="after")
    def _value_or_range(self) -> GlucoseValues:
        if (self.mmol_per_l is None) == (self.out_of_range is None):
            raise ValueError("give exactly one of mmol_per_l and out_of_range")
        return self


class WeightValues(_Wire):
    """``kind`` ``weight`` (minor 1.1): a weight in kg at 0.1 with the height it
    was divided by and the BMI (kg/m² at 0.1) the kiosk classified."""

    weight_kg: float = Field(ge=0, le=500, allow_inf_nan=False)
    height_m: float = Field(gt=0, le=3, allow_inf_nan=False)
    height_source: Literal["scale", "keypad", "known"]
    """Where the height came from: sent by the scale, typed by the elder, or the
    resident's height known from an earlier visit."""
    bmi: float = Field(ge=0, le=200, allow_inf_nan=False)
    device_bmi: float | None = Field(default=None, ge=0, le=200, allow_inf_nan=False)
    """The BMI the scale itself sent (kept, never classified)."""
    original_value: float | None = Field(default=None, allow_inf_nan=False)
    original_unit: Literal["kg", "lb"] = "kg"


class Spo2Values(_Wire):
    """``kind`` ``spo2`` (minor 1.1): a stable pulse oximetry reading."""

    spo2_percent: int = Field(ge=0, le=100)
    pulse: int | None = Field(default=None, ge=0, le=400)
    mode: Literal["spot_check", "continuous"] = "spot_check"
    pulse_amplitude_index: float | None = Field(default=None, allow_inf_nan=False)


TemperatureSiteName = Literal[
    "armpit", "body", "ear", "finger", "gastrointestinal_tract", "mouth", "rectum", "toe",
    "tympanum",
]  # fmt: skip


class TemperatureValues(_Wire):
    """``kind`` ``temperature`` (minor 1.1): body temperature in °C at 0.1."""

    celsius: float = Field(ge=0, le=60, allow_inf_nan=False)
    original_value: float | None = Field(default=None, allow_inf_nan=False)
    original_unit: Literal["C", "F"] = "C"
    site: TemperatureSiteName | None = None


RULES_DIGEST_PATTERN: Final = r"^[0-9a-f]{64}$"


class WireRuleSet(_Wire):
    """The rule set that classified a reading (added within ``hk.reading/1``).

    ``digest`` is the SHA-256 (hex) of the canonical JSON of the validated
    rules (:func:`healthkiosk.rules.rules_digest`): two stations with the same
    digest classify the same way, whatever ``name`` says. ``name`` is the
    rule set's label for people (``rules.name``, else the blood pressure profile).
    """

    name: Annotated[str, Field(max_length=60)]
    digest: Annotated[str, Field(pattern=RULES_DIGEST_PATTERN)]


class WireClassification(_Wire):
    category: Literal[
        "low", "normal", "high_normal", "grade_1", "grade_2", "grade_3",
        "very_low", "impaired_fasting", "above_normal", "high", "very_high",
        "underweight", "overweight", "obese", "low_fever", "fever", "high_fever",
    ]  # fmt: skip
    urgent: bool
    isolated_systolic: bool | None = None
    close_to_limit: bool = False
    rule: Text | None = None
    rules: WireRuleSet | None = None
    """Which rule set classified it (absent from senders older than #14)."""


DeviceEventKind = Literal["implausible_value"]
ImplausibleReason = Literal[
    "systolic_out_of_range",
    "diastolic_out_of_range",
    "systolic_not_above_diastolic",
    "pulse_out_of_range",
    "glucose_out_of_range",
]


class DeviceEventValues(_Wire):
    """``values`` of a reading whose ``kind`` is ``device_event`` (added within
    ``hk.reading/1``): what a device reported during this elder's measurement
    that the rules refused to take as a reading (docs/clinical.md,
    "Plausibility"). The doctor's side shows it ("could not measure: 0.9 mmol/L
    reported") and puts the resident on the list for review; it is never
    classified, charted or exported as a measurement.

    ``event`` is ``implausible_value`` (the only kind so far); ``measurement``
    says what was being measured; ``reason`` is the plausibility check that
    refused it (:class:`healthkiosk.errors.ImplausibleValueError`'s reasons);
    the values are what the device reported, in the kiosk's units (a blood
    pressure needs ``systolic`` and ``diastolic``; a glucose ``mmol_per_l``,
    with the meter's own value and unit kept beside it as for a reading).
    """

    event: DeviceEventKind
    measurement: Literal["blood_pressure", "glucose"]
    reason: ImplausibleReason
    systolic: int | None = Field(default=None, ge=-_REPORTED, le=_REPORTED)
    diastolic: int | None = Field(default=None, ge=-_REPORTED, le=_REPORTED)
    pulse: int | None = Field(default=None, ge=-_REPORTED, le=_REPORTED)
    mmol_per_l: float | None = Field(default=None, ge=-_REPORTED, le=_REPORTED)
    meal_context: Literal["fasting", "after_meal", "random"] | None = None
    original_value: float | None = Field(default=None, ge=-_REPORTED, le=_REPORTED)
    original_unit: Literal["mmol/L", "mg/dL", "kg/L", "mol/L", "mmHg", "kPa"] | None = None

    @model_validator(mode="after")
    def _values_for_measurement(self) -> DeviceEventValues:
        if self.measurement == "blood_pressure":
            if self.systolic is None or self.diastolic is None:
                raise ValueError("a blood pressure event gives systolic and diastolic")
        elif self.mmol_per_l is None:
            raise ValueError("a glucose event gives mmol_per_l")
        return self


VALUES_BY_KIND: Final[dict[str, type[_Wire]]] = {
    "blood_pressure": BloodPressureValues,
    "glucose": GlucoseValues,
    "device_event": DeviceEventValues,
    "weight": WeightValues,
    "spo2": Spo2Values,
    "temperature": TemperatureValues,
}
"""The values model each reading ``kind`` names."""


class ReadingMessage(_Wire):
    """``hk.reading/1``: one reading as the kiosk stored and showed it."""

    schema_: Literal["hk.reading/1"] = Field(default=READING, alias="schema")
    uuid: UUID
    station_id: StationId
    station_seq: Count
    """The station's monotonic sequence number: orders readings whatever the clocks say."""
    resident: WireResident
    kind: Literal["blood_pressure", "glucose", "device_event", "weight", "spo2", "temperature"]
    """``device_event`` (added within version 1): see :class:`DeviceEventValues`;
    ``weight``, ``spo2``, ``temperature`` (minor 1.1, :data:`READING_MINOR`).
    A receiver older than those refuses them with a reason (receipt ``rejected``)."""
    measured_at: WireTime
    """The kiosk's clock when the reading was complete."""
    device_time: WireTime | None = None
    """The device's own clock for the same reading, when it has one."""
    values: (
        BloodPressureValues
        | GlucoseValues
        | DeviceEventValues
        | WeightValues
        | Spo2Values
        | TemperatureValues
    )
    device: WireDevice
    classification: WireClassification | None = None
    """Required for a blood pressure or glucose reading; absent for a device event."""
    software_version: Annotated[str, Field(max_length=40)]
    """``readings.software_version`` holds 40 characters."""
    clock_synced: bool | None = None
    """Whether the station's clock was synchronised when the reading was made
    (None: the station did not say). When false, ``measured_at`` (and the times
    of the measurements) come from a clock nobody checked: the doctor's side
    orders and alerts by its own arrival time instead."""

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    @field_validator("values", mode="before")
    @classmethod
    def _values_by_kind(cls, value: Any, info: ValidationInfo) -> Any:
        # Validate the values against the model their kind names, so an error
        # says "values.systolic: ..." rather than trying every model.
        kind = info.data.get("kind")
        by_kind = VALUES_BY_KIND
        model = by_kind.get(kind) if isinstance(kind, str) else None
        if model is not None and isinstance(value, dict):
            return model.model_validate(value)
        return value

    @model_validator(mode="after")
    def _kind_matches(self) -> ReadingMessage:
        by_kind = VALUES_BY_KIND
        expected = by_kind[self.kind]
        if not isinstance(self.values, expected):
            raise ValueError(f"values do not match kind {self.kind!r}")
        if self.kind == "device_event":
            if self.classification is not None:
                raise ValueError("a device event is not classified: no classification")
        elif self.classification is None:
            raise ValueError(f"a {self.kind} reading needs its classification")
        return self


class ReadingBatch(_Wire):
    schema_: Literal["hk.reading-batch/1"] = Field(default=READING_BATCH, alias="schema")
    station_id: StationId
    readings: list[ReadingMessage] = Field(min_length=1, max_length=MAX_BATCH)

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


class Rejection(_Wire):
    uuid: UUID
    reason: Text


class Receipt(_Wire):
    """``hk.receipt/1``: what the doctor's side committed (or refused for good)."""

    schema_: Literal["hk.receipt/1"] = Field(default=RECEIPT, alias="schema")
    station_id: StationId
    accepted: list[UUID] = Field(default_factory=list, max_length=MAX_RECEIPT)
    rejected: list[Rejection] = Field(default_factory=list, max_length=MAX_RECEIPT)

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


class DeviceStatus(_Wire):
    role: Text
    model: Text
    connected: bool
    battery_percent: Percent | None = None
    last_seen: WireTime | None = None
    last_reading: WireTime | None = None
    clock_drift_s: Seconds | None = None
    """The device clock − the station's at its last connection (positive:
    the device is ahead); None when the device has no readable clock."""
    memory_records: int | None = Field(default=None, ge=0)
    """Device-memory records the kiosk kept from this device (records from
    outside any visit's step: made between visits, sent from its memory at
    connect, printed while nobody waited), never anyone's reading."""
    last_memory_record: AwareDatetime | None = None


class StatusMessage(_Wire):
    """``hk.status/1``: retained; the last will sends the same with ``online: false``."""

    schema_: Literal["hk.status/1"] = Field(default=STATUS, alias="schema")
    station_id: StationId
    online: bool
    boot_id: Text
    seq: Count
    """Stored in a 32-bit column: see :func:`status_seq` (it cannot overflow)."""
    sent_at: WireTime | None = None
    version: Text | None = None
    config_version: Version | None = None
    uptime_s: Annotated[float, Field(ge=0, le=1e10)] | None = None
    backlog: Count | None = None
    oldest_undelivered: WireTime | None = None
    last_receipt: WireTime | None = None
    rejected: Count | None = None
    disk_free_mb: Annotated[float, Field(ge=0, le=1e9)] | None = None
    disk_free_percent: Annotated[float, Field(ge=0, le=100)] | None = None
    store_size_mb: Annotated[float, Field(ge=0, le=1e9)] | None = None
    cpu_temp_c: Annotated[float, Field(ge=-100, le=200)] | None = None
    devices: list[DeviceStatus] = Field(default_factory=list, max_length=32)
    alerts: list[Text] = Field(default_factory=list, max_length=50)
    clock_synced: bool | None = None
    """Whether the station's clock is synchronised (None: not said); while it is
    not, its readings carry ``clock_synced: false`` and ``sent_at`` is unchecked."""
    clock_source: Text | None = None
    """Who said so: ``adjtimex``, ``chronyc``, ``timedatectl``, ``config``, ``none``."""
    clock_max_error_s: Seconds | None = None
    """The kernel's maximum error estimate of the clock, in seconds."""
    clock_last_sync: WireTime | None = None
    """When systemd-timesyncd last synchronised the clock (where it runs)."""
    tech_pin_failures: int | None = Field(default=None, ge=0, le=1_000_000)
    """Wrong technician PINs in a row since the last right one (the fleet page
    raises an alert: someone may be guessing)."""
    tech_pin_locked_until: WireTime | None = None
    """The technician screen refuses every PIN until then."""

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


class DayCount(_Wire):
    day: WireDate
    """A day in UTC, by the station's own time of each reading."""
    held: Count
    """Readings of that day in the station's store (every kind it sends)."""
    acknowledged: Count
    """Of those, how many the doctor's side receipted as stored."""


MAX_COUNT_DAYS = 400


class CountsMessage(_Wire):
    """``hk.counts/1`` on ``hk/v1/st/<id>/counts`` (retained), once a day: per
    complete day the station still holds in full, its counts. The doctor's side
    compares them with what it stored, and the fleet page shows any difference."""

    schema_: Literal["hk.counts/1"] = Field(default=COUNTS, alias="schema")
    station_id: StationId
    at: WireTime
    days: list[DayCount] = Field(default_factory=list, max_length=MAX_COUNT_DAYS)

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    @model_validator(mode="after")
    def _one_row_per_day(self) -> CountsMessage:
        if len({d.day for d in self.days}) != len(self.days):
            raise ValueError("days: each day once")
        return self


# --- fleet management ----------------------------------------------------------------

Scope = Literal["group", "station"]


class ConfigSignature(BaseModel):
    """One signature of an ``hk.config/1``: the key's id (SHA-256 of the raw public
    key, hex) and the Ed25519 signature (base64)."""

    keyid: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    sig: Annotated[str, Field(max_length=200)]

    model_config = ConfigDict(extra="ignore", frozen=True)


class DesiredConfig(_Wire):
    """``hk.config/1``: retained on ``hk/v1/grp/<group>/config`` or ``hk/v1/st/<id>/config``.

    ``settings`` is a partial station configuration (the TOML tables as a JSON
    object, e.g. ``{"kiosk": {"rest_s": 300}}``). The station's effective
    configuration is its local file, then its group's settings, then its own;
    ``version`` grows with every change of one scope's document (a station
    never goes back to a lower one). Signed by the administrator's configuration
    key; a scope is cleared by a signed document with ``cleared`` (an empty
    payload is refused).
    """

    schema_: Literal["hk.config/1"] = Field(default=CONFIG, alias="schema")
    scope: Scope
    target: StationId
    version: int = Field(ge=1, le=INT32_MAX)
    settings: dict[str, Any] = Field(default_factory=dict)
    issued_at: WireTime
    issued_by: Text = ""
    rules_digest: Annotated[str, Field(pattern=RULES_DIGEST_PATTERN)] | None = None
    """Added within version 1: when ``settings`` holds a ``rules`` table, the
    digest of that table as a whole rule set, which the doctor's side checked
    it holds (:func:`healthkiosk.rules.rules_digest`). A station refuses a
    ``rules`` table without it or whose digest differs."""
    expires: WireTime | None = None
    """Refused after this moment (when the station's clock is trusted); signed."""
    cleared: bool = False
    """A signed clear: the scope's settings are removed (``settings`` is empty)."""
    signatures: list[ConfigSignature] = Field(default_factory=list, max_length=8)
    """Ed25519 signatures over the canonical JSON of every other field of the
    document as sent (:mod:`management.signedconfig`); a station applies only a
    document signed by a key it trusts (``fleet.config_keys``)."""

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


ConfigOutcome = Literal["applied", "rejected", "reverted"]


class ConfigReport(_Wire):
    """``hk.config-report/1`` on ``hk/v1/st/<id>/config-report`` (retained).

    ``group_version``/``station_version`` name the documents the outcome is
    about; after ``rejected`` or ``reverted`` the station runs on
    ``running_group_version``/``running_station_version`` (the old ones).
    """

    schema_: Literal["hk.config-report/1"] = Field(default=CONFIG_REPORT, alias="schema")
    station_id: StationId
    outcome: ConfigOutcome
    group_version: Version | None = None
    station_version: Version | None = None
    running_group_version: Version | None = None
    running_station_version: Version | None = None
    reason: Annotated[str, Field(max_length=2000)] = ""
    restart_needed: bool = False
    at: WireTime

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


class UpdateOrder(_Wire):
    """``hk.update-order/1``: retained on ``hk/v1/grp/<group>/update`` or ``.../st/<id>/update``.

    The station's own order wins over its group's. ``release`` is the signed
    manifest's release number; the station still verifies everything itself.
    """

    schema_: Literal["hk.update-order/1"] = Field(default=UPDATE_ORDER, alias="schema")
    scope: Scope
    target: StationId
    release: int = Field(ge=1, le=INT32_MAX)
    manifest_url: Annotated[str, Field(max_length=2000)]
    rollout_id: Text = ""
    issued_at: WireTime

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


UpdateOutcome = Literal["waiting", "in_progress", "succeeded", "failed", "rolled_back", "refused"]


class UpdateReport(_Wire):
    """``hk.update-report/1`` on ``hk/v1/st/<id>/update-report`` (retained: the latest step)."""

    schema_: Literal["hk.update-report/1"] = Field(default=UPDATE_REPORT, alias="schema")
    station_id: StationId
    rollout_id: Text = ""
    release: Version | None = None
    running_release: Version | None = None
    step: Text
    outcome: UpdateOutcome
    reason: Annotated[str, Field(max_length=2000)] = ""
    at: WireTime

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


CommandName = Literal["logs", "resync", "restart", "repair", "help_ack"]


class Command(_Wire):
    """``hk.command/1`` on ``hk/v1/st/<id>/cmd`` (QoS 1, not retained).

    ``args``: ``logs`` takes ``lines``; ``repair`` takes ``role``; ``help_ack``
    takes ``call`` (the :class:`HelpCall`'s id) and ``by`` (who). A command
    past ``expires_at`` is answered with ``ok: false`` and not run.
    """

    schema_: Literal["hk.command/1"] = Field(default=COMMAND, alias="schema")
    id: UUID
    command: CommandName
    args: dict[str, Any] = Field(default_factory=dict)
    issued_at: WireTime
    expires_at: WireTime
    issued_by: Text = ""

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


class CommandResult(_Wire):
    """``hk.command-result/1`` on ``hk/v1/st/<id>/cmd-result``; ``output`` is masked."""

    schema_: Literal["hk.command-result/1"] = Field(default=COMMAND_RESULT, alias="schema")
    station_id: StationId
    id: UUID
    command: CommandName
    ok: bool
    detail: Annotated[str, Field(max_length=2000)] = ""
    output: Annotated[str, Field(max_length=200_000)] = ""
    at: WireTime

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


HelpReason = Literal["urgent_result", "staff_call"]
HelpWhere = Literal["station", "web"]


class HelpCall(_Wire):
    """``hk.help/1`` on ``hk/v1/st/<id>/help`` (QoS 1, not retained): a person is
    wanted at the station.

    ``reason``: ``urgent_result`` (the kiosk called on its own) or
    ``staff_call`` (the elder pressed 呼叫工作人员); ``screen``: the kiosk screen
    it came from (``result``, ``error``, ``measure_bp``...); ``detail``: what
    that screen showed, never personal (the error's key, the result's
    category). The same call is sent again once acknowledged: the doctor's side
    keeps the first acknowledgement.
    """

    schema_: Literal["hk.help/1"] = Field(default=HELP, alias="schema")
    station_id: StationId
    id: UUID
    reason: HelpReason
    screen: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")]
    detail: Annotated[str, Field(max_length=80, pattern=r"^[A-Za-z0-9_.:-]*$")] = ""
    called_at: AwareDatetime
    acknowledged_at: AwareDatetime | None = None
    acknowledged_by: Text = ""
    acknowledged_where: HelpWhere | None = None

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    @model_validator(mode="after")
    def _acknowledged_whole(self) -> HelpCall:
        ack = (self.acknowledged_at is not None, self.acknowledged_where is not None)
        if ack[0] != ack[1]:
            raise ValueError("acknowledged_at and acknowledged_where go together")
        if not ack[0] and self.acknowledged_by:
            raise ValueError("acknowledged_by without acknowledged_at")
        return self


Message = (
    ReadingMessage
    | ReadingBatch
    | Receipt
    | StatusMessage
    | DesiredConfig
    | ConfigReport
    | UpdateOrder
    | UpdateReport
    | Command
    | CommandResult
    | CountsMessage
    | HelpCall
)
_BY_SCHEMA: dict[str, type[BaseModel]] = {
    READING: ReadingMessage,
    READING_BATCH: ReadingBatch,
    RECEIPT: Receipt,
    STATUS: StatusMessage,
    CONFIG: DesiredConfig,
    CONFIG_REPORT: ConfigReport,
    UPDATE_ORDER: UpdateOrder,
    UPDATE_REPORT: UpdateReport,
    COMMAND: Command,
    COMMAND_RESULT: CommandResult,
    COUNTS: CountsMessage,
    HELP: HelpCall,
}


def _check_schema_name(value: object) -> str:
    if not isinstance(value, str) or "/" not in value:
        raise SchemaError(
            "no schema name (expected a string like 'hk.reading/1')", reason="schema_missing"
        )
    name, _, major = value.partition("/")
    if name not in SUPPORTED:
        raise SchemaError(f"unknown message type {name!r}", reason="schema_unknown")
    if major != str(SUPPORTED[name]):
        raise SchemaError(
            f"{value!r} is not supported: this software reads {name}/{SUPPORTED[name]}",
            reason="schema_version",
        )
    return value


def _describe(err: ValidationError) -> str:
    first = err.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "(message)"
    more = f" (and {err.error_count() - 1} more)" if err.error_count() > 1 else ""
    return f"{where}: {first['msg']}{more}"


def decode(payload: bytes | str) -> Message:
    """Parse and validate any message; raises :class:`SchemaError` with a reason."""
    try:
        data = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise SchemaError(f"not JSON: {err}", reason="not_json") from None
    if not isinstance(data, dict):
        raise SchemaError("a message is a JSON object", reason="not_object")
    return from_dict(data)


def from_dict(data: dict[str, Any]) -> Message:
    schema = _check_schema_name(data.get("schema"))
    model = _BY_SCHEMA[schema]
    try:
        msg = model.model_validate(data)
    except ValidationError as err:
        raise SchemaError(_describe(err), reason="invalid") from None
    return cast(Message, msg)


def to_dict(msg: BaseModel) -> dict[str, Any]:
    out: dict[str, Any] = msg.model_dump(mode="json", by_alias=True)
    return out


def encode(msg: BaseModel) -> bytes:
    """Compact UTF-8 JSON with the ``schema`` key first."""
    return json.dumps(to_dict(msg), ensure_ascii=False, separators=(",", ":")).encode()


# --- topics (v1) -----------------------------------------------------------------------


def topic(station_id: str, leaf: str) -> str:
    """``hk/v1/st/<station>/<leaf>``.

    Leaves: readings, receipts, status, counts, config, config-report, update,
    update-report, cmd, cmd-result, help.
    """
    return f"hk/v1/st/{station_id}/{leaf}"


def group_topic(group: str, leaf: str) -> str:
    """``hk/v1/grp/<group>/<leaf>`` (leaf: config, update)."""
    return f"hk/v1/grp/{group}/{leaf}"


# --- hk.status/1 ordering ---------------------------------------------------------------
# Ordering of ``hk.status/1`` messages: a stale retained message never wins.
#
# A station's status carries ``boot_id`` = ``<boot number>-<random>`` where the
# boot number grows with every start of its sync process (kept in the store),
# and ``seq``, which grows within one boot. Within one boot each connection
# ``c`` numbers its statuses ``c * CONNECTION_STRIDE + k`` and registers its last
# will with ``c * CONNECTION_STRIDE + WILL_OFFSET``: the will outranks every
# status of its own connection and is outranked by the next connection's.
#
# ``seq`` is kept in a 32-bit column and bounded by the schema (INT32_MAX), so
# it must never pass it: a station that has connected MAX_CONNECTIONS times in
# one boot (about 2,100 attempts: three days of broker outage) takes a new boot
# number (kept in its store) and counts connections from 1 again. A newer boot
# outranks every sequence of an older one, so the order holds across the turn.

CONNECTION_STRIDE = 1_000_000
WILL_OFFSET = CONNECTION_STRIDE - 1
MAX_CONNECTIONS = (INT32_MAX - WILL_OFFSET) // CONNECTION_STRIDE
"""The last connection number whose will still fits INT32_MAX."""


def status_seq(connection: int, k: int) -> int:
    """The ``k``-th status (from 1) of ``connection`` (1..MAX_CONNECTIONS);
    ``k`` is held below the will's number."""
    if not 1 <= connection <= MAX_CONNECTIONS:
        raise ValueError(f"connection {connection} outside 1..{MAX_CONNECTIONS}")
    return connection * CONNECTION_STRIDE + min(max(k, 0), WILL_OFFSET - 1)


def will_seq(connection: int) -> int:
    """The last will's number of ``connection``: above its statuses, below the next's."""
    if not 1 <= connection <= MAX_CONNECTIONS:
        raise ValueError(f"connection {connection} outside 1..{MAX_CONNECTIONS}")
    return connection * CONNECTION_STRIDE + WILL_OFFSET


def new_boot_id(boot_number: int) -> str:
    return f"{boot_number:010d}-{secrets.token_hex(4)}"


def boot_number(boot_id: str) -> int:
    head, _, _ = boot_id.partition("-")
    return int(head) if head.isdigit() else -1


def order_key(boot_id: str, seq: int) -> tuple[int, int]:
    """Compare two statuses of one station: the larger key is newer."""
    return (boot_number(boot_id), seq)


def is_newer(boot_id: str, seq: int, *, than_boot: str | None, than_seq: int | None) -> bool:
    if than_boot is None or than_seq is None:
        return True
    return order_key(boot_id, seq) > order_key(than_boot, than_seq)
