"""The few widgets the kiosk draws: text, buttons, category icon, gauge, trend.

Every widget carries a ``tid`` (a stable test id) so GUI tests find it and
touch it where it is on screen. Labels wrap at their width and report
whether their text fits (:func:`overflows`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from kivy.graphics import Color, Ellipse, Line, Mesh, Rectangle
from kivy.properties import StringProperty
from kivy.uix.button import Button
from kivy.uix.label import Label
from kivy.uix.widget import Widget

from kiosk.app import theme
from kiosk.app.theme import RGBA, hex_rgba


class Txt(Label):  # type: ignore[misc]
    """Wrapped text at a given size; black on white unless told otherwise."""

    tid = StringProperty("")

    def __init__(
        self,
        text: str,
        *,
        font_size: float,
        tid: str = "",
        halign: str = "left",
        color: RGBA = theme.TEXT,
        wrap: bool = True,
        **kw: Any,
    ) -> None:
        self._wraps = wrap
        super().__init__(
            text=text,
            font_size=font_size,
            halign=halign,
            valign="middle",
            color=color,
            tid=tid,
            **kw,
        )
        self.bind(width=self._wrap)
        self._wrap()

    def _wrap(self, *_: Any) -> None:
        self.text_size = (max(1.0, self.width), None) if self._wraps else (None, None)


class Btn(Button):  # type: ignore[misc]
    """A large single-tap button (acts on release; a second finger is ignored)."""

    tid = StringProperty("")

    def __init__(
        self,
        text: str,
        *,
        font_size: float,
        tid: str,
        on_tap: Callable[[], None] | None,
        primary: bool = True,
        border_px: float = 3.0,
        **kw: Any,
    ) -> None:
        enabled = on_tap is not None
        if not enabled:
            fg, bg = theme.DISABLED_TEXT, theme.DISABLED_BG
        elif primary:
            fg, bg = theme.PRIMARY_TEXT, theme.PRIMARY_BG
        else:
            fg, bg = theme.SECONDARY_TEXT, theme.SECONDARY_BG
        super().__init__(
            text=text,
            font_size=font_size,
            color=fg,
            background_normal="",
            background_down="",
            background_disabled_normal="",
            background_color=bg,
            disabled_color=fg,
            halign="center",
            valign="middle",
            tid=tid,
            disabled=not enabled,
            **kw,
        )
        self._on_tap = on_tap
        self.primary = enabled and primary
        """Drawn as the screen's main way forward (black), for tests to tell."""
        self._border_px = border_px
        with self.canvas.after:
            Color(*theme.TEXT)
            self._border = Line(width=border_px)
        self.bind(pos=self._redraw, size=self._redraw)

    def _redraw(self, *_: Any) -> None:
        self.text_size = (max(1.0, self.width - 2 * self._border_px), None)
        b = self._border_px
        self._border.rectangle = (self.x + b, self.y + b, self.width - 2 * b, self.height - 2 * b)

    def on_touch_down(self, touch: Any) -> bool:
        if getattr(touch, "is_mouse_scrolling", False):
            return False
        return bool(super().on_touch_down(touch))

    def on_release(self) -> None:
        if self._on_tap is not None:
            self._on_tap()


class CategoryIcon(Widget):  # type: ignore[misc]
    """A shape in an Okabe–Ito colour: circle (fine), triangle (raised),
    diamond (high), octagon (urgent), down-triangle (low)."""

    tid = StringProperty("")

    def __init__(self, *, shape: str, colour: str, tid: str = "", **kw: Any) -> None:
        super().__init__(tid=tid, **kw)
        self.shape = shape
        self.colour = colour
        self.bind(pos=self._draw, size=self._draw)

    def _draw(self, *_: Any) -> None:
        self.canvas.clear()
        s = min(self.width, self.height)
        cx, cy = self.center
        r = s / 2
        with self.canvas:
            Color(*hex_rgba(self.colour))
            if self.shape == "circle":
                Ellipse(pos=(cx - r, cy - r), size=(s, s))
            else:
                pts = _polygon(self.shape, cx, cy, r)
                verts: list[float] = []
                for x, y in pts:
                    verts += [x, y, 0, 0]
                Mesh(vertices=verts, indices=list(range(len(pts))), mode="triangle_fan")
            Color(*theme.TEXT)
            if self.shape == "circle":
                Line(circle=(cx, cy, r), width=2)
            else:
                Line(points=[c for p in _polygon(self.shape, cx, cy, r) for c in p], close=True,
                     width=2)  # fmt: skip


def _polygon(shape: str, cx: float, cy: float, r: float) -> list[tuple[float, float]]:
    angles: list[float]
    if shape == "triangle":
        angles = [90, 210, 330]
    elif shape == "down":
        angles = [270, 30, 150]
    elif shape == "diamond":
        angles = [90, 180, 270, 0]
    else:  # octagon
        angles = [22.5 + 45 * i for i in range(8)]
    return [
        (cx + r * math.cos(math.radians(a)), cy + r * math.sin(math.radians(a))) for a in angles
    ]


class Gauge(Widget):  # type: ignore[misc]
    """The live cuff pressure: an arc from 0 to ``maximum`` mmHg and the number."""

    tid = StringProperty("")

    def __init__(self, *, maximum: float, font_size: float, tid: str = "", **kw: Any) -> None:
        super().__init__(tid=tid, **kw)
        self.maximum = maximum
        self.value: float | None = None
        self.label = Txt("", font_size=font_size, halign="center", tid=f"{tid}.value")
        self.add_widget(self.label)
        self.bind(pos=self._draw, size=self._draw)

    def set_value(self, value: float | None) -> None:
        if value == self.value:
            return
        self.value = value
        self._draw()

    def _draw(self, *_: Any) -> None:
        s = min(self.width, self.height)
        cx, cy = self.center
        r = s / 2 - 6
        self.label.size = (s * 0.8, s * 0.4)
        self.label.center = (cx, cy)
        self.label.text = "" if self.value is None else f"{round(self.value)}"
        self.canvas.before.clear()
        frac = 0.0 if self.value is None else max(0.0, min(1.0, self.value / self.maximum))
        with self.canvas.before:
            Color(*hex_rgba("#D9D9D9"))
            Line(circle=(cx, cy, r, 225, 225 - 270), width=8)
            Color(*hex_rgba(theme.OKABE_ITO["blue"]))
            if frac > 0:
                Line(circle=(cx, cy, r, 225, 225 - 270 * frac), width=8)


class TrendChart(Widget):  # type: ignore[misc]
    """The resident's last readings as small lines (no text: the numbers are above)."""

    tid = StringProperty("")

    def __init__(self, *, series: Sequence[Sequence[float]], tid: str = "", **kw: Any) -> None:
        super().__init__(tid=tid, **kw)
        self.series = [list(s) for s in series]
        self.bind(pos=self._draw, size=self._draw)

    def _draw(self, *_: Any) -> None:
        self.canvas.clear()
        values = [v for s in self.series for v in s]
        if not values:
            return
        lo, hi = min(values), max(values)
        span = (hi - lo) or 1.0
        pad = 8.0
        n = max(len(s) for s in self.series)
        colours = [theme.OKABE_ITO["blue"], theme.OKABE_ITO["orange"]]
        with self.canvas:
            Color(*hex_rgba("#F2F2F2"))
            Rectangle(pos=self.pos, size=self.size)
            for i, s in enumerate(self.series):
                Color(*hex_rgba(colours[i % 2]))
                pts: list[float] = []
                for j, v in enumerate(s):
                    x = self.x + pad + (self.width - 2 * pad) * (j / max(1, n - 1))
                    y = self.y + pad + (self.height - 2 * pad) * ((v - lo) / span)
                    pts += [x, y]
                    Ellipse(pos=(x - 5, y - 5), size=(10, 10))
                if len(pts) >= 4:
                    Line(points=pts, width=2)
