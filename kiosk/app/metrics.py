"""Sizes in millimetres of the real panel (Kivy's ``dp`` is not physical on
the Pi's panels).

``px_per_mm`` comes from the window's width in pixels over the configured
panel width in mm. Font sizes are chosen by *cap height*: the height of a
capital letter as the loaded font actually draws it (measured once by
rendering "H"), so body text is at least 6 mm tall on the glass.
"""

from __future__ import annotations

from dataclasses import dataclass

BODY_CAP_MM = 6.2
"""Body text cap height (≥ 6 mm, with a little margin for pixel rounding)."""
RESULT_CAP_MM = 12.5
"""Result digits: far larger than body text."""
BUTTON_MM = 15.0
"""Primary buttons at least this tall and wide."""
GAP_MM = 8.0
"""At least this much between buttons."""
MARGIN_MM = 2.0


@dataclass(frozen=True, slots=True)
class Metrics:
    px_per_mm: float
    cap_ratio: float
    """Cap height / font size of the loaded face."""

    def mm(self, value: float) -> float:
        return value * self.px_per_mm

    def font_for_cap(self, cap_mm: float) -> float:
        return round(cap_mm * self.px_per_mm / self.cap_ratio + 0.5)

    @property
    def body(self) -> float:
        return self.font_for_cap(BODY_CAP_MM)

    @property
    def result(self) -> float:
        return self.font_for_cap(RESULT_CAP_MM)

    @property
    def button(self) -> float:
        return self.mm(BUTTON_MM)

    @property
    def gap(self) -> float:
        return self.mm(GAP_MM)

    @property
    def margin(self) -> float:
        return self.mm(MARGIN_MM)


def measure_cap_ratio(font_size: int = 200) -> float:
    """Render "H" with Kivy's default font and measure its inked height."""
    from kivy.core.text import Label as CoreLabel

    label = CoreLabel(text="H", font_size=font_size)
    label.refresh()
    texture = label.texture
    w, h = texture.size
    pixels = texture.pixels
    rows = [
        y
        for y in range(h)
        if any(pixels[(y * w + x) * 4 + 3] > 127 for x in range(0, w))
    ]
    if not rows:
        return 0.72
    return (max(rows) - min(rows) + 1) / font_size
