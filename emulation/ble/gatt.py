"""The GATT server model of an emulated peripheral: its services and
characteristics with handles, values, permissions, CCCDs and ATT errors, and
its one connection. A stack carries it (:mod:`.bumble_radio`: bumble's link
delivers what :meth:`Connection.deliver` sends)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import IntEnum

log = logging.getLogger(__name__)

DEFAULT_MTU = 23
"""The ATT default; BlueZ reports it too. A value sent must fit in MTU - 3."""

NOTIFY_BIT, INDICATE_BIT = 0x0001, 0x0002


class AttErrorCode(IntEnum):
    INVALID_HANDLE = 0x01
    READ_NOT_PERMITTED = 0x02
    WRITE_NOT_PERMITTED = 0x03
    INSUFFICIENT_AUTHENTICATION = 0x05
    REQUEST_NOT_SUPPORTED = 0x06
    INVALID_ATTRIBUTE_VALUE_LENGTH = 0x0D
    UNLIKELY_ERROR = 0x0E
    INSUFFICIENT_ENCRYPTION = 0x0F
    # Glucose Service application errors (GLS 1.0, section 2.2).
    PROCEDURE_ALREADY_IN_PROGRESS = 0x80
    CCCD_IMPROPERLY_CONFIGURED = 0x81
    # Common profile error codes (CSS part B).
    WRITE_REQUEST_REJECTED = 0xFC
    OUT_OF_RANGE = 0xFF


class AttError(Exception):
    """An ATT Error Response the server sends instead of a result."""

    def __init__(self, code: AttErrorCode) -> None:
        super().__init__(f"ATT error {code.name} ({code.value:#04x})")
        self.code = code


class LinkDown(Exception):
    """The link is gone (either side disconnected)."""


WriteHandler = Callable[["Connection", bytes], Awaitable[None] | None]
ReadHandler = Callable[["Connection"], bytes]


@dataclass(eq=False)
class Characteristic:
    uuid: str
    properties: tuple[str, ...]
    """bleak's names: read, write, write-without-response, notify, indicate."""
    value: bytes = b""
    on_read: ReadHandler | None = None
    on_write: WriteHandler | None = None
    handle: int = 0
    cccd_handle: int | None = None
    secure: bool = False
    """Reads, writes and subscriptions need an encrypted link (a bonded
    central): else Insufficient Encryption when the device holds a bond with
    the central (the central did not encrypt), Insufficient Authentication
    when it holds none."""

    @property
    def subscribable(self) -> bool:
        return "notify" in self.properties or "indicate" in self.properties


@dataclass(eq=False)
class Service:
    uuid: str
    characteristics: list[Characteristic]
    handle: int = 0


@dataclass(eq=False)
class Peripheral:
    """A GATT server that advertises, accepts one connection at a time, and
    notifies/indicates its subscribers."""

    name: str
    address: str
    services: list[Service]
    advertised_uuids: list[str]
    rssi: int = -55
    on_connect: Callable[[Connection], None] | None = None
    on_subscribe: Callable[[Connection, Characteristic, int], None] | None = None
    on_disconnect: Callable[[Connection], None] | None = None
    advertising: bool = False
    requires_pairing: bool = False
    """True: subscriptions are refused with Insufficient Authentication, as a
    device that accepts only a bonded central does (this station is not)."""
    accepts_pairing: Callable[[], bool] | None = None
    """Whether a pairing request is accepted now (None: always): a device
    pairs only in its pairing window (the button held until -P- blinks)."""
    connection: Connection | None = None
    _by_handle: dict[int, Characteristic] = field(default_factory=dict)
    _cccd: dict[int, Characteristic] = field(default_factory=dict)

    def __post_init__(self) -> None:
        handle = 1
        for service in self.services:
            service.handle = handle
            handle += 1
            for char in service.characteristics:
                handle += 1  # the declaration
                char.handle = handle
                self._by_handle[handle] = char
                handle += 1
                if char.subscribable:
                    char.cccd_handle = handle
                    self._cccd[handle] = char
                    handle += 1

    def characteristic(self, uuid: str) -> Characteristic:
        for service in self.services:
            for char in service.characteristics:
                if char.uuid == uuid:
                    return char
        raise KeyError(uuid)

    def by_handle(self, handle: int) -> Characteristic:
        try:
            return self._by_handle[handle]
        except KeyError:
            raise AttError(AttErrorCode.INVALID_HANDLE) from None

    def cccd_owner(self, handle: int) -> Characteristic:
        try:
            return self._cccd[handle]
        except KeyError:
            raise AttError(AttErrorCode.INVALID_HANDLE) from None

    def accept(self, conn: Connection) -> Connection:
        """A central connects (``conn``: the connection as the stack carries it)."""
        if not self.advertising:
            raise LinkDown(f"{self.name} is not advertising")
        if self.connection is not None:
            raise LinkDown(f"{self.name} already has a connection")
        self.advertising = False  # a connected peripheral stops advertising
        self.connection = conn
        log.debug("%s: connected", self.name)
        if self.on_connect:
            self.on_connect(conn)
        return conn

    async def notify(self, char: Characteristic, value: bytes) -> bool:
        """Send a notification; False when nobody listens. Raises LinkDown."""
        return await self._send(char, value, NOTIFY_BIT)

    async def indicate(self, char: Characteristic, value: bytes) -> bool:
        """Send an indication and wait for its confirmation."""
        return await self._send(char, value, INDICATE_BIT)

    async def _send(self, char: Characteristic, value: bytes, bit: int) -> bool:
        conn = self.connection
        if conn is None or not conn.connected:
            raise LinkDown(self.name)
        if len(value) > conn.mtu - 3:
            raise ValueError(f"{len(value)} bytes do not fit MTU {conn.mtu}")
        char.value = bytes(value)
        return await conn.deliver(char, bytes(value), bit)

    def drop_link(self) -> None:
        """The peripheral ends the link (a fault, or its normal end of session)."""
        if self.connection is not None:
            self.connection.close()


class Connection:
    """One central's link to the peripheral."""

    def __init__(self, peripheral: Peripheral, on_lost: Callable[[], None]) -> None:
        self.peripheral = peripheral
        self.mtu = DEFAULT_MTU
        self.connected = True
        self.cccd: dict[int, int] = {}
        self._on_lost = on_lost

    def _check(self) -> None:
        if not self.connected:
            raise LinkDown(self.peripheral.name)

    @property
    def encrypted(self) -> bool:
        """The link is encrypted (with keys from a pairing)."""
        return False

    async def bonded(self) -> bool:
        """The device holds a bond (keys) with this central."""
        return False

    async def _secure(self, char: Characteristic) -> None:
        if char.secure and not self.encrypted:
            raise AttError(
                AttErrorCode.INSUFFICIENT_ENCRYPTION
                if await self.bonded()
                else AttErrorCode.INSUFFICIENT_AUTHENTICATION
            )

    async def read(self, handle: int) -> bytes:
        await asyncio.sleep(0)
        self._check()
        if handle in self.peripheral._cccd:
            return self.cccd.get(handle, 0).to_bytes(2, "little")
        char = self.peripheral.by_handle(handle)
        await self._secure(char)
        if "read" not in char.properties:
            raise AttError(AttErrorCode.READ_NOT_PERMITTED)
        return char.on_read(self) if char.on_read else char.value

    async def write(self, handle: int, data: bytes, *, response: bool) -> None:
        await asyncio.sleep(0)
        self._check()
        if handle in self.peripheral._cccd:
            await self.write_cccd(handle, data)
            return
        char = self.peripheral.by_handle(handle)
        await self._secure(char)
        allowed = (
            "write" in char.properties
            if response
            else ("write-without-response" in char.properties)
        )
        if not allowed:
            raise AttError(AttErrorCode.WRITE_NOT_PERMITTED)
        if char.on_write is None:
            char.value = bytes(data)
            return
        result = char.on_write(self, bytes(data))
        if result is not None:
            await result

    async def write_cccd(self, handle: int, data: bytes) -> None:
        await asyncio.sleep(0)
        self._check()
        char = self.peripheral.cccd_owner(handle)
        if self.peripheral.requires_pairing:
            raise AttError(AttErrorCode.INSUFFICIENT_AUTHENTICATION)
        await self._secure(char)
        if len(data) != 2:
            raise AttError(AttErrorCode.INVALID_ATTRIBUTE_VALUE_LENGTH)
        value = int.from_bytes(data, "little")
        if (value & NOTIFY_BIT and "notify" not in char.properties) or (
            value & INDICATE_BIT and "indicate" not in char.properties
        ):
            raise AttError(AttErrorCode.CCCD_IMPROPERLY_CONFIGURED)
        self.cccd[handle] = value
        if self.peripheral.on_subscribe:
            self.peripheral.on_subscribe(self, char, value)

    def subscribed(self, char: Characteristic, bit: int) -> bool:
        return char.cccd_handle is not None and bool(self.cccd.get(char.cccd_handle, 0) & bit)

    async def deliver(self, char: Characteristic, value: bytes, bit: int) -> bool:
        """Send a notification or indication if subscribed (False if not)."""
        raise NotImplementedError("the stack carrying the connection delivers")

    def close(self) -> None:
        """End the link from either side; idempotent."""
        if not self.connected:
            return
        self.connected = False
        peripheral = self.peripheral
        if peripheral.connection is self:
            peripheral.connection = None
        log.debug("%s: disconnected", peripheral.name)
        if peripheral.on_disconnect:
            peripheral.on_disconnect(self)
        self._on_lost()
