"""Kivy set-up that must happen before Kivy opens its window.

Environment: ``KIVY_NO_ARGS=1`` (our CLI owns argv), ``KIVY_LOG_MODE=PYTHON``
(Kivy logs through :mod:`logging`, masked like every other line),
``KIVY_IMAGE=tex,dds,sdl2`` (SDL2 loads and saves the kiosk's images; Pillow,
installed for the take-home slip, stays off the start-up path). The
``[input]`` section is *replaced* by the pinned one from
``kiosk/kivy_config.ini`` (see the comment there: the default registers a
Pi touchscreen twice).
"""

from __future__ import annotations

import configparser
import os
from pathlib import Path

KIVY_INI = Path(__file__).resolve().parent.parent / "kivy_config.ini"


def pinned_config() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(KIVY_INI, encoding="utf-8")
    return parser


def configure_kivy(*, size: tuple[int, int], fullscreen: bool) -> None:
    os.environ.setdefault("KIVY_NO_ARGS", "1")
    os.environ.setdefault("KIVY_LOG_MODE", "PYTHON")
    os.environ.setdefault("KIVY_NO_FILELOG", "1")
    os.environ.setdefault("KIVY_IMAGE", "tex,dds,sdl2")
    from kivy.config import Config

    pinned = pinned_config()
    for section in pinned.sections():
        if not Config.has_section(section):
            Config.add_section(section)
        if section == "input":
            for option in list(Config.options("input")):
                Config.remove_option("input", option)
        for option, value in pinned.items(section):
            Config.set(section, option, value)
    Config.set("graphics", "width", str(size[0]))
    Config.set("graphics", "height", str(size[1]))
    Config.set("graphics", "fullscreen", "auto" if fullscreen else "0")
    Config.set("graphics", "borderless", "1" if fullscreen else "0")


def on_raspberry_pi() -> bool:
    model = Path("/proc/device-tree/model")
    try:
        return model.read_text(errors="replace").startswith("Raspberry Pi")
    except OSError:
        return False
