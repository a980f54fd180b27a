"""The station's own alert when a person is called (issue 16): a chime
through the kiosk's speaker (the voice path, :meth:`kiosk.voice.Voice.chime`)
and, where configured, a staff lamp: a light or relay on a GPIO pin
(``[kiosk] staff_lamp_gpio``), switched with Raspberry Pi OS's ``pinctrl``
(``pinctrl set <pin> op dh`` / ``dl``; ``staff_lamp_tool`` names another
program that takes the same arguments).

:class:`StationAlert` is the flow's :class:`~kiosk.flow.ports.StaffAlert`;
the lamp is a small port of its own (:class:`Lamp`), so tests put a fake at
the hardware boundary: a ``staff_lamp_tool`` that records what it was told.
Nothing here may stop the kiosk: a lamp that fails is logged once.
"""

from __future__ import annotations

import logging
import subprocess
from typing import Protocol

from healthkiosk.config import KioskConfig
from kiosk.voice import Voice

log = logging.getLogger(__name__)

LAMP_TIMEOUT_S = 3.0


class Lamp(Protocol):
    def set(self, on: bool) -> None: ...


class NoLamp:
    """No staff lamp at this station."""

    def set(self, on: bool) -> None:
        pass


class GpioLamp:
    """A light or relay on GPIO ``pin`` (BCM numbering), through ``tool``."""

    def __init__(self, pin: int, *, active_low: bool = False, tool: str = "pinctrl") -> None:
        self.pin = pin
        self.active_low = active_low
        self.tool = tool
        self._warned = False

    def argv(self, on: bool) -> list[str]:
        high = on != self.active_low
        return [self.tool, "set", str(self.pin), "op", "dh" if high else "dl"]

    def set(self, on: bool) -> None:
        argv = self.argv(on)
        try:
            done = subprocess.run(
                argv, capture_output=True, text=True, timeout=LAMP_TIMEOUT_S, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as err:
            self._warn(f"staff lamp on GPIO {self.pin}: {' '.join(argv)} failed: {err}")
            return
        if done.returncode != 0:
            self._warn(
                f"staff lamp on GPIO {self.pin}: {' '.join(argv)} exited {done.returncode}:"
                f" {done.stderr.strip()[-200:]}"
            )

    def _warn(self, message: str) -> None:
        if not self._warned:
            self._warned = True
            log.error("%s", message)
        else:
            log.debug("%s", message)


def lamp_from(cfg: KioskConfig) -> Lamp:
    if cfg.staff_lamp_gpio is None:
        return NoLamp()
    return GpioLamp(
        cfg.staff_lamp_gpio, active_low=cfg.staff_lamp_active_low, tool=cfg.staff_lamp_tool
    )


class StationAlert:
    """The chime and the staff lamp (:class:`~kiosk.flow.ports.StaffAlert`)."""

    def __init__(self, voice: Voice, lamp: Lamp) -> None:
        self.voice = voice
        self.lamp = lamp

    def alert(self) -> None:
        self.voice.chime()
        self.lamp.set(True)

    def clear(self) -> None:
        self.lamp.set(False)
