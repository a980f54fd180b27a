"""``healthkiosk run``: the touchscreen kiosk.

Full screen on a Raspberry Pi (or with ``--fullscreen``), a window of the
configured resolution elsewhere. ``--simulate`` uses simulated devices, so
anyone can try a whole visit on a laptop (press ``c`` on the check-in
screen to put a demo ID card on the simulated reader).
"""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("run", help="the touchscreen kiosk (Kivy)")
    p.add_argument("--simulate", action="store_true", help="use simulated devices")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--fullscreen", action="store_true", help="full screen (default on a Pi)")
    mode.add_argument("--window", action="store_true", help="a window, even on a Pi")
    p.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    import asyncio

    from healthkiosk.cli.common import load
    from kiosk.app.boot import on_raspberry_pi
    from kiosk.app.main import run_kiosk

    cfg = load(args)
    fullscreen = bool(
        args.fullscreen or cfg.kiosk.fullscreen or (on_raspberry_pi() and not args.window)
    )
    simulate = bool(args.simulate)
    return asyncio.run(
        run_kiosk(
            cfg, simulate=simulate, fullscreen=fullscreen, extra=_demo_keys if simulate else None
        )
    )


async def _demo_keys(running: object) -> None:
    """With --simulate: the "c" key puts a demo ID card on the simulated reader."""
    import asyncio

    from kivy.core.window import Window

    from kiosk.simulated import SimulatedIdCardReader, demo_card

    reader = getattr(running, "devices").id_card  # noqa: B009

    def on_key(
        _window: object, _key: int, _scancode: int, codepoint: str | None, _mods: object
    ) -> bool:
        if codepoint == "c" and isinstance(reader, SimulatedIdCardReader):
            reader.present(demo_card())
            return True
        return False

    Window.bind(on_key_down=on_key)
    await asyncio.Event().wait()
