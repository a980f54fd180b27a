"""The composition root: devices, recorder and clock for the visit flow.

Two seams live here and only here:

- :func:`open_devices` — without ``simulate``, each configured device through
  :mod:`drivers.registry`. With ``simulate``, a role configured under
  ``[devices.*]`` runs the real driver code against the driver's emulated
  twin (``emulate=True``: an in-process BLE peripheral, a pty for serial);
  a role not configured gets the kiosk's own :mod:`kiosk.simulated` device
  (scriptable: the flow and GUI tests queue outcomes on it).
- :func:`open_recorder` — builds :class:`kiosk.recorder.StoreRecorder` on
  :mod:`sync.store`.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from healthkiosk.config import Config, DeviceConfig
from kiosk.flow.clock import Clock, RealClock
from kiosk.flow.ports import Devices
from management import pairings

if TYPE_CHECKING:
    from kiosk.recorder import StoreRecorder
    from management.devicestatus import DeviceBook

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SimulationSpeed:
    """How fast the kiosk's simulated devices run (1.0 = like real devices)."""

    speed: float = 1.0
    start_delay_s: float = 2.0


ROLES = ("blood_pressure", "glucose", "id_card", "qr_code")
SIMULATED_ROLES = ("blood_pressure", "glucose", "id_card")
"""Roles kiosk/simulated.py stands in for; a QR scanner is used only where configured."""


@asynccontextmanager
async def open_devices(
    cfg: Config,
    *,
    simulate: bool,
    clock: Clock | None = None,
    sim: SimulationSpeed | None = None,
) -> AsyncIterator[Devices]:
    """The devices for one kiosk run, closed on exit."""
    async with AsyncExitStack() as stack:
        if simulate:
            d = cfg.devices
            book = _device_book(cfg)
            twins = {
                role: _reconnecting(
                    role, getattr(d, role), emulate=True, book=book, data_dir=cfg.data_dir
                )
                for role in ROLES
            }
            fallback = (
                _simulated(clock or RealClock(), sim or SimulationSpeed())
                if any(twins[role] is None for role in SIMULATED_ROLES)
                else None
            )
            devices = Devices(
                **{
                    role: twin if twin is not None else getattr(fallback, role, None)
                    for role, twin in twins.items()
                }
            )
            for dev in _all(devices):
                if dev is not None:
                    stack.push_async_callback(dev.close)
        else:
            devices = await _real(cfg, stack)
        yield devices


def _simulated(clock: Clock, sim: SimulationSpeed) -> Devices:
    from kiosk.simulated import (
        SimulatedBloodPressureMonitor,
        SimulatedGlucoseMeter,
        SimulatedIdCardReader,
    )

    return Devices(
        blood_pressure=SimulatedBloodPressureMonitor(
            clock=clock, speed=sim.speed, start_delay_s=sim.start_delay_s
        ),
        glucose=SimulatedGlucoseMeter(clock=clock, speed=sim.speed),
        id_card=SimulatedIdCardReader(clock=clock),
    )


def _device_book(cfg: Config) -> DeviceBook:
    from management.devicestatus import DeviceBook, path_for

    return DeviceBook(path_for(cfg.data_dir))


def _reconnecting(
    role: str,
    dc: DeviceConfig | None,
    *,
    emulate: bool,
    book: DeviceBook | None = None,
    data_dir: Path | None = None,
) -> Any:
    """A device opened through the registry on first use, reopened after a lost link."""
    if dc is None:
        return None
    from drivers.registry import get_driver
    from kiosk.reconnect import (
        ReconnectingBloodPressureMonitor,
        ReconnectingGlucoseMeter,
        ReconnectingIdCardReader,
    )

    spec = get_driver(dc.driver)
    open_device = spec.load_opener()
    pairable = spec.transport == "ble" and not dc.address

    def opener(*, any_device: bool = False) -> Any:
        # The configured address wins; else the device the technician paired
        # (read at every open, so a remote "repair" takes effect at once);
        # ``any_device`` is the technician's Pair: whichever device answers.
        address = dc.address
        if address is None and data_dir is not None and not any_device:
            address = pairings.address_for(data_dir, role)
        return open_device(port=dc.port, address=address, options=dict(dc.options), emulate=emulate)

    cls = {
        "blood_pressure": ReconnectingBloodPressureMonitor,
        "glucose": ReconnectingGlucoseMeter,
        "id_card": ReconnectingIdCardReader,
        "qr_code": ReconnectingIdCardReader,
    }[role]
    return cls(
        opener,
        name=spec.name,
        transport=spec.transport,
        role=role,
        book=book,
        pairing=(lambda a: pairings.pin(data_dir, role, a)) if pairable and data_dir else None,
    )


def _all(devices: Devices) -> list[Any]:
    return [getattr(devices, role) for role in ROLES if getattr(devices, role) is not None]


async def _real(cfg: Config, stack: AsyncExitStack) -> Devices:
    d = cfg.devices
    book = _device_book(cfg)
    devices = Devices(
        **{
            role: _reconnecting(
                role, getattr(d, role), emulate=False, book=book, data_dir=cfg.data_dir
            )
            for role in ROLES
        }
    )
    for dev in _all(devices):
        if dev is not None:
            stack.push_async_callback(dev.close)
    return devices


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
