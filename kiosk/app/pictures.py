"""Pictures drawn by us with Kivy's vector instructions (no copied art):
how to sit for a blood pressure reading with the cuff on the upper arm at
heart level, and how to put a drop of blood from a fingertip on the strip.

Each picture is drawn in a square of unit coordinates, scaled to the widget
and centred; black outlines on white, the things to notice in Okabe–Ito
colours (the cuff blue, the drop vermillion), so they read without colour
too.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kivy.graphics import Color, Ellipse, Line, Mesh, Rectangle
from kivy.properties import StringProperty
from kivy.uix.widget import Widget

from kiosk.app import theme
from kiosk.app.theme import hex_rgba

Point = tuple[float, float]


class Picture(Widget):  # type: ignore[misc]
    """A square drawing in unit coordinates, scaled to fit and centred."""

    tid = StringProperty("")

    def __init__(self, *, tid: str = "", **kw: Any) -> None:
        super().__init__(tid=tid, **kw)
        self.bind(pos=self._redraw, size=self._redraw)

    def _redraw(self, *_: Any) -> None:
        self.canvas.clear()
        self._s = min(self.width, self.height)
        self._ox = self.x + (self.width - self._s) / 2
        self._oy = self.y + (self.height - self._s) / 2
        with self.canvas:
            self.draw()

    def p(self, x: float, y: float) -> Point:
        return (self._ox + x * self._s, self._oy + y * self._s)

    def line(self, pts: Sequence[Point], *, width: float = 0.025, close: bool = False) -> None:
        Color(*theme.TEXT)
        Line(points=[c for x, y in pts for c in self.p(x, y)], width=max(1.5, width * self._s / 2),
             close=close, joint="round", cap="round")  # fmt: skip

    def fill(self, pts: Sequence[Point], colour: str) -> None:
        """A convex polygon filled (outlined by :meth:`line` where wanted)."""
        Color(*hex_rgba(colour))
        verts = [c for x, y in pts for c in (*self.p(x, y), 0.0, 0.0)]
        Mesh(vertices=verts, indices=list(range(len(pts))), mode="triangle_fan")

    def disc(self, cx: float, cy: float, r: float, colour: str) -> None:
        Color(*hex_rgba(colour))
        x, y = self.p(cx - r, cy - r)
        Ellipse(pos=(x, y), size=(2 * r * self._s, 2 * r * self._s))
        Color(*theme.TEXT)
        Line(circle=(*self.p(cx, cy), r * self._s), width=1.5)

    def draw(self) -> None:
        raise NotImplementedError


class SeatedForBloodPressure(Picture):
    """Seated on a chair with the back against it, both feet flat on the
    floor, the left forearm resting on a table, the cuff (blue) on the bare
    upper arm at the height of the heart (a small red heart beside it)."""

    def draw(self) -> None:
        grey, blue, skin = "#D9D9D9", theme.OKABE_ITO["blue"], "#F2D5B8"
        # the floor, the chair (backrest and seat), the table
        self.line([(0.02, 0.05), (0.98, 0.05)])
        self.fill([(0.10, 0.30), (0.16, 0.30), (0.16, 0.80), (0.10, 0.80)], grey)
        self.line([(0.10, 0.30), (0.16, 0.30), (0.16, 0.80), (0.10, 0.80)], close=True)
        self.fill([(0.10, 0.30), (0.46, 0.30), (0.46, 0.35), (0.10, 0.35)], grey)
        self.line([(0.13, 0.30), (0.13, 0.05)])
        self.line([(0.43, 0.30), (0.43, 0.05)])
        self.fill([(0.62, 0.50), (0.98, 0.50), (0.98, 0.54), (0.62, 0.54)], grey)
        self.line([(0.62, 0.50), (0.98, 0.50), (0.98, 0.54), (0.62, 0.54)], close=True)
        self.line([(0.94, 0.50), (0.94, 0.05)])
        # the body: back upright against the chair, thighs on the seat, shins down
        self.fill([(0.17, 0.36), (0.31, 0.36), (0.31, 0.72), (0.17, 0.72)], skin)
        self.line([(0.17, 0.36), (0.31, 0.36), (0.31, 0.72), (0.17, 0.72)], close=True)
        self.disc(0.24, 0.82, 0.075, skin)
        self.line([(0.24, 0.37), (0.50, 0.37)], width=0.06)  # thigh
        self.line([(0.50, 0.37), (0.50, 0.07)], width=0.06)  # shin
        self.line([(0.50, 0.07), (0.59, 0.07)], width=0.05)  # foot flat on the floor
        # the arm: upper arm down from the shoulder, forearm on the table
        self.line([(0.27, 0.68), (0.33, 0.56)], width=0.05)
        self.line([(0.33, 0.56), (0.80, 0.56)], width=0.045)
        # the cuff on the upper arm, level with the heart
        self.fill([(0.24, 0.62), (0.34, 0.62), (0.36, 0.54), (0.26, 0.54)], blue)
        self.line([(0.24, 0.62), (0.34, 0.62), (0.36, 0.54), (0.26, 0.54)], close=True)
        self.disc(0.205, 0.60, 0.022, theme.OKABE_ITO["vermillion"])  # the heart
        self.line([(0.235, 0.60), (0.40, 0.60)], width=0.01)  # same height


class FingerPrick(Picture):
    """A hand with the index finger held out, a drop of blood (vermillion) on
    its tip, touching the end of a test strip in the meter."""

    def draw(self) -> None:
        skin, grey = "#F2D5B8", "#D9D9D9"
        red = theme.OKABE_ITO["vermillion"]
        # the meter and its strip, from the right
        self.fill([(0.60, 0.15), (0.95, 0.15), (0.95, 0.55), (0.60, 0.55)], grey)
        self.line([(0.60, 0.15), (0.95, 0.15), (0.95, 0.55), (0.60, 0.55)], close=True)
        Color(*theme.TEXT)
        x, y = self.p(0.66, 0.33)
        Rectangle(pos=(x, y), size=(0.22 * self._s, 0.15 * self._s))
        self.fill([(0.42, 0.40), (0.60, 0.40), (0.60, 0.46), (0.42, 0.46)], "#FFFFFF")
        self.line([(0.42, 0.40), (0.60, 0.40), (0.60, 0.46), (0.42, 0.46)], close=True)
        # the hand from the left: a palm and the index finger pointing to the strip
        self.fill([(0.05, 0.30), (0.25, 0.30), (0.25, 0.60), (0.05, 0.60)], skin)
        self.line([(0.05, 0.30), (0.25, 0.30), (0.25, 0.60), (0.05, 0.60)], close=True)
        self.fill([(0.25, 0.50), (0.38, 0.50), (0.38, 0.58), (0.25, 0.58)], skin)
        self.line([(0.25, 0.50), (0.38, 0.50), (0.38, 0.58), (0.25, 0.58)], close=True)
        self.line([(0.25, 0.40), (0.30, 0.40), (0.30, 0.32), (0.25, 0.32)])  # folded fingers
        # the drop on the fingertip, touching the strip's end
        self.disc(0.405, 0.47, 0.03, red)
        self.fill([(0.385, 0.49), (0.425, 0.49), (0.405, 0.53)], red)
