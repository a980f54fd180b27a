"""The one door from the product to the ``emulation`` package.

A station's install leaves emulation out (it is its own distribution,
``healthkiosk-emulation``, built from ``emulation/``). The commands that want
it — ``run --simulate``, ``demo``, ``broker embedded``, ``devices read
--emulate``, ``devices emulate``, ``devices scan --emulate`` — import it here,
when they run, and nowhere else: ``tests/emulation/test_product_imports.py``
fails if any other product module imports it.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from healthkiosk.errors import HealthKioskError

INSTALL = "pip install -e './emulation' (from a healthkiosk checkout; `./scripts/demo` does it)"
"""How to get the package: it is not on any package index."""


class EmulationNotInstalled(HealthKioskError):
    """A command needs the emulated devices and they are not installed."""

    reason = "emulation_not_installed"


def require_emulation(part: str, *, wanted_by: str) -> ModuleType:
    """``emulation.<part>``, imported now; :class:`EmulationNotInstalled`
    naming ``wanted_by`` (the command) and what to install when the package
    or one of its own dependencies (bumble) is missing."""
    try:
        return importlib.import_module(f"emulation.{part}")
    except ModuleNotFoundError as err:
        missing = err.name or ""
        if missing.split(".")[0] not in {"emulation", "bumble"}:
            raise
        raise EmulationNotInstalled(
            f"{wanted_by} needs the emulated devices (the healthkiosk-emulation package, "
            f"which a station's install leaves out; {missing} is missing): {INSTALL}"
        ) from None
