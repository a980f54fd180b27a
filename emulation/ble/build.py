"""Emulated BLE devices built from driver options (``options["emulator"]``),
for the openers' ``emulate=True`` and for ``healthkiosk devices emulate``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any

from drivers.ble.emulated.and_peripheral import AndUa651Emulator
from drivers.ble.emulated.bps_peripheral import BpsEmulator
from drivers.ble.emulated.common import (
    DEFAULT_BATTERY_PERCENT,
    RADIOS,
    EmulatedDevice,
    parse_faults,
)
from drivers.ble.emulated.glucose_peripheral import GlucoseEmulator
from drivers.ble.link import BleBackend
from drivers.ble.options import BleOptions
from drivers.readings import PressureUnit
from healthkiosk.errors import ConfigError


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


DEFAULT_RADIO = "bumble"


def radio_of(opts: BleOptions) -> str:
    """Which emulated stack: ``bumble`` (default) or ``model``."""
    radio = str(opts.emulator.get("radio", DEFAULT_RADIO))
    if radio not in RADIOS:
        raise ConfigError(f"emulator radio must be one of {RADIOS}", key="emulator.radio")
    return radio


def backend_for(opts: BleOptions) -> BleBackend:
    return BleBackend.bumble() if radio_of(opts) == "bumble" else BleBackend.emulated()


def make_bps(opts: BleOptions) -> BpsEmulator:
    em = opts.emulator
    return BpsEmulator(
        radio=radio_of(opts),
        tz=opts.tz,
        faults=_faults(em),
        battery_percent=_battery(em),
        systolic=_get(em, "systolic", int, 128),
        diastolic=_get(em, "diastolic", int, 82),
        pulse=_get(em, "pulse", int, 71),
        unit=_get(em, "unit", PressureUnit, PressureUnit.MMHG),
        step_s=_get(em, "step_s", float, 0.05),
    )


def make_glucose(opts: BleOptions) -> GlucoseEmulator:
    em = opts.emulator
    return GlucoseEmulator(
        radio=radio_of(opts),
        tz=opts.tz,
        faults=_faults(em),
        battery_percent=_battery(em),
        memory=_get(em, "memory", int, 20),
        new_record_after_s=_get(em, "new_record_after_s", float, 0.3),
    )


def make_and(opts: BleOptions) -> AndUa651Emulator:
    em = opts.emulator
    return AndUa651Emulator(
        radio=radio_of(opts),
        tz=opts.tz,
        faults=_faults(em),
        battery_percent=_battery(em),
        systolic=_get(em, "systolic", int, 131),
        diastolic=_get(em, "diastolic", int, 84),
        pulse=_get(em, "pulse", int, 66),
        stored=_get(em, "stored", int, 2),
    )


@asynccontextmanager
async def _running(device: EmulatedDevice) -> AsyncIterator[Any]:
    async with device:
        yield device


def bps_emulator(opts: BleOptions) -> Any:
    return _running(make_bps(opts))


def glucose_emulator(opts: BleOptions) -> Any:
    return _running(make_glucose(opts))


def and_emulator(opts: BleOptions) -> Any:
    return _running(make_and(opts))


async def _serve(device: EmulatedDevice, ready: Callable[[str], None] | None) -> None:
    async with device:
        if ready is not None:
            ready(device.describe())
        await asyncio.Event().wait()  # until cancelled


async def run_bps(*, options: Mapping[str, Any] | None = None, ready: Any = None) -> None:
    await _serve(make_bps(BleOptions.parse(options)), ready)


async def run_glucose(*, options: Mapping[str, Any] | None = None, ready: Any = None) -> None:
    device = make_glucose(BleOptions.parse(options))
    await _serve(device, ready)


async def run_and(*, options: Mapping[str, Any] | None = None, ready: Any = None) -> None:
    await _serve(make_and(BleOptions.parse(options)), ready)
