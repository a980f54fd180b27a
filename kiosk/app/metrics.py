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
    """Pixels per millimetre across and down: panels may have non-square pixels
    (the official 7" panel: 800 px over 154.08 mm, 480 px over 85.92 mm)."""

    px_per_mm_x: float
    px_per_mm_y: float
    cap_ratio: float
    """Cap height / font size of the loaded face."""

    def x(self, mm: float) -> float:
        return mm * self.px_per_mm_x

    def y(self, mm: float) -> float:
        return mm * self.px_per_mm_y

    def pad(self, mm: float, mm_y: float | None = None) -> list[float]:
        """Kivy padding [left, top, right, bottom] of ``mm`` (``mm_y`` top and bottom)."""
        vy = self.y(mm if mm_y is None else mm_y)
        return [self.x(mm), vy, self.x(mm), vy]

    def font_for_cap(self, cap_mm: float) -> float:
        """Font size (px) whose capital letters are ``cap_mm`` tall on the glass."""
        return float(round(cap_mm * self.px_per_mm_y / self.cap_ratio + 0.5))

    def cap_mm(self, font_px: float) -> float:
        return font_px * self.cap_ratio / self.px_per_mm_y

    @property
    def body(self) -> float:
        return self.font_for_cap(BODY_CAP_MM)

    @property
    def result(self) -> float:
        return self.font_for_cap(RESULT_CAP_MM)

    @property
    def button_h(self) -> float:
        return self.y(BUTTON_MM)

    @property
    def button_w(self) -> float:
        return self.x(BUTTON_MM)

    @property
    def gap_x(self) -> float:
        return self.x(GAP_MM)

    @property
    def gap_y(self) -> float:
        return self.y(GAP_MM)


def measure_cap_ratio(font_size: int = 200) -> float:
    """Render "H" with Kivy's default font and measure its inked height."""
    from kivy.core.text import Label as CoreLabel

    label = CoreLabel(text="H", font_size=font_size)
    label.refresh()
    texture = label.texture
    w, h = texture.size
    alpha = texture.pixels[3::4]
    rows = [y for y in range(h) if max(alpha[y * w : (y + 1) * w]) > 127]
    if not rows:
        return 0.72
    return (max(rows) - min(rows) + 1) / font_size
