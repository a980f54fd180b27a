"""``healthkiosk devices print-test``: the technician's test slip.

Prints the take-home slip with sample data, marked "测试小票 / TEST SLIP", on
the configured printer (``[devices.printer]``), on ``--port`` (a serial
printer), or with ``--emulate`` on the driver's emulated twin, which prints it
as the printer would, at the printer's dot width: ``--out FILE.png`` keeps
that image. Exit 0 when the slip was printed; a printer that cannot print
(no paper, cover open, no answer, not found) is one line on stderr, exit 2.
"""

from __future__ import annotations

import argparse
from typing import Any


def register(dsub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    q = dsub.add_parser("print-test", help="print a test slip (sample data) on the receipt printer")
    q.add_argument("--driver", help="escpos-usb or escpos-serial (default: [devices.printer])")
    q.add_argument("--port", help="a serial printer's port (default: [devices.printer] port)")
    q.add_argument("--dot-width", type=int, metavar="DOTS", help="384 (58 mm), 576 (80 mm)...")
    q.add_argument("--emulate", action="store_true", help="print on the driver's emulated twin")
    q.add_argument("--out", metavar="FILE.png", help="with --emulate: the slip as printed")
    q.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="NAME",
        help="with --emulate: a fault of the twin (no_paper, cover_open, ...)",
    )
    q.set_defaults(handler=_print_test)


def _print_test(args: argparse.Namespace) -> int:
    import asyncio

    from drivers.registry import get_driver
    from healthkiosk.cli.common import load
    from healthkiosk.config import PrinterConfig
    from healthkiosk.errors import ConfigError

    if (args.out or args.fault) and not args.emulate:
        raise ConfigError("--out and --fault go with --emulate")
    cfg = load(args)
    configured = cfg.devices.printer
    driver = args.driver or (configured.driver if configured else None)
    if driver is None:
        driver = "escpos-serial" if args.port else "escpos-usb" if args.emulate else None
    if driver is None:
        raise ConfigError("no printer: configure [devices.printer], or give --port or --emulate")
    spec = get_driver(driver)
    if spec.role != "printer":
        raise ConfigError(f"{driver} is a {spec.role.replace('_', ' ')} driver, not a printer")
    base = configured or PrinterConfig(driver=driver)
    usb_id = base.usb_id or ("0416:5011" if args.emulate else None)
    try:
        printer = PrinterConfig(
            driver=driver,
            port=args.port or base.port,
            dot_width=args.dot_width or base.dot_width,
            usb_id=usb_id,
            options=dict(base.options),
        )
    except ValueError as err:  # pydantic's, for --dot-width
        raise ConfigError(f"--dot-width: {args.dot_width} is not a printer's width") from err
    options = printer.driver_options()
    twins = None
    if args.emulate:
        from healthkiosk.cli.emulation_hook import require_emulation

        twins = require_emulation("twins", wanted_by="devices print-test --emulate")
        if args.fault:
            options["emulator"] = {**options.get("emulator", {}), "faults": list(args.fault)}
    return asyncio.run(_print(spec, cfg, printer, options=options, out=args.out, twins=twins))


async def _print(
    spec: Any, cfg: Any, printer: Any, *, options: dict[str, Any], out: str | None, twins: Any
) -> int:
    import asyncio
    from datetime import UTC, datetime

    from drivers.printer.pillow import to_image
    from kiosk.flow.printing import draw
    from kiosk.slip.model import SlipSettings, sample_slip

    slip = sample_slip(SlipSettings.from_config(cfg), at=datetime.now(UTC))
    raster = await asyncio.to_thread(draw, slip, printer.dot_width)
    where = printer.port or (f"usb {printer.usb_id}" if printer.usb_id else "")
    if twins is None:
        opening = spec.load_opener()(port=printer.port, address=None, options=options)
        async with opening as device:
            await device.print_raster(raster)
        print(
            f"printed a test slip ({printer.dot_width} x {raster.height} dots) "
            f"with {spec.name} {where}".rstrip()
        )
        return 0
    async with twins.start(spec.name, options=options) as twin:
        async with twins.open_driver(twin, options=options) as device:
            await device.print_raster(raster)
        printed = twin.emulator.printer.slips[-1]
    print(
        f"printed a test slip ({printer.dot_width} x {raster.height} dots) on the emulated "
        f"{spec.name}: {printed.raster.width} x {printed.raster.height} dots of paper"
    )
    if out:
        to_image(printed.raster).save(out)
        print(f"the slip as printed: {out}")
    return 0
