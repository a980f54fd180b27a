"""``healthkiosk devices scan | read | emulate | decode | reading``.

``read`` and ``emulate`` are generic over the driver registry, so the serial
and ID card drivers work through them too. ``--emulate`` and ``emulate``
need the emulated twins (``emulation.twins``, through
:mod:`healthkiosk.cli.emulation_hook`). Heavy imports stay inside handlers.
"""

from __future__ import annotations

import argparse
from typing import Any

DECODE_KINDS = (
    "bpm",
    "icp",
    "bp-feature",
    "glucose",
    "glucose-context",
    "racp",
    "sfloat",
    "float",
    "cts",
    "battery",
    "weight",
    "weight-feature",
    "body-composition",
    "plx-spot",
    "plx-continuous",
    "plx-features",
    "temperature",
)
READING_KINDS = ("bpm", "glucose", "weight", "plx-spot", "plx-continuous", "temperature")
"""And ``line:FORMAT`` for a serial line format (shipped name or a TOML file)."""
"""``devices reading`` kinds of the issue #17 drivers (bpm, glucose and the
serial line formats are issue #14's, on its own branch)."""


def register(dsub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    q = dsub.add_parser(
        "scan",
        help="nearby BLE health devices (0x1810, 0x1808, 0x181D, 0x1822, 0x1809), with RSSI",
    )
    q.add_argument("--timeout", type=float, default=8.0, metavar="SECONDS")
    q.add_argument("--emulate", action="store_true", help="scan the emulated peripherals")
    q.set_defaults(handler=_scan)

    q = dsub.add_parser("read", help="one measurement (or --memory) from a driver, as JSON")
    q.add_argument("driver", help="a registered driver (see `devices list`)")
    where = q.add_mutually_exclusive_group()
    where.add_argument("--port", help="serial port")
    where.add_argument("--address", help="BLE address")
    q.add_argument("--emulate", action="store_true", help="use the driver's emulated twin")
    q.add_argument("--memory", action="store_true", help="download the device memory")
    q.add_argument("--after", type=int, metavar="SEQ", help="with --memory: records after SEQ")
    q.add_argument("--timeout", type=float, default=180.0, metavar="SECONDS")
    q.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="NAME",
        help="with --emulate: inject a fault (repeatable)",
    )
    q.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a driver option (VALUE is JSON, else a string)",
    )
    q.set_defaults(handler=_read)

    q = dsub.add_parser("emulate", help="run a driver's emulated device until Ctrl-C")
    q.add_argument("driver")
    q.add_argument("--fault", action="append", default=[], metavar="NAME")
    q.add_argument("--for", dest="duration", type=float, metavar="SECONDS", help="stop after")
    q.set_defaults(handler=_emulate)

    q = dsub.add_parser("decode", help="decode captured bytes (e.g. from nRF Connect) as JSON")
    q.add_argument("kind", choices=DECODE_KINDS)
    q.add_argument("hex", nargs="+", help="the bytes in hex (spaces, dashes, colons allowed)")
    q.set_defaults(handler=_decode)

    q = dsub.add_parser(
        "reading",
        help="what the kiosk would record from captured bytes (recorded, reason, values), as JSON",
    )
    q.add_argument(
        "kind", metavar="KIND", help=f"one of {', '.join(READING_KINDS)}, or line:FORMAT"
    )
    q.add_argument(
        "hex",
        nargs="+",
        metavar="HEX",
        help="the bytes in hex (quote a HEX with spaces); glucose: the measurement, then its"
        " context as a second HEX if captured; line:FORMAT: the line's TEXT",
    )
    q.set_defaults(handler=_reading)


# --- decode ----------------------------------------------------------------------


def _decode(args: argparse.Namespace) -> int:
    import json
    import sys

    from drivers.ble.decode import decode_to_json, parse_hex
    from healthkiosk.errors import ProtocolError

    try:
        data = parse_hex(" ".join(args.hex))
    except ValueError as err:
        print(f"healthkiosk: {err}", file=sys.stderr)
        return 2
    try:
        result = decode_to_json(args.kind, data)
    except ProtocolError as err:
        print(f"healthkiosk: {args.kind}: {err} (bytes {data.hex(' ')})", file=sys.stderr)
        return 2
    print(json.dumps(result, ensure_ascii=False))
    return 0


# --- reading ---------------------------------------------------------------------


def _reading(args: argparse.Namespace) -> int:
    """One JSON object and exit 0 (``recorded`` true, or false with ``reason``;
    the values in the kiosk's units), or one line on stderr and exit 2 for
    bytes that cannot be decoded. The rules and time zone are the configured ones."""
    import json
    import sys
    from zoneinfo import ZoneInfo

    from drivers.ble.decode import parse_hex
    from drivers.ble.reading import reading_to_json
    from healthkiosk.cli.common import load
    from healthkiosk.errors import ProtocolError
    from healthkiosk.rules import load_rules

    cfg = load(args, log=False)
    rules, tz = load_rules(cfg.rules), ZoneInfo(cfg.station.timezone)
    if args.kind.startswith("line:"):
        from drivers.serial.linemonitor import line_to_reading_json
        from healthkiosk.errors import ConfigError

        try:
            result = line_to_reading_json(
                args.kind.removeprefix("line:"), " ".join(args.hex), rules=rules, tz=tz
            )
        except (ProtocolError, ConfigError) as err:
            print(f"healthkiosk: {args.kind}: {err}", file=sys.stderr)
            return 2
        print(json.dumps(result, ensure_ascii=False))
        return 0
    if args.kind not in READING_KINDS:
        kinds = ", ".join(READING_KINDS)
        print(f"healthkiosk: no reading kind {args.kind!r} ({kinds}, line:FORMAT)", file=sys.stderr)
        return 2
    context = None
    try:
        if args.kind == "glucose" and len(args.hex) == 2:
            data, context = parse_hex(args.hex[0]), parse_hex(args.hex[1])
        else:
            data = parse_hex(" ".join(args.hex))
    except ValueError as err:
        print(f"healthkiosk: {err}", file=sys.stderr)
        return 2
    try:
        result = reading_to_json(args.kind, data, rules=rules, tz=tz, context=context)
    except ProtocolError as err:
        print(f"healthkiosk: {args.kind}: {err} (bytes {data.hex(' ')})", file=sys.stderr)
        return 2
    print(json.dumps(result, ensure_ascii=False))
    return 0


# --- read ------------------------------------------------------------------------


def _jsonable(value: Any) -> Any:
    import dataclasses
    from datetime import date, datetime
    from enum import Enum

    from healthkiosk.idnumber import mask
    from healthkiosk.readings import IdCardData

    if isinstance(value, IdCardData):
        out = {f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
        out["id_number"] = mask(value.id_number)
        return out
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


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
    if getattr(args, "fault", None):
        emulator = dict(options.get("emulator") or {})
        emulator["faults"] = list(args.fault)
        options["emulator"] = emulator
    return options


class _Progress:
    def __init__(self) -> None:
        import sys

        self.stream = sys.stderr
        self.shown = False
        self.last: tuple[int, int] | None = None

    def __call__(self, done: int, total: int) -> None:
        width = 30
        filled = width * done // total if total else width
        percent = 100 * done // total if total else 100
        if (percent, total) == self.last:
            return
        self.last = (percent, total)
        self.stream.write(f"\r[{'#' * filled}{'-' * (width - filled)}] {done}/{total}")
        self.stream.flush()
        self.shown = True

    def end(self) -> None:
        if self.shown:
            self.stream.write("\n")
            self.stream.flush()


def _read(args: argparse.Namespace) -> int:
    import asyncio
    import json

    from drivers.registry import get_driver
    from healthkiosk.cli.common import load

    cfg = load(args)
    spec = get_driver(args.driver)
    base: dict[str, Any] = {}
    port, address = args.port, args.address
    for section in (cfg.devices.blood_pressure, cfg.devices.glucose, cfg.devices.id_card):
        if section is not None and section.driver == spec.name:
            base = dict(section.options)
            port = port or section.port
            address = address or section.address
    if spec.transport == "ble":
        base.setdefault("timezone", cfg.station.timezone)
    options = _options(args, base)
    result = asyncio.run(_read_async(spec, port=port, address=address, options=options, args=args))
    print(json.dumps(_jsonable(result), ensure_ascii=False))
    return 0


async def _read_async(
    spec: Any, *, port: str | None, address: str | None, options: dict[str, Any], args: Any
) -> Any:
    import json
    import sys

    from healthkiosk.errors import ConfigError, DownloadInterrupted

    if args.emulate:
        from healthkiosk.cli.emulation_hook import require_emulation

        twins = require_emulation("twins", wanted_by="devices read --emulate")
        opening = twins.connect(spec.name, options=options, address=address)
    else:
        opening = spec.load_opener()(port=port, address=address, options=options)
    async with opening as dev:
        if args.memory:
            if not hasattr(dev, "download"):
                raise ConfigError(f"driver {spec.name} has no memory download")
            progress = _Progress()
            try:
                records = await dev.download(after_sequence=args.after, on_progress=progress)
            except DownloadInterrupted as err:
                progress.end()
                # What arrived is kept: print it, then the error line (exit 2).
                print(json.dumps(_jsonable(err.records), ensure_ascii=False))
                raise
            progress.end()
            return records
        if spec.role == "blood_pressure":

            def cuff(pressure: Any) -> None:
                print(f"cuff {pressure.mmhg:.0f} mmHg", file=sys.stderr)

            return await dev.measure(on_cuff_pressure=cuff, timeout_s=args.timeout)
        if spec.role == "thermometer":

            def live(celsius: float) -> None:
                print(f"temperature {celsius:.1f} °C", file=sys.stderr)

            return await dev.measure(on_intermediate=live, timeout_s=args.timeout)
        if spec.role in ("glucose", "weight", "pulse_oximeter"):
            return await dev.measure(timeout_s=args.timeout)
        return await dev.read_card(timeout_s=args.timeout)


# --- emulate ---------------------------------------------------------------------


def _emulate(args: argparse.Namespace) -> int:
    import asyncio

    from drivers.registry import get_driver
    from healthkiosk.cli.common import load
    from healthkiosk.cli.emulation_hook import require_emulation

    load(args)
    spec = get_driver(args.driver)
    twins = require_emulation("twins", wanted_by="devices emulate")
    twins.twin_for(spec.name)  # a driver without a twin is named before anything starts
    options = _options(argparse.Namespace(option=[], fault=args.fault), {})

    async def main() -> None:
        started = asyncio.Event()

        def ready(description: Any) -> None:
            print(f"emulating {spec.name}: {description}", flush=True)
            started.set()

        task = asyncio.ensure_future(twins.serve(spec.name, options=options, ready=ready))
        try:
            if args.duration is None:
                await task
                return
            waiting = asyncio.ensure_future(started.wait())
            await asyncio.wait({task, waiting}, return_when=asyncio.FIRST_COMPLETED)
            waiting.cancel()
            if not task.done():
                await asyncio.wait({task}, timeout=args.duration)
            if task.done():
                task.result()
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    asyncio.run(main())
    return 0


# --- scan ------------------------------------------------------------------------


def _scan(args: argparse.Namespace) -> int:
    import asyncio

    from healthkiosk.cli.common import load

    load(args)
    lines = asyncio.run(_scan_async(args))
    for line in lines:
        print(line)
    return 0


async def _scan_async(args: argparse.Namespace) -> list[str]:
    import contextlib

    from bleak import BleakScanner
    from bleak.exc import BleakError

    from drivers.ble import uuids
    from healthkiosk.errors import DeviceConnectionError

    services = {
        uuids.BLOOD_PRESSURE_SERVICE: "0x1810",
        uuids.GLUCOSE_SERVICE: "0x1808",
        uuids.WEIGHT_SCALE_SERVICE: "0x181D",
        uuids.PULSE_OXIMETER_SERVICE: "0x1822",
        uuids.HEALTH_THERMOMETER_SERVICE: "0x1809",
    }
    backend: type[Any] | None = None
    async with contextlib.AsyncExitStack() as stack:
        if args.emulate:
            from healthkiosk.cli.emulation_hook import require_emulation

            twins = require_emulation("twins", wanted_by="devices scan --emulate")
            for name in (
                "ble-bp-standard",
                "ble-glucose-standard",
                "ble-and-ua651",
                "ble-weight-standard",
                "ble-plx-standard",
                "ble-thermometer-standard",
            ):
                twin = await stack.enter_async_context(twins.start(name))
                backend = twin.reach["backend"].scanner
        try:
            if backend is None:
                found = await BleakScanner.discover(
                    timeout=args.timeout, return_adv=True, service_uuids=list(services)
                )
            else:
                found = await BleakScanner.discover(
                    timeout=args.timeout,
                    return_adv=True,
                    service_uuids=list(services),
                    backend=backend,
                )
        except (BleakError, OSError) as err:
            raise DeviceConnectionError(
                f"Bluetooth is not available on this machine: {err or type(err).__name__}",
                reason="bluetooth_unavailable",
            ) from err
        except Exception as err:  # dbus libraries raise their own types when BlueZ is absent
            raise DeviceConnectionError(
                f"Bluetooth is not available on this machine: {type(err).__name__}: {err}",
                reason="bluetooth_unavailable",
            ) from err
    lines = []
    for device, adv in sorted(found.values(), key=lambda da: -da[1].rssi):
        offered = ", ".join(services[u] for u in adv.service_uuids if u in services)
        lines.append(f"{device.address}  rssi {adv.rssi:4d} dBm  {offered:14}  {device.name or ''}")
    if not lines:
        lines.append("no device offering " + ", ".join(services.values()) + " found")
    return lines
