"""A bleak backend over bumble's central on the in-process link: give
:data:`BUMBLE` (a :class:`~drivers.ble.link.BleBackend` of
:class:`BumbleScanner` / :class:`BumbleClient`) to a BLE driver's opener and
the unchanged driver code talks real ATT to the emulated peripherals
(:mod:`.bumble_radio`). :data:`ADAPTER` switches the station's adapter off
(scans and connects refused as BlueZ refuses them).

Bonds behave as on BlueZ, and fail with the errors BlueZ gives, so one error
mapper (:mod:`drivers.ble.radio_errors`) serves both:

- ``connect()`` to a device the central holds keys for encrypts the link with
  them first (BlueZ raises the security of a bonded LE device at once); a
  device that has forgotten its side refuses the key (HCI 0x06) and the link
  is dropped: ``org.bluez.Error.Failed`` "le-connection-key-missing" (5.69+);
- ``pair()`` returns at once when keys are held, as BlueZ's ``Pair()`` does
  while ``Device1.Paired`` is true, even if the device has forgotten them;
  else it pairs, and a refused or failed pairing is
  ``org.bluez.Error.AuthenticationFailed``;
- ``unpair()`` forgets the keys and drops the link (``RemoveDevice``);
- ATT Insufficient Authentication, Encryption or Encryption Key Size is
  ``org.bluez.Error.NotPermitted`` "Not paired" (BlueZ would first try to
  raise the link's security itself; the emulated central does not);
- :data:`BONDS` says which bonds the central holds (``Device1.Paired``)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
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
    BleakDBusError,
    BleakDeviceNotFoundError,
    BleakError,
    BleakGATTProtocolError,
)
from bleak.uuids import normalize_uuid_str
from bumble import gatt as bgatt
from bumble.core import UUID, AdvertisingData, BaseBumbleError, ProtocolError
from bumble.device import Advertisement, Device, Peer
from bumble.device import Connection as BumbleConnection
from bumble.hci import HCI_PIN_OR_KEY_MISSING_ERROR, Address, HCI_Error

from drivers.ble.bonds import NO_BOND, BondState
from drivers.ble.link import BleBackend
from emulation.ble.bumble_radio import Radio
from healthkiosk.readings import Transport

log = logging.getLogger(__name__)

_NAMES = {
    bgatt.Characteristic.Properties.READ: "read",
    bgatt.Characteristic.Properties.WRITE: "write",
    bgatt.Characteristic.Properties.WRITE_WITHOUT_RESPONSE: "write-without-response",
    bgatt.Characteristic.Properties.NOTIFY: "notify",
    bgatt.Characteristic.Properties.INDICATE: "indicate",
}
_UUID_LISTS = (
    AdvertisingData.COMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS,
    AdvertisingData.INCOMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS,
    AdvertisingData.COMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS,
    AdvertisingData.INCOMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS,
)


class StationAdapter:
    """The station's Bluetooth adapter as the emulated central sees it."""

    powered = True
    """False: switched off; scans and connects fail as BlueZ fails them."""

    def check(self) -> None:
        if not self.powered:
            raise BleakBluetoothNotAvailableError(
                "Bluetooth adapter is powered off", BleakBluetoothNotAvailableReason.POWERED_OFF
            )


ADAPTER = StationAdapter()

PAIRING_TIMEOUT_S = 10.0
_SECURITY_ATT_CODES = frozenset({0x05, 0x0C, 0x0F})


def _not_paired() -> BleakDBusError:
    return BleakDBusError("org.bluez.Error.NotPermitted", ["Not paired"])


async def _keys_for(central: Device, address: str) -> bool:
    keystore = central.keystore
    return keystore is not None and await keystore.get(address) is not None


class BumbleBonds:
    """The emulated central's bonds, as :class:`drivers.ble.bonds.BondStore`."""

    async def state(self, address: str) -> BondState:
        central = await Radio.current().ready()
        if not await _keys_for(central, _name(address)):
            return NO_BOND
        return BondState(known=True, paired=True, bonded=True)

    @asynccontextmanager
    async def pairing_agent(self) -> AsyncIterator[None]:
        """bumble's central confirms Just Works pairings itself."""
        yield

    async def remove(self, address: str) -> bool:
        central = await Radio.current().ready()
        if central.keystore is None or not await _keys_for(central, _name(address)):
            return False
        await central.keystore.delete(_name(address))
        return True


def _name(address: str) -> str:
    """The key store's name for a device (its random static address)."""
    return str(Address(address))


def _reraise_if_cancelled() -> None:
    """bumble cancels the pending GATT request when the link goes down; only a
    cancellation of our own task is a real cancellation."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


def _uuid(value: UUID) -> str:
    return normalize_uuid_str(value.to_hex_str("-"))


class BumbleScanner(BaseBleakScanner):
    def __init__(
        self,
        detection_callback: AdvertisementDataCallback | None,
        service_uuids: list[str] | None,
        scanning_mode: Literal["active", "passive"] = "active",
        **kwargs: Any,
    ) -> None:
        super().__init__(detection_callback, service_uuids)
        self._central: Device | None = None

    async def start(self) -> None:
        ADAPTER.check()
        self.seen_devices = {}
        central = await Radio.current().ready()
        self._central = central
        central.on("advertisement", self._heard)
        await central.start_scanning(filter_duplicates=False)

    async def stop(self) -> None:
        central, self._central = self._central, None
        if central is None:
            return
        central.remove_listener("advertisement", self._heard)
        with contextlib.suppress(BaseBumbleError, asyncio.InvalidStateError):
            await central.stop_scanning()

    def _heard(self, advertisement: Advertisement) -> None:
        data = advertisement.data
        uuids: list[str] = []
        for kind in _UUID_LISTS:
            for value in data.get_all(kind) or []:
                items = value if isinstance(value, list) else [value]
                uuids.extend(_uuid(u) for u in items if isinstance(u, UUID))
        name = data.get(AdvertisingData.COMPLETE_LOCAL_NAME)
        local_name = name if isinstance(name, str) else None
        adv = AdvertisementData(
            local_name=local_name,
            manufacturer_data={},
            service_data={},
            service_uuids=uuids,
            tx_power=None,
            rssi=advertisement.rssi,
            platform_data=(advertisement,),
        )
        if not self.is_allowed_uuid(uuids):
            return
        address = advertisement.address.to_string(False)
        device = self.create_or_update_device(
            address, address, local_name, advertisement.address, adv
        )
        self.call_detection_callbacks(device, adv)


class BumbleClient(BaseBleakClient):
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
        self._target: Address = details if isinstance(details, Address) else Address(self.address)
        self._link: BumbleConnection | None = None
        self._closing = False
        self._peer: Peer | None = None

    @property
    def name(self) -> str:
        return self.address

    @property
    def mtu_size(self) -> int:
        return self._link.att_mtu if self._link is not None else 23

    @property
    def is_connected(self) -> bool:
        return self._link is not None

    async def connect(self, pair: bool, **kwargs: Any) -> None:
        ADAPTER.check()
        central = await Radio.current().ready()
        try:
            link = await central.connect(self._target, timeout=self._timeout)
        except BaseBumbleError as err:
            raise BleakDeviceNotFoundError(self.address, f"connect failed: {err}") from err
        except asyncio.CancelledError:
            # The link may have come up as the connect was cancelled: end it,
            # or the peripheral stays connected (and silent) for good.
            for made in list(central.connections.values()):
                if made.peer_address == self._target:
                    with contextlib.suppress(BaseBumbleError, asyncio.InvalidStateError):
                        await made.disconnect()
            raise
        self._link = link
        self._closing = False
        link.on("disconnection", self._lost)
        if await _keys_for(central, str(link.peer_address)):
            await self._encrypt(link)
        elif pair:
            await self._pair(link)
        peer = Peer(link)
        self._peer = peer
        try:
            self.services = await self._discover(peer)
        except asyncio.CancelledError:
            _reraise_if_cancelled()
            raise BleakError("link went down during service discovery") from None
        except BaseBumbleError as err:
            raise BleakError(f"service discovery failed: {err}") from err

    async def _discover(self, peer: Peer) -> BleakGATTServiceCollection:
        collection = BleakGATTServiceCollection()
        await peer.discover_services()
        for svc in peer.services:
            service = BleakGATTService(svc, svc.handle, _uuid(svc.uuid))
            collection.add_service(service)
            await svc.discover_characteristics()
            for char in svc.characteristics:
                props = [name for flag, name in _NAMES.items() if char.properties & flag]
                bchar = BleakGATTCharacteristic(
                    char,
                    char.handle,
                    _uuid(char.uuid),
                    props,  # type: ignore[arg-type]
                    lambda: self.mtu_size - 3,
                    service,
                )
                collection.add_characteristic(bchar)
                await char.discover_descriptors()
                for desc in char.descriptors:
                    collection.add_descriptor(
                        BleakGATTDescriptor(desc, desc.handle, _uuid(desc.type), bchar)
                    )
        return collection

    def _lost(self, _reason: int) -> None:
        self._link = None
        if not self._closing and self._disconnected_callback is not None:
            asyncio.get_running_loop().call_soon(self._disconnected_callback)

    async def disconnect(self) -> None:
        link = self._link
        if link is None:
            return
        self._closing = True
        with contextlib.suppress(BaseBumbleError, asyncio.InvalidStateError):
            await link.disconnect()
        self._link = None

    async def _encrypt(self, link: BumbleConnection) -> None:
        try:
            await link.encrypt()
        except HCI_Error as err:
            await self._drop(link)
            if err.error_code == HCI_PIN_OR_KEY_MISSING_ERROR:
                raise BleakDBusError(
                    "org.bluez.Error.Failed", ["le-connection-key-missing"]
                ) from err
            raise BleakDBusError("org.bluez.Error.Failed", [f"encryption failed: {err}"]) from err
        except asyncio.CancelledError:
            _reraise_if_cancelled()
            raise BleakDBusError(
                "org.bluez.Error.Failed", ["le-connection-abort-by-remote"]
            ) from None

    async def _pair(self, link: BumbleConnection) -> None:
        try:
            async with asyncio.timeout(PAIRING_TIMEOUT_S):
                await link.pair()
        except TimeoutError:
            raise BleakDBusError("org.bluez.Error.AuthenticationTimeout", []) from None
        except asyncio.CancelledError:
            _reraise_if_cancelled()
            raise BleakDBusError("org.bluez.Error.AuthenticationCanceled", []) from None
        except (BaseBumbleError, HCI_Error) as err:
            raise BleakDBusError(
                "org.bluez.Error.AuthenticationFailed", ["Authentication Failed"]
            ) from err
        log.info("bumble link: paired with %s", self.address)

    async def _drop(self, link: BumbleConnection) -> None:
        self._closing = True
        with contextlib.suppress(BaseBumbleError, asyncio.InvalidStateError):
            await link.disconnect()
        self._link = None

    async def pair(self, *args: Any, **kwargs: Any) -> None:
        link = self._link
        if link is None:
            raise BleakError("Not connected")
        central = await Radio.current().ready()
        if await _keys_for(central, str(link.peer_address)):
            log.debug("bumble link: %s is already paired", self.address)
            return
        await self._pair(link)

    async def unpair(self) -> None:
        central = await Radio.current().ready()
        name = _name(self.address)
        if central.keystore is None or not await _keys_for(central, name):
            raise BleakDeviceNotFoundError(self.address, f"{self.address} is not known")
        await central.keystore.delete(name)
        if self._link is not None:
            await self._drop(self._link)

    def _require(self) -> None:
        if self._link is None:
            raise BleakError("Not connected")

    async def _call(self, op: Any) -> Any:
        self._require()
        try:
            return await op
        except asyncio.CancelledError:
            _reraise_if_cancelled()
            raise BleakError("Not connected: the link went down during the request") from None
        except ProtocolError as err:
            code = err.error_code if isinstance(err.error_code, int) else 0x0E
            if code in _SECURITY_ATT_CODES:
                raise _not_paired() from err
            raise BleakGATTProtocolError(code) from err
        except BaseBumbleError as err:
            raise BleakError(f"{err}") from err

    async def read_gatt_char(
        self, characteristic: BleakGATTCharacteristic, *, use_cached: bool = False, **kwargs: Any
    ) -> bytearray:
        return bytearray(await self._call(characteristic.obj.read_value()))

    async def read_gatt_descriptor(
        self, descriptor: BleakGATTDescriptor, *, use_cached: bool = False, **kwargs: Any
    ) -> bytearray:
        return bytearray(await self._call(descriptor.obj.read_value()))

    async def write_gatt_char(
        self, characteristic: BleakGATTCharacteristic, data: SizedBuffer, response: bool
    ) -> None:
        await self._call(characteristic.obj.write_value(bytes(data), with_response=response))

    async def write_gatt_descriptor(
        self, descriptor: BleakGATTDescriptor, data: SizedBuffer
    ) -> None:
        await self._call(descriptor.obj.write_value(bytes(data), with_response=True))

    async def start_notify(
        self, characteristic: BleakGATTCharacteristic, callback: NotifyCallback, **kwargs: Any
    ) -> None:
        def on_value(value: bytes) -> None:
            callback(bytearray(value))

        await self._call(characteristic.obj.subscribe(on_value, prefer_notify=True))

    async def stop_notify(self, characteristic: BleakGATTCharacteristic) -> None:
        await self._call(characteristic.obj.unsubscribe())


BONDS = BumbleBonds()
BUMBLE = BleBackend(BumbleScanner, BumbleClient, Transport.EMULATED, bonds=BONDS)
"""The backend a BLE driver's opener is given to reach the emulated peripherals."""
