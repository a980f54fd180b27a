"""The station's bond book on BlueZ (drivers/ble/bonds.py), against a fake
bluetoothd on a private D-Bus (tests/support/fake_bluez.py): Paired and
Bonded read, BlueZ before 5.65 (no Bonded) taken as bonded when paired,
RemoveDevice waited for until the device is gone, and a bus without BlueZ
named as Bluetooth unavailable. Real BlueZ was not available here."""

from __future__ import annotations

from pathlib import Path

import pytest

from drivers.ble.bonds import NO_BOND, BlueZBonds, BondState
from healthkiosk.errors import DeviceConnectionError
from tests.support.fake_bluez import fake_bluez


async def test_bond_state_and_removal(tmp_path: Path) -> None:
    async with fake_bluez(str(tmp_path)) as (address, bluez):
        bluez.add("C0:FF:EE:07:36:1A", paired=True, bonded=True)
        bluez.add("C0:FF:EE:00:18:10", paired=True, bonded=False)  # this session only
        bluez.add("C0:FF:EE:00:18:08", paired=True, bonded=None)  # BlueZ < 5.65
        bluez.add("AA:BB:CC:DD:EE:01", paired=False, bonded=False)  # seen in a scan
        bonds = BlueZBonds(bus_address=address)
        assert await bonds.state("c0:ff:ee:07:36:1a") == BondState(True, True, True)
        assert await bonds.state("C0:FF:EE:00:18:10") == BondState(True, True, False)
        assert await bonds.state("C0:FF:EE:00:18:08") == BondState(True, True, True)
        state = await bonds.state("AA:BB:CC:DD:EE:01")
        assert state.known and not state.has_bond
        assert await bonds.state("11:22:33:44:55:66") == NO_BOND

        assert await bonds.remove("C0:FF:EE:07:36:1A")
        # RemoveDevice answered at once; remove() returned only once it was gone
        assert bluez.removed == ["/org/bluez/hci0/dev_C0_FF_EE_07_36_1A"]
        assert await bonds.state("C0:FF:EE:07:36:1A") == NO_BOND
        assert not await bonds.remove("C0:FF:EE:07:36:1A")


async def test_a_pairing_agent_is_the_default_only_while_pairing(tmp_path: Path) -> None:
    from dbus_fast import MessageType

    from drivers.ble.bluez_agent import AGENT_PATH

    async with fake_bluez(str(tmp_path)) as (address, bluez):
        bonds = BlueZBonds(bus_address=address)
        async with bonds.pairing_agent():
            assert bluez.agents == [("register", AGENT_PATH, "NoInputNoOutput"),
                                    ("default", AGENT_PATH)]  # fmt: skip
            sender = await _agent_owner(bluez)
            device = "/org/bluez/hci0/dev_C0_FF_EE_07_36_1A"
            # Just Works: a confirmation is given; a passkey cannot be typed
            ok = await bluez.ask_agent(sender, AGENT_PATH, "RequestConfirmation", "ou",
                                       [device, 123456])  # fmt: skip
            assert ok.message_type == MessageType.METHOD_RETURN
            no = await bluez.ask_agent(sender, AGENT_PATH, "RequestPasskey", "o", [device])
            assert no.message_type == MessageType.ERROR
            assert no.error_name == "org.bluez.Error.Rejected"
        assert bluez.agents[-1] == ("unregister", AGENT_PATH)

        bluez.refuse_agents = True  # bluetoothctl's agent is the default already
        async with bonds.pairing_agent():
            pass
        assert bluez.agents[-1] == ("unregister", AGENT_PATH)  # nothing more asked


async def _agent_owner(bluez: object) -> str:
    """The unique bus name of the connection that registered the agent."""
    from dbus_fast import Message

    bus = bluez.bus  # type: ignore[attr-defined]
    reply = await bus.call(
        Message(
            destination="org.freedesktop.DBus",
            path="/org/freedesktop/DBus",
            interface="org.freedesktop.DBus",
            member="ListNames",
        )
    )
    names = [n for n in reply.body[0] if n.startswith(":") and n != bus.unique_name]
    return str(names[-1])


async def test_a_bus_without_bluez_is_bluetooth_unavailable(tmp_path: Path) -> None:
    async with fake_bluez(str(tmp_path)) as (address, _bluez):
        pass
    with pytest.raises(DeviceConnectionError) as err:
        await BlueZBonds(bus_address=address).state("C0:FF:EE:07:36:1A")
    assert err.value.reason == "bluetooth_unavailable"
