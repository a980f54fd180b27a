"""Emulated BLE peripherals built from a driver's options (their ``emulator``
table), for :mod:`emulation.twins`."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from drivers.ble.omron import frames
from drivers.ble.options import BleOptions
from emulation.ble.and_ua651 import AndUa651Emulator
from emulation.ble.bps import BpsEmulator
from emulation.ble.glucose import GlucoseEmulator
from emulation.ble.omron import OmronEmulator
from emulation.ble.peripheral import DEFAULT_BATTERY_PERCENT, parse_faults
from emulation.ble.plx import PulseOximeterEmulator
from emulation.ble.thermometer import ThermometerEmulator
from emulation.ble.weight import WeightScaleEmulator
from healthkiosk.errors import ConfigError
from healthkiosk.readings import PressureUnit, TemperatureUnit, WeightUnit


def _get(em: Mapping[str, Any], key: str, kind: Callable[[Any], Any], default: Any) -> Any:
    try:
        return kind(em[key]) if key in em else default
    except (TypeError, ValueError) as err:
        raise ConfigError(f"invalid emulator option {key}: {err}", key=f"emulator.{key}") from None


def _faults(em: Mapping[str, Any]) -> Any:
    try:
        return parse_faults(em.get("faults"))
    except ValueError as err:
        raise ConfigError(f"unknown fault: {err}", key="emulator.faults") from None


def _battery(em: Mapping[str, Any]) -> int | None:
    """``battery``: the level in percent (80), or ``false`` for no Battery Service."""
    value = em.get("battery", DEFAULT_BATTERY_PERCENT)
    if value is False:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 100:
        raise ConfigError(
            f"emulator battery must be 0..100 or false, not {value!r}", key="emulator.battery"
        )
    return value


def _parse(options: Mapping[str, Any] | None) -> tuple[BleOptions, Mapping[str, Any]]:
    """The driver's options (the station's time zone) and the twin's own table."""
    return BleOptions.parse(options), dict((options or {}).get("emulator") or {})


def make_bps(options: Mapping[str, Any] | None) -> BpsEmulator:
    opts, em = _parse(options)
    return BpsEmulator(
        tz=opts.tz,
        faults=_faults(em),
        battery_percent=_battery(em),
        systolic=_get(em, "systolic", int, 128),
        diastolic=_get(em, "diastolic", int, 82),
        pulse=_get(em, "pulse", int, 71),
        unit=_get(em, "unit", PressureUnit, PressureUnit.MMHG),
        step_s=_get(em, "step_s", float, 0.05),
        bonding=_get(em, "bonding", bool, False),
    )


def make_glucose(options: Mapping[str, Any] | None) -> GlucoseEmulator:
    opts, em = _parse(options)
    return GlucoseEmulator(
        tz=opts.tz,
        faults=_faults(em),
        battery_percent=_battery(em),
        memory=_get(em, "memory", int, 20),
        new_record_after_s=_get(em, "new_record_after_s", float, 0.3),
    )


def make_and(options: Mapping[str, Any] | None) -> AndUa651Emulator:
    opts, em = _parse(options)
    return AndUa651Emulator(
        tz=opts.tz,
        faults=_faults(em),
        battery_percent=_battery(em),
        systolic=_get(em, "systolic", int, 131),
        diastolic=_get(em, "diastolic", int, 84),
        pulse=_get(em, "pulse", int, 66),
        stored=_get(em, "stored", int, 2),
    )


def make_omron(options: Mapping[str, Any] | None) -> OmronEmulator:
    """An Omron monitor of the driver's ``model`` (else ``emulator.model``,
    else HEM-7361T). ``emulator.paired`` (default true): bonded with the
    emulated station and holding the driver's key, as after a pairing;
    false: a monitor fresh from its box (``devices pair --emulate``);
    ``emulator.pairing_window_s``: its -P- window open that long from the
    start (the button held just before the kiosk opened it)."""
    opts, em = _parse(options)
    model = str(opts.extra.get("model") or em.get("model") or "HEM-7361T")
    paired = _get(em, "paired", bool, True)
    key = None
    if paired:
        try:
            key = bytes.fromhex(str(opts.extra.get("key") or frames.DEFAULT_KEY.hex()))
        except ValueError:
            raise ConfigError("the Omron key must be 32 hex digits", key="key") from None
    return OmronEmulator(
        tz=opts.tz,
        model=model,
        faults=_faults(em),
        battery_percent=_battery(em),
        key=key,
        stored=_get(em, "stored", int, 3),
        stored_user=_get(em, "stored_user", int, 1),
        measure_after_s=_get(em, "measure_after_s", float, 0.3),
        measure_user=_get(em, "measure_user", int, int(opts.extra.get("user", 1))),
        standard_service=_get(em, "standard_service", bool, False),
        bond_at_start=paired,
        pairing_window_at_start_s=_get(em, "pairing_window_s", float, None),
    )


def make_weight(options: Mapping[str, Any] | None) -> WeightScaleEmulator:
    opts, em = _parse(options)
    # ``height_m``: the scale user's height (m), or null for a scale that sends none.
    no_height = "height_m" in em and em["height_m"] is None
    return WeightScaleEmulator(
        tz=opts.tz,
        faults=_faults(em),
        battery_percent=_battery(em),
        weight_kg=_get(em, "weight_kg", _decimal, Decimal("68.4")),
        height_m=None if no_height else _get(em, "height_m", _decimal, Decimal("1.65")),
        unit=_get(em, "unit", WeightUnit, WeightUnit.KG),
        stored=_get(em, "stored", int, 0),
        body_composition=_get(em, "body_composition", bool, False),
    )


def make_plx(options: Mapping[str, Any] | None) -> PulseOximeterEmulator:
    opts, em = _parse(options)
    return PulseOximeterEmulator(
        tz=opts.tz,
        faults=_faults(em),
        battery_percent=_battery(em),
        spo2=_get(em, "spo2", int, 97),
        pulse=_get(em, "pulse", int, 72),
        qualified=_get(em, "qualified", bool, True),
        continuous=_get(em, "continuous", bool, True),
        spot_check=_get(em, "spot_check", bool, True),
        memory=_get(em, "memory", int, 0),
        step_s=_get(em, "step_s", float, 0.02),
    )


def make_thermometer(options: Mapping[str, Any] | None) -> ThermometerEmulator:
    opts, em = _parse(options)
    return ThermometerEmulator(
        tz=opts.tz,
        faults=_faults(em),
        battery_percent=_battery(em),
        celsius=_get(em, "celsius", _decimal, Decimal("36.6")),
        unit=_get(em, "unit", TemperatureUnit, TemperatureUnit.CELSIUS),
        stored=_get(em, "stored", int, 0),
    )


def _decimal(value: Any) -> Decimal:
    try:
        return Decimal(str(value))
    except ArithmeticError as err:  # decimal.InvalidOperation
        raise ValueError(f"not a number: {value!r}") from err
