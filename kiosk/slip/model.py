"""The take-home slip as data: what it says, never how it looks.

A :class:`Slip` is built from a finished visit
(:func:`kiosk.flow.printing.slip_for_visit`) or from sample data
(:func:`sample_slip`, marked "测试 / TEST"). It holds no ID
number at all, and the resident's name only masked (:func:`mask_name`:
王秀英 → 王*英): there is no field a number could go into. Times are aware
datetimes, printed in the station's time zone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from healthkiosk.config import Config

Kind = Literal["blood_pressure", "glucose", "weight", "spo2", "temperature"]
Meal = Literal["fasting", "after_meal", "random"]
EARLIER_PER_KIND = 3
"""The slip lists this many earlier results of each kind of measurement."""


@dataclass(frozen=True, slots=True)
class SlipSettings:
    """What the slip takes from the configuration."""

    station: str
    timezone: str = "Asia/Shanghai"
    doctor_name: str = ""
    doctor_phone: str = ""
    languages: tuple[Literal["zh_CN", "en"], ...] = ("zh_CN", "en")

    @classmethod
    def from_config(cls, cfg: Config) -> SlipSettings:
        st = cfg.station
        return cls(
            station=st.name,
            timezone=st.timezone,
            doctor_name=st.doctor_name,
            doctor_phone=st.doctor_phone,
            languages=cfg.kiosk.slip_languages,
        )

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


@dataclass(frozen=True, slots=True)
class SlipResult:
    """One result of this visit, as the result screen showed it."""

    kind: Kind
    value: str
    """``184/110``, ``6.4``, or the meter's ``LO``/``HI``."""
    category: str
    urgent: bool
    advice: str
    """A text key (``advice.bp.urgent``...)."""
    pulse: int | None = None
    meal: Meal | None = None
    notes: tuple[str, ...] = ()
    lines: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = ()
    """Text keys with their values beside the result (the BMI and the height it used)."""
    """Text keys: ``result.irregular``, ``result.close_to_limit``."""


@dataclass(frozen=True, slots=True)
class SlipPoint:
    """An earlier result (from before this visit)."""

    kind: Kind
    at: datetime
    value: str
    category: str


@dataclass(frozen=True, slots=True)
class Slip:
    settings: SlipSettings
    printed_at: datetime
    name: str | None
    """Masked (:func:`mask_name`), or None when the kiosk does not know it."""
    results: tuple[SlipResult, ...]
    """This visit's results, the most urgent first."""
    earlier: tuple[SlipPoint, ...] = ()
    """At most :data:`EARLIER_PER_KIND` per kind, oldest first."""
    test: bool = False
    """A technician's test slip (sample data): marked 测试 / TEST."""

    def __post_init__(self) -> None:
        if self.printed_at.tzinfo is None:
            raise ValueError("printed_at must be timezone-aware")


def mask_name(name: str | None) -> str | None:
    """The name with all but its first and last character hidden (王秀英 →
    王*英, 王英 → 王*, 欧阳秀英 → 欧**英); None or blank stays None."""
    if name is None or not name.strip():
        return None
    chars = list("".join(name.split()))
    if len(chars) == 1:
        return "*"
    if len(chars) == 2:
        return chars[0] + "*"
    return chars[0] + "*" * (len(chars) - 2) + chars[-1]


def sample_slip(settings: SlipSettings, *, at: datetime) -> Slip:
    """The technician's test slip: sample results of a made-up resident,
    marked 测试 / TEST at the top and the bottom."""
    day = timedelta(days=1)
    earlier = (
        SlipPoint("blood_pressure", at - 60 * day, "138/86", "high_normal"),
        SlipPoint("blood_pressure", at - 30 * day, "142/90", "grade_1"),
        SlipPoint("blood_pressure", at - 7 * day, "135/85", "high_normal"),
        SlipPoint("glucose", at - 30 * day, "6.4", "impaired_fasting"),
    )
    return Slip(
        settings=settings,
        printed_at=at,
        name=mask_name("张三丰"),
        results=(
            SlipResult(
                "blood_pressure", "136/84", "high_normal", False, "advice.bp.high_normal", pulse=72
            ),
            SlipResult("glucose", "5.6", "normal", False, "advice.glucose.normal", meal="fasting"),
        ),
        earlier=earlier,
        test=True,
    )
