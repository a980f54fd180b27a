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

    def retarget(self, on_tap: Callable[[], None]) -> None:
        """What a tap does from now on (a button reused on a new screen)."""
        self._on_tap = on_tap


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
    """The live cuff pressure: an arc from 0 to ``maximum`` mmHg, the number
    and its unit under it."""

    tid = StringProperty("")

    def __init__(
        self, *, maximum: float, font_size: float, unit: str = "", tid: str = "", **kw: Any
    ) -> None:
        super().__init__(tid=tid, **kw)
        self.maximum = maximum
        self.value: float | None = None
        self.label = Txt("", font_size=font_size, halign="center", tid=f"{tid}.value")
        self.unit = Txt(unit, font_size=font_size * 0.7, halign="center", tid=f"{tid}.unit")
        self.add_widget(self.label)
        self.add_widget(self.unit)
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
        self.label.size = (s * 0.8, self.label.font_size * 1.2)
        self.label.center = (cx, cy + self.label.height * 0.35)
        self.unit.size = (s * 0.8, self.unit.font_size * 1.2)
        self.unit.center = (cx, cy - self.unit.height * 0.75)
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
    """The resident's readings as lines with a dot for each, every dot labelled
    with its day under it (labels that would overlap the one before are left
    out, the last always kept: it is today). The words above the chart say
    the last earlier reading in full ("上次 3月2日 135/85")."""

    tid = StringProperty("")

    def __init__(
        self,
        *,
        series: Sequence[Sequence[float]],
        labels: Sequence[str] = (),
        font_size: float = 14.0,
        tid: str = "",
        **kw: Any,
    ) -> None:
        super().__init__(tid=tid, **kw)
        self.series = [list(s) for s in series]
        self.labels = list(labels)
        self.font_size = font_size
        self.shown_labels: list[str] = []
        """The labels drawn (tests read them)."""
        self.bind(pos=self._draw, size=self._draw)

    def _draw(self, *_: Any) -> None:
        from kivy.core.text import Label as CoreLabel

        self.canvas.clear()
        values = [v for s in self.series for v in s]
        if not values:
            return
        lo, hi = min(values), max(values)
        span = (hi - lo) or 1.0
        pad = 8.0
        n = max(len(s) for s in self.series)
        textures = []
        for words in self.labels[-n:] if self.labels else []:
            core = CoreLabel(text=words, font_size=self.font_size, color=theme.TEXT)
            core.refresh()
            textures.append(core.texture)
        label_h = max((t.height for t in textures), default=0.0)
        bottom = self.y + label_h + 2
        plot_h = max(1.0, self.height - label_h - 2 - 2 * pad)
        inner_w = self.width - 2 * pad

        def x_of(j: int) -> float:
            return float(self.x + pad + inner_w * (j / max(1, n - 1)) if n > 1 else self.center_x)

        colours = [theme.OKABE_ITO["blue"], theme.OKABE_ITO["vermillion"]]
        with self.canvas:
            Color(*hex_rgba("#F2F2F2"))
            Rectangle(pos=(self.x, bottom), size=(self.width, self.height - label_h - 2))
            for i, s in enumerate(self.series):
                Color(*hex_rgba(colours[i % 2]))
                pts: list[float] = []
                offset = n - len(s)
                for j, v in enumerate(s):
                    x = x_of(j + offset)
                    y = bottom + pad + plot_h * ((v - lo) / span)
                    pts += [x, y]
                    Ellipse(pos=(x - 5, y - 5), size=(10, 10))
                if len(pts) >= 4:
                    Line(points=pts, width=2)
            # day labels under the dots, right to left so today's always shows
            self.shown_labels = []
            Color(1, 1, 1, 1)
            left_edge = self.right + 1e9
            offset = n - len(textures)
            for j in range(len(textures) - 1, -1, -1):
                tex = textures[j]
                cx = x_of(j + offset)
                x0 = min(max(self.x, cx - tex.width / 2), self.right - tex.width)
                if x0 + tex.width > left_edge - 4:
                    continue
                Rectangle(texture=tex, pos=(x0, self.y), size=tex.size)
                left_edge = x0
                self.shown_labels.insert(0, self.labels[-n:][j])


class ReaderArrow(Widget):  # type: ignore[misc]
    """A thick arrow pointing to where the ID card reader is (``left``,
    ``right``, ``below``), in Okabe–Ito blue, pulsing gently so the eye finds it."""

    tid = StringProperty("")

    def __init__(self, *, side: str, tid: str = "", **kw: Any) -> None:
        super().__init__(tid=tid, **kw)
        self.side = side
        self.bind(pos=self._draw, size=self._draw)
        from kivy.animation import Animation

        self._pulse = Animation(opacity=0.35, duration=0.6) + Animation(opacity=1.0, duration=0.6)
        self._pulse.repeat = True
        self._pulse.start(self)

    def stop(self) -> None:
        self._pulse.cancel(self)

    def _draw(self, *_: Any) -> None:
        self.canvas.clear()
        w, h = self.width, self.height
        # an arrow pointing right in a unit square, turned for the side
        shape = [(0.0, 0.35), (0.55, 0.35), (0.55, 0.1), (1.0, 0.5), (0.55, 0.9), (0.55, 0.65),
                 (0.0, 0.65)]  # fmt: skip
        if self.side == "left":
            shape = [(1 - x, y) for x, y in shape]
        elif self.side == "below":
            shape = [(y, 1 - x) for x, y in shape]
        pts = [(self.x + x * w, self.y + y * h) for x, y in shape]
        verts: list[float] = []
        for x, y in pts:
            verts += [x, y, 0, 0]
        with self.canvas:
            Color(*hex_rgba(theme.OKABE_ITO["blue"]))
            # the arrow as a fan from its tip's base: concave, so two pieces
            body = [0, 1, 5, 6]
            head = [2, 3, 4]
            for idx in (body, head):
                Mesh(vertices=[c for i in idx for c in verts[4 * i : 4 * i + 4]],
                     indices=list(range(len(idx))), mode="triangle_fan")  # fmt: skip
            Color(*theme.TEXT)
            Line(points=[c for p in pts for c in p], close=True, width=1.5)
