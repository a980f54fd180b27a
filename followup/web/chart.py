"""Trend charts as server-side SVG (no JavaScript), with the rules' threshold bands."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from xml.sax.saxutils import escape

from followup.messages import N_
from followup.web.i18n import Lang
from followup.web.words import CATEGORY_NAMES
from healthkiosk.rules import RulesConfig

W, H = 760, 230
LEFT, RIGHT, TOP, BOTTOM = 48, 12, 14, 28
BAND_FILL = {
    "high_normal": "#fff7d6",
    "grade_1": "#ffe6bf",
    "grade_2": "#ffd0b0",
    "grade_3": "#ffb8b8",
}


@dataclass(frozen=True, slots=True)
class Point:
    at: datetime
    systolic: int | None = None
    diastolic: int | None = None
    glucose: float | None = None
    fasting: bool = False
    shown: str | None = None
    """A meter's ``LO`` or ``HI``: drawn as a marked point at the chart's edge,
    never as a number (0.0)."""


def _x(at: datetime, t0: datetime, t1: datetime) -> float:
    span = (t1 - t0).total_seconds()
    if span <= 0:
        return LEFT + (W - LEFT - RIGHT) / 2
    return LEFT + (at - t0).total_seconds() / span * (W - LEFT - RIGHT)


def _y(v: float, lo: float, hi: float) -> float:
    v = min(max(v, lo), hi)
    return TOP + (hi - v) / (hi - lo) * (H - TOP - BOTTOM)


def _tr(message: str, words: Lang | None, **params: Any) -> str:
    """``message`` in the page's language (English without one)."""
    if words is None:
        return message % params if params else message
    return words.gettext(message, **params)


def _day(at: datetime, words: Lang | None) -> str:
    return words.format_date(at) if words is not None else f"{at:%Y-%m-%d}"


def _band_name(category: str, words: Lang | None) -> str:
    if words is not None and words.zh:
        return CATEGORY_NAMES.get(f"blood_pressure.{category}", (category, ""))[0]
    return category


def _frame(  # noqa: PLR0917
    title: str,
    lo: float,
    hi: float,
    ticks: Sequence[float],
    t0: datetime,
    t1: datetime,
    unit: str,
    words: Lang | None = None,
) -> list[str]:
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" role="img" '
        f'class="chart" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
        f'<rect x="{LEFT}" y="{TOP}" width="{W - LEFT - RIGHT}" height="{H - TOP - BOTTOM}" '
        'fill="#fbfbfb" stroke="#999"/>',
    ]
    for t in ticks:
        y = _y(t, lo, hi)
        out.append(
            f'<text x="{LEFT - 4}" y="{y + 4:.1f}" text-anchor="end" font-size="11">{t:g}</text>'
        )
    out.append(f'<text x="4" y="{TOP + 8}" font-size="11">{escape(unit)}</text>')
    out.append(
        f'<text x="{LEFT}" y="{H - 8}" font-size="11">{escape(_day(t0, words))}</text>'
        f'<text x="{W - RIGHT}" y="{H - 8}" font-size="11" text-anchor="end">'
        f"{escape(_day(t1, words))}</text>"
    )
    return out


def _band(  # noqa: PLR0917
    lo_v: float, hi_v: float, lo: float, hi: float, fill: str, label: str
) -> str:
    y1, y2 = _y(hi_v, lo, hi), _y(lo_v, lo, hi)
    return (
        f'<rect x="{LEFT}" y="{y1:.1f}" width="{W - LEFT - RIGHT}" height="{max(y2 - y1, 0):.1f}"'
        f' fill="{fill}"><title>{escape(label)}</title></rect>'
    )


def _hline(v: float, lo: float, hi: float, color: str, label: str) -> str:
    y = _y(v, lo, hi)
    return (
        f'<line x1="{LEFT}" x2="{W - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="{color}" '
        f'stroke-dasharray="4 3"><title>{escape(label)}</title></line>'
        f'<text x="{W - RIGHT - 2}" y="{y - 2:.1f}" font-size="10" text-anchor="end" '
        f'fill="{color}">{escape(label)}</text>'
    )


def _polyline(pts: list[tuple[float, float]], color: str, label: str) -> list[str]:
    if not pts:
        return []
    coords = " ".join(f"{x:.1f},{y:.1f}" for x, y in pts)
    out = [f'<polyline points="{coords}" fill="none" stroke="{color}" stroke-width="1.5"/>']
    out += [f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{color}"/>' for x, y in pts]
    out.append(f"<desc>{escape(label)}</desc>")
    return out


def blood_pressure_svg(
    points: Sequence[Point], rules: RulesConfig, words: Lang | None = None
) -> str:
    bp = [p for p in points if p.systolic is not None and p.diastolic is not None]
    if not bp:
        return ""
    lo, hi = 40.0, 220.0
    t0, t1 = min(p.at for p in bp), max(p.at for p in bp)
    # A plain scale every 20 mmHg; the thresholds are the bands below, from the rules.
    out = _frame(
        _tr(N_("Blood pressure trend"), words), lo, hi, tuple(range(60, 201, 20)), t0, t1,
        "mmHg", words,
    )  # fmt: skip
    bands = rules.blood_pressure.active_bands
    for i, band in enumerate(bands):
        if band.systolic_min is None:
            continue
        top = bands[i + 1].systolic_min if i + 1 < len(bands) else None
        out.insert(
            3,
            _band(
                band.systolic_min,
                float(top) if top else hi,
                lo,
                hi,
                BAND_FILL.get(band.category, "#eee"),
                _tr(
                    N_("systolic %(category)s from %(n)s mmHg"),
                    words,
                    category=_band_name(band.category, words),
                    n=band.systolic_min,
                ),
            ),
        )
        if band.diastolic_min is not None:
            out.append(
                _hline(
                    band.diastolic_min,
                    lo,
                    hi,
                    "#5577aa",
                    _tr(
                        N_("diastolic %(category)s %(n)s"),
                        words,
                        category=_band_name(band.category, words),
                        n=band.diastolic_min,
                    ),
                )
            )
    out += _polyline(
        [(_x(p.at, t0, t1), _y(float(p.systolic or 0), lo, hi)) for p in bp],
        "#b00020",
        _tr(N_("systolic"), words),
    )
    out += _polyline(
        [(_x(p.at, t0, t1), _y(float(p.diastolic or 0), lo, hi)) for p in bp],
        "#1d4ed8",
        _tr(N_("diastolic"), words),
    )
    out.append("</svg>")
    return "".join(out)


def glucose_svg(points: Sequence[Point], rules: RulesConfig, words: Lang | None = None) -> str:
    gl = [p for p in points if p.glucose is not None]
    edge = [p for p in points if p.glucose is None and p.shown in ("LO", "HI")]
    if not gl and not edge:
        return ""
    g = rules.glucose
    lo, hi = 0.0, max(25.0, g.very_high_min + 3)
    t0, t1 = min(p.at for p in [*gl, *edge]), max(p.at for p in [*gl, *edge])
    # The axis is labelled at the configured thresholds, so a district's rules show.
    ticks = tuple(
        sorted({lo, g.very_low_max, g.fasting_high_min, g.random_high_min, g.very_high_min, hi})
    )
    out = _frame(_tr(N_("Blood glucose trend"), words), lo, hi, ticks, t0, t1, "mmol/L", words)
    very_low = _tr(N_("very low <= %(n)s"), words, n=g.very_low_max)
    very_high = _tr(N_("very high >= %(n)s"), words, n=g.very_high_min)
    out.insert(3, _band(lo, g.very_low_max, lo, hi, "#ffb8b8", very_low))
    out.insert(3, _band(g.very_high_min, hi, lo, hi, "#ffb8b8", very_high))
    out.insert(
        3,
        _band(
            g.fasting_high_min,
            g.very_high_min,
            lo,
            hi,
            "#ffe6bf",
            _tr(N_("fasting high >= %(n)s"), words, n=g.fasting_high_min),
        ),
    )
    out.append(
        _hline(
            g.fasting_impaired_min,
            lo,
            hi,
            "#a16207",
            _tr(N_("fasting impaired %(n)s"), words, n=g.fasting_impaired_min),
        )
    )
    random_high = _tr(N_("random high %(n)s"), words, n=g.random_high_min)
    out.append(_hline(g.random_high_min, lo, hi, "#a16207", random_high))
    pts = [(_x(p.at, t0, t1), _y(p.glucose or 0.0, lo, hi), p.fasting) for p in gl]
    if pts:
        coords = " ".join(f"{x:.1f},{y:.1f}" for x, y, _ in pts)
        out.append(f'<polyline points="{coords}" fill="none" stroke="#047857" stroke-width="1"/>')
        fasting_word, random_word = _tr(N_("fasting"), words), _tr(N_("random"), words)
        for x, y, fasting in pts:
            fill = "#047857" if fasting else "#ffffff"
            out.append(
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="{fill}" stroke="#047857">'
                f"<title>{escape(fasting_word if fasting else random_word)}</title></circle>"
            )
    for p in edge:  # LO at the bottom edge, HI at the top: marked, not joined to the line
        shows = _tr(N_("meter shows %(value)s"), words, value=p.shown)
        x = _x(p.at, t0, t1)
        y = _y(lo if p.shown == "LO" else hi, lo, hi)
        dy = -12 if p.shown == "LO" else 20
        out.append(
            f'<g class="meter-{(p.shown or "").lower()}"><rect x="{x - 4:.1f}" y="{y - 4:.1f}" '
            f'width="8" height="8" fill="#b00020"/><text x="{x:.1f}" y="{y + dy:.1f}" '
            f'font-size="11" text-anchor="middle" fill="#b00020">{p.shown}</text>'
            f"<title>{escape(shows)}</title></g>"
        )
    out.append("</svg>")
    return "".join(out)


@dataclass(frozen=True, slots=True)
class Series:
    label: str
    color: str
    values: Sequence[float | None]
    """One value per month (None: nothing to show that month)."""
    bars: bool = False


def monthly_svg(title: str, months: Sequence[str], series: Sequence[Series], unit: str) -> str:
    """A chart by month (the dashboard): lines or bars, with its legend; labels come
    translated from the caller."""
    if not months:
        return ""
    top = max((v for s in series for v in s.values if v is not None), default=0.0)
    hi = max(1.0, top * 1.1)
    lo = 0.0
    step = _nice_step(hi)
    ticks = [i * step for i in range(int(hi / step) + 1)]
    inner = W - LEFT - RIGHT
    slot = inner / len(months)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H + 20}" role="img" '
        f'class="chart" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
        f'<rect x="{LEFT}" y="{TOP}" width="{inner}" height="{H - TOP - BOTTOM}" '
        'fill="#fbfbfb" stroke="#999"/>',
    ]
    for t in ticks:
        y = _y(t, lo, hi)
        out.append(
            f'<text x="{LEFT - 4}" y="{y + 4:.1f}" text-anchor="end" font-size="11">{t:g}</text>'
        )
    out.append(f'<text x="4" y="{TOP + 8}" font-size="11">{escape(unit)}</text>')
    for i, m in enumerate(months):
        out.append(
            f'<text x="{LEFT + slot * (i + 0.5):.1f}" y="{H - 10}" font-size="11" '
            f'text-anchor="middle">{escape(m)}</text>'
        )
    bar_series = [s for s in series if s.bars]
    for k, s in enumerate(bar_series):
        width = slot * 0.7 / len(bar_series)
        for i, v in enumerate(s.values):
            if v is None:
                continue
            x = LEFT + slot * i + slot * 0.15 + k * width
            y = _y(v, lo, hi)
            out.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{width:.1f}" '
                f'height="{_y(0, lo, hi) - y:.1f}" fill="{s.color}">'
                f"<title>{escape(s.label)} {escape(months[i])}: {v:g}</title></rect>"
            )
    for s in series:
        if s.bars:
            continue
        pts = [
            (LEFT + slot * (i + 0.5), _y(v, lo, hi))
            for i, v in enumerate(s.values)
            if v is not None
        ]
        out += _polyline(pts, s.color, s.label)
    x = LEFT
    for s in series:  # the legend, under the months
        out.append(
            f'<rect x="{x}" y="{H + 4}" width="12" height="12" fill="{s.color}"/>'
            f'<text x="{x + 16}" y="{H + 14}" font-size="12">{escape(s.label)}</text>'
        )
        x += 28 + 13 * len(s.label)
    out.append("</svg>")
    return "".join(out)


def _nice_step(hi: float) -> float:
    for step in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10000):
        if hi / step <= 8:
            return float(step)
    return float(10 ** len(str(int(hi))))
