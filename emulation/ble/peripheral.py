"""What every emulated health peripheral shares: Device Information, a device
clock (optionally wrong) behind the Current Time Service, a Battery Service
(optional, its level settable and notified), bonding (optional: a device that
requires a bonded central, pairs only in its pairing window, and can forget
its bond), fault switches, and an explicit lifecycle (``async with``
advertises, exit removes it)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Coroutine
from datetime import datetime, timedelta, tzinfo
from enum import StrEnum
from types import TracebackType
from typing import Any, Self

from drivers.ble import uuids
from drivers.ble.battery import encode_level
from drivers.ble.devinfo import encode_string
from drivers.ble.gatt_time import (
    CurrentTime,
    TimeCodecError,
    decode_current_time,
    encode_current_time,
)
from emulation.ble.bumble_radio import BumblePeripheral
from emulation.ble.gatt import (
    AttError,
    AttErrorCode,
    Characteristic,
    Connection,
    LinkDown,
    Peripheral,
    Service,
)

log = logging.getLogger(__name__)


class Fault(StrEnum):
    """Faults an emulated peripheral can inject (``--fault`` on the CLI)."""

    GARBAGE = "garbage"
    DROP_MID_MEASUREMENT = "drop_mid_measurement"
    DROP_MID_DOWNLOAD = "drop_mid_download"
    BODY_MOVEMENT = "body_movement"
    CUFF_LOOSE = "cuff_loose"
    IMPROPER_POSITION = "improper_position"
    IRREGULAR_PULSE = "irregular_pulse"
    SPECIAL_VALUE = "special_value"
    OUT_OF_RANGE = "out_of_range"
    WRONG_CLOCK = "wrong_clock"
    STRIP_ERROR = "strip_error"
    RESULT_HIGH = "result_high"
    RACP_ERROR = "racp_error"
    SHORT_FRAME = "short_frame"
    """A valid value missing its last byte (an Omron twin: read replies two
    bytes short)."""
    UNSTABLE = "unstable"
    """An oximeter whose values never settle."""
    INVALID = "invalid"
    """An oximeter that flags its measurement invalid."""
    SENSOR_OFF = "sensor_off"
    """An oximeter whose sensor is not on a finger."""
    # Omron's memory protocol (emulation/ble/omron.py)
    BAD_CHECK_BYTE = "bad_check_byte"
    WRONG_KEY = "wrong_key"
    DROP_MID_READ = "drop_mid_read"


DEFAULT_BATTERY_PERCENT = 80
PAIRING_WINDOW_S = 30.0
"""How long a device's pairing window stays open after its button is held."""

WRONG_CLOCK_OFFSET = -timedelta(days=812, hours=5, minutes=17)
"""How far off a device with the ``wrong_clock`` fault starts (a monitor whose
batteries were changed and that came back at its firmware's default date)."""


def parse_faults(values: Any) -> frozenset[Fault]:
    if not values:
        return frozenset()
    if isinstance(values, str):
        values = [v.strip() for v in values.split(",") if v.strip()]
    return frozenset(Fault(v) for v in values)


class EmulatedDevice:
    """Base of the emulated peripherals."""

    advertised_service: str = ""

    def __init__(
        self,
        *,
        name: str,
        address: str,
        manufacturer: str,
        model: str,
        serial: str,
        firmware: str,
        tz: tzinfo,
        faults: frozenset[Fault] = frozenset(),
        seed: int = 4,
        with_current_time: bool = True,
        battery_percent: int | None = DEFAULT_BATTERY_PERCENT,
        bonding: bool = False,
    ) -> None:
        """``battery_percent`` None: no Battery Service at all. ``bonding``:
        the profile's characteristics need a bonded (encrypted) link, and the
        device accepts a pairing only in its window
        (:meth:`press_pairing_button`); without it, it pairs whenever asked."""
        self._bumble: BumblePeripheral | None = None
        self.bonding = bonding
        self._window_until: float | None = None
        self.tz = tz
        self.faults = faults
        self.rng = random.Random(seed)
        self.clock_offset = WRONG_CLOCK_OFFSET if Fault.WRONG_CLOCK in faults else timedelta()
        self.clock_writes = 0
        self.connections = 0
        self.readvertise = True
        """Advertise again shortly after a link ends (a device that stays on)."""
        self._tasks: set[asyncio.Task[None]] = set()
        self.dis = Service(
            uuids.DEVICE_INFORMATION_SERVICE,
            [
                Characteristic(uuids.MANUFACTURER_NAME, ("read",), encode_string(manufacturer)),
                Characteristic(uuids.MODEL_NUMBER, ("read",), encode_string(model)),
                Characteristic(uuids.SERIAL_NUMBER, ("read",), encode_string(serial)),
                Characteristic(uuids.FIRMWARE_REVISION, ("read",), encode_string(firmware)),
            ],
        )
        self.current_time = Characteristic(
            uuids.CURRENT_TIME,
            ("read", "write", "notify"),
            on_read=lambda _c: encode_current_time(CurrentTime.from_datetime(self.device_now())),
            on_write=self._write_current_time,
        )
        self.battery = Characteristic(
            uuids.BATTERY_LEVEL,
            ("read", "notify"),
            encode_level(DEFAULT_BATTERY_PERCENT if battery_percent is None else battery_percent),
        )
        """Its ``value`` is what a read returns: a test may put any bytes there."""
        profile = self.profile_services()
        if bonding:
            for service in profile:
                for char in service.characteristics:
                    char.secure = True
        services = [self.dis, *profile]
        if with_current_time:
            services.append(Service(uuids.CURRENT_TIME_SERVICE, [self.current_time]))
        if battery_percent is not None:
            services.append(Service(uuids.BATTERY_SERVICE, [self.battery]))
        self.peripheral = Peripheral(
            name=name,
            address=address,
            services=services,
            advertised_uuids=[self.advertised_service],
            on_connect=self._connected,
            on_subscribe=self.subscribed,
            on_disconnect=self._disconnected,
            accepts_pairing=self.pairing_window_open if bonding else None,
        )

    # --- to override -----------------------------------------------------------
    def profile_services(self) -> list[Service]:
        raise NotImplementedError

    def subscribed(self, conn: Connection, char: Characteristic, value: int) -> None:
        """A central wrote a CCCD."""

    # --- bonding ---------------------------------------------------------------
    def press_pairing_button(self, window_s: float = PAIRING_WINDOW_S) -> None:
        """The button held until the pairing sign blinks: pairing accepted for ``window_s``."""
        self._window_until = time.monotonic() + window_s
        log.info("%s: pairing window open for %.0f s", self.peripheral.name, window_s)

    def close_pairing_window(self) -> None:
        self._window_until = None

    def pairing_window_open(self) -> bool:
        return self._window_until is not None and time.monotonic() < self._window_until

    async def forget_bond(self) -> None:
        """The device forgets its bonds (reset, or paired with a phone since):
        the station's stored key is refused at the next connection."""
        if self._bumble is not None:
            await self._bumble.forget_bonds()
        log.info("%s: bonds forgotten", self.peripheral.name)

    async def bond_with_station(self) -> None:
        """The station and the device bonded before (both hold the key)."""
        if self._bumble is None:
            raise RuntimeError("start the device first")
        await self._bumble.bond_with_central()

    async def bonded_centrals(self) -> list[str]:
        return [] if self._bumble is None else await self._bumble.bonded_centrals()

    # --- clock -----------------------------------------------------------------
    def device_now(self) -> datetime:
        """The device's wall clock (naive local time, as devices keep it)."""
        return (datetime.now(self.tz) + self.clock_offset).replace(tzinfo=None)

    def set_device_clock(self, when: datetime) -> None:
        real = datetime.now(self.tz).replace(tzinfo=None)
        self.clock_offset = when.replace(tzinfo=None) - real
        self.clock_writes += 1
        log.info("%s: clock set to %s", self.peripheral.name, when.isoformat(timespec="seconds"))

    def _write_current_time(self, _conn: Connection, data: bytes) -> None:
        try:
            value = decode_current_time(data)
        except TimeCodecError:
            raise AttError(AttErrorCode.OUT_OF_RANGE) from None
        when = value.date_time.to_datetime(self.tz)
        if when is None:
            raise AttError(AttErrorCode.OUT_OF_RANGE)
        self.set_device_clock(when)

    # --- battery ---------------------------------------------------------------
    async def set_battery_level(self, percent: int) -> None:
        """The battery drains (or is replaced): a subscribed central is notified."""
        self.battery.value = encode_level(percent)
        if self.peripheral.connection is None:
            return
        with contextlib.suppress(LinkDown):  # gone meanwhile: nobody to tell
            await self.peripheral.notify(self.battery, self.battery.value)

    # --- lifecycle -------------------------------------------------------------
    def _connected(self, _conn: Connection) -> None:
        self.connections += 1

    def _disconnected(self, _conn: Connection) -> None:
        if self.readvertise:
            self.spawn(self._come_back())

    async def _come_back(self) -> None:
        await asyncio.sleep(0.05)
        if self.readvertise and self.peripheral.connection is None:
            await self.advertise()

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def advertise(self) -> None:
        if self._bumble is not None:
            await self._bumble.advertise()

    async def start(self) -> None:
        """Power on its own emulated controller on bumble's in-process link, and advertise."""
        self._bumble = BumblePeripheral(self.peripheral, self.spawn)
        await self._bumble.power_on()
        await self.advertise()

    async def stop(self) -> None:
        self.readvertise = False
        self.peripheral.drop_link()
        self.peripheral.advertising = False
        if self._bumble is not None:
            await self._bumble.close()
            self._bumble = None
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def address(self) -> str:
        return self.peripheral.address

    def describe(self) -> str:
        lines = [f"{self.peripheral.name} at {self.address}, advertising {self.advertised_service}"]
        for service in self.peripheral.services:
            lines.append(f"  service {service.uuid}")
            for char in service.characteristics:
                lines.append(f"    {char.uuid} [{', '.join(char.properties)}]")
        if self.faults:
            lines.append("  faults: " + ", ".join(sorted(self.faults)))
        return "\n".join(lines)
