"""Pairing and bonding end to end against an emulated monitor that requires a
bonded station: pairing in its window, the bond kept across connections, a
bond the device forgot (its stale key refused) or the station lost, each
reaching the driver as a plain reason, and re-pairing. bumble's Security
Manager on both sides (emulation/ble/bumble_radio.py); the driver code is
unchanged."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest

from drivers.ble import radio_errors
from drivers.ble.bps import StandardBpsMonitor
from drivers.ble.link import BleBackend
from drivers.ble.pairing import Step
from emulation.ble.bps import BpsEmulator
from emulation.ble.bumble_backend import BONDS
from healthkiosk.errors import DeviceConnectionError, DeviceError
from tests.support.ble import fast_options

WINDOW_S = 3.0


def monitor(em: BpsEmulator, backend: BleBackend) -> StandardBpsMonitor:
    return StandardBpsMonitor(address=em.address, backend=backend, options=fast_options())


async def test_a_monitor_that_requires_bonding_refuses_an_unpaired_station(
    tz: ZoneInfo, backend: BleBackend
) -> None:
    async with BpsEmulator(tz=tz, step_s=0.001, bonding=True) as em:
        bpm = monitor(em, backend)
        with pytest.raises(DeviceConnectionError) as err:
            await bpm.measure(timeout_s=5)
        await bpm.close()
        assert err.value.reason == radio_errors.NOT_PAIRED
        assert em.measurements_sent == 0
        assert not (await BONDS.state(em.address)).has_bond


async def test_pair_in_the_window_then_measure_on_the_kept_bond(
    tz: ZoneInfo, backend: BleBackend
) -> None:
    async with BpsEmulator(tz=tz, step_s=0.001, bonding=True) as em:
        bpm = monitor(em, backend)
        em.press_pairing_button(WINDOW_S)
        steps: list[Step] = []
        info = await bpm.pair(window_s=WINDOW_S, on_step=steps.append)
        assert info.address == em.address and info.model == "BPS-EMU-1"
        assert steps == [Step.LOOKING, Step.BONDING, Step.DONE]
        state = await BONDS.state(em.address)
        assert state.paired and state.bonded
        assert await em.bonded_centrals()  # the device kept its side too
        em.close_pairing_window()
        for _ in range(2):  # the bond holds across connections, window closed
            reading = await bpm.measure(timeout_s=10)
            assert reading.systolic_mmhg == 128
        await bpm.close()
        assert em.measurements_sent == 2


async def test_outside_its_window_the_device_refuses_to_pair(
    tz: ZoneInfo, backend: BleBackend
) -> None:
    async with BpsEmulator(tz=tz, step_s=0.001, bonding=True) as em:
        bpm = monitor(em, backend)
        with pytest.raises(DeviceConnectionError) as err:
            await bpm.pair(window_s=1.5)
        assert err.value.reason == radio_errors.PAIRING_FAILED
        assert not (await BONDS.state(em.address)).has_bond


async def test_a_forgotten_bond_is_named_and_re_pairing_mends_it(
    tz: ZoneInfo, backend: BleBackend
) -> None:
    async with BpsEmulator(tz=tz, step_s=0.001, bonding=True) as em:
        bpm = monitor(em, backend)
        em.press_pairing_button(WINDOW_S)
        await bpm.pair(window_s=WINDOW_S)
        em.close_pairing_window()
        await em.forget_bond()  # e.g. the monitor was paired with a phone

        with pytest.raises(DeviceConnectionError) as err:
            await bpm.measure(timeout_s=5)
        assert err.value.reason == radio_errors.BOND_LOST
        # the station still believes in its bond: that is what makes BlueZ's
        # Pair() a no-op, and why pairing removes it first
        assert (await BONDS.state(em.address)).paired

        em.press_pairing_button(WINDOW_S)
        steps: list[Step] = []
        await bpm.pair(window_s=WINDOW_S, on_step=steps.append)
        assert steps[0] is Step.REMOVING_OLD_BOND and steps[-1] is Step.DONE
        em.close_pairing_window()
        reading = await bpm.measure(timeout_s=10)
        await bpm.close()
        assert reading.diastolic_mmhg == 82


async def test_a_bond_the_station_lost_is_not_paired(tz: ZoneInfo, backend: BleBackend) -> None:
    async with BpsEmulator(tz=tz, step_s=0.001, bonding=True) as em:
        bpm = monitor(em, backend)
        em.press_pairing_button(WINDOW_S)
        await bpm.pair(window_s=WINDOW_S)
        em.close_pairing_window()
        assert await BONDS.remove(em.address)  # `bluetoothctl remove`, or a new SD card
        with pytest.raises(DeviceConnectionError) as err:
            await bpm.measure(timeout_s=5)
        await bpm.close()
        assert err.value.reason == radio_errors.NOT_PAIRED
        assert em.measurements_sent == 0


async def test_a_monitor_without_bonding_pairs_whenever_asked(
    tz: ZoneInfo, backend: BleBackend
) -> None:
    async with BpsEmulator(tz=tz, step_s=0.001) as em:
        info = await monitor(em, backend).pair(window_s=WINDOW_S)
        assert info.address == em.address
        assert (await BONDS.state(em.address)).bonded


async def test_pairing_a_device_that_is_not_there(tz: ZoneInfo, backend: BleBackend) -> None:
    bpm = StandardBpsMonitor(address="C0:FF:EE:00:00:99", backend=backend,
                             options=fast_options())  # fmt: skip
    with pytest.raises(DeviceError) as err:
        await bpm.pair(window_s=1.0)
    assert err.value.reason == "device_not_found"
