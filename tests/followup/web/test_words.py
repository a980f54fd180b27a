"""The rules' and the fleet's English reasons on a Chinese page: every phrase the code
writes is known (made by the real code where it can be), times made local."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from followup.db.reviews import METHODS, OUTCOMES, REMOVE_REASONS
from followup.db.status_store import summarise
from followup.web.i18n import Lang, translations
from followup.web.words import REVIEW_WORDS, reason_text, summary_text
from healthkiosk.rules import load_rules
from healthkiosk.rules.classify import classify_blood_pressure, classify_glucose

ZH = Lang("zh_CN", ZoneInfo("Asia/Shanghai"))
EN = Lang("en", ZoneInfo("Asia/Shanghai"))
ENGLISH = re.compile(r"(?<![\w.-])(?!mmHg|mmol|LO|HI|PIN)[A-Za-z]{2,}(?![\w.-])")
RULES = load_rules()


def _thresholds() -> list[str]:
    out = [
        classify_blood_pressure(s, d, RULES.blood_pressure).threshold
        for s, d in ((186, 104), (165, 85), (120, 112), (85, 50), (142, 91))
    ]
    out += [
        classify_glucose(v, ctx, RULES.glucose).threshold
        for v, ctx in ((2.5, "random"), (6.5, "fasting"), (12.0, "random"), (20.0, "random"))
    ]
    return [t for t in out if t]  # fmt: skip


REASONS = [
    *_thresholds(),
    "systolic >= 150 mmHg under hypertension management",
    "diastolic >= 90 mmHg under hypertension management",
    "fasting glucose >= 7.0 mmol/L under diabetes management",
    "first raised BP at age >= 35: confirm on another day",
    "systolic 330 mmHg is outside 60-300",
    "systolic 80 is not above diastolic 90",
    "pulse 250 bpm is outside 30-220",
    "glucose 40.0 mmol/L is outside 1.1-33.3",
    "grade 2 threshold; 心律检查 / rhythm check: irregular pulse at 118/76 mmHg",
    "无法测量 / could not measure: 0.9 mmol/L reported (glucose out of range)",
    "never reported a status",
    "offline for 3.0 h",
    "150 readings not yet delivered",
    "8.0 % disk free",
    "glucose Sinocare GA-3: not seen since 2026-03-02 03:42 UTC",
    "blood_pressure Omron HEM-7361T: battery 12 %",
    "technician PIN: 5 wrong in a row, refused until 2026-03-02 03:42 UTC",
    "clock not synchronised (error up to 2.5 s), last synchronised 2026-03-02 03:42 UTC",
]


@pytest.mark.parametrize("reason", [r for r in REASONS if not r.startswith("grade 2")])
def test_every_reason_reads_chinese_on_a_chinese_page(reason: str) -> None:
    shown = reason_text(ZH, reason)
    assert not [w for w in ENGLISH.findall(shown) if w not in ("Sinocare", "GA", "Omron")], shown
    assert "UTC" not in shown


def test_times_in_reasons_are_local_and_english_stays_english() -> None:
    text = "technician PIN: 5 wrong in a row, refused until 2026-03-02 03:42 UTC"
    assert (
        reason_text(ZH, text) == "技术员 PIN 连续输错 5 次，锁定至 2026年3月2日 11:42（北京时间）"
    )
    assert reason_text(EN, text) == (
        "technician PIN: 5 wrong in a row, refused until 2026-03-02 11:42 CST (UTC+8)"
    )
    assert reason_text(ZH, "systolic >= 180 mmHg") == "收缩压 ≥ 180 mmHg"
    assert reason_text(ZH, "an unknown phrase") == "an unknown phrase"  # shown, and found


def test_summaries_as_the_status_store_writes_them() -> None:
    at = datetime(2026, 3, 2, tzinfo=UTC)
    assert at  # (summaries carry no time)
    cases = {
        summarise("blood_pressure", 152, 96, None, None, None): "血压 152/96 mmHg",
        summarise("blood_pressure", 152, 96, None, None, None, irregular_pulse=True):
            "血压 152/96 mmHg，脉搏不齐",
        summarise("glucose", None, None, 7.4, "fasting", None): "血糖 7.4 mmol/L（空腹）",
        summarise("glucose", None, None, None, "after_meal", "HI"): "血糖 HI（餐后）",
    }  # fmt: skip
    for english, chinese in cases.items():
        assert summary_text(ZH, english) == chinese
        assert summary_text(EN, english) == english


def test_every_review_word_is_in_the_catalog() -> None:
    zh = translations("zh_CN")
    for words in (*OUTCOMES.values(), *REMOVE_REASONS.values(), *METHODS.values()):
        assert words in REVIEW_WORDS
        assert zh.gettext(words) != words
