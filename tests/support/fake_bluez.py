"""A stand-in for bluetoothd on a private D-Bus (a ``dbus-daemon`` of its
own): the parts of BlueZ's API that :class:`drivers.ble.bonds.BlueZBonds`
uses — ``AgentManager1`` (RegisterAgent, RequestDefaultAgent,
UnregisterAgent), ``org.bluez.Device1`` objects (Address, Paired, Bonded, Adapter),
listed by ``ObjectManager.GetManagedObjects`` (dbus-fast's own, on every
exported path, as bluetoothd's is), and ``Adapter1.RemoveDevice`` —
as BlueZ's documentation describes them (bluez/doc/org.bluez.Device.rst,
org.bluez.Adapter.rst). Like bluetoothd, it forgets a removed device a
moment after answering RemoveDevice. Only what the tests need."""

# No `from __future__ import annotations`: dbus-fast reads the D-Bus
# signatures from the annotations themselves.

import asyncio
import os
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from dbus_fast import Message
from dbus_fast.aio import MessageBus
from dbus_fast.errors import DBusError
from dbus_fast.service import PropertyAccess, ServiceInterface, dbus_property, method

ADAPTER = "/org/bluez/hci0"


class _Device(ServiceInterface):
    """``org.bluez.Device1`` with the properties read here."""

    def __init__(self, address: str, *, paired: bool, bonded: bool) -> None:
        super().__init__("org.bluez.Device1")
        self._address, self._paired, self._bonded = address, paired, bonded

    @dbus_property(access=PropertyAccess.READ)
    def Address(self) -> "s":  # noqa: F821
        return self._address

    @dbus_property(access=PropertyAccess.READ)
    def Paired(self) -> "b":  # noqa: F821
        return self._paired

    @dbus_property(access=PropertyAccess.READ)
    def Bonded(self) -> "b":  # noqa: F821
        return self._bonded

    @dbus_property(access=PropertyAccess.READ)
    def Adapter(self) -> "o":  # noqa: F821
        return ADAPTER


class _OldDevice(ServiceInterface):
    """``org.bluez.Device1`` of a BlueZ older than 5.65: no Bonded."""

    def __init__(self, address: str, *, paired: bool) -> None:
        super().__init__("org.bluez.Device1")
        self._address, self._paired = address, paired

    @dbus_property(access=PropertyAccess.READ)
    def Address(self) -> "s":  # noqa: F821
        return self._address

    @dbus_property(access=PropertyAccess.READ)
    def Paired(self) -> "b":  # noqa: F821
        return self._paired

    @dbus_property(access=PropertyAccess.READ)
    def Adapter(self) -> "o":  # noqa: F821
        return ADAPTER


@dataclass
class FakeBlueZ:
    bus: MessageBus
    removed: list[str] = field(default_factory=list)
    forget_after_s: float = 0.2
    agents: list[tuple[str, ...]] = field(default_factory=list)
    """What the AgentManager was asked: ("register", path, capability), ("default", path),
    ("unregister", path)."""
    refuse_agents: bool = False
    """Answer RegisterAgent with AlreadyExists (another default agent is there)."""

    async def ask_agent(self, sender: str, path: str, member: str, signature: str,
                        body: list[object]) -> Message:  # fmt: skip
        """What bluetoothd does during a pairing: ask the registered agent."""
        return await self.bus.call(
            Message(
                destination=sender,
                path=path,
                interface="org.bluez.Agent1",
                member=member,
                signature=signature,
                body=body,
            )
        )

    @staticmethod
    def path(address: str) -> str:
        return f"{ADAPTER}/dev_{address.upper().replace(':', '_')}"

    def add(self, address: str, *, paired: bool, bonded: bool | None) -> None:
        """``bonded`` None: as a BlueZ older than 5.65 shows it (no Bonded)."""
        device = (
            _OldDevice(address.upper(), paired=paired)
            if bonded is None
            else _Device(address.upper(), paired=paired, bonded=bonded)
        )
        self.bus.export(self.path(address), device)


class _AgentManager(ServiceInterface):
    def __init__(self, state: FakeBlueZ) -> None:
        super().__init__("org.bluez.AgentManager1")
        self.state = state

    @method()
    def RegisterAgent(self, agent: "o", capability: "s") -> None:  # noqa: F821
        if self.state.refuse_agents:
            raise DBusError("org.bluez.Error.AlreadyExists", "Already Exists")
        self.state.agents.append(("register", agent, capability))

    @method()
    def RequestDefaultAgent(self, agent: "o") -> None:  # noqa: F821
        self.state.agents.append(("default", agent))

    @method()
    def UnregisterAgent(self, agent: "o") -> None:  # noqa: F821
        self.state.agents.append(("unregister", agent))


class _Adapter(ServiceInterface):
    def __init__(self, state: FakeBlueZ) -> None:
        super().__init__("org.bluez.Adapter1")
        self.state = state

    @method()
    def RemoveDevice(self, device: "o") -> None:  # noqa: F821
        self.state.removed.append(device)
        loop = asyncio.get_running_loop()
        loop.call_later(self.state.forget_after_s, self.state.bus.unexport, device)


def _write_config(tmp_dir: str) -> tuple[str, str]:
    """A bus configuration listening on a socket in ``tmp_dir``: (config, socket)."""
    socket = os.path.join(tmp_dir, "bus")
    config = os.path.join(tmp_dir, "bus.conf")
    with open(config, "w", encoding="utf-8") as f:
        f.write(
            "<!DOCTYPE busconfig PUBLIC '-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN'"
            " 'http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd'>"
            f"<busconfig><type>session</type><listen>unix:path={socket}</listen>"
            "<policy context='default'><allow send_destination='*' eavesdrop='true'/>"
            "<allow eavesdrop='true'/><allow own='*'/></policy></busconfig>"
        )
    return config, socket


async def _connect(address: str, socket: str, *, within_s: float = 30.0) -> MessageBus:
    """The daemon's socket may exist before it listens (a loaded machine):
    retry until it answers, then give up with the last error."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    while True:
        try:
            if await asyncio.to_thread(os.path.exists, socket):
                return await MessageBus(bus_address=address).connect()
        except (ConnectionRefusedError, FileNotFoundError):
            if loop.time() > deadline:
                raise
        if loop.time() > deadline:
            raise TimeoutError(f"dbus-daemon did not listen on {socket} within {within_s} s")
        await asyncio.sleep(0.05)


@asynccontextmanager
async def fake_bluez(tmp_dir: str) -> AsyncIterator[tuple[str, FakeBlueZ]]:
    """A private bus with a fake ``org.bluez`` on it: (its address, the state)."""
    daemon = shutil.which("dbus-daemon")
    if daemon is None:
        raise RuntimeError("dbus-daemon is not installed (Debian: dbus-daemon)")
    config, socket = _write_config(tmp_dir)
    proc = await asyncio.create_subprocess_exec(
        daemon, f"--config-file={config}", "--nofork", "--nopidfile"
    )
    address = f"unix:path={socket}"
    try:
        bus = await _connect(address, socket)
        state = FakeBlueZ(bus)
        bus.export(ADAPTER, _Adapter(state))
        bus.export("/org/bluez", _AgentManager(state))
        await bus.request_name("org.bluez")
        try:
            yield address, state
        finally:
            bus.disconnect()
    finally:
        proc.terminate()
        await proc.wait()
