"""The visit's state: an immutable snapshot the screen renders.

Nothing here is personal beyond what the screen may show: the resident's
name and *masked* ID number. The full ID number stays inside the flow.
Two snapshots compare equal when the screen would show the same thing, so
flow tests and GUI tests compare snapshots.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Literal

Language = Literal["zh_CN", "en"]
Choice = Literal["bp", "glucose", "both", "weight", "spo2", "temperature", "vitals"]
"""``vitals``: weight, SpO2 and temperature, one after the other."""
VitalKind = Literal["weight", "spo2", "temperature"]
ReadingKind = Literal["blood_pressure", "glucose", "weight", "spo2", "temperature"]
MealAnswer = Literal["fasting", "after_meal", "random"]
PrintStatus = Literal["printing", "printed", "no_paper", "failed"]
HelpReason = Literal["urgent_result", "staff_call"]
HelpStatus = Literal["calling", "called", "acknowledged", "failed"]
"""A call for staff (:mod:`kiosk.flow.help`): being sent, sent (the lamp is on
and the doctor's side is told), someone acknowledged it, or it could not be
kept (the chime and lamp still went off)."""
"""The take-home slip on the thank-you screen (:mod:`kiosk.flow.printing`)."""


class Screen(StrEnum):
    ATTRACT = "attract"
    CHECKIN = "checkin"
    CONFIRM = "confirm"
    CHOOSE = "choose"
    PREP_BP = "prep_bp"
    MEASURE_BP = "measure_bp"
    BP_PAUSE = "bp_pause"
    GLUCOSE_MEAL = "glucose_meal"
    PREP_GLUCOSE = "prep_glucose"
    MEASURE_GLUCOSE = "measure_glucose"
    MEASURE_WEIGHT = "measure_weight"
    HEIGHT = "height"
    """The elder types their height (cm): the scale sent none and none is known."""
    MEASURE_SPO2 = "measure_spo2"
    MEASURE_TEMPERATURE = "measure_temperature"
    SAVING = "saving"
    RESULT = "result"
    SUMMARY = "summary"
    DONE = "done"
    ERROR = "error"
    TECH_PIN = "tech_pin"
    TECHNICIAN = "technician"


BUSY_SCREENS = frozenset(
    {
        Screen.MEASURE_BP,
        Screen.BP_PAUSE,
        Screen.MEASURE_GLUCOSE,
        Screen.MEASURE_WEIGHT,
        Screen.MEASURE_SPO2,
        Screen.MEASURE_TEMPERATURE,
        Screen.SAVING,
    }
)
"""A measurement runs: never interrupted by the inactivity timeout."""


@dataclass(frozen=True, slots=True)
class ResidentView:
    """What the screen may show about the resident."""

    masked_id: str
    name: str | None
    birth_year: int
    sex: str
    masked_name: str | None = None
    """The name as the screen shows it (王*明): all but the first and last hidden."""
    returning: bool | None = None
    """Seen by this station before (True), never (False), or not known (None:
    the store did not answer): "first visit" only when False."""
    last_visit: date | None = None
    """The day (station's time zone) of the last visit here, when returning."""


@dataclass(frozen=True, slots=True)
class Explanation:
    """A result sentence keyed by the deciding rule, with its numbers."""

    key: str
    params: tuple[tuple[str, str], ...] = ()

    def as_dict(self) -> dict[str, str]:
        return dict(self.params)


@dataclass(frozen=True, slots=True)
class BpResult:
    systolic: int
    diastolic: int
    pulse: int | None
    irregular_pulse: bool
    readings: tuple[tuple[int, int, int | None], ...]
    category: str
    urgent: bool
    isolated_systolic: bool
    rule: str
    explanation: Explanation
    advice: str
    saved: bool


@dataclass(frozen=True, slots=True)
class GlucoseResult:
    mmol_per_l: float | None
    shown: str | None
    """``LO``/``HI`` when the meter showed that instead of a number."""
    meal: MealAnswer
    category: str
    urgent: bool
    close_to_limit: bool
    rule: str
    explanation: Explanation
    advice: str
    saved: bool


@dataclass(frozen=True, slots=True)
class VitalResult:
    """A weight (with its BMI), oxygen saturation or temperature result."""

    kind: VitalKind
    shown: str
    """The value as shown: ``68.4`` (kg), ``96`` (%), ``37.5`` (°C)."""
    category: str
    urgent: bool
    rule: str
    explanation: Explanation
    advice: str
    saved: bool
    notes: tuple[Explanation, ...] = ()
    """Lines beside it: the BMI and the height it used, the oximeter's pulse."""


@dataclass(frozen=True, slots=True)
class SummaryItem:
    """One result of the visit as the final screen lists it (:mod:`kiosk.flow.summary`)."""

    kind: ReadingKind
    shown: str
    """The value as on its result screen: ``185/115``, ``6.4``, ``LO``, ``68.4``."""
    category: str
    urgent: bool
    advice: str
    """Text key of the advice (an urgent result's: only the urgent instruction)."""
    notes: tuple[str, ...] = ()
    """Text keys beside it (irregular pulse, near the limit); never beside an urgent result."""


@dataclass(frozen=True, slots=True)
class TrendPoint:
    at: datetime
    kind: Literal["blood_pressure", "glucose"]
    values: tuple[float, ...]
    """(systolic, diastolic) or (mmol/L,)."""
    category: str
    day: date | None = None
    """The day of the reading in the station's time zone (the trend's labels)."""


@dataclass(frozen=True, slots=True)
class ErrorView:
    key: str
    """Plain-words message key: ``device_not_found``, ``link_lost``, ``store_full``..."""
    actions: tuple[str, ...]
    """Ways forward, in order: ``retry``, ``choose``, ``finish``."""
    device: str = ""
    """Which device (model), for the staff; never personal."""


@dataclass(frozen=True, slots=True)
class HelpView:
    """A call for staff, shown on every screen until acknowledged (never personal)."""

    reason: HelpReason
    status: HelpStatus
    screen: str
    """The screen it was made from."""

    @property
    def open(self) -> bool:
        return self.status in ("calling", "called", "failed")


@dataclass(frozen=True, slots=True)
class DeviceStatus:
    role: str
    model: str
    state: str
    """``ready``, ``missing``, ``error``, ``closed``: as last seen; after the
    technician's test ``testing``, ``ok`` or ``failed`` (``detail``: who
    answered, or the error's reason)."""
    detail: str = ""


@dataclass(frozen=True, slots=True)
class TechView:
    devices: tuple[DeviceStatus, ...]
    pending: int
    delivered: int
    last_delivered: datetime | None
    version: str
    restart_requested: bool = False
    testing: bool = False
    pairing: str | None = None
    """None; ``guide`` (how to put the device in its pairing window, waiting
    for Start pairing); ``running``."""
    pair_step: str = ""
    """The pairing's step now (``pair.step.<step>``)."""
    pair_error: str = ""
    """Why the last pairing failed, in plain words (``pair.error.<key>``)."""


@dataclass(frozen=True, slots=True)
class State:
    screen: Screen = Screen.ATTRACT
    language: Language = "zh_CN"
    # check-in
    keypad: str = ""
    keypad_error: str | None = None
    """What is wrong with the number typed (:func:`kiosk.flow.checkin.typed_problem`):
    ``id_region``, ``id_birth_date``, ``id_check_digit`` as typed, ``id_length``
    when OK is pressed early, ``id_x_position``; a card's ``card_unreadable``."""
    keypad_valid: bool = False
    card_reader: bool = False
    """A card reader is waiting for a card on the check-in screen."""
    qr_reader: bool = False
    """A QR-code scanner is waiting for an elder service card's code."""
    resident: ResidentView | None = None
    choice: Choice | None = None
    # preparation and measuring
    countdown_s: int | None = None
    ready: bool = False
    cuff_mmhg: int | None = None
    bp_reading_no: int = 0
    bp_readings_needed: int = 0
    bp_taken: tuple[tuple[int, int, int | None], ...] = ()
    cuff_inflating: bool = False
    """The cuff has started to fill: the instruction is "keep still", no longer
    "press start"."""
    notice: str | None = None
    """A discarded reading: ``body_movement``, ``cuff_fit``, ``improper_position``."""
    meal: MealAnswer | None = None
    # results
    bp_result: BpResult | None = None
    glucose_result: GlucoseResult | None = None
    vital_result: VitalResult | None = None
    """The weight, SpO2 or temperature result on the result screen (shown instead
    of a blood pressure or glucose one while set)."""
    height_typed: str = ""
    """The height typed on the height screen, in cm."""
    height_error: bool = False
    """The typed height is not a height (outside the plausible range)."""
    trend: tuple[TrendPoint, ...] = ()
    summary: tuple[SummaryItem, ...] = ()
    """The visit's results, the most urgent first (the summary screen)."""
    error: ErrorView | None = None
    help: HelpView | None = None
    """A call for staff (:mod:`kiosk.flow.help`); it outlives the visit until acknowledged."""
    # inactivity
    still_here_s: int | None = None
    # the take-home slip (thank-you screen)
    print_status: PrintStatus | None = None
    can_print: bool = False
    """The visit's slip may be printed (again): "Print slip" is offered."""
    # technician
    pin_length: int = 0
    pin_error: bool = False
    pin_locked_s: int | None = None
    """Too many wrong PINs: every PIN is refused for this many more seconds."""
    tech: TechView | None = None
    history: tuple[str, ...] = field(default=(), compare=False, repr=False)
    """Screens visited in this visit (diagnostics only, not compared)."""

    @property
    def personal(self) -> bool:
        """Whether anything about a resident is in this snapshot."""
        return bool(
            self.resident
            or self.bp_result
            or self.glucose_result
            or self.vital_result
            or self.height_typed
            or self.trend
            or self.keypad
            or self.summary
        )
