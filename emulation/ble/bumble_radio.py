"""The emulated peripherals on a real Bluetooth stack: Google's bumble, with
its in-process link (``LocalLink``) between an emulated controller per
peripheral and one for the central the bleak backend drives. ATT PDUs,
notifications, indications with their confirmations, advertising reports and
disconnections are bumble's; the peripheral's behaviour (values, permissions,
CCCDs, ATT errors) is its model (:mod:`.gatt`).

Pairing is bumble's Security Manager on both sides (LE Secure Connections,
Just Works, bonding), each device with its own key store: the central keeps
the keys as BlueZ would, a peripheral keeps its side and accepts a pairing
request only when its model says so (its pairing window). A peripheral that
forgets its keys refuses the central's stored key at the next encryption:
bumble's emulated controller answers the Long Term Key request negatively
and the central's encryption fails with HCI 0x06 "PIN or Key Missing"
(bumble 0.0.236's controller; older ones did not ask the host)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import struct
from collections.abc import Callable
from typing import Any

from bumble import gatt as bgatt
from bumble.att import ATT_Error
from bumble.controller import Controller
from bumble.core import UUID, AdvertisingData
from bumble.device import Connection as BumbleConnection
from bumble.device import Device
from bumble.hci import Address
from bumble.host import Host
from bumble.keys import PairingKeys
from bumble.link import LocalLink
from bumble.pairing import PairingConfig, PairingDelegate
from bumble.transport.common import AsyncPipeSink

from emulation.ble.gatt import (
    NOTIFY_BIT,
    AttError,
    Characteristic,
    Connection,
    LinkDown,
    Peripheral,
)

log = logging.getLogger(__name__)

CENTRAL_ADDRESS = "F0:F0:F0:F0:F0:F0"
CLOSE_STEP_S = 2.0
ADVERTISING_INTERVAL_MS = 20


def pairing_config(accepts: Callable[[], bool] | None = None) -> PairingConfig:
    """LE Secure Connections, Just Works, bonding; the identity address is the
    random static address each emulated device uses, so a key is found again
    under the address the other side connects with."""
    return PairingConfig(
        sc=True,
        mitm=False,
        bonding=True,
        delegate=_Window(accepts),
        identity_address_type=PairingConfig.AddressType.RANDOM,
    )


class _Window(PairingDelegate):
    """Accepts a pairing request only while ``accepts()`` says so; bumble then
    answers the request with SMP Pairing Failed, "Pairing Not Supported"."""

    def __init__(self, accepts: Callable[[], bool] | None) -> None:
        super().__init__()
        self._accepts = accepts

    async def accept(self) -> bool:
        return True if self._accepts is None else self._accepts()


_PROPS = {
    "read": bgatt.Characteristic.Properties.READ,
    "write": bgatt.Characteristic.Properties.WRITE,
    "write-without-response": bgatt.Characteristic.Properties.WRITE_WITHOUT_RESPONSE,
    "notify": bgatt.Characteristic.Properties.NOTIFY,
    "indicate": bgatt.Characteristic.Properties.INDICATE,
}


class Radio:
    """One bumble LocalLink and its central, per event loop, kept while any
    emulated peripheral uses it."""

    _by_loop: dict[int, Radio] = {}  # noqa: RUF012

    def __init__(self) -> None:
        # bumble's emulated controller warns about every packet still queued for
        # a link an injected fault has just dropped: noise for a technician.
        bumble_log = logging.getLogger("bumble")
        if bumble_log.level == logging.NOTSET:
            bumble_log.setLevel(logging.ERROR)
        self.link = LocalLink()  # type: ignore[no-untyped-call]
        controller = Controller("central", link=self.link, public_address=CENTRAL_ADDRESS)
        self.central = Device(
            address=Address(CENTRAL_ADDRESS), host=Host(controller, AsyncPipeSink(controller))
        )
        self.central.pairing_config_factory = lambda _c: pairing_config()
        self.users = 0
        self._powered = asyncio.Lock()
        self._on = False

    @classmethod
    def current(cls) -> Radio:
        key = id(asyncio.get_running_loop())
        radio = cls._by_loop.get(key)
        if radio is None:
            radio = cls._by_loop[key] = Radio()
        return radio

    async def ready(self) -> Device:
        async with self._powered:
            if not self._on:
                await self.central.power_on()
                self._on = True
        return self.central

    async def release(self) -> None:
        self.users -= 1
        if self.users > 0:
            return
        Radio._by_loop.pop(id(asyncio.get_running_loop()), None)
        if self._on:
            with contextlib.suppress(Exception):
                await self.central.power_off()
            self._on = False


class _BumbleConnection(Connection):
    """The model's connection, carried by a bumble LE connection."""

    def __init__(self, host: BumblePeripheral, link: BumbleConnection) -> None:
        super().__init__(host.peripheral, on_lost=lambda: None)
        self.host = host
        self.link = link

    async def deliver(self, char: Characteristic, value: bytes, bit: int) -> bool:
        self._check()
        if not self.subscribed(char, bit):
            return False
        bchar = self.host.characteristics[char.handle]
        try:
            if bit == NOTIFY_BIT:
                await self.host.device.notify_subscriber(self.link, bchar, value, force=True)
            else:
                await self.host.device.indicate_subscriber(self.link, bchar, value, force=True)
        except Exception as err:  # bumble raises its own types when the link is gone
            self._check()
            raise LinkDown(str(err)) from err
        self._check()
        return True

    @property
    def encrypted(self) -> bool:
        return self.link.is_encrypted

    async def bonded(self) -> bool:
        return await self.host.has_keys(str(self.link.peer_address))

    def close(self) -> None:
        was_connected = self.connected
        super().close()
        if was_connected and self.host.link_up(self.link):
            self.host.spawn(self._disconnect())

    async def _disconnect(self) -> None:
        with contextlib.suppress(Exception):
            await self.link.disconnect()


class BumblePeripheral:
    """Puts a model :class:`Peripheral` on the bumble link."""

    def __init__(self, peripheral: Peripheral, spawn: Callable[[Any], None]) -> None:
        self.peripheral = peripheral
        self.spawn = spawn
        self.radio = Radio.current()
        self.radio.users += 1
        self.controller = Controller(
            peripheral.name, link=self.radio.link, public_address=peripheral.address
        )
        self.device = Device(
            address=Address(peripheral.address),
            host=Host(self.controller, AsyncPipeSink(self.controller)),
        )
        self.device.name = peripheral.name
        self.device.pairing_config_factory = lambda _c: pairing_config(peripheral.accepts_pairing)
        self.characteristics: dict[int, bgatt.Characteristic[bytes]] = {}
        self._links: set[BumbleConnection] = set()
        for service in peripheral.services:
            chars = [self._characteristic(c) for c in service.characteristics]
            self.device.add_service(bgatt.Service(service.uuid, chars))
        self.device.on("connection", self._connected)

    def _characteristic(self, char: Characteristic) -> bgatt.Characteristic[bytes]:
        props = bgatt.Characteristic.Properties(0)
        for name in char.properties:
            props |= _PROPS[name]

        async def read(_link: BumbleConnection) -> bytes:
            conn = self._model_connection()
            try:
                return await conn.read(char.handle)
            except AttError as err:
                raise ATT_Error(err.code) from err

        async def write(_link: BumbleConnection, value: bytes) -> None:
            conn = self._model_connection()
            try:
                await conn.write(char.handle, bytes(value), response="write" in char.properties)
            except AttError as err:
                raise ATT_Error(err.code) from err

        bchar: bgatt.Characteristic[bytes] = bgatt.Characteristic(
            char.uuid,
            props,
            bgatt.Characteristic.READABLE | bgatt.Characteristic.WRITEABLE,
            bgatt.CharacteristicValue(read=read, write=write),
            descriptors=[self._cccd(char)] if char.cccd_handle is not None else [],
        )
        self.characteristics[char.handle] = bchar
        return bchar

    def _cccd(self, char: Characteristic) -> bgatt.Descriptor:
        """The characteristic's CCCD, kept by the model rather than by bumble's
        server, so the model's checks hold (a device that accepts only a bonded
        central refuses the subscription with Insufficient Authentication) and
        its ``on_subscribe`` sees every write."""
        handle = char.cccd_handle
        if handle is None:
            raise ValueError(f"{char.uuid} neither notifies nor indicates: it has no CCCD")

        async def read(_link: BumbleConnection) -> bytes:
            try:
                return await self._model_connection().read(handle)
            except AttError as err:
                raise ATT_Error(err.code) from err

        async def write(_link: BumbleConnection, value: bytes) -> None:
            try:
                await self._model_connection().write_cccd(handle, bytes(value))
            except AttError as err:
                raise ATT_Error(err.code) from err

        return bgatt.Descriptor(
            bgatt.GATT_CLIENT_CHARACTERISTIC_CONFIGURATION_DESCRIPTOR,
            bgatt.Descriptor.READABLE | bgatt.Descriptor.WRITEABLE,
            bgatt.CharacteristicValue(read=read, write=write),
        )

    def _model_connection(self) -> Connection:
        conn = self.peripheral.connection
        if conn is None:
            raise ATT_Error(0x0E)  # unlikely error: no model connection
        return conn

    async def has_keys(self, address: str) -> bool:
        keystore = self.device.keystore
        return keystore is not None and await keystore.get(address) is not None

    async def bonded_centrals(self) -> list[str]:
        keystore = self.device.keystore
        return [] if keystore is None else [name for name, _keys in await keystore.get_all()]

    async def bond_with_central(self) -> None:
        """Both sides store the same fresh key, as after a pairing done
        earlier (a station set up before this run)."""
        central = await self.radio.ready()
        if central.keystore is None or self.device.keystore is None:
            raise RuntimeError("bonding before the devices are powered on")
        ltk = PairingKeys.Key(os.urandom(16))
        await central.keystore.update(str(Address(self.peripheral.address)), PairingKeys(ltk=ltk))
        await self.device.keystore.update(str(Address(CENTRAL_ADDRESS)), PairingKeys(ltk=ltk))

    async def forget_bonds(self) -> None:
        """The device forgets every bond (reset, or paired with a phone since)."""
        if self.device.keystore is not None:
            await self.device.keystore.delete_all()

    def link_up(self, link: BumbleConnection) -> bool:
        return link in self._links

    def _connected(self, link: BumbleConnection) -> None:
        self._links.add(link)
        self.peripheral.advertising = True  # bumble accepted it while advertising
        conn = _BumbleConnection(self, link)
        try:
            self.peripheral.accept(conn)
        except LinkDown:
            self.spawn(conn._disconnect())
            return

        def gone(_reason: int) -> None:
            self._links.discard(link)
            conn.close()

        link.on("disconnection", gone)

    async def power_on(self) -> None:
        await self.radio.ready()
        await self.device.power_on()

    async def advertise(self) -> None:
        uuid = UUID(self.peripheral.advertised_uuids[0])
        raw = uuid.to_bytes()
        kind = (
            AdvertisingData.COMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS
            if len(raw) == 2
            else AdvertisingData.COMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS
        )
        data = AdvertisingData(
            [
                (AdvertisingData.FLAGS, struct.pack("B", 0x06)),
                (AdvertisingData.COMPLETE_LOCAL_NAME, self.peripheral.name.encode()),
                (kind, raw),
            ]
        )
        await self.device.start_advertising(
            advertising_data=bytes(data),
            advertising_interval_min=ADVERTISING_INTERVAL_MS,
            advertising_interval_max=ADVERTISING_INTERVAL_MS,
        )
        self.peripheral.advertising = True

    async def close(self) -> None:
        # Each step bounded: a link whose connect was cancelled half-way can
        # leave bumble's emulated controllers waiting for an event that never
        # comes, and a twin must still stop.
        with contextlib.suppress(Exception):
            async with asyncio.timeout(CLOSE_STEP_S):
                await self.device.stop_advertising()
        for link in list(self._links):
            with contextlib.suppress(Exception):
                async with asyncio.timeout(CLOSE_STEP_S):
                    await link.disconnect()
        with contextlib.suppress(Exception):
            async with asyncio.timeout(CLOSE_STEP_S):
                await self.device.power_off()
        with contextlib.suppress(KeyError, ValueError):
            self.radio.link.remove_controller(self.controller)
        await self.radio.release()
