"""``healthkiosk devices pair DRIVER [--address ADDR] [--emulate]``: bond a
Bluetooth device with this station in its pairing window.

The technician is guided in Chinese, then English (the kiosk's own words,
``pair.*`` in kiosk/app/texts.py): hold the device's Bluetooth button until
-P- blinks, then press Enter. The driver's ``pair()`` does the rest
(drivers/ble/pairing.py: a stale bond removed first, the pairing retried
while the window lasts, the bond checked; an Omron monitor's unlock key
programmed). Each step is printed as it happens; a failure is one line
naming the device and the reason, then what to do in plain words (exit 2).
With ``--emulate`` the driver's twin plays a device fresh from its box, and
Enter stands for holding its button.
"""

from __future__ import annotations

import argparse
from typing import Any


def register(dsub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    q = dsub.add_parser(
        "pair",
        help="pair a Bluetooth device with this station (hold its button until -P- blinks)",
    )
    q.add_argument("driver", help="a registered BLE driver (see `devices list`)")
    q.add_argument("--address", help="the device's address (else the configured one, else any)")
    q.add_argument("--emulate", action="store_true", help="pair the driver's emulated twin")
    q.add_argument(
        "--window",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="how long the device's pairing window lasts (30)",
    )
    q.add_argument("--yes", action="store_true", help="do not wait for Enter: -P- blinks already")
    q.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a driver option (VALUE is JSON, else a string)",
    )
    q.set_defaults(handler=_pair)


def _say(key: str, *, err: bool = False) -> None:
    import sys

    from kiosk.app.i18n import text

    stream = sys.stderr if err else sys.stdout
    print(f"{text('zh_CN', key)}\n{text('en', key)}", file=stream, flush=True)


def _options(args: argparse.Namespace, base: dict[str, Any]) -> dict[str, Any]:
    import json

    from healthkiosk.errors import ConfigError

    options = dict(base)
    for item in args.option:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--option needs KEY=VALUE, got {item!r}")
        try:
            options[key] = json.loads(raw)
        except ValueError:
            options[key] = raw
    return options


def _pair(args: argparse.Namespace) -> int:
    import asyncio
    import sys

    from drivers.registry import get_driver
    from healthkiosk.cli.common import load
    from healthkiosk.errors import ConfigError, DeviceError
    from kiosk.flow.errors import pair_error_key

    cfg = load(args)
    spec = get_driver(args.driver)
    if spec.transport != "ble":
        raise ConfigError(f"{spec.name} is not a Bluetooth device: it has nothing to pair")
    base: dict[str, Any] = {}
    address = args.address
    for section in (cfg.devices.blood_pressure, cfg.devices.glucose):
        if section is not None and section.driver == spec.name:
            base = dict(section.options)
            address = address or section.address
    base.setdefault("timezone", cfg.station.timezone)
    options = _options(args, base)

    _say("pair.title")
    _say("pair.hold_button")
    if not args.yes:
        _say("pair.then_enter")
        sys.stdin.readline()  # Enter (or the end of input)
    try:
        info = asyncio.run(_pair_async(spec, address=address, options=options, args=args))
    except DeviceError as err:
        print(f"healthkiosk: {err} ({err.reason})", file=sys.stderr)
        _say(f"pair.error.{pair_error_key(err.reason)}", err=True)
        return 2
    serial = f" s/n {info.serial}" if info.serial else ""
    print(f"{info.manufacturer} {info.model}{serial} {info.address}".strip())
    return 0


async def _pair_async(spec: Any, *, address: str | None, options: dict[str, Any], args: Any) -> Any:
    from healthkiosk.errors import ConfigError

    def step(now: Any) -> None:
        _say(f"pair.step.{now}")

    async def bond(device: Any) -> Any:
        pair = getattr(device, "pair", None)
        if pair is None:
            raise ConfigError(f"driver {spec.name} cannot pair")
        return await pair(window_s=args.window, on_step=step)

    if not args.emulate:
        async with spec.load_opener()(address=address, options=options) as device:
            return await bond(device)
    from healthkiosk.cli.emulation_hook import require_emulation

    twins = require_emulation("twins", wanted_by="devices pair --emulate")
    emulator = dict(options.get("emulator") or {})
    emulator.setdefault("paired", False)  # a device fresh from its box
    emulator.setdefault("bonding", True)
    options = {**options, "emulator": emulator}
    async with twins.start(spec.name, options=options) as twin:
        twin.emulator.press_pairing_button(args.window)  # what Enter stood for
        async with twins.open_driver(twin, options=options, address=address) as device:
            return await bond(device)
