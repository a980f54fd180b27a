"""The driver registry: a configuration names a driver, this finds it.

Each driver family lists its drivers in its package's ``DRIVERS`` (for
example ``drivers.ble.DRIVERS``); adding a device model is adding one module
and one :class:`DriverSpec` line there.

A spec's ``opener`` is ``"module:function"``; the function is called as
``open_device(port=..., address=..., options=...)`` and returns an async
context manager yielding a device that implements one of the protocols in
:mod:`drivers.base`. A BLE opener also takes ``backend``
(:class:`drivers.ble.link.BleBackend`, the platform's by default).

Only real drivers are listed here. Their emulated twins are in the
``emulation`` package (``emulation/twins.py`` maps a driver's name to its
twin and connects this same opener to it: a pty path for serial, the bumble
backend for BLE); nothing here imports it.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Literal

from healthkiosk.errors import ConfigError

Role = Literal[
    "blood_pressure", "glucose", "id_card", "qr_code", "weight", "pulse_oximeter", "thermometer"
]
FAMILIES = ("drivers.ble", "drivers.serial", "drivers.idcard", "drivers.qrcode")


@dataclass(frozen=True, slots=True)
class DriverSpec:
    name: str
    role: Role
    transport: Literal["ble", "serial"]
    summary: str
    opener: str

    def load_opener(self) -> Callable[..., AbstractAsyncContextManager[Any]]:
        return _load(self.opener)  # type: ignore[no-any-return]


def _load(ref: str) -> Any:
    module_name, _, attr = ref.partition(":")
    return getattr(importlib.import_module(module_name), attr)


def all_drivers() -> dict[str, DriverSpec]:
    """Every registered driver by name (families that are not installed are skipped)."""
    found: dict[str, DriverSpec] = {}
    for family in FAMILIES:
        if importlib.util.find_spec(family) is None:
            continue
        for spec in getattr(importlib.import_module(family), "DRIVERS", ()):
            found[spec.name] = spec
    return found


def get_driver(name: str) -> DriverSpec:
    drivers = all_drivers()
    try:
        return drivers[name]
    except KeyError:
        known = ", ".join(sorted(drivers)) or "none"
        raise ConfigError(f"unknown driver {name!r} (known: {known})") from None
