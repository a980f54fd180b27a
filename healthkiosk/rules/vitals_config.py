"""The rules' configuration for weight and BMI, oxygen saturation and body
temperature: defaults and their sources as in docs/clinical.md ("Body mass
index", "Oxygen saturation", "Body temperature").

Each section validates itself (pydantic), so a configuration with thresholds
out of order, outside the plausibility range, or in the wrong unit (°F typed
for °C, a fraction typed for a percentage) is refused when it is loaded, and
by ``healthkiosk rules check``; each message names the key.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Rules(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _range(name: str, bounds: tuple[float, float]) -> None:
    low, high = bounds
    if not low < high:
        raise ValueError(f"{name}: the lowest accepted ({low}) must be below the highest ({high})")


def _increasing(section: str, pairs: Sequence[tuple[str, float]]) -> None:
    for (a, va), (b, vb) in pairwise(pairs):
        if not va < vb:
            raise ValueError(f"{section}.{b} ({vb}) must be above {section}.{a} ({va})")


def _inside(section: str, pairs: Sequence[tuple[str, float]], bounds: tuple[float, float]) -> None:
    low, high = bounds
    for name, value in pairs:
        if not low < value <= high:
            raise ValueError(
                f"{section}.{name} ({value}) is outside {section}.plausible ({low}, {high})"
            )


class BmiRules(_Rules):
    """Chinese adults, WS/T 428-2013 成人体重判定 (kg/m², classified at 0.1)."""

    normal_min: float = 18.5
    """Below this: underweight."""
    overweight_min: float = 24.0
    obese_min: float = 28.0
    plausible: tuple[float, float] = (10.0, 80.0)
    """BMI values accepted (both ends); outside: measure again."""
    plausible_weight_kg: tuple[float, float] = (20.0, 300.0)
    plausible_height_m: tuple[float, float] = (1.0, 2.5)

    @model_validator(mode="after")
    def _consistent(self) -> BmiRules:
        _range("bmi.plausible", self.plausible)
        _range("bmi.plausible_weight_kg", self.plausible_weight_kg)
        _range("bmi.plausible_height_m", self.plausible_height_m)
        if self.plausible_height_m[0] <= 0 or self.plausible_height_m[1] > 3:
            raise ValueError("bmi.plausible_height_m is in metres (e.g. 1.0, 2.5)")
        if self.plausible_weight_kg[0] <= 0:
            raise ValueError("bmi.plausible_weight_kg must start above 0 kg")
        bands = [
            ("normal_min", self.normal_min),
            ("overweight_min", self.overweight_min),
            ("obese_min", self.obese_min),
        ]
        _increasing("bmi", bands)
        _inside("bmi", bands, self.plausible)
        return self


class Spo2Rules(_Rules):
    """Oxygen saturation at rest, whole percent (the product owner's bands)."""

    normal_min: int = 95
    """From this: normal."""
    urgent_below: int = 90
    """Below this: urgent; from it to below ``normal_min``: low, see the doctor."""
    plausible: tuple[int, int] = (50, 100)
    plausible_pulse: tuple[int, int] = (30, 220)
    """The oximeter's pulse, bpm (both ends accepted)."""

    @model_validator(mode="after")
    def _consistent(self) -> Spo2Rules:
        _range("spo2.plausible", self.plausible)
        _range("spo2.plausible_pulse", self.plausible_pulse)
        if self.plausible[0] <= 0 or self.plausible[1] > 100:
            raise ValueError("spo2.plausible is in percent, within 1..100")
        bands = [("urgent_below", self.urgent_below), ("normal_min", self.normal_min)]
        _increasing("spo2", bands)
        _inside("spo2", bands, self.plausible)
        return self


class TemperatureRules(_Rules):
    """Body temperature, °C at 0.1 (the fever grades of Chinese diagnostics)."""

    low_fever_min: float = 37.3
    fever_min: float = 38.1
    high_fever_min: float = 39.1
    high_fever_urgent_from_age: int = Field(default=60, ge=0, le=150)
    """A high fever is urgent from this age (an elder), and when the age is not known."""
    plausible: tuple[float, float] = (34.0, 43.0)

    @model_validator(mode="after")
    def _consistent(self) -> TemperatureRules:
        _range("temperature.plausible", self.plausible)
        if not (self.plausible[0] >= 25.0 and self.plausible[1] <= 45.0):
            raise ValueError("temperature.plausible is in °C (e.g. 34.0, 43.0), not °F")
        bands = [
            ("low_fever_min", self.low_fever_min),
            ("fever_min", self.fever_min),
            ("high_fever_min", self.high_fever_min),
        ]
        _increasing("temperature", bands)
        _inside("temperature", bands, self.plausible)
        return self
