"""``healthkiosk run``: the touchscreen kiosk.

Full screen on a Raspberry Pi (or with ``--fullscreen``), a window of the
configured resolution elsewhere. ``--simulate`` puts the drivers' emulated
twins in place of the devices (the ``emulation`` package, not part of a
station's install), so anyone can try a whole visit on a laptop (press ``c``
on the check-in screen to put a demo ID card on the emulated reader).

Without ``--simulate`` it refuses to start on the built-in technician PIN
(``kiosk.technician_pin``): set the station's own.
"""

from __future__ import annotations

import argparse
from typing import Any


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("run", help="the touchscreen kiosk (Kivy)")
    p.add_argument(
        "--simulate",
        action="store_true",
        help="the devices' emulated twins (needs the emulation package)",
    )
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--fullscreen", action="store_true", help="full screen (default on a Pi)")
    mode.add_argument("--window", action="store_true", help="a window, even on a Pi")
    p.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    from kiosk.app.gcpolicy import hold_until_first_frame

    hold_until_first_frame()  # no collection while starting up (kiosk/app/gcpolicy.py)
    import asyncio

    from healthkiosk.cli.common import load
    from kiosk.flow.technician import check_pin_for_station

    cfg = load(args)
    # The technician screen pairs devices: a real station never runs on the demo PIN.
    check_pin_for_station(cfg.kiosk, simulate=bool(args.simulate))
    simulation = None
    if args.simulate:
        from healthkiosk.cli.emulation_hook import require_emulation

        twins = require_emulation("twins", wanted_by="healthkiosk run --simulate")
        simulation = twins.Simulation(cfg)

    from kiosk.app.boot import on_raspberry_pi
    from kiosk.app.main import run_kiosk

    fullscreen = bool(
        args.fullscreen or cfg.kiosk.fullscreen or (on_raspberry_pi() and not args.window)
    )
    if simulation is None:
        return asyncio.run(run_kiosk(cfg, fullscreen=fullscreen))
    return asyncio.run(
        run_kiosk(
            simulation.config,
            fullscreen=fullscreen,
            devices=simulation.open_devices,
            extra=lambda running: _demo_keys(simulation),
        )
    )


async def _demo_keys(simulation: Any) -> None:
    """With --simulate: the "c" key puts a demo ID card on the emulated reader."""
    from healthkiosk.cli.emulation_hook import require_emulation
    from kiosk.app.keys import on_keys

    card = require_emulation("idcard.sam_reader", wanted_by="the demo card").SAMPLE_CARD
    await on_keys({"c": lambda: simulation.present_card(card)})
