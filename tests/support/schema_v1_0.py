"""``sync/schema.py`` as it was before minor 1.1 (commit dad51ea): a receiver
that knows blood pressure, glucose and device events only. Kept verbatim (but
for this docstring) so tests can check that such a receiver still accepts the
rest of what a newer station sends (tests/sync/test_schema_vitals.py)."""

# ruff: noqa

from __future__ import annotations

import json
import secrets
from datetime import date
from typing import Annotated, Any, Final, Literal, cast
from uuid import UUID

from pydantic import (
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
}

MAX_BATCH = 500
StationId = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")]
Text = Annotated[str, Field(max_length=200)]


class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class WireResident(_Wire):
    id_number: str = Field(repr=False)
    name: Text | None = None
    sex: Literal["male", "female", "unknown"] = "unknown"
    birth_date: date | None = None

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
    serial: Text = ""
    firmware: Text = ""
    transport: Literal["ble", "serial", "emulated"]


class WireBpMeasurement(_Wire):
    """One of the measurements averaged into a blood pressure reading."""

    systolic: int
    diastolic: int
    pulse: int | None = None
    measured_at: AwareDatetime
    device_time: AwareDatetime | None = None
    irregular_pulse: bool = False


class BloodPressureValues(_Wire):
    systolic: int = Field(ge=0, le=400)
    diastolic: int = Field(ge=0, le=300)
    mean_arterial_pressure: int | None = Field(default=None, ge=0, le=400)
    pulse: int | None = Field(default=None, ge=0, le=400)
    unit: Literal["mmHg"] = "mmHg"
    irregular_pulse: bool = False
    measurements: list[WireBpMeasurement] = Field(default_factory=list, max_length=10)


class GlucoseValues(_Wire):
    mmol_per_l: float | None = Field(ge=0, le=100)
    """None only when the meter showed LO or HI (``out_of_range``)."""
    meal_context: Literal["fasting", "after_meal", "random"] = "random"
    original_value: float | None = None
    original_unit: Literal["mmol/L", "mg/dL", "kg/L", "mol/L"] = "mmol/L"
    out_of_range: Literal["LO", "HI"] | None = None

    @model_validator(mode="after")
    def _value_or_range(self) -> GlucoseValues:
        if (self.mmol_per_l is None) == (self.out_of_range is None):
            raise ValueError("give exactly one of mmol_per_l and out_of_range")
        return self


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
_REPORTED = 100_000


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
    mmol_per_l: float | None = Field(default=None, ge=-_REPORTED, le=_REPORTED, allow_inf_nan=False)
    meal_context: Literal["fasting", "after_meal", "random"] | None = None
    original_value: float | None = Field(
        default=None, ge=-_REPORTED, le=_REPORTED, allow_inf_nan=False
    )
    original_unit: Literal["mmol/L", "mg/dL", "kg/L", "mol/L", "mmHg", "kPa"] | None = None

    @model_validator(mode="after")
    def _values_for_measurement(self) -> DeviceEventValues:
        if self.measurement == "blood_pressure":
            if self.systolic is None or self.diastolic is None:
                raise ValueError("a blood pressure event gives systolic and diastolic")
        elif self.mmol_per_l is None:
            raise ValueError("a glucose event gives mmol_per_l")
        return self


class ReadingMessage(_Wire):
    """``hk.reading/1``: one reading as the kiosk stored and showed it."""

    schema_: Literal["hk.reading/1"] = Field(default=READING, alias="schema")
    uuid: UUID
    station_id: StationId
    station_seq: int = Field(ge=0)
    """The station's monotonic sequence number: orders readings whatever the clocks say."""
    resident: WireResident
    kind: Literal["blood_pressure", "glucose", "device_event"]
    """``device_event`` (added within version 1): see :class:`DeviceEventValues`.
    A receiver older than that refuses it with a reason (receipt ``rejected``)."""
    measured_at: AwareDatetime
    """The kiosk's clock when the reading was complete."""
    device_time: AwareDatetime | None = None
    """The device's own clock for the same reading, when it has one."""
    values: BloodPressureValues | GlucoseValues | DeviceEventValues
    device: WireDevice
    classification: WireClassification | None = None
    """Required for a blood pressure or glucose reading; absent for a device event."""
    software_version: Text
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
        by_kind: dict[str, type[_Wire]] = {
            "blood_pressure": BloodPressureValues,
            "glucose": GlucoseValues,
            "device_event": DeviceEventValues,
        }
        model = by_kind.get(kind) if isinstance(kind, str) else None
        if model is not None and isinstance(value, dict):
            return model.model_validate(value)
        return value

    @model_validator(mode="after")
    def _kind_matches(self) -> ReadingMessage:
        by_kind: dict[str, type[_Wire]] = {
            "blood_pressure": BloodPressureValues,
            "glucose": GlucoseValues,
            "device_event": DeviceEventValues,
        }
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
    accepted: list[UUID] = Field(default_factory=list)
    rejected: list[Rejection] = Field(default_factory=list)

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


class DeviceStatus(_Wire):
    role: Text
    model: Text
    connected: bool
    battery_percent: int | None = None
    last_seen: AwareDatetime | None = None
    last_reading: AwareDatetime | None = None
    clock_drift_s: float | None = None
    """The device clock − the station's at its last connection (positive:
    the device is ahead); None when the device has no readable clock."""


class StatusMessage(_Wire):
    """``hk.status/1``: retained; the last will sends the same with ``online: false``."""

    schema_: Literal["hk.status/1"] = Field(default=STATUS, alias="schema")
    station_id: StationId
    online: bool
    boot_id: Text
    seq: int = Field(ge=0)
    sent_at: AwareDatetime | None = None
    version: Text | None = None
    config_version: int | None = None
    uptime_s: float | None = None
    backlog: int | None = None
    oldest_undelivered: AwareDatetime | None = None
    last_receipt: AwareDatetime | None = None
    rejected: int | None = None
    disk_free_mb: float | None = None
    disk_free_percent: float | None = None
    store_size_mb: float | None = None
    cpu_temp_c: float | None = None
    devices: list[DeviceStatus] = Field(default_factory=list)
    alerts: list[Text] = Field(default_factory=list)
    clock_synced: bool | None = None
    """Whether the station's clock is synchronised (None: not said); while it is
    not, its readings carry ``clock_synced: false`` and ``sent_at`` is unchecked."""
    clock_source: Text | None = None
    """Who said so: ``adjtimex``, ``chronyc``, ``timedatectl``, ``config``, ``none``."""
    clock_max_error_s: float | None = None
    """The kernel's maximum error estimate of the clock, in seconds."""
    clock_last_sync: AwareDatetime | None = None
    """When systemd-timesyncd last synchronised the clock (where it runs)."""
    tech_pin_failures: int | None = Field(default=None, ge=0, le=1_000_000)
    """Wrong technician PINs in a row since the last right one (the fleet page
    raises an alert: someone may be guessing)."""
    tech_pin_locked_until: AwareDatetime | None = None
    """The technician screen refuses every PIN until then."""

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


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
    version: int = Field(ge=1, le=2**53)
    settings: dict[str, Any] = Field(default_factory=dict)
    issued_at: AwareDatetime
    issued_by: Text = ""
    rules_digest: Annotated[str, Field(pattern=RULES_DIGEST_PATTERN)] | None = None
    """Added within version 1: when ``settings`` holds a ``rules`` table, the
    digest of that table as a whole rule set, which the doctor's side checked
    it holds (:func:`healthkiosk.rules.rules_digest`). A station refuses a
    ``rules`` table without it or whose digest differs."""
    expires: AwareDatetime | None = None
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
    group_version: int | None = None
    station_version: int | None = None
    running_group_version: int | None = None
    running_station_version: int | None = None
    reason: Annotated[str, Field(max_length=2000)] = ""
    restart_needed: bool = False
    at: AwareDatetime

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


class UpdateOrder(_Wire):
    """``hk.update-order/1``: retained on ``hk/v1/grp/<group>/update`` or ``.../st/<id>/update``.

    The station's own order wins over its group's. ``release`` is the signed
    manifest's release number; the station still verifies everything itself.
    """

    schema_: Literal["hk.update-order/1"] = Field(default=UPDATE_ORDER, alias="schema")
    scope: Scope
    target: StationId
    release: int = Field(ge=1)
    manifest_url: Annotated[str, Field(max_length=2000)]
    rollout_id: Text = ""
    issued_at: AwareDatetime

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


UpdateOutcome = Literal["waiting", "in_progress", "succeeded", "failed", "rolled_back", "refused"]


class UpdateReport(_Wire):
    """``hk.update-report/1`` on ``hk/v1/st/<id>/update-report`` (retained: the latest step)."""

    schema_: Literal["hk.update-report/1"] = Field(default=UPDATE_REPORT, alias="schema")
    station_id: StationId
    rollout_id: Text = ""
    release: int | None = None
    running_release: int | None = None
    step: Text
    outcome: UpdateOutcome
    reason: Annotated[str, Field(max_length=2000)] = ""
    at: AwareDatetime

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


CommandName = Literal["logs", "resync", "restart", "repair"]


class Command(_Wire):
    """``hk.command/1`` on ``hk/v1/st/<id>/cmd`` (QoS 1, not retained).

    ``args``: ``logs`` takes ``lines``; ``repair`` takes ``role``. A command
    past ``expires_at`` is answered with ``ok: false`` and not run.
    """

    schema_: Literal["hk.command/1"] = Field(default=COMMAND, alias="schema")
    id: UUID
    command: CommandName
    args: dict[str, Any] = Field(default_factory=dict)
    issued_at: AwareDatetime
    expires_at: AwareDatetime
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
    at: AwareDatetime

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


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

    Leaves: readings, receipts, status, config, config-report, update,
    update-report, cmd, cmd-result.
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

CONNECTION_STRIDE = 1_000_000
WILL_OFFSET = CONNECTION_STRIDE - 1


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
