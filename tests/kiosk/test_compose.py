"""The kiosk's composition: which device stands behind each role, configured
or (``run --simulate``) the drivers' emulated twins for every role."""

from __future__ import annotations

from pathlib import Path

import pytest

from emulation.idcard.sam_reader import SAMPLE_CARD
from emulation.qrcode.scanner import SAMPLE_ID
from emulation.twins import Simulation
from healthkiosk.config import from_mapping
from healthkiosk.errors import DeviceError, DeviceTimeoutError
from kiosk.compose import open_devices
from kiosk.reconnect import ReconnectingBloodPressureMonitor, ReconnectingIdCardReader
from management import pairings

pytestmark = pytest.mark.timeout(60)


async def test_a_configured_qr_scanner_is_its_twin_and_the_other_roles_get_default_twins() -> None:
    cfg = from_mapping({"devices": {"qr_code": {"driver": "serial-qr"}}})
    simulation = Simulation(cfg)
    assert simulation.config.devices.blood_pressure is not None
    assert simulation.config.devices.blood_pressure.driver == "ble-bp-standard"
    assert simulation.config.devices.id_card is not None
    assert simulation.config.devices.id_card.driver == "sam-idcard"
    async with simulation.open_devices() as devices:
        assert isinstance(devices.blood_pressure, ReconnectingBloodPressureMonitor)
        assert isinstance(devices.id_card, ReconnectingIdCardReader)
        assert devices.qr_code is not None
        card = await devices.qr_code.read_card(timeout_s=10)
        assert card.id_number == SAMPLE_ID
        roles = {s.role for s in devices.statuses()}
        assert roles == {"blood_pressure", "glucose", "id_card", "qr_code"}


async def test_the_emulated_reader_reads_a_card_only_when_one_is_presented() -> None:
    """`run --simulate`'s ID card reader is the SAM reader's driver on its pty
    twin, with no card of its own: the "c" key (or the scripted visitor) puts
    one on it for one read."""
    simulation = Simulation(from_mapping({}))
    async with simulation.open_devices() as devices:
        assert devices.id_card is not None
        with pytest.raises(DeviceTimeoutError):
            await devices.id_card.read_card(timeout_s=1)
        simulation.present_card(SAMPLE_CARD)
        card = await devices.id_card.read_card(timeout_s=10)
        assert (card.name, card.id_number) == (SAMPLE_CARD.name, SAMPLE_CARD.id_number)
        with pytest.raises(DeviceTimeoutError):  # taken back once read
            await devices.id_card.read_card(timeout_s=1)


async def test_a_role_not_configured_has_no_device_on_a_station() -> None:
    async with open_devices(from_mapping({})) as devices:
        assert devices.blood_pressure is None and devices.id_card is None
        assert {s.role: s.state for s in devices.statuses()} == {
            "blood_pressure": "missing",
            "glucose": "missing",
            "id_card": "missing",
        }


async def test_without_a_configured_scanner_there_is_no_qr_check_in() -> None:
    async with Simulation(from_mapping({})).open_devices() as devices:
        assert devices.qr_code is None
        # Optional, so not listed as missing on the technician screen.
        assert "qr_code" not in {s.role for s in devices.statuses()}


async def test_pair_pins_the_monitor_that_answers_and_later_opens_use_it(tmp_path: Path) -> None:
    cfg = from_mapping(
        {
            "station": {"data_dir": str(tmp_path)},
            "devices": {"blood_pressure": {"driver": "ble-bp-standard"}},
        }
    )
    async with Simulation(cfg).open_devices() as devices:
        monitor = devices.blood_pressure
        assert monitor is not None and monitor.pairable  # type: ignore[attr-defined]
        info = await monitor.pair()  # type: ignore[attr-defined]
        assert info.address and pairings.read(tmp_path) == {"blood_pressure": info.address}
        again = await monitor.check()  # type: ignore[attr-defined]
        assert again.address == info.address
        # The remote "repair" forgets the pin: the next open takes any monitor again.
        assert pairings.forget(tmp_path, "blood_pressure")
        assert not pairings.forget(tmp_path, "blood_pressure")
        assert (await monitor.check()).address == info.address  # type: ignore[attr-defined]


async def test_the_kiosk_pairs_a_new_omron_monitor_and_pins_it(tmp_path: Path) -> None:
    """The technician's Pair (kiosk/reconnect.py) on an Omron twin fresh from
    its box, -P- blinking: the driver bonds, programs its key (each step
    reported), and the monitor's address is pinned. (The simulation stops a
    twin when its device closes, so the bond is not used again here; the
    driver tests use one twin across pairing and measuring.)"""
    cfg = from_mapping(
        {
            "station": {"data_dir": str(tmp_path)},
            "devices": {
                "blood_pressure": {
                    "driver": "ble-omron",
                    "options": {
                        "timezone": "Asia/Shanghai", "scan_timeout_s": 5, "poll_interval_s": 0.2,
                        "emulator": {"paired": False, "pairing_window_s": 20},
                    },
                }
            },
        }
    )  # fmt: skip
    sim = Simulation(cfg)
    async with sim.open_devices() as devices:
        monitor = devices.blood_pressure
        assert monitor is not None and monitor.pairable  # type: ignore[attr-defined]
        steps: list[str] = []
        info = await monitor.pair(on_step=steps.append)  # type: ignore[attr-defined]
        assert steps == ["looking", "bonding", "device_key", "done"]
        assert info.model == "HEM-7361T"
        assert pairings.read(tmp_path) == {"blood_pressure": info.address}


async def test_a_configured_address_is_bonded_not_pinned_and_a_serial_device_not_paired(
    tmp_path: Path,
) -> None:
    cfg = from_mapping(
        {
            "station": {"data_dir": str(tmp_path)},
            "devices": {
                "glucose": {"driver": "onetouch-ultra2"},
                "blood_pressure": {"driver": "ble-bp-standard", "address": "AA:BB:CC:DD:EE:01"},
            },
        }
    )
    async with Simulation(cfg).open_devices() as devices:
        assert not devices.glucose.pairable  # type: ignore[union-attr]
        # a BLE monitor at a configured address can still be bonded (its
        # driver's pair()), but there is no address to pin
        assert devices.blood_pressure.pairable  # type: ignore[union-attr]
        with pytest.raises(DeviceError) as err:
            await devices.glucose.pair()  # type: ignore[union-attr]
        assert err.value.reason == "not_pairable"
    assert pairings.read(tmp_path) == {}


def test_a_damaged_pairings_file_counts_as_none(tmp_path: Path) -> None:
    pairings.path_for(tmp_path).write_text("{not json", encoding="utf-8")
    assert pairings.read(tmp_path) == {}
    pairings.pin(tmp_path, "glucose", "AA:BB:CC:DD:EE:02")
    assert pairings.address_for(tmp_path, "glucose") == "AA:BB:CC:DD:EE:02"


async def test_a_configured_printer_is_a_device_of_the_kiosk_and_prints_through_its_twin(
    tmp_path: Path,
) -> None:
    """``run --simulate`` with ``[devices.printer]``: the configured driver on
    its twin, with the configured dot width, through the kiosk's wrapper."""
    from PIL import Image

    from drivers.printer.pillow import to_raster
    from kiosk.reconnect import ReconnectingPrinter

    cfg = from_mapping(
        {
            "station": {"data_dir": str(tmp_path)},
            "devices": {"printer": {"driver": "escpos-usb", "usb_id": "1fc9:2016",
                                    "dot_width": 576, "options": {"in_ep": 0x81}}},
        }
    )  # fmt: skip
    simulation = Simulation(cfg)
    async with simulation.open_devices() as devices:
        printer = devices.printer
        assert isinstance(printer, ReconnectingPrinter) and printer.dot_width == 576
        assert printer.info.model == "escpos-usb"  # not opened yet: the driver's name
        await printer.print_raster(to_raster(Image.new("1", (576, 40), 0)))
        twin = simulation.running["escpos-usb"]
        assert (twin.emulator.usb_id, twin.emulator.in_ep) == ("1fc9:2016", 0x81)
        (slip,) = twin.emulator.printer.slips
        assert slip.raster.width == 576 and slip.raster.rows(0, 40).black_dots() == 576 * 40
        assert printer.info.model == "ESC/POS receipt printer"
        assert ("printer", "ready") in {(s.role, s.state) for s in devices.statuses()}
        # The technician's test asks the printer whether it can print.
        assert (await printer.check()).model == "ESC/POS receipt printer"


async def test_a_printer_that_cannot_print_fails_the_technician_s_test(tmp_path: Path) -> None:
    from healthkiosk.errors import PrinterError

    cfg = from_mapping(
        {
            "station": {"data_dir": str(tmp_path)},
            "devices": {"printer": {"driver": "escpos-serial",
                                    "options": {"emulator": {"fault": "no_paper"}}}},
        }
    )  # fmt: skip
    async with Simulation(cfg).open_devices() as devices:
        assert devices.printer is not None
        with pytest.raises(PrinterError) as err:
            await devices.printer.check()  # type: ignore[attr-defined]
        assert err.value.reason == "no_paper"


async def test_a_printer_disabled_or_not_configured_is_no_device() -> None:
    disabled = {"devices": {"printer": {"driver": "escpos-serial", "enabled": False}}}
    for cfg in (from_mapping({}), from_mapping(disabled)):
        async with Simulation(cfg).open_devices() as devices:
            assert devices.printer is None
            assert "printer" not in {s.role for s in devices.statuses()}  # optional


@pytest.mark.parametrize(("setting", "sets"), [("untrusted", False), ("trusted", True)])
async def test_a_device_clock_is_set_only_while_the_stations_clock_is_trusted(
    setting: str, sets: bool
) -> None:
    """A serial meter whose clock is days off: set at connect by a station whose
    own clock is trusted, left alone (the wrong time must not spread) by one
    whose clock is not."""
    cfg = from_mapping(
        {
            "station": {"clock": setting},
            "devices": {
                "glucose": {
                    "driver": "onetouch-ultra2",
                    "options": {"emulator": {"fault": "wrong_clock"}},
                }
            },
        }
    )
    simulation = Simulation(cfg)
    async with simulation.open_devices() as devices:
        assert devices.glucose is not None
        await devices.glucose.check()  # connects: the driver compares the clocks
        meter = simulation.running["onetouch-ultra2"].emulator
        assert devices.glucose._device.clock_was_set is sets  # type: ignore[attr-defined]
        assert (abs(meter.clock_offset.total_seconds()) < 120) is sets


async def test_a_ble_meter_clock_waits_for_the_stations_clock_to_be_synchronised() -> None:
    """The gate is asked at every connection: the meter connected while the
    station's clock is not synchronised gets no Current Time; connected again
    once it is (switched off and on: a new twin), it does."""
    synced = False
    simulation = Simulation(from_mapping({}))
    async with open_devices(
        simulation.config, connect=simulation.connect, clock_trusted=lambda: synced
    ) as devices:
        assert devices.glucose is not None
        await devices.glucose.measure(timeout_s=20)
        meter = simulation.running["ble-glucose-standard"].emulator
        assert meter.clock_writes == 0
        await devices.glucose.close()
        synced = True
        await devices.glucose.measure(timeout_s=20)
        again = simulation.running["ble-glucose-standard"].emulator
        assert again is not meter and again.clock_writes == 1
