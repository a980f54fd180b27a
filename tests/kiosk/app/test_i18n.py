"""Catalogs, explanations with the configured thresholds, and the palette."""

from __future__ import annotations

import re
import string
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from healthkiosk.rules import classify_blood_pressure, classify_glucose, load_rules
from kiosk.app import theme
from kiosk.app.i18n import LOCALE_DIR, text
from kiosk.app.texts import TEXTS
from kiosk.flow.explain import (
    advice_blood_pressure,
    advice_glucose,
    explain_blood_pressure,
    explain_glucose,
)

ROOT = Path(__file__).resolve().parents[3]
PO = LOCALE_DIR / "zh_CN" / "LC_MESSAGES" / "kiosk.po"


def _fields(s: str) -> set[str]:
    return {f for _, f, _, _ in string.Formatter().parse(s) if f}


def test_every_message_has_a_chinese_translation_with_the_same_placeholders() -> None:
    with PO.open("rb") as f:
        catalog = read_po(f, locale="zh_CN")
    translated = {m.id: m.string for m in catalog if m.id}
    for key, msgid in TEXTS.items():
        assert translated.get(msgid), f"{key}: no zh_CN translation"
        assert _fields(msgid) == _fields(translated[msgid]), key
        assert not catalog[msgid].fuzzy


def test_template_is_what_babel_extracts(tmp_path: Path) -> None:
    out = tmp_path / "kiosk.pot"
    subprocess.run(
        [sys.executable, "-m", "babel.messages.frontend", "extract", "--no-default-keywords",
         "-k", "N_", "--no-location", "--omit-header", "-o", str(out), "kiosk/app/texts.py"],
        cwd=ROOT, check=True, capture_output=True,
    )  # fmt: skip
    with out.open("rb") as f:
        extracted = {m.id for m in read_po(f) if m.id}
    with (LOCALE_DIR / "kiosk.pot").open("rb") as f:
        committed = {m.id for m in read_po(f) if m.id}
    with PO.open("rb") as f:
        in_po = {m.id for m in read_po(f) if m.id}
    assert extracted == committed == in_po == set(TEXTS.values())


def test_switching_language_changes_the_words() -> None:
    assert text("zh_CN", "attract.start") == "开始"
    assert text("en", "attract.start") == "Start"
    assert text("zh_CN", "lang.switch") == "English"
    assert text("en", "lang.switch") == "中文"


@pytest.mark.parametrize(
    ("rules_data", "systolic", "diastolic", "zh", "en"),
    [
        ({}, 162, 88, "高压 162：达到 160 或以上。", "Upper number 162: 160 or more."),
        (
            {"blood_pressure": {"profile": "cn2018_home"}},
            136, 80, "高压 136：达到 135 或以上。", "Upper number 136: 135 or more.",
        ),
        ({}, 118, 56, "低压 56：低于 60。", "Lower number 56: below 60."),
        ({}, 112, 72, "低于 120/80 mmHg。", "Below 120/80 mmHg."),
        ({"blood_pressure": {"urgent_systolic_min": 170}}, 172, 90,
         "高压 172：达到 170 或以上。", "Upper number 172: 170 or more."),
    ],
)  # fmt: skip
def test_bp_explanations_interpolate_the_configured_thresholds(
    rules_data: dict, systolic: int, diastolic: int, zh: str, en: str
) -> None:
    rules = load_rules(rules_data).blood_pressure
    c = classify_blood_pressure(systolic, diastolic, rules)
    e = explain_blood_pressure(c, rules)
    assert text("zh_CN", e.key, **e.as_dict()) == zh
    assert text("en", e.key, **e.as_dict()) == en
    assert advice_blood_pressure(c).removeprefix("advice.") in {
        k.removeprefix("advice.") for k in TEXTS if k.startswith("advice.")
    }


@pytest.mark.parametrize(
    ("value", "meal", "en"),
    [
        (3.6, "random", "3.6: 3.9 or less."),
        (5.0, "fasting", "5.0: between 3.9 and 6.1."),
        (5.0, "random", "5.0: between 3.9 and 7.8."),
        (7.0, "fasting", "7.0: 7.0 or more."),
        (11.1, "random", "11.1: 11.1 or more."),
        (17.0, "random", "17.0: 16.7 or more."),
    ],
)
def test_glucose_explanations(value: float, meal: str, en: str) -> None:
    rules = load_rules({}).glucose
    c = classify_glucose(value, meal, rules)  # type: ignore[arg-type]
    e = explain_glucose(c, rules)
    assert text("en", e.key, **e.as_dict()) == en
    assert advice_glucose(c) in TEXTS
    assert f"cat.glucose.{c.category}" in TEXTS


def test_no_clinical_numbers_in_the_words() -> None:
    """Thresholds come from the rules, never from a translation."""
    with PO.open("rb") as f:
        catalog = read_po(f, locale="zh_CN")
    for m in catalog:
        if not m.id:
            continue  # the header
        for s in (m.id, m.string):
            numbers = set(re.findall(r"\d+(?:\.\d+)?", str(s)))
            assert numbers <= {"8", "18", "2", "02"}, s  # 8 hours fasting, 18 characters


def _channel(c: float) -> float:
    return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4


def _luminance(rgba: tuple[float, ...]) -> float:
    r, g, b = (_channel(x) for x in rgba[:3])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    """WCAG 2 contrast ratio."""
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def test_text_contrast_is_at_least_7_to_1() -> None:
    for name, (fg, bg) in theme.TEXT_PAIRS.items():
        assert contrast(fg, bg) >= 7.0, name


def test_categories_never_by_colour_alone() -> None:
    shapes = {
        theme.category_style(k, c, u).shape
        for k, c, u in [("bp", "normal", False), ("bp", "grade_1", False), ("bp", "grade_3", True),
                        ("bp", "low", False), ("bp", "grade_2", False)]
    }  # fmt: skip
    assert len(shapes) == 5
    for c in ("low", "normal", "high_normal", "grade_1", "grade_2", "grade_3"):
        assert f"cat.bp.{c}" in TEXTS
    assert set(theme.OKABE_ITO.values()) >= {
        theme.category_style("bp", c, c == "grade_3").colour
        for c in ("low", "normal", "high_normal", "grade_1", "grade_2", "grade_3")
    }
