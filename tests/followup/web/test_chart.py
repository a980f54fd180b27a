"""The trend charts draw the configured thresholds, not numbers of their own."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from followup.web.chart import Point, blood_pressure_svg, glucose_svg
from healthkiosk.rules.config import GlucoseRules, RulesConfig

T0 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
POINTS = [
    Point(T0, systolic=150, diastolic=95, glucose=7.4, fasting=True),
    Point(T0 + timedelta(days=7), systolic=138, diastolic=88, glucose=9.0),
]


def axis_labels(svg: str) -> list[str]:
    return re.findall(r'text-anchor="end" font-size="11">([0-9.]+)</text>', svg)


def test_glucose_axis_marks_the_default_thresholds() -> None:
    labels = axis_labels(glucose_svg(POINTS, RulesConfig()))
    assert labels == ["0", "3.9", "7", "11.1", "16.7", "25"]


def test_glucose_axis_and_bands_follow_a_districts_rules() -> None:
    rules = RulesConfig(glucose=GlucoseRules(very_high_min=15.0, random_high_min=10.0))
    svg = glucose_svg(POINTS, rules)
    assert axis_labels(svg) == ["0", "3.9", "7", "10", "15", "25"]
    assert "very high &gt;= 15.0" in svg and "random high 10.0" in svg
    assert "16.7" not in svg and "11.1" not in svg


def test_blood_pressure_bands_come_from_the_rules() -> None:
    svg = blood_pressure_svg(POINTS, RulesConfig())
    assert "systolic grade_1 from 140 mmHg" in svg
    assert axis_labels(svg) == [str(v) for v in range(60, 201, 20)]


def test_a_meter_lo_or_hi_is_marked_at_the_edge_never_drawn_as_zero() -> None:
    """Issue #14, finding 9: LO/HI are not numbers."""
    at = datetime(2026, 3, 1, tzinfo=UTC)
    pts = [
        Point(at, glucose=6.0),
        Point(at + timedelta(days=1), shown="LO"),
        Point(at + timedelta(days=2), shown="HI"),
    ]
    svg = glucose_svg(pts, RulesConfig())
    assert 'class="meter-lo"' in svg and 'class="meter-hi"' in svg
    line = re.search(r'<polyline points="([^"]+)"', svg)
    assert line is not None and len(line.group(1).split()) == 1  # only the number is joined
    only_hi = glucose_svg([Point(at, shown="HI")], RulesConfig())
    assert 'class="meter-hi"' in only_hi and "<polyline" not in only_hi
