"""The thin BLE transport every BLE driver uses: find a device by service
UUID, connect with the ``BLEDevice`` from the scan (never by address string
alone — that makes bleak scan again and fails far more often), read and write
with timeouts, subscribe, notice a lost link, pair, ask whether this
station holds a bond (and forget one: :mod:`.bonds`), and turn bleak's errors into ours
(:mod:`.radio_errors`). No protocol knowledge lives here.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import Any, Protocol, TypeVar

from bleak import BleakClient, BleakScanner
from bleak.backends.client import BaseBleakClient
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import BaseBleakScanner
from bleak.exc import BleakError

from drivers.ble import uuids
from drivers.ble.battery import BatteryCodecError, decode_level
from drivers.ble.bonds import BlueZBonds, BondState, BondStore
from drivers.ble.clockdrift import ClockDrift, measure_drift
from drivers.ble.devinfo import DeviceInfoCodecError, decode_string
from drivers.ble.gatt_time import (
    CurrentTime,
    TimeCodecError,
    decode_current_time,
    encode_current_time,
)
from drivers.ble.radio_errors import BLUETOOTH_UNAVAILABLE, PAIRING_FAILED, radio_reason
from healthkiosk.errors import (
    DeviceConnectionError,
    DeviceError,
    DeviceNotFoundError,
    DeviceTimeoutError,
    ProtocolError,
)
from healthkiosk.readings import DeviceInfo, Transport

log = logging.getLogger(__name__)
T = TypeVar("T")

DEFAULT_IO_TIMEOUT_S = 10.0
PAIR_TIMEOUT_S = 30.0
BATTERY_TIMEOUT_S = 3.0
"""The battery level is a nicety: a device slow to give it must not eat the
time an elder's measurement has."""


@dataclass(frozen=True, slots=True)
class BleBackend:
    """Which bleak backend to use, given from outside: the default (None, None)
    is the platform's (BlueZ on a Pi). The ``emulation`` package gives one over
    bumble's in-process link to the emulated peripherals; ``transport`` is
    what the readings' :class:`~healthkiosk.readings.DeviceInfo` then says."""

    scanner: type[BaseBleakScanner] | None = None
    client: type[BaseBleakClient] | None = None
    transport: Transport = Transport.BLE
    bonds: BondStore | None = None
    """Where this station's bonds are (None: BlueZ's, over D-Bus)."""

    def bond_store(self) -> BondStore:
        return self.bonds if self.bonds is not None else BlueZBonds()


async def find_device(
    *,
    service_uuid: str | None,
    address: str | None,
    backend: BleBackend,
    timeout_s: float,
    label: str,
) -> BLEDevice:
    """The first device advertising ``service_uuid`` (and ``address`` when
    given; ``service_uuid`` None: the device at ``address``, whatever it
    advertises)."""
    wanted = address.lower() if address else None
    services = [service_uuid] if service_uuid else None
    try:
        async with asyncio.timeout(timeout_s):
            scanner = BleakScanner(service_uuids=services, backend=backend.scanner)
            async with scanner:
                async for device, _adv in scanner.advertisement_data():
                    if wanted is None or device.address.lower() == wanted:
                        log.info("%s: found %s (%s)", label, device.address, device.name)
                        return device
    except TimeoutError:
        what = f"advertising {service_uuid[4:8]}" if service_uuid else ""
        raise DeviceNotFoundError(
            f"no device {what} within {timeout_s:.0f} s".replace("  ", " ")
            + (f" at {address}" if address else ""),
            device=label,
        ) from None
    except (BleakError, OSError) as err:
        # OSError: no D-Bus system bus / no BlueZ on this machine.
        raise DeviceConnectionError(
            f"Bluetooth unavailable: {err or type(err).__name__}",
            device=label,
            reason=radio_reason(err) or BLUETOOTH_UNAVAILABLE,
        ) from err
    raise DeviceNotFoundError("scan ended", device=label)  # pragma: no cover


class BleLink:
    """One connection to one peripheral; ``close()`` is idempotent."""

    def __init__(self, device: BLEDevice, *, backend: BleBackend, label: str) -> None:
        self.device = device
        self.backend = backend
        self.label = f"{label} {device.address}"
        self.lost = asyncio.Event()
        self._client: BleakClient | None = None

    async def connect(self, *, timeout_s: float = 20.0) -> None:
        client = BleakClient(
            self.device,
            disconnected_callback=lambda _c: self._on_lost(),
            timeout=timeout_s,
            backend=self.backend.client,
        )
        try:
            async with asyncio.timeout(timeout_s):
                await client.connect()
        except TimeoutError:
            await self._abandon(client)
            raise DeviceTimeoutError("connect timed out", device=self.label) from None
        except (BleakError, OSError) as err:
            raise DeviceConnectionError(
                f"connect failed: {err or type(err).__name__}",
                device=self.label,
                reason=radio_reason(err) or "connect_failed",
            ) from err
        except asyncio.CancelledError:
            await self._abandon(client)
            raise
        self._client = client
        log.info("%s: connected", self.label)

    async def _abandon(self, client: BleakClient) -> None:
        """A connect given up half-way may have made the link (or still be
        making it): end it, so the device is not left held by this station."""
        try:
            async with asyncio.timeout(DEFAULT_IO_TIMEOUT_S):
                await asyncio.shield(client.disconnect())
        except (BleakError, OSError, TimeoutError, asyncio.CancelledError) as err:
            log.warning("%s: abandoning a connect: %s", self.label, err or type(err).__name__)

    def _on_lost(self) -> None:
        if not self.lost.is_set():
            log.warning("%s: link lost", self.label)
        self.lost.set()

    @property
    def client(self) -> BleakClient:
        if self._client is None:
            raise DeviceConnectionError("not connected", device=self.label)
        return self._client

    def has(self, uuid: str) -> bool:
        return self.client.services.get_characteristic(uuid) is not None

    def properties(self, uuid: str) -> list[str]:
        char = self.client.services.get_characteristic(uuid)
        return [] if char is None else list(char.properties)

    async def _io(self, what: str, op: Awaitable[T], timeout_s: float) -> T:
        if self.lost.is_set():
            raise DeviceConnectionError(f"{what}: link lost", device=self.label)
        try:
            async with asyncio.timeout(timeout_s):
                return await op
        except TimeoutError:
            raise DeviceTimeoutError(f"{what} timed out", device=self.label) from None
        except BleakError as err:
            reason = radio_reason(err)
            if reason is not None:  # not paired: the device refuses an unbonded central
                raise DeviceConnectionError(
                    f"{what} refused: {err}", device=self.label, reason=reason
                ) from err
            if self.lost.is_set() or not self.client.is_connected:
                raise DeviceConnectionError(f"{what}: link lost", device=self.label) from err
            raise DeviceConnectionError(
                f"{what} failed: {err}", device=self.label, reason="gatt_error"
            ) from err

    async def read(self, uuid: str, *, timeout_s: float = DEFAULT_IO_TIMEOUT_S) -> bytes:
        return bytes(
            await self._io(f"read {uuid[4:8]}", self.client.read_gatt_char(uuid), timeout_s)
        )

    async def write(
        self,
        uuid: str,
        data: bytes,
        *,
        response: bool = True,
        timeout_s: float = DEFAULT_IO_TIMEOUT_S,
    ) -> None:
        await self._io(
            f"write {uuid[4:8]}",
            self.client.write_gatt_char(uuid, data, response=response),
            timeout_s,
        )

    async def subscribe(
        self,
        uuid: str,
        callback: Callable[[bytes], None],
        *,
        timeout_s: float = DEFAULT_IO_TIMEOUT_S,
    ) -> None:
        def on_value(_char: Any, data: bytearray) -> None:
            callback(bytes(data))

        await self._io(
            f"subscribe {uuid[4:8]}", self.client.start_notify(uuid, on_value), timeout_s
        )

    async def wait(self, what: str, future: Awaitable[T], *, timeout_s: float) -> T:
        """Wait for ``future`` unless the link is lost or the time runs out."""
        task: asyncio.Future[T] = asyncio.ensure_future(future)
        lost: asyncio.Future[Any] = asyncio.ensure_future(self.lost.wait())
        waiters: set[asyncio.Future[Any]] = {task, lost}
        try:
            done, _ = await asyncio.wait(waiters, timeout=timeout_s, return_when="FIRST_COMPLETED")
        finally:
            lost.cancel()
        if task in done:
            return task.result()
        task.cancel()
        if lost in done:
            raise DeviceConnectionError(f"link lost while waiting for {what}", device=self.label)
        raise DeviceTimeoutError(f"no {what} within {timeout_s:.0f} s", device=self.label)

    async def read_device_info(self, *, model_fallback: str) -> DeviceInfo:
        """Device Information (0x180A): manufacturer, model, serial, firmware."""
        values: dict[str, str] = {}
        for key, uuid in (
            ("manufacturer", uuids.MANUFACTURER_NAME),
            ("model", uuids.MODEL_NUMBER),
            ("serial", uuids.SERIAL_NUMBER),
            ("firmware", uuids.FIRMWARE_REVISION),
        ):
            if not self.has(uuid) or "read" not in self.properties(uuid):
                continue
            raw = await self.read(uuid)
            try:
                values[key] = decode_string(raw)
            except DeviceInfoCodecError:
                log.warning("%s: unreadable %s string %s", self.label, key, raw.hex())
        return DeviceInfo(
            model=values.pop("model", "") or model_fallback,
            transport=self.backend.transport,
            address=self.device.address,
            **values,
        )

    async def read_battery_level(
        self, *, on_change: Callable[[int], None] | None = None
    ) -> int | None:
        """Battery Level (0x2A19) in percent, or None: no Battery Service
        (0x180F is optional), or a read that failed or made no sense (logged;
        a battery level never stops a measurement). With ``on_change``, also
        subscribe to its notifications when the device offers them."""
        uuid = uuids.BATTERY_LEVEL
        try:
            if not self.has(uuid):
                return None
        except BleakError:  # one Battery Service per battery: which is "the" level?
            log.warning("%s: several battery levels; none read", self.label)
            return None
        level: int | None = None
        if "read" in self.properties(uuid):
            try:
                level = self._battery(await self.read(uuid, timeout_s=BATTERY_TIMEOUT_S))
            except DeviceError as err:
                log.warning("%s: battery level not read: %s", self.label, err)
        if on_change is not None and "notify" in self.properties(uuid):

            def changed(raw: bytes) -> None:
                value = self._battery(raw)
                if value is not None:
                    on_change(value)

            try:
                await self.subscribe(uuid, changed, timeout_s=BATTERY_TIMEOUT_S)
            except DeviceError as err:
                log.warning("%s: battery notifications not enabled: %s", self.label, err)
        if level is not None:
            log.info("%s: battery %d %%", self.label, level)
        return level

    def _battery(self, raw: bytes) -> int | None:
        try:
            return decode_level(raw)
        except BatteryCodecError as err:
            log.warning("%s: %s (%s)", self.label, err, raw.hex())
            return None

    async def read_clock_drift(self, tz: tzinfo) -> ClockDrift | None:
        """The device clock against the station's, read through Current Time
        (0x2A2B) when the device offers it readable; None without it, or when
        the device does not know the date (logged)."""
        uuid = uuids.CURRENT_TIME
        if not self.has(uuid) or "read" not in self.properties(uuid):
            return None
        before = datetime.now(tz)
        raw = await self.read(uuid)
        after = datetime.now(tz)
        try:
            value = decode_current_time(raw)
        except TimeCodecError as err:
            log.warning("%s: unreadable device clock %s: %s", self.label, raw.hex(), err)
            return None
        when = value.date_time.to_datetime(tz)
        if when is None:
            log.warning("%s: the device clock is not set", self.label)
            return None
        when += timedelta(seconds=value.fractions256 / 256)
        resolution = 1 / 256 if value.fractions256 else 1.0
        drift = measure_drift(when, before=before, after=after, resolution_s=resolution)
        log.info("%s: device clock %+.1f s from the station's", self.label, drift.drift_s)
        return drift

    async def set_current_time(self, now: datetime) -> bool:
        """Write Current Time (0x2A2B) when the device offers it writable."""
        if not self.has(uuids.CURRENT_TIME) or "write" not in self.properties(uuids.CURRENT_TIME):
            return False
        await self.write(uuids.CURRENT_TIME, encode_current_time(CurrentTime.from_datetime(now)))
        log.info("%s: clock set to %s", self.label, now.isoformat(timespec="seconds"))
        return True

    async def pair(self, *, timeout_s: float = PAIR_TIMEOUT_S) -> None:
        """Pair and bond (bleak's ``pair()``: BlueZ's ``Device1.Pair``, Just
        Works through the station's agent). Returns at once when the station
        already holds a bond — remove a stale one first (``backend.bond_store().remove``)."""
        try:
            async with asyncio.timeout(timeout_s):
                await self.client.pair()
        except TimeoutError:
            raise DeviceTimeoutError("pairing timed out", device=self.label) from None
        except BleakError as err:
            if getattr(err, "dbus_error", "") == "org.bluez.Error.AlreadyExists":
                return  # "Already Paired"
            raise DeviceConnectionError(
                f"pairing failed: {err}",
                device=self.label,
                reason=radio_reason(err) or PAIRING_FAILED,
            ) from err
        log.info("%s: paired", self.label)

    async def bond_state(self) -> BondState:
        return await self.backend.bond_store().state(self.device.address)

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is None:
            return
        try:
            async with asyncio.timeout(DEFAULT_IO_TIMEOUT_S):
                await client.disconnect()
        except (BleakError, TimeoutError) as err:
            log.warning("%s: disconnect: %s", self.label, err)
        self.lost.set()


def local_now(tz: tzinfo) -> datetime:
    return datetime.now(tz)


E = TypeVar("E", bound=ProtocolError)


def naming(err: E, device: str) -> E:
    """The same codec error, its message and ``device`` naming the device."""
    return type(err)(str(err), raw=err.raw, device=device)


class Closable(Protocol):
    async def close(self) -> None: ...


_D = TypeVar("_D", bound=Closable)


@asynccontextmanager
async def open_on_link(
    make: Callable[[str | None, BleBackend], _D],
    *,
    address: str | None,
    backend: BleBackend | None,
) -> AsyncIterator[_D]:
    """The body of every BLE driver's opener: the device at ``address`` (or
    the first one advertising its service) over ``backend`` (the platform's
    Bluetooth when None). Closed on exit."""
    device = make(address, backend or BleBackend())
    try:
        yield device
    finally:
        await device.close()
