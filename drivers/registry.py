"""The driver registry: a configuration names a driver, this finds it.

Each driver family lists its drivers in its package's ``DRIVERS`` (for
example ``drivers.ble.DRIVERS``); adding a device model is adding one module
and one :class:`DriverSpec` line there.

A spec's ``opener`` is ``"module:function"``; the function is called as
``open_device(port=..., address=..., options=..., emulate=...)`` and returns
an async context manager yielding a device that implements one of the
protocols in :mod:`drivers.base`. With ``emulate=True`` it starts the
driver's emulated twin (a pty for serial, an in-process GATT peripheral for
BLE) and connects the real driver code to it.

A spec's ``emulator`` (optional) is ``"module:function"`` called as
``await run_emulator(options=..., ready=callback)`` by
``healthkiosk devices emulate``; it runs until cancelled.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Literal

from healthkiosk.errors import ConfigError

Role = Literal["blood_pressure", "glucose", "id_card", "qr_code"]
FAMILIES = ("drivers.ble", "drivers.serial", "drivers.idcard", "drivers.qrcode")


@dataclass(frozen=True, slots=True)
class DriverSpec:
    name: str
    role: Role
    transport: Literal["ble", "serial"]
    summary: str
    opener: str
    emulator: str | None = None

    def load_opener(self) -> Callable[..., AbstractAsyncContextManager[Any]]:
        return _load(self.opener)  # type: ignore[no-any-return]

    def load_emulator(self) -> Callable[..., Any] | None:
        return _load(self.emulator) if self.emulator else None


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
