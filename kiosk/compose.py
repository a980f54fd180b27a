"""The kiosk's composition: devices, recorder and clock for the visit flow.

Two seams live here and only here:

- :func:`open_devices` — each configured device through
  :mod:`drivers.registry`, wrapped to (re)connect on demand. ``connect``
  decides how a configured device is reached: by default its driver's own
  opener on the configured port or address; ``healthkiosk run --simulate``
  (the CLI, through the ``emulation`` package, which a station does not
  install) gives one that starts the driver's emulated twin and connects the
  same driver to it.
- :func:`open_recorder` — builds :class:`kiosk.recorder.StoreRecorder` on
  :mod:`sync.store`.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from healthkiosk import clocktrust
from healthkiosk.config import Config, DeviceConfig, PrinterConfig
from kiosk.flow.ports import Devices
from management import pairings

if TYPE_CHECKING:
    from drivers.registry import DriverSpec
    from kiosk.recorder import StoreRecorder
    from management.devicestatus import DeviceBook

log = logging.getLogger(__name__)

ROLES = (
    "blood_pressure",
    "glucose",
    "id_card",
    "qr_code",
    "printer",
    "weight",
    "pulse_oximeter",
    "thermometer",
)
READERS = ("id_card", "qr_code", "printer")
"""Devices that keep no time; every other (measuring) role's driver may set
its device's clock, and is given the station's clock state to ask first."""

Connect = Callable[["DriverSpec", DeviceConfig, "str | None"], AbstractAsyncContextManager[Any]]
"""``connect(spec, device_config, address)``: open the configured device
(``address``: the configured or paired BLE address, or None for any)."""


def through_driver(
    spec: DriverSpec, dc: DeviceConfig, address: str | None
) -> AbstractAsyncContextManager[Any]:
    """The default :data:`Connect`: the driver's opener on the configured port or address."""
    return spec.load_opener()(port=dc.port, address=address, options=dc.driver_options())


@asynccontextmanager
async def open_devices(
    cfg: Config,
    *,
    connect: Connect | None = None,
    clock_trusted: Callable[[], bool] | None = None,
) -> AsyncIterator[Devices]:
    """The devices for one kiosk run, closed on exit. A role not configured
    has no device (the technician screen shows it missing), nor a printer
    configured with ``enabled = false``.

    The measuring devices' drivers set their clocks only while
    ``clock_trusted()`` (by default the station's clock state,
    :func:`healthkiosk.clocktrust.shared`) says the station's clock is
    synchronised: their ``clock_trusted`` option."""
    if clock_trusted is None:
        clock_trusted = clocktrust.shared(cfg.station.clock).trusted
    async with AsyncExitStack() as stack:
        book = _device_book(cfg)
        devices = Devices(
            **{
                role: _reconnecting(
                    role,
                    _with_clock_gate(role, getattr(cfg.devices, role), clock_trusted),
                    connect=connect or through_driver,
                    book=book,
                    data_dir=cfg.data_dir,
                )
                for role in ROLES
            }
        )
        for dev in _all(devices):
            stack.push_async_callback(dev.close)
        yield devices


def _with_clock_gate(
    role: str, dc: DeviceConfig | None, clock_trusted: Callable[[], bool]
) -> DeviceConfig | None:
    """A measuring device's configuration with the ``clock_trusted`` option its
    driver asks before it sets the device's clock (readers keep no time)."""
    if dc is None or role in READERS:
        return dc
    return dc.model_copy(update={"options": {**dc.options, "clock_trusted": clock_trusted}})


def _device_book(cfg: Config) -> DeviceBook:
    from management.devicestatus import DeviceBook, path_for

    return DeviceBook(path_for(cfg.data_dir))


def _reconnecting(
    role: str,
    dc: DeviceConfig | None,
    *,
    connect: Connect,
    book: DeviceBook | None = None,
    data_dir: Path | None = None,
) -> Any:
    """A device opened through the registry on first use, reopened after a lost link."""
    if dc is None or (isinstance(dc, PrinterConfig) and not dc.enabled):
        return None
    from drivers.registry import get_driver
    from kiosk.reconnect import (
        ReconnectingBloodPressureMonitor,
        ReconnectingGlucoseMeter,
        ReconnectingIdCardReader,
        ReconnectingPrinter,
        ReconnectingPulseOximeter,
        ReconnectingThermometer,
        ReconnectingWeightScale,
    )

    spec = get_driver(dc.driver)
    pairable = spec.transport == "ble" and not dc.address

    def opener(*, any_device: bool = False) -> Any:
        # The configured address wins; else the device the technician paired
        # (read at every open, so a remote "repair" takes effect at once);
        # ``any_device`` is the technician's Pair: whichever device answers.
        address = dc.address
        if address is None and data_dir is not None and not any_device:
            address = pairings.address_for(data_dir, role)
        return connect(spec, dc, address)

    if isinstance(dc, PrinterConfig):
        return ReconnectingPrinter(
            opener,
            dot_width=dc.dot_width,
            name=spec.name,
            transport=spec.transport,
            role=role,
            book=book,
        )
    cls = {
        "blood_pressure": ReconnectingBloodPressureMonitor,
        "glucose": ReconnectingGlucoseMeter,
        "id_card": ReconnectingIdCardReader,
        "qr_code": ReconnectingIdCardReader,
        "weight": ReconnectingWeightScale,
        "pulse_oximeter": ReconnectingPulseOximeter,
        "thermometer": ReconnectingThermometer,
    }[role]
    return cls(
        opener,
        name=spec.name,
        transport=spec.transport,
        role=role,
        book=book,
        pairing=(lambda a: pairings.pin(data_dir, role, a)) if pairable and data_dir else None,
        bondable=spec.transport == "ble",
    )


def _all(devices: Devices) -> list[Any]:
    return [getattr(devices, role) for role in ROLES if getattr(devices, role) is not None]


def open_recorder(cfg: Config) -> StoreRecorder:
    """The store recorder (blocking: imports SQLAlchemy and opens SQLite).

    The app opens it through :class:`kiosk.deferred.DeferredRecorder`, off the
    start-up path.
    """
    from kiosk.recorder import StoreRecorder
    from sync.store.db import open_store
    from sync.store.idhash import IdHasher

    return StoreRecorder(
        open_store(cfg.store_path),
        hasher=IdHasher.from_file(cfg.id_hash_key_path),
        min_free_mb=cfg.store.min_free_mb,
    )
