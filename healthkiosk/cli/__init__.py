"""The ``healthkiosk`` command: one entry point, sub-commands grouped by role.

Each group lives in its own module here (``healthkiosk/cli/<group>_cmd.py``) with
a ``register(subparsers)`` function; a module imports only :mod:`argparse` at
the top and does its heavy imports (Kivy, bleak, paho, SQLAlchemy) inside the
handler, so ``healthkiosk --help`` stays fast.

A handler returns an exit code. A :class:`~healthkiosk.errors.HealthKioskError`
becomes one line on stderr and exit 2; Ctrl-C exits 130.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import sys
from collections.abc import Sequence

from healthkiosk import __version__

# In the order they appear in --help: the kiosk's roles first, then the
# technician's, then the doctor's side and the administrator's.
GROUPS = ("run", "demo", "devices", "store", "sync", "rules", "followup", "broker", "admin")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="healthkiosk",
        description="Health station kiosk, its sync link, and the doctor's follow-up service.",
    )
    parser.add_argument("--version", action="version", version=f"healthkiosk {__version__}")
    parser.add_argument(
        "--config",
        metavar="PATH",
        help="configuration file (else $HEALTHKIOSK_CONFIG, ./healthkiosk.toml, "
        "~/.config/healthkiosk/config.toml, /etc/healthkiosk/config.toml, built-in defaults)",
    )
    parser.add_argument("--log-level", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    parser.add_argument("--log-format", choices=["text", "json"])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in GROUPS:
        module_name = f"healthkiosk.cli.{name}_cmd"
        if importlib.util.find_spec(module_name) is None:
            continue
        importlib.import_module(module_name).register(sub)
    return parser


PRIVATE_GROUPS = frozenset({"run", "demo", "devices", "store", "sync", "followup"})
"""Commands that make data files (stores, databases, keys, logs, exports): every
file and folder they create is for their own user only (umask 077: files 0600,
folders 0700; issue 19). ``broker`` and ``admin`` set each mode themselves:
they write files for other users (Mosquitto's, the installed releases)."""


def main(argv: Sequence[str] | None = None) -> int:
    from healthkiosk.errors import HealthKioskError

    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command in PRIVATE_GROUPS:
        os.umask(0o077)  # children too: the demo's broker, ingest, web app and kiosk
    try:
        code: int = args.handler(args)
    except HealthKioskError as err:
        print(f"healthkiosk: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("healthkiosk: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 1
    return code
