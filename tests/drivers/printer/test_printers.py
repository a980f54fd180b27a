"""Both printer drivers, unchanged, against their emulated twins: escpos-serial
on a pty, escpos-usb through python-escpos and pyusb on the twin's pyusb
backend. A slip comes out pixel for pixel; every fault is a typed error."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from PIL import Image, ImageDraw

from drivers.printer import escpos_codec as codec
from drivers.printer.escpos_codec import Raster
from drivers.printer.pillow import to_raster
from emulation import twins
from healthkiosk.errors import (
    ConfigError,
    DeviceConnectionError,
    DeviceNotFoundError,
    PrinterError,
    PrinterProblem,
)

pytestmark = pytest.mark.timeout(60)

DRIVERS = ("escpos-serial", "escpos-usb")
USB_ID = "0416:5011"


def driver_options(driver: str, **more: Any) -> dict[str, Any]:
    options: dict[str, Any] = {"dot_width": 384, "status_timeout_s": 0.3, **more}
    if driver == "escpos-usb":
        options.setdefault("usb_id", USB_ID)
    return options


@asynccontextmanager
async def printer_on_twin(driver: str, **options: Any) -> AsyncIterator[tuple[Any, Any]]:
    """(the real driver, the emulated printer) for ``driver`` with ``options``."""
    opts = driver_options(driver, **options)
    async with (
        twins.start(driver, options=opts) as twin,
        twins.open_driver(twin, options=opts) as device,
    ):
        yield device, twin.emulator.printer


def picture(width: int = 384, height: int = 600) -> Raster:
    image = Image.new("1", (width, height), 1)
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, width - 1, 5), fill=0)
    draw.line((0, 0, width - 1, height - 1), fill=0, width=3)
    draw.text((20, height // 2), "escpos round trip", fill=0)
    return to_raster(image)


@pytest.mark.parametrize("driver", DRIVERS)
async def test_a_slip_comes_out_as_it_was_sent(driver: str) -> None:
    raster = picture()
    async with printer_on_twin(driver, feed_lines=3) as (device, printer):
        assert device.dot_width == 384
        await device.print_raster(raster)
    assert printer.errors == []
    (slip,) = printer.slips
    assert slip.cut
    assert slip.raster.width == 384
    assert slip.raster.rows(0, raster.height) == raster  # pixel for pixel
    feed = slip.raster.rows(raster.height, slip.raster.height)
    assert feed.height == 3 * codec.LINE_DOTS and feed.black_dots() == 0
    # Status asked before the slip and after it: online, then paper.
    assert printer.status_queries == [1, 4, 1, 4]


@pytest.mark.parametrize("driver", DRIVERS)
async def test_a_narrower_image_is_printed_at_the_left_and_a_wider_one_refused(
    driver: str,
) -> None:
    async with printer_on_twin(driver, cut=False, feed_lines=0) as (device, printer):
        await device.print_raster(picture(width=200))
        with pytest.raises(ValueError, match="576-dot image on a 384-dot printer"):
            await device.print_raster(picture(width=576))
        await device.print_raster(picture(width=64, height=10))
    slip = printer.torn_off()  # no cut: one strip of paper, torn off by hand
    assert slip is not None and printer.slips == [slip]
    assert slip.raster.width == 384
    assert slip.raster.height == 610
    assert slip.raster.rows(0, 600) == picture(width=200).padded(48)


@pytest.mark.parametrize("driver", DRIVERS)
@pytest.mark.parametrize(
    ("fault", "problem"),
    [
        ("no_paper", PrinterProblem.NO_PAPER),
        ("cover_open", PrinterProblem.COVER_OPEN),
        ("offline", PrinterProblem.OFFLINE),
        ("silent", PrinterProblem.NO_ANSWER),
    ],
)
async def test_a_printer_that_cannot_print_is_told_before_the_slip(
    driver: str, fault: str, problem: PrinterProblem
) -> None:
    async with printer_on_twin(driver, emulator={"fault": fault}) as (device, printer):
        with pytest.raises(PrinterError) as err:
            await device.print_raster(picture())
        assert err.value.problem is problem
        assert err.value.reason == problem.value
        assert "receipt printer" in err.value.device
        with pytest.raises(PrinterError):
            await device.check_ready()
    assert printer.slips == [] and printer.torn_off() is None
    # Nothing but status queries was sent: not a byte of the slip.
    assert printer.bytes_received == 3 * len(printer.status_queries) > 0


@pytest.mark.parametrize("driver", DRIVERS)
async def test_paper_running_out_during_the_slip_is_told_after_it(driver: str) -> None:
    raster = picture()
    async with printer_on_twin(driver, emulator={"fault": "paper_out", "paper_rows": 250}) as (
        device,
        printer,
    ):
        with pytest.raises(PrinterError) as err:
            await device.print_raster(raster)
        assert err.value.problem is PrinterProblem.NO_PAPER
        assert "during the slip" in str(err.value)
    (slip,) = printer.slips
    assert slip.raster.height == 250  # as far as the paper went
    assert slip.raster == raster.rows(0, 250)


@pytest.mark.parametrize("driver", DRIVERS)
async def test_the_cable_pulled_out_mid_slip_is_a_lost_link(driver: str) -> None:
    raster = picture(height=1200)  # 57,600 bytes: written in 15 chunks
    async with printer_on_twin(
        driver, chunk_bytes=1024, emulator={"fault": "drop_print", "drop_after_bytes": 8000}
    ) as (device, printer):
        with pytest.raises(DeviceConnectionError) as err:
            await device.print_raster(raster)
        assert err.value.reason == "link_lost"
    torn = printer.slips[-1]
    assert not torn.cut
    assert 0 < torn.raster.height < raster.height
    assert torn.raster == raster.rows(0, torn.raster.height)


async def test_a_serial_printer_plugged_back_in_prints_the_next_slip() -> None:
    options = {"fault": "drop_print", "drop_after_bytes": 4000, "replug_after_s": 0.2}
    async with printer_on_twin("escpos-serial", chunk_bytes=1024, emulator=options) as (
        device,
        printer,
    ):
        with pytest.raises(DeviceConnectionError):
            await device.print_raster(picture())
        await asyncio.sleep(0.5)
        await device.print_raster(picture())
    assert [s.cut for s in printer.slips] == [False, True]
    assert printer.slips[-1].raster.rows(0, 600) == picture()


@pytest.mark.parametrize("driver", DRIVERS)
async def test_without_status_checks_a_silent_printer_still_prints(driver: str) -> None:
    async with printer_on_twin(driver, check_status=False, emulator={"fault": "silent"}) as (
        device,
        printer,
    ):
        await device.print_raster(picture())
        # Nothing to wait for on the wire: the bytes are written, the printer
        # prints them in its own time.
        for _ in range(250):
            if printer.slips:
                break
            await asyncio.sleep(0.02)
    assert printer.status_queries == []
    assert len(printer.slips) == 1


async def test_a_usb_printer_not_plugged_in_is_not_found() -> None:
    opts = driver_options("escpos-usb")
    async with twins.start("escpos-usb", options=opts) as twin:
        with pytest.raises(DeviceNotFoundError, match="no USB printer 0416:5012"):
            async with twins.open_driver(twin, options={**opts, "usb_id": "0416:5012"}):
                pass


async def test_a_usb_printer_needs_its_ids_and_endpoints_come_from_the_options() -> None:
    with pytest.raises(ConfigError) as err:
        async with twins.connect("escpos-usb", options={"dot_width": 384}):
            pass
    assert err.value.key == "usb_id"
    # A printer whose endpoints are 0x81 / 0x03 (many Chinese 58 mm printers).
    async with printer_on_twin("escpos-usb", in_ep=0x81, out_ep=0x03) as (device, printer):
        await device.print_raster(picture(height=50))
    assert len(printer.slips) == 1


async def test_unknown_options_are_named() -> None:
    with pytest.raises(ConfigError) as err:
        async with twins.connect("escpos-serial", options={"dotwidth": 384}):
            pass
    assert err.value.key == "options.dotwidth"
