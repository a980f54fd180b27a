"""Whether this station holds a bond with a device, and forgetting one.

bleak can pair and unpair but cannot say whether a bond exists; the answer is
the platform's. On a station that is BlueZ: its ``org.bluez.Device1`` object
for the address has ``Paired`` (the pairing completed) and, since BlueZ 5.65,
``Bonded`` (the keys are stored and persist); ``Adapter1.RemoveDevice``
forgets the device and its keys (what ``bluetoothctl remove`` and bleak's
``unpair()`` do). :class:`BlueZBonds` asks over D-Bus with dbus-fast (a
dependency bleak brings on Linux). The emulated central keeps its bonds in
bumble's key store and gives its own :class:`BondStore` (``emulation/ble``).

Why it matters: BlueZ's ``Pair()`` returns at once when ``Paired`` is true,
even when the device has forgotten its side of the bond; then only removing
the bond first lets the device be paired again (BlueZ issue #433,
hass-omron PR #165; docs/guides/devices.md). And ``Pair()`` needs a pairing
agent registered: :meth:`BlueZBonds.pairing_agent` registers the station's
for the time of a pairing (:mod:`.bluez_agent`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any, Protocol

from drivers.ble.radio_errors import BLUETOOTH_UNAVAILABLE
from healthkiosk.errors import DeviceConnectionError

log = logging.getLogger(__name__)

BLUEZ = "org.bluez"
DEVICE1 = "org.bluez.Device1"
ADAPTER1 = "org.bluez.Adapter1"
REMOVE_WAIT_S = 5.0
"""RemoveDevice returns before bluetoothd has forgotten the device (hass-omron
PR #165): wait up to this long for its object to go."""


@dataclass(frozen=True, slots=True)
class BondState:
    known: bool
    """The platform knows the device at all (it was seen or paired)."""
    paired: bool
    bonded: bool
    """The keys are stored and survive a restart (Paired without Bonded: a
    pairing for this session only)."""

    @property
    def has_bond(self) -> bool:
        return self.paired or self.bonded


NO_BOND = BondState(known=False, paired=False, bonded=False)


class BondStore(Protocol):
    async def state(self, address: str) -> BondState: ...

    async def remove(self, address: str) -> bool:
        """Forget the device and its keys; False when there was nothing to forget."""
        ...

    def pairing_agent(self) -> AbstractAsyncContextManager[None]:
        """What answers the platform's pairing questions while a pairing runs."""
        ...


class BlueZBonds:
    """:class:`BondStore` of the station's BlueZ, over the D-Bus system bus
    (``bus_address``: another bus, for tests)."""

    def __init__(self, *, bus_address: str | None = None) -> None:
        self.bus_address = bus_address

    async def _bus(self) -> Any:
        try:
            from dbus_fast import BusType
            from dbus_fast.aio import MessageBus

            if self.bus_address is not None:
                return await MessageBus(bus_address=self.bus_address).connect()
            return await MessageBus(bus_type=BusType.SYSTEM).connect()
        except (ImportError, OSError, ValueError) as err:
            raise DeviceConnectionError(
                f"cannot ask BlueZ about bonds: {err or type(err).__name__}",
                reason=BLUETOOTH_UNAVAILABLE,
            ) from err

    async def _call(self, bus: Any, **message: Any) -> list[Any]:
        from dbus_fast import Message, MessageType

        reply = await bus.call(Message(destination=BLUEZ, **message))
        if reply.message_type == MessageType.ERROR:
            raise DeviceConnectionError(
                f"BlueZ: {reply.error_name} {' '.join(map(str, reply.body))}".strip(),
                reason=BLUETOOTH_UNAVAILABLE,
            )
        body: list[Any] = reply.body
        return body

    async def _find(self, bus: Any, address: str) -> tuple[str, dict[str, Any]] | None:
        [objects] = await self._call(
            bus,
            path="/",
            interface="org.freedesktop.DBus.ObjectManager",
            member="GetManagedObjects",
        )
        wanted = address.upper()
        for path, interfaces in objects.items():
            device = interfaces.get(DEVICE1)
            if device is not None and str(device["Address"].value).upper() == wanted:
                return str(path), {k: v.value for k, v in device.items()}
        return None

    async def state(self, address: str) -> BondState:
        bus = await self._bus()
        try:
            found = await self._find(bus, address)
        finally:
            bus.disconnect()
        if found is None:
            return NO_BOND
        _path, props = found
        paired = bool(props.get("Paired", False))
        # BlueZ before 5.65 has no Bonded: its pairings were stored ones.
        return BondState(known=True, paired=paired, bonded=bool(props.get("Bonded", paired)))

    @asynccontextmanager
    async def pairing_agent(self) -> AsyncIterator[None]:
        """The station's pairing agent (:mod:`.bluez_agent`) registered with
        BlueZ for the block: without one, ``Pair()`` fails."""
        from drivers.ble.bluez_agent import registered_agent

        bus = await self._bus()
        try:
            async with registered_agent(bus):
                yield
        finally:
            bus.disconnect()

    async def _gone(self, bus: Any, address: str) -> None:
        """Poll until BlueZ no longer lists ``address`` (its InterfacesRemoved
        signal would do too; a poll needs no match rule)."""
        for _ in iter(int, 1):
            if await self._find(bus, address) is None:
                return
            await asyncio.sleep(0.1)

    async def remove(self, address: str) -> bool:
        bus = await self._bus()
        try:
            found = await self._find(bus, address)
            if found is None:
                return False
            path, props = found
            await self._call(
                bus,
                path=str(props["Adapter"]),
                interface=ADAPTER1,
                member="RemoveDevice",
                signature="o",
                body=[path],
            )
            async with asyncio.timeout(REMOVE_WAIT_S):
                await self._gone(bus, address)
        except TimeoutError:
            log.warning("BlueZ still lists %s %.0f s after RemoveDevice", address, REMOVE_WAIT_S)
        finally:
            bus.disconnect()
        log.info("BlueZ: bond with %s removed", address)
        return True
