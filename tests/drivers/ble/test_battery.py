"""Battery Level (0x2A19): the codec, and every BLE driver reading it from
its emulated twin's Battery Service (0x180F) over bumble — present, absent,
unreadable, nonsense, and changed by notification.

Bytes: Battery Service 1.1 §3.1 (one uint8, 0..100 %, 101..255 reserved);
like Nordic's Android-BLE-Common-Library ``BatteryLevelDataCallback``, a value
that is not exactly one byte is invalid.
Fuzz: Hypothesis (a failure prints ``--hypothesis-seed=N``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers.ble import uuids
from drivers.ble.and_ua651 import AndUa651Monitor
from drivers.ble.battery import BatteryCodecError, decode_level, encode_level
from drivers.ble.bps import StandardBpsMonitor
from drivers.ble.glucose import StandardGlucoseMeter
from drivers.ble.link import BleBackend
from emulation import twins
from emulation.ble.and_ua651 import AndUa651Emulator
from emulation.ble.bps import BpsEmulator
from emulation.ble.gatt import (
    AttError,
    AttErrorCode,
    Characteristic,
    Connection,
    Service,
)
from emulation.ble.glucose import GlucoseEmulator
from emulation.ble.peripheral import EmulatedDevice
from healthkiosk.errors import ConfigError
from tests.support.ble import TZ, fast_options

# --- the codec -----------------------------------------------------------------


@pytest.mark.parametrize(("raw", "percent"), [("00", 0), ("01", 1), ("50", 80), ("64", 100)])
def test_levels_on_both_bounds(raw: str, percent: int) -> None:
    assert decode_level(bytes.fromhex(raw)) == percent
    assert encode_level(percent) == bytes.fromhex(raw)


@pytest.mark.parametrize("raw", ["65", "c8", "ff"])
def test_reserved_levels_above_100_are_refused(raw: str) -> None:
    with pytest.raises(BatteryCodecError, match="above 100") as caught:
        decode_level(bytes.fromhex(raw))
    assert caught.value.raw == bytes.fromhex(raw)
    assert caught.value.reason == "battery_level_invalid"


@pytest.mark.parametrize("raw", ["", "5000", "64ff", "deadbeef"])
def test_anything_but_one_byte_is_refused(raw: str) -> None:
    with pytest.raises(BatteryCodecError, match="1 byte") as caught:
        decode_level(bytes.fromhex(raw))
    assert caught.value.raw == bytes.fromhex(raw)


@pytest.mark.parametrize("percent", [-1, 101, 255])
def test_encode_refuses_what_is_not_a_percent(percent: int) -> None:
    with pytest.raises(ValueError, match=r"0\.\.100"):
        encode_level(percent)


def test_round_trip_every_level() -> None:
    assert [decode_level(encode_level(p)) for p in range(101)] == list(range(101))


@given(st.binary(max_size=4))
def test_garbage_decodes_to_a_percent_or_fails_cleanly(data: bytes) -> None:
    try:
        percent = decode_level(data)
    except BatteryCodecError as err:
        assert err.raw == data
        assert len(data) != 1 or data[0] > 100
    else:
        assert len(data) == 1 and percent == data[0] <= 100


# --- the drivers against their twins -------------------------------------------


async def until(what: Callable[[], bool]) -> None:
    """Until ``what()`` holds (a notification crossing bumble's link)."""
    for _ in range(500):
        if what():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("never happened")


def bps_monitor(em: BpsEmulator, backend: BleBackend) -> StandardBpsMonitor:
    return StandardBpsMonitor(address=em.address, backend=backend, options=fast_options())


def subscriptions(em: EmulatedDevice) -> list[str]:
    """The UUIDs whose CCCD the central writes, from now on."""
    seen: list[str] = []
    original = em.peripheral.on_subscribe
    assert original is not None

    def record(conn: Connection, char: Characteristic, value: int) -> None:
        seen.append(char.uuid)
        original(conn, char, value)

    em.peripheral.on_subscribe = record
    return seen


async def test_bps_monitor_reads_the_battery_level(backend: BleBackend) -> None:
    async with BpsEmulator(tz=TZ, step_s=0.001, battery_percent=37) as em:
        subscribed = subscriptions(em)
        bpm = bps_monitor(em, backend)
        assert bpm.battery_percent is None  # not connected yet
        reading = await bpm.measure(timeout_s=10)
        await bpm.close()
    assert bpm.battery_percent == 37
    assert reading.systolic_mmhg == 128
    # Read only: a monitor's short link gets no extra CCCD write for its battery.
    assert uuids.BATTERY_LEVEL not in subscribed
    assert uuids.BLOOD_PRESSURE_MEASUREMENT in subscribed


async def test_twin_defaults_to_80_percent(backend: BleBackend) -> None:
    async with BpsEmulator(tz=TZ, step_s=0.001) as em:
        bpm = bps_monitor(em, backend)
        await bpm.measure(timeout_s=10)
    assert bpm.battery_percent == 80


async def test_no_battery_service_is_none_and_no_error(
    backend: BleBackend, caplog: pytest.LogCaptureFixture
) -> None:
    async with BpsEmulator(tz=TZ, step_s=0.001, battery_percent=None) as em:
        assert "0000180f" not in em.describe()
        bpm = bps_monitor(em, backend)
        reading = await bpm.measure(timeout_s=10)
    assert bpm.battery_percent is None
    assert (reading.systolic_mmhg, reading.diastolic_mmhg) == (128, 82)
    assert not [r for r in caplog.records if "battery" in r.getMessage()]


def _refuse(_conn: Connection) -> bytes:
    raise AttError(AttErrorCode.INSUFFICIENT_AUTHENTICATION)


async def test_a_failed_read_is_none_and_logged_and_the_reading_comes(
    backend: BleBackend, caplog: pytest.LogCaptureFixture
) -> None:
    async with BpsEmulator(tz=TZ, step_s=0.001, battery_percent=50) as em:
        em.battery.on_read = _refuse
        bpm = bps_monitor(em, backend)
        with caplog.at_level(logging.WARNING, logger="drivers.ble.link"):
            reading = await bpm.measure(timeout_s=10)
    assert bpm.battery_percent is None
    assert reading.systolic_mmhg == 128
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("battery level not read" in m and em.address in m for m in warnings), warnings


async def test_a_level_above_100_is_none_and_logged_and_the_reading_comes(
    backend: BleBackend, caplog: pytest.LogCaptureFixture
) -> None:
    async with BpsEmulator(tz=TZ, step_s=0.001) as em:
        em.battery.value = bytes([200])
        bpm = bps_monitor(em, backend)
        with caplog.at_level(logging.WARNING, logger="drivers.ble.link"):
            reading = await bpm.measure(timeout_s=10)
    assert bpm.battery_percent is None
    assert reading.systolic_mmhg == 128
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("battery level 200 % is above 100 %" in m and "(c8)" in m for m in warnings)


class TwoBatteries(BpsEmulator):
    """Battery Service 1.1 allows one instance per battery."""

    def profile_services(self) -> list[Service]:
        second = Characteristic(uuids.BATTERY_LEVEL, ("read",), encode_level(10))
        return [*super().profile_services(), Service(uuids.BATTERY_SERVICE, [second])]


async def test_several_battery_services_are_none_and_logged_and_the_reading_comes(
    backend: BleBackend, caplog: pytest.LogCaptureFixture
) -> None:
    async with TwoBatteries(tz=TZ, step_s=0.001) as em:
        bpm = bps_monitor(em, backend)
        with caplog.at_level(logging.WARNING, logger="drivers.ble.link"):
            reading = await bpm.measure(timeout_s=10)
    assert bpm.battery_percent is None
    assert reading.systolic_mmhg == 128
    assert any("several battery levels" in r.getMessage() for r in caplog.records)


async def test_each_connection_reads_the_level_afresh(backend: BleBackend) -> None:
    async with BpsEmulator(tz=TZ, step_s=0.001, battery_percent=61) as em:
        bpm = bps_monitor(em, backend)
        await bpm.measure(timeout_s=10)
        assert bpm.battery_percent == 61
        await em.set_battery_level(12)  # batteries drained while nobody was connected
        await until(lambda: em.peripheral.advertising)
        await bpm.measure(timeout_s=10)
    assert bpm.battery_percent == 12


async def test_glucose_meter_reads_it_and_follows_notifications(backend: BleBackend) -> None:
    async with GlucoseEmulator(tz=TZ, memory=3, battery_percent=90) as em:
        subscribed = subscriptions(em)
        gm = StandardGlucoseMeter(address=em.address, backend=backend, options=fast_options())
        records = await gm.download()
        assert len(records) == 3
        assert gm.battery_percent == 90
        assert uuids.BATTERY_LEVEL in subscribed
        # The meter's link stays up between calls: its notifications keep the level current.
        await em.set_battery_level(9)
        await until(lambda: gm.battery_percent == 9)
        em.battery.value = bytes([101])  # nonsense notified: the last good level stays
        await em.peripheral.notify(em.battery, em.battery.value)
        await em.set_battery_level(8)
        await until(lambda: gm.battery_percent == 8)
        await gm.close()


async def test_glucose_meter_without_battery_service(backend: BleBackend) -> None:
    async with GlucoseEmulator(tz=TZ, memory=2, battery_percent=None) as em:
        gm = StandardGlucoseMeter(address=em.address, backend=backend, options=fast_options())
        assert len(await gm.download()) == 2
        await gm.close()
    assert gm.battery_percent is None


async def test_and_monitor_reads_the_battery_level(backend: BleBackend) -> None:
    # A real UA-651BLE's GATT table has 0x180F (docs/protocols/and-ua-651ble.md).
    async with AndUa651Emulator(tz=TZ, battery_percent=44) as em:
        bpm = AndUa651Monitor(
            address=em.address, backend=backend, options=fast_options(quiet_s=0.1)
        )
        reading = await bpm.measure(timeout_s=10)
    assert bpm.battery_percent == 44
    assert reading.systolic_mmhg == 131
    assert em.clock_writes == 1  # reading the battery did not delay the Date Time write


# --- the openers' emulator options ---------------------------------------------


def _options(**emulator: object) -> dict[str, object]:
    return {
        "timezone": "Asia/Shanghai",
        "scan_timeout_s": 5,
        "connect_timeout_s": 5,
        "quiet_s": 0.1,
        "emulator": {"step_s": 0.001, **emulator},
    }


@pytest.mark.parametrize(
    ("emulator", "expected"), [({}, 80), ({"battery": 55}, 55), ({"battery": False}, None)]
)
async def test_opener_emulator_battery_option(
    emulator: dict[str, object], expected: int | None
) -> None:
    async with twins.connect("ble-bp-standard", options=_options(**emulator)) as bpm:
        await bpm.measure(timeout_s=10)
        assert bpm.battery_percent == expected
    async with twins.connect("ble-and-ua651", options=_options(**emulator)) as adm:
        await adm.measure(timeout_s=10)
        assert adm.battery_percent == expected
    async with twins.connect("ble-glucose-standard", options=_options(**emulator)) as gm:
        await gm.download()
        assert gm.battery_percent == expected


@pytest.mark.parametrize("value", [101, -1, "80", True, 12.5])
async def test_opener_refuses_a_bad_battery_option(value: object) -> None:
    with pytest.raises(ConfigError, match="battery") as caught:
        async with twins.connect("ble-bp-standard", options=_options(battery=value)):
            pass
    assert caught.value.key == "emulator.battery"
