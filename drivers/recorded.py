"""What the kiosk would record from one blood pressure or glucose measurement,
for ``healthkiosk devices reading``: the drivers' own conversion has already
run (a monitor's or meter's refusal is a :class:`MeasurementError`); this adds
the kiosk's plausibility check under the configured rules and says it in the
kiosk's units. Pure.

One JSON object per measurement: ``recorded`` (true, or false with
``reason``), ``systolic``, ``diastolic``, ``pulse`` (whole mmHg and bpm),
``mmol_per_l`` (0.1, halves up; null for HI/LO), and the booleans
``meter_hi``, ``meter_lo`` and ``irregular_pulse``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from healthkiosk.errors import ImplausibleValueError, MeasurementError
from healthkiosk.readings import BloodPressureMeasurement, GlucoseMeasurement, round_tenth
from healthkiosk.rules import (
    RulesConfig,
    check_blood_pressure_plausible,
    check_glucose_plausible,
)


def _blank() -> dict[str, Any]:
    return {
        "recorded": False,
        "reason": None,
        "systolic": None,
        "diastolic": None,
        "pulse": None,
        "mmol_per_l": None,
        "meter_hi": False,
        "meter_lo": False,
        "irregular_pulse": False,
    }


def blood_pressure_json(
    make: Callable[[], BloodPressureMeasurement], rules: RulesConfig
) -> dict[str, Any]:
    out = _blank()
    try:
        m = make()
    except MeasurementError as err:
        out["reason"] = err.reason
        return out
    out.update(
        systolic=m.systolic_mmhg,
        diastolic=m.diastolic_mmhg,
        pulse=m.pulse_bpm,
        irregular_pulse=m.status.irregular_pulse,
    )
    try:
        check_blood_pressure_plausible(
            m.systolic_mmhg, m.diastolic_mmhg, m.pulse_bpm, rules.blood_pressure
        )
    except ImplausibleValueError as err:
        out["reason"] = err.reason
        return out
    out["recorded"] = True
    return out


def glucose_json(make: Callable[[], GlucoseMeasurement], rules: RulesConfig) -> dict[str, Any]:
    out = _blank()
    try:
        m = make()
    except MeasurementError as err:
        out["reason"] = err.reason
        return out
    if m.out_of_range in ("HI", "LO"):
        out.update(recorded=True, meter_hi=m.out_of_range == "HI", meter_lo=m.out_of_range == "LO")
        return out
    value = round_tenth(m.mmol_per_l)
    out["mmol_per_l"] = value
    try:
        check_glucose_plausible(value, rules.glucose)
    except ImplausibleValueError as err:
        out["reason"] = err.reason
        return out
    out["recorded"] = True
    return out
