"""``healthkiosk demo``: the whole system on embedded defaults (``emulation.demo``)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "demo", help="run everything on this machine: broker, follow-up, sync, kiosk (emulated)"
    )
    p.add_argument(
        "--headless",
        action="store_true",
        help="no kiosk window: a scripted visitor measures every little while",
    )
    p.add_argument("--data-dir", help="demo folder (default ~/.local/share/healthkiosk-demo)")
    p.add_argument("--web-port", type=int, help="port of the follow-up web app (default: free)")
    p.add_argument(
        "--broker",
        choices=("auto", "mosquitto", "embedded"),
        default="auto",
        help="auto (default): Mosquitto when installed, else the embedded demo broker",
    )
    p.set_defaults(handler=_demo)


def _demo(args: argparse.Namespace) -> int:
    from pathlib import Path

    from healthkiosk.cli.emulation_hook import require_emulation
    from healthkiosk.logsetup import setup_logging

    demo = require_emulation("demo", wanted_by="healthkiosk demo")
    setup_logging(level=args.log_level or "INFO", fmt=args.log_format or "text")
    root = Path(args.data_dir) if args.data_dir else demo.default_demo_dir()
    code: int = demo.run_demo(
        root=root, headless=args.headless, web_port=args.web_port, broker=args.broker
    )
    return code
