"""A bleak backend over the emulated air: pass :class:`EmulatedScanner` as
``BleakScanner(backend=...)`` and :class:`EmulatedClient` as
``BleakClient(backend=...)`` and the driver code runs unchanged against the
in-process peripherals."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any, Literal

from bleak.args import SizedBuffer
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.client import BaseBleakClient, NotifyCallback
from bleak.backends.descriptor import BleakGATTDescriptor
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import (
    AdvertisementData,
    AdvertisementDataCallback,
    BaseBleakScanner,
)
from bleak.backends.service import BleakGATTService, BleakGATTServiceCollection
from bleak.exc import (
    BleakBluetoothNotAvailableError,
    BleakBluetoothNotAvailableReason,
    BleakDeviceNotFoundError,
    BleakError,
    BleakGATTProtocolError,
)

from drivers.ble.emulated.air import AIR
from drivers.ble.emulated.gatt import (
    INDICATE_BIT,
    NOTIFY_BIT,
    AttError,
    Connection,
    LinkDown,
    Peripheral,
)
from drivers.ble.uuids import CLIENT_CHARACTERISTIC_CONFIGURATION

log = logging.getLogger(__name__)

ADVERTISING_INTERVAL_S = 0.02
"""Fast for tests; real devices advertise every 20 ms to 10 s."""


def _check_powered() -> None:
    if not AIR.powered:
        raise BleakBluetoothNotAvailableError(
            "Bluetooth adapter is powered off", BleakBluetoothNotAvailableReason.POWERED_OFF
        )


class EmulatedScanner(BaseBleakScanner):
    def __init__(
        self,
        detection_callback: AdvertisementDataCallback | None,
        service_uuids: list[str] | None,
        scanning_mode: Literal["active", "passive"] = "active",
        **kwargs: Any,
    ) -> None:
        super().__init__(detection_callback, service_uuids)
        self._unlisten: Callable[[], None] | None = None
        self._ticker: asyncio.Task[None] | None = None

    async def start(self) -> None:
        _check_powered()
        self.seen_devices = {}
        self._unlisten = AIR.listen(self._heard)
        self._ticker = asyncio.get_running_loop().create_task(self._advertising_events())

    async def _advertising_events(self) -> None:
        """Peripherals advertise periodically; a scanner hears each event."""
        while True:
            await asyncio.sleep(ADVERTISING_INTERVAL_S)
            for peripheral in AIR.advertising():
                self._heard(peripheral)

    async def stop(self) -> None:
        if self._unlisten is not None:
            self._unlisten()
            self._unlisten = None
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
            self._ticker = None

    def _heard(self, peripheral: Peripheral) -> None:
        adv = AdvertisementData(
            local_name=peripheral.name,
            manufacturer_data={},
            service_data={},
            service_uuids=list(peripheral.advertised_uuids),
            tx_power=None,
            rssi=peripheral.rssi,
            platform_data=(peripheral,),
        )
        if not self.is_allowed_uuid(adv.service_uuids):
            return
        device = self.create_or_update_device(
            peripheral.address, peripheral.address, peripheral.name, peripheral, adv
        )
        self.call_detection_callbacks(device, adv)


class EmulatedClient(BaseBleakClient):
    def __init__(
        self,
        address_or_ble_device: BLEDevice | str,
        *,
        disconnected_callback: Callable[[], None] | None = None,
        timeout: float = 10.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            address_or_ble_device, disconnected_callback=disconnected_callback, timeout=timeout
        )
        details = getattr(address_or_ble_device, "details", None)
        self._peripheral: Peripheral | None = details if isinstance(details, Peripheral) else None
        self._conn: Connection | None = None
        self._closing = False

    @property
    def name(self) -> str:
        return self._peripheral.name if self._peripheral else self.address

    @property
    def mtu_size(self) -> int:
        return self._conn.mtu if self._conn else 23

    @property
    def is_connected(self) -> bool:
        return self._conn is not None and self._conn.connected

    async def connect(self, pair: bool, **kwargs: Any) -> None:
        _check_powered()
        peripheral = self._peripheral or AIR.find(self.address)
        if peripheral is None:
            raise BleakDeviceNotFoundError(self.address, f"Device {self.address} not found")
        await asyncio.sleep(0)
        try:
            self._conn = peripheral.accept(self._lost)
        except LinkDown as err:
            raise BleakError(f"connect failed: {err}") from err
        self._peripheral = peripheral
        self._closing = False
        self.services = self._discover(peripheral)

    def _discover(self, peripheral: Peripheral) -> BleakGATTServiceCollection:
        collection = BleakGATTServiceCollection()
        for svc in peripheral.services:
            service = BleakGATTService(svc, svc.handle, svc.uuid)
            collection.add_service(service)
            for char in svc.characteristics:
                bchar = BleakGATTCharacteristic(
                    char,
                    char.handle,
                    char.uuid,
                    list(char.properties),  # type: ignore[arg-type]
                    lambda: self.mtu_size - 3,
                    service,
                )
                collection.add_characteristic(bchar)
                if char.cccd_handle is not None:
                    collection.add_descriptor(
                        BleakGATTDescriptor(
                            None, char.cccd_handle, CLIENT_CHARACTERISTIC_CONFIGURATION, bchar
                        )
                    )
        return collection

    def _lost(self) -> None:
        self._conn = None
        if not self._closing and self._disconnected_callback is not None:
            asyncio.get_running_loop().call_soon(self._disconnected_callback)

    async def disconnect(self) -> None:
        if self._conn is not None:
            self._closing = True
            self._conn.close()
        self._conn = None

    async def pair(self, *args: Any, **kwargs: Any) -> None:
        log.debug("emulated link: pairing is not modelled, treated as paired")

    async def unpair(self) -> None:
        log.debug("emulated link: unpair is a no-op")

    def _connection(self) -> Connection:
        if self._conn is None or not self._conn.connected:
            raise BleakError("Not connected")
        return self._conn

    async def read_gatt_char(
        self, characteristic: BleakGATTCharacteristic, *, use_cached: bool = False, **kwargs: Any
    ) -> bytearray:
        conn = self._connection()
        try:
            return bytearray(await conn.read(characteristic.handle))
        except AttError as err:
            raise BleakGATTProtocolError(err.code) from err
        except LinkDown as err:
            raise BleakError("Not connected") from err

    async def read_gatt_descriptor(
        self, descriptor: BleakGATTDescriptor, *, use_cached: bool = False, **kwargs: Any
    ) -> bytearray:
        conn = self._connection()
        try:
            return bytearray(await conn.read(descriptor.handle))
        except AttError as err:
            raise BleakGATTProtocolError(err.code) from err
        except LinkDown as err:
            raise BleakError("Not connected") from err

    async def write_gatt_char(
        self, characteristic: BleakGATTCharacteristic, data: SizedBuffer, response: bool
    ) -> None:
        conn = self._connection()
        try:
            await conn.write(characteristic.handle, bytes(data), response=response)
        except AttError as err:
            raise BleakGATTProtocolError(err.code) from err
        except LinkDown as err:
            raise BleakError("Not connected") from err

    async def write_gatt_descriptor(
        self, descriptor: BleakGATTDescriptor, data: SizedBuffer
    ) -> None:
        conn = self._connection()
        try:
            await conn.write(descriptor.handle, bytes(data), response=True)
        except AttError as err:
            raise BleakGATTProtocolError(err.code) from err
        except LinkDown as err:
            raise BleakError("Not connected") from err

    async def start_notify(
        self, characteristic: BleakGATTCharacteristic, callback: NotifyCallback, **kwargs: Any
    ) -> None:
        conn = self._connection()
        char = conn.peripheral.by_handle(characteristic.handle)
        if char.cccd_handle is None:
            raise BleakError(f"{characteristic.uuid} does not notify or indicate")
        # As bleak's own backends do: prefer notifications when both are offered.
        bit = NOTIFY_BIT if "notify" in char.properties else INDICATE_BIT
        conn.listeners[char.handle] = callback
        try:
            await conn.write_cccd(char.cccd_handle, bit.to_bytes(2, "little"))
        except AttError as err:
            conn.listeners.pop(char.handle, None)
            raise BleakGATTProtocolError(err.code) from err
        except LinkDown as err:
            raise BleakError("Not connected") from err

    async def stop_notify(self, characteristic: BleakGATTCharacteristic) -> None:
        conn = self._connection()
        char = conn.peripheral.by_handle(characteristic.handle)
        conn.listeners.pop(char.handle, None)
        if char.cccd_handle is not None:
            try:
                await conn.write_cccd(char.cccd_handle, b"\x00\x00")
            except LinkDown as err:
                raise BleakError("Not connected") from err
