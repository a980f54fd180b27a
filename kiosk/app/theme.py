"""Colours and sizes: high contrast text, Okabe–Ito colours for categories.

Text is always black on white or white on black (21:1); the colour-blind
safe Okabe–Ito colours mark categories only next to an icon shape and the
category in words, never behind text and never alone.
"""

from __future__ import annotations

from dataclasses import dataclass

RGBA = tuple[float, float, float, float]


def hex_rgba(value: str) -> RGBA:
    v = value.lstrip("#")
    return (int(v[0:2], 16) / 255, int(v[2:4], 16) / 255, int(v[4:6], 16) / 255, 1.0)


BACKGROUND = hex_rgba("#FFFFFF")
TEXT = hex_rgba("#000000")
PRIMARY_BG = hex_rgba("#000000")
PRIMARY_TEXT = hex_rgba("#FFFFFF")
SECONDARY_BG = hex_rgba("#FFFFFF")
SECONDARY_TEXT = hex_rgba("#000000")
DISABLED_BG = hex_rgba("#E6E6E6")
DISABLED_TEXT = hex_rgba("#3D3D3D")
NOTICE_BG = hex_rgba("#F0E442")
"""Okabe–Ito yellow, with black text: the "still here?" and urgent banners."""

# Okabe–Ito (Wong 2011), colour-blind safe.
OKABE_ITO = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky_blue": "#56B4E9",
    "bluish_green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "reddish_purple": "#CC79A7",
}

TEXT_PAIRS: dict[str, tuple[RGBA, RGBA]] = {
    "body": (TEXT, BACKGROUND),
    "primary": (PRIMARY_TEXT, PRIMARY_BG),
    "secondary": (SECONDARY_TEXT, SECONDARY_BG),
    "disabled": (DISABLED_TEXT, DISABLED_BG),
    "notice": (TEXT, NOTICE_BG),
}
"""Every (text, background) pair the kiosk draws: each must reach 7:1."""


@dataclass(frozen=True, slots=True)
class CategoryStyle:
    colour: str
    shape: str
    """``circle`` (fine), ``triangle`` (raised), ``diamond`` (high), ``octagon`` (urgent),
    ``down`` (low)."""


def category_style(kind: str, category: str, urgent: bool) -> CategoryStyle:
    if urgent:
        return CategoryStyle(OKABE_ITO["vermillion"], "octagon")
    if category == "normal":
        return CategoryStyle(OKABE_ITO["bluish_green"], "circle")
    if category in ("low", "very_low", "underweight"):
        return CategoryStyle(OKABE_ITO["sky_blue"], "down")
    if category in ("high_normal", "impaired_fasting", "overweight", "low_fever"):
        return CategoryStyle(OKABE_ITO["yellow"], "triangle")
    if category in ("grade_1", "above_normal", "obese", "fever"):
        return CategoryStyle(OKABE_ITO["orange"], "triangle")
    return CategoryStyle(OKABE_ITO["vermillion"], "diamond")
