"""What the flow needs from outside, injected by the composition root.

- :class:`Devices`: objects implementing :mod:`drivers.base`'s protocols
  (real drivers, their emulated twins, or the tests' fakes).
- :class:`Recorder`: saves a completed reading (reading + outbox row in one
  transaction) and returns only once it is committed; raises
  :class:`~healthkiosk.errors.StoreFullError` when it cannot take it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal, Protocol

from drivers.base import BloodPressureMonitor, GlucoseMeter, IdCardReader, ReceiptPrinter
from healthkiosk.readings import DeviceInfo, DeviceMemoryRecord
from healthkiosk.rules import RuleSetId
from kiosk.flow.state import DeviceStatus, MealAnswer, TrendPoint


@dataclass(frozen=True, slots=True)
class ResidentIdentity:
    """Who is measured. ``id_number`` goes to the store only, never to a screen."""

    id_number: str = field(repr=False)
    masked_id: str
    name: str | None
    sex: str
    birth_date: date | None


@dataclass(frozen=True, slots=True)
class BpValues:
    systolic: int
    diastolic: int
    pulse: int | None
    mean_arterial: int | None
    irregular_pulse: bool
    measurements: tuple[dict[str, Any], ...]
    """Each individual measurement averaged into the reading."""


@dataclass(frozen=True, slots=True)
class GlucoseValues:
    mmol_per_l: float | None
    meal: MealAnswer
    original_value: float | None
    original_unit: str | None
    out_of_range: str | None


@dataclass(frozen=True, slots=True)
class CompletedReading:
    """A reading the flow has finished: classified, ready to be stored and sent."""

    uuid: str
    visit_uuid: str
    kind: Literal["blood_pressure", "glucose"]
    measured_at: datetime
    device_time: datetime | None
    resident: ResidentIdentity
    device: DeviceInfo
    values: BpValues | GlucoseValues
    category: str
    urgent: bool
    isolated_systolic: bool | None
    close_to_limit: bool
    rule: str
    clock_synced: bool | None = None
    """Whether the kiosk's clock was synchronised when the reading was made
    (None: not known). A reading is kept whatever the clock says."""
    rule_set: RuleSetId | None = None
    """The rule set that classified it (its name and digest travel with it)."""


@dataclass(frozen=True, slots=True)
class CouldNotMeasure:
    """A value a device reported during this elder's measurement that the rules
    refused (docs/clinical.md, "Plausibility"): stored and sent to the doctor as
    an ``hk.reading/1`` device event ("could not measure: 0.9 mmol/L
    reported"), never classified, never silence."""

    uuid: str
    visit_uuid: str
    measurement: Literal["blood_pressure", "glucose"]
    reason: str
    """The plausibility check that refused it (ImplausibleValueError.reason)."""
    measured_at: datetime
    device_time: datetime | None
    resident: ResidentIdentity
    device: DeviceInfo
    values: dict[str, Any]
    """What the device reported, in the kiosk's units: ``systolic``,
    ``diastolic``, ``pulse``; or ``mmol_per_l``, ``meal_context``,
    ``original_value``, ``original_unit``."""
    clock_synced: bool | None = None


@dataclass(frozen=True, slots=True)
class StoreStatus:
    pending: int
    delivered: int
    last_delivered: datetime | None


class Recorder(Protocol):
    async def save(self, reading: CompletedReading) -> None:
        """Store the reading and its outbox row in one transaction; return when committed."""
        ...

    async def save_event(self, event: CouldNotMeasure) -> None:
        """Store a refused value as a device event with its outbox row (it goes
        to the doctor as a reading does); return when committed."""
        ...

    async def end_visit(self, visit_uuid: str, *, outcome: str, at: datetime) -> None:
        """Mark a visit that saved something as completed/abandoned/timeout."""
        ...

    async def recent(self, resident: ResidentIdentity, *, limit: int) -> list[TrendPoint]:
        """The resident's last readings, oldest first (for the trend chart)."""
        ...

    async def known_name(self, id_number: str) -> str | None:
        """The name stored for a typed ID number (a card gave it before), if any."""
        ...

    async def record_event(self, *, device: str, kind: str, detail: dict[str, Any]) -> None:
        """Keep something a device said that is not a valid reading."""
        ...

    async def record_memory(self, *, role: str, record: DeviceMemoryRecord) -> None:
        """Keep a device-memory record (nobody's reading; never sent as one)."""
        ...

    async def status(self) -> StoreStatus: ...


@dataclass(frozen=True, slots=True)
class Devices:
    blood_pressure: BloodPressureMonitor | None = None
    glucose: GlucoseMeter | None = None
    id_card: IdCardReader | None = None
    qr_code: IdCardReader | None = None
    """Optional: a QR-code scanner (an elder service card); reads like a card reader."""
    printer: ReceiptPrinter | None = None
    """Optional: a receipt printer for the take-home slip."""

    def statuses(self) -> tuple[DeviceStatus, ...]:
        out = []
        for role, dev in (
            ("blood_pressure", self.blood_pressure),
            ("glucose", self.glucose),
            ("id_card", self.id_card),
            ("qr_code", self.qr_code),
            ("printer", self.printer),
        ):
            if dev is None and role in ("qr_code", "printer"):
                continue  # optional: a station without one lacks nothing
            if dev is None:
                out.append(DeviceStatus(role=role, model="", state="missing"))
            else:
                out.append(_status(role, dev.info, getattr(dev, "state", "ready")))
        return tuple(out)


def _status(role: str, info: DeviceInfo, state: object) -> DeviceStatus:
    return DeviceStatus(role=role, model=info.model, state=str(state), detail=info.label)


class VisitGate(Protocol):
    """Held from check-in to the end of a visit, so no update starts meanwhile
    (:class:`healthkiosk.visitlock.VisitLock` fits)."""

    def begin(self, *, wait: bool = False) -> bool:
        """Take it; False when the updater holds it (an update is switching)."""
        ...

    def end(self) -> None: ...


class OpenGate:
    """No updater on this machine (tests, a laptop): every visit may begin."""

    def begin(self, *, wait: bool = False) -> bool:
        return True

    def end(self) -> None:
        pass


class PinAttempts(Protocol):
    """Where the technician screen keeps its wrong PINs across restarts (and the
    station's status reads them): :class:`management.techpin.PinFile` fits.
    Called from the flow (small, blocking writes)."""

    def load(self) -> tuple[int, datetime | None]:
        """(wrong PINs in a row, refused until) as last saved."""
        ...

    def save(self, failures: int, locked_until: datetime | None, *, at: datetime) -> None: ...


class MemoryPinAttempts:
    """Kept in memory only (tests, a laptop)."""

    def __init__(self) -> None:
        self.failures = 0
        self.locked_until: datetime | None = None

    def load(self) -> tuple[int, datetime | None]:
        return self.failures, self.locked_until

    def save(self, failures: int, locked_until: datetime | None, *, at: datetime) -> None:
        self.failures, self.locked_until = failures, locked_until
