"""The registry of twins: for each real driver in :mod:`drivers.registry`,
how to start its emulated twin and connect the unchanged driver to it — the
pty path of a serial twin as the driver's ``port``, or the address of a BLE
twin and the bumble backend (:data:`emulation.ble.bumble_backend.BUMBLE`) as
its ``address`` and ``backend``. The driver's own registry opener does the
rest, exactly as on a station.

- :func:`connect`: the real driver connected to a twin started for it
  (``healthkiosk devices read --emulate``, the tests).
- :func:`serve`: ``healthkiosk devices emulate DRIVER`` (the twin alone).
- :class:`Simulation`: ``healthkiosk run --simulate``, the demo and the
  scripted visitor: every role of the kiosk played by a twin (the configured
  driver's, or :data:`DEFAULT_DRIVERS`' for a role not configured).
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

from drivers.idcard.text_block import CardText
from drivers.registry import DriverSpec, get_driver
from healthkiosk.config import Config, DeviceConfig
from healthkiosk.errors import ConfigError


@dataclass(frozen=True, slots=True)
class RunningTwin:
    """A started twin: the emulated device, and how its real driver reaches it."""

    driver: str
    emulator: Any
    """The emulated device (a :class:`~emulation.serial.device.SerialEmulator`,
    an :class:`~emulation.ble.peripheral.EmulatedDevice` or an
    :class:`~emulation.printer.usb.EmulatedUsbPrinter`): tests inject faults
    and cards through it, and find a printer's slips on it."""
    reach: Mapping[str, Any]
    """The keyword arguments the driver's opener needs: ``port``, or
    ``address`` and ``backend``, or (a USB printer) ``usb_backend``."""
    description: str


class Twin(Protocol):
    def running(
        self, driver: str, options: Mapping[str, Any] | None
    ) -> AbstractAsyncContextManager[RunningTwin]: ...


@dataclass(frozen=True, slots=True)
class SerialTwin:
    """A serial device's twin behind a pty: ``make(options)`` builds the emulator."""

    make: Callable[[Mapping[str, Any] | None], Awaitable[Any]]

    @asynccontextmanager
    async def running(
        self, driver: str, options: Mapping[str, Any] | None
    ) -> AsyncIterator[RunningTwin]:
        emulator = await self.make(options)
        async with emulator.running() as port:
            yield RunningTwin(driver, emulator, {"port": port}, port)


@dataclass(frozen=True, slots=True)
class BleTwin:
    """A BLE device's twin on bumble's in-process link: ``maker`` names the
    function of :mod:`emulation.ble.build` that builds the peripheral (imported
    on use, so serial twins do not load bumble)."""

    maker: str

    @asynccontextmanager
    async def running(
        self, driver: str, options: Mapping[str, Any] | None
    ) -> AsyncIterator[RunningTwin]:
        from emulation.ble import build
        from emulation.ble.bumble_backend import BUMBLE

        device = getattr(build, self.maker)(options)
        async with device:
            reach = {"address": device.address, "backend": BUMBLE}
            yield RunningTwin(driver, device, reach, device.describe())


def _pty(ref: str) -> SerialTwin:
    """A serial twin whose emulator class ``ref`` ("module:Class") takes its options."""

    async def make(options: Mapping[str, Any] | None) -> Any:
        from emulation.serial.device import EmulatorOptions

        module, _, name = ref.partition(":")
        cls = getattr(importlib.import_module(module), name)
        return cls(EmulatorOptions.from_options(options))

    return SerialTwin(make)


def _serial_printer() -> SerialTwin:
    """The twin of ``escpos-serial``: the emulated printer behind a pty."""

    async def make(options: Mapping[str, Any] | None) -> Any:
        from emulation.printer.serial import SerialPrinterEmulator

        return SerialPrinterEmulator.from_options(options)

    return SerialTwin(make)


@dataclass(frozen=True, slots=True)
class UsbPrinterTwin:
    """The twin of ``escpos-usb``: the emulated printer behind a pyusb backend,
    which the driver's opener is given as ``usb_backend``."""

    @asynccontextmanager
    async def running(
        self, driver: str, options: Mapping[str, Any] | None
    ) -> AsyncIterator[RunningTwin]:
        from emulation.printer.usb import EmulatedUsbPrinter

        backend = EmulatedUsbPrinter.from_options(options)
        yield RunningTwin(driver, backend, {"usb_backend": backend}, backend.describe())


def _lines(default_format: str | None = None) -> SerialTwin:
    """The twin of a line-printing monitor or meter: it prints the driver's format."""

    async def make(options: Mapping[str, Any] | None) -> Any:
        from drivers.serial.linemonitor import load_options
        from emulation.serial.device import EmulatorOptions
        from emulation.serial.linemonitor import LineEmulator

        _, fmt = await load_options(options, default_format=default_format)
        return LineEmulator(EmulatorOptions.from_options(options), fmt)

    return SerialTwin(make)


TWINS: dict[str, Twin] = {
    "onetouch-ultra2": _pty("emulation.serial.otultra2:Ultra2Emulator"),
    "onetouch-ultraeasy": _pty("emulation.serial.otultraeasy:UltraEasyEmulator"),
    "serial-line-bp": _lines(),
    "serial-line-glucose": _lines("glucose-seq-crc16"),
    "sam-idcard": _pty("emulation.idcard.sam_reader:SamReaderEmulator"),
    "serial-qr": _pty("emulation.qrcode.scanner:QrScannerEmulator"),
    "ble-bp-standard": BleTwin("make_bps"),
    "ble-glucose-standard": BleTwin("make_glucose"),
    "ble-and-ua651": BleTwin("make_and"),
    "ble-omron": BleTwin("make_omron"),
    "ble-weight-standard": BleTwin("make_weight"),
    "ble-plx-standard": BleTwin("make_plx"),
    "ble-thermometer-standard": BleTwin("make_thermometer"),
    "escpos-serial": _serial_printer(),
    "escpos-usb": UsbPrinterTwin(),
}
"""Every registered driver's twin, by driver name (``tests/emulation`` checks
that no driver is without one)."""


def twin_for(driver: str) -> Twin:
    try:
        return TWINS[driver]
    except KeyError:
        raise ConfigError(f"driver {driver!r} has no emulated twin") from None


def start(
    driver: str, *, options: Mapping[str, Any] | None = None
) -> AbstractAsyncContextManager[RunningTwin]:
    """Start ``driver``'s twin (stopped on exit)."""
    get_driver(driver)  # an unknown driver is named as such, not as twinless
    return twin_for(driver).running(driver, options)


def open_driver(
    twin: RunningTwin,
    *,
    options: Mapping[str, Any] | None = None,
    address: str | None = None,
) -> AbstractAsyncContextManager[Any]:
    """The real driver, through its own registry opener, reaching a running
    twin (``address``: a BLE address the kiosk pinned, instead of the twin's)."""
    reach = dict(twin.reach)
    if address and "address" in reach:
        reach["address"] = address
    return get_driver(twin.driver).load_opener()(options=options, **reach)


@asynccontextmanager
async def connect(
    driver: str, *, options: Mapping[str, Any] | None = None, address: str | None = None
) -> AsyncIterator[Any]:
    """``driver``'s real code connected to a twin started for it; both are
    closed on exit. ``options`` are the driver's, its ``emulator`` table the twin's."""
    async with (
        start(driver, options=options) as twin,
        open_driver(twin, options=options, address=address) as device,
    ):
        yield device


async def serve(
    driver: str,
    *,
    options: Mapping[str, Any] | None = None,
    ready: Callable[[str], Any] | None = None,
) -> None:
    """``healthkiosk devices emulate DRIVER``: start the twin, ``ready(where)``
    (its port, or its address and services), then serve until cancelled."""
    async with start(driver, options=options) as twin:
        if ready is not None:
            ready(twin.description)
        await asyncio.Event().wait()


# --- the simulated kiosk ----------------------------------------------------------

DEFAULT_DRIVERS: dict[str, DeviceConfig] = {
    "blood_pressure": DeviceConfig(driver="ble-bp-standard"),
    "glucose": DeviceConfig(driver="ble-glucose-standard"),
    # No card of its own: cards come from Simulation.present_card (the "c" key
    # of `run --simulate`, the scripted visitor).
    "id_card": DeviceConfig(driver="sam-idcard", options={"emulator": {"measure_after_s": None}}),
}
"""The twins of the roles a configuration leaves out (a QR scanner only where configured)."""


@dataclass
class Simulation:
    """One kiosk run on twins: each configured device's driver, and
    :data:`DEFAULT_DRIVERS` for the roles not configured, connected to twins
    through :func:`kiosk.compose.open_devices` (the kiosk's own wrappers,
    reconnects and device book included). A twin is started at each open of
    its device and stopped when the device is closed, as a device switched on
    for one measurement."""

    source: Config
    config: Config = field(init=False)
    running: dict[str, RunningTwin] = field(default_factory=dict, init=False)
    """The twins started now, by driver name."""
    _cards: list[CardText] = field(default_factory=list, init=False)

    def __post_init__(self) -> None:
        devices = self.source.devices
        missing = {
            role: dc for role, dc in DEFAULT_DRIVERS.items() if getattr(devices, role) is None
        }
        self.config = self.source.model_copy(update={"devices": devices.model_copy(update=missing)})

    def open_devices(self) -> AbstractAsyncContextManager[Any]:
        """:func:`kiosk.compose.open_devices` on twins (a kiosk ``Devices``)."""
        from kiosk.compose import open_devices

        return open_devices(self.config, connect=self.connect)

    @asynccontextmanager
    async def connect(
        self, spec: DriverSpec, dc: DeviceConfig, address: str | None
    ) -> AsyncIterator[Any]:
        """``kiosk.compose``'s hook: the device of ``dc`` through its twin."""
        async with start(spec.name, options=dc.driver_options()) as twin:
            self.running[spec.name] = twin
            if hasattr(twin.emulator, "present"):
                for card in self._cards:
                    twin.emulator.present(card)
                self._cards.clear()
            try:
                async with open_driver(
                    twin, options=dc.driver_options(), address=address
                ) as device:
                    yield device
            finally:
                if self.running.get(spec.name) is twin:
                    del self.running[spec.name]

    def present_card(self, card: CardText) -> None:
        """Put ``card`` on the emulated ID card reader (for its next read; kept
        until the reader's twin runs, if it does not yet)."""
        readers = [t.emulator for t in self.running.values() if hasattr(t.emulator, "present")]
        if not readers:
            self._cards.append(card)
        for reader in readers:
            reader.present(card)
