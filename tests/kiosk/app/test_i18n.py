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
from kiosk.app.i18n import read_po as kiosk_read_po
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


def _id(msgid: str) -> tuple[str | None, str]:
    """A message as Babel keys it: (context, id) (a ``texts.Msg`` carries its context)."""
    return (getattr(msgid, "context", None), str(msgid))


def test_every_message_has_a_chinese_translation_with_the_same_placeholders() -> None:
    with PO.open("rb") as f:
        catalog = read_po(f, locale="zh_CN")
    translated = {(m.context, m.id): m.string for m in catalog if m.id}
    for key, msgid in TEXTS.items():
        context, mid = _id(msgid)
        assert translated.get((context, mid)), f"{key}: no zh_CN translation"
        assert _fields(mid) == _fields(translated[(context, mid)]), key
        message = catalog.get(mid, context=context)
        assert message is not None and not message.fuzzy


def test_template_is_what_babel_extracts(tmp_path: Path) -> None:
    out = tmp_path / "kiosk.pot"
    subprocess.run(
        [sys.executable, "-m", "babel.messages.frontend", "extract", "--no-default-keywords",
         "-k", "N_", "-k", "NC_:1c,2", "--no-location", "--omit-header", "-o", str(out),
         "kiosk/app/texts.py"],
        cwd=ROOT, check=True, capture_output=True,
    )  # fmt: skip
    with out.open("rb") as f:
        extracted = {(m.context, m.id) for m in read_po(f) if m.id}
    with (LOCALE_DIR / "kiosk.pot").open("rb") as f:
        committed = {(m.context, m.id) for m in read_po(f) if m.id}
    with PO.open("rb") as f:
        in_po = {(m.context, m.id) for m in read_po(f) if m.id}
    assert extracted == committed == in_po == {_id(m) for m in TEXTS.values()}


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
            # 8 hours fasting; an ID number's 18 characters, its 6 region digits and
            # its 7th to 14th (the birth date)
            assert numbers <= {"8", "18", "2", "02", "6", "7", "14"}, s


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


# --- the category words (issue #14, finding 9; docs/clinical.md, "Wording on the kiosk") ---

BP_WORDS = {  # in order of severity
    "normal": ("正常", "Normal"),
    "high_normal": ("稍高", "A little high"),
    "grade_1": ("偏高", "Higher than normal"),
    "grade_2": ("高", "High"),
    "grade_3": ("很高", "Very high"),
}
GLUCOSE_WORDS = {  # in order of the values they hold
    "very_low": ("很低", "Very low"),
    "normal": ("正常", "Normal"),
    "impaired_fasting": ("稍高", "A little high"),
    "above_normal": ("稍高", "A little high"),
    "high": ("偏高", "Higher than normal"),
    "very_high": ("很高", "Very high"),
}
SEVERITY = ["很低", "正常", "稍高", "偏高", "高", "很高"]
"""The decided Chinese words, each clearly stronger than the one before."""


def test_chinese_category_words_read_in_order_of_severity() -> None:
    for kind, words in (("bp", BP_WORDS), ("glucose", GLUCOSE_WORDS)):
        zh = [text("zh_CN", f"cat.{kind}.{c}") for c in words]
        en = [text("en", f"cat.{kind}.{c}") for c in words]
        assert zh == [w[0] for w in words.values()], kind
        assert en == [w[1] for w in words.values()], kind
        ranks = [SEVERITY.index(w) for w in zh]
        assert ranks == sorted(ranks), f"{kind}: {zh} is not in order of severity"
    assert text("zh_CN", "cat.bp.low") == "偏低"
    # an urgent blood pressure: the word and the decided instruction beside it
    assert text("zh_CN", "advice.bp.urgent") == "请马上找医生"


def test_blood_pressure_and_glucose_words_are_separate_messages() -> None:
    """A context per measurement: changing one's words cannot change the other's."""
    from kiosk.app.texts import Msg

    for kind, context in (("bp", "blood pressure"), ("glucose", "blood sugar")):
        for key in [k for k in TEXTS if k.startswith(f"cat.{kind}.")]:
            msgid = TEXTS[key]
            assert isinstance(msgid, Msg) and msgid.context == context, key
    messages = kiosk_read_po(PO)
    assert messages["blood pressure\x04High"] == "高"
    assert messages["blood sugar\x04Higher than normal"] == "偏高"


def test_every_category_the_rules_produce_has_words_in_every_language() -> None:
    from healthkiosk.rules import CATEGORY_KEYS, check_words
    from kiosk.app.i18n import category_words

    words = category_words()
    assert set(words) == {"zh_CN", "en"}
    assert check_words(words) == []
    assert all(set(table) == set(CATEGORY_KEYS) for table in words.values())


def test_a_category_without_words_is_named() -> None:
    from healthkiosk.rules import Problem, check_words
    from kiosk.app.i18n import category_words

    words = category_words()
    words["zh_CN"] = {**words["zh_CN"], "glucose.above_normal": None}
    assert check_words(words) == [
        Problem("words.zh_CN.glucose.above_normal", "no words for this category")
    ]
