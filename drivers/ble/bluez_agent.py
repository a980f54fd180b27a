"""A BlueZ pairing agent for the time of a pairing.

BlueZ's ``Device1.Pair()`` fails unless a pairing agent is registered (an
application's, or a default one: on a desktop the session's, on a kiosk
none). The station registers this one — I/O capability NoInputNoOutput, so
pairings are Just Works, confirmed without a person — as the default agent
while the technician pairs a device, and unregisters it after, so it never
answers for pairings the station did not start (hass-omron does the same,
``omron_ble/bluez_agent.py``; omblepy PR #71 too). Its methods follow
bluez/doc/org.bluez.Agent.rst: a passkey or PIN is refused (no one can type
it), a confirmation or authorisation is given.

dbus-fast reads the D-Bus signatures from the annotations, so this module
does not postpone them (no ``from __future__ import annotations``) and mypy
is told that ``"o"``, ``"u"``, ``"s"`` are signatures, not names.
"""

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from dbus_fast import Message, MessageType
from dbus_fast.errors import DBusError
from dbus_fast.service import ServiceInterface, method

log = logging.getLogger(__name__)

AGENT_PATH = "/org/healthkiosk/pairing_agent"
CAPABILITY = "NoInputNoOutput"
REJECTED = "org.bluez.Error.Rejected"


class PairingAgent(ServiceInterface):
    def __init__(self) -> None:
        super().__init__("org.bluez.Agent1")
        self.confirmed: list[str] = []

    @method()
    def Release(self) -> None:
        log.info("BlueZ released the pairing agent")

    @method()
    def RequestPinCode(self, device: "o") -> "s":  # type: ignore[name-defined]  # noqa: F821
        raise DBusError(REJECTED, "no PIN can be typed at a health station")

    @method()
    def DisplayPinCode(self, device: "o", pincode: "s") -> None:  # type: ignore[name-defined]  # noqa: F821
        log.info("pairing %s: PIN %s", device, pincode)

    @method()
    def RequestPasskey(self, device: "o") -> "u":  # type: ignore[name-defined]  # noqa: F821
        raise DBusError(REJECTED, "no passkey can be typed at a health station")

    @method()
    def DisplayPasskey(self, device: "o", passkey: "u", entered: "q") -> None:  # type: ignore[name-defined]  # noqa: F821
        log.info("pairing %s: passkey %06d", device, passkey)

    @method()
    def RequestConfirmation(self, device: "o", passkey: "u") -> None:  # type: ignore[name-defined]  # noqa: F821
        self.confirmed.append(device)
        log.info("pairing %s: confirmed", device)

    @method()
    def RequestAuthorization(self, device: "o") -> None:  # type: ignore[name-defined]  # noqa: F821
        self.confirmed.append(device)

    @method()
    def AuthorizeService(self, device: "o", uuid: "s") -> None:  # type: ignore[name-defined]  # noqa: F821
        return

    @method()
    def Cancel(self) -> None:
        log.info("BlueZ cancelled the pairing")


async def _call(bus: Any, member: str, signature: str, body: list[Any]) -> str | None:
    reply = await bus.call(
        Message(
            destination="org.bluez",
            path="/org/bluez",
            interface="org.bluez.AgentManager1",
            member=member,
            signature=signature,
            body=body,
        )
    )
    if reply.message_type == MessageType.ERROR:
        return f"{reply.error_name} {' '.join(map(str, reply.body))}".strip()
    return None


@asynccontextmanager
async def registered_agent(bus: Any) -> AsyncIterator[PairingAgent]:
    """:class:`PairingAgent` registered on ``bus`` as BlueZ's default agent
    for the block. A refusal is logged, not raised: a default agent may be
    there already (bluetoothctl), and then it answers instead."""
    agent = PairingAgent()
    bus.export(AGENT_PATH, agent)
    problem = await _call(bus, "RegisterAgent", "os", [AGENT_PATH, CAPABILITY])
    registered = problem is None
    if registered:
        problem = await _call(bus, "RequestDefaultAgent", "o", [AGENT_PATH])
    if problem:
        log.warning("pairing agent: %s", problem)
    try:
        yield agent
    finally:
        if registered:
            problem = await _call(bus, "UnregisterAgent", "o", [AGENT_PATH])
            if problem:
                log.warning("pairing agent: %s", problem)
        bus.unexport(AGENT_PATH, agent)
