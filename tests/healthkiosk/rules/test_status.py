"""Resident status (docs/clinical.md, "Urgency and follow-up"), boundaries on both sides."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from healthkiosk.rules import load_rules
from healthkiosk.rules.status import (
    ContactFacts,
    ReadingFacts,
    ResidentFacts,
    age_on,
    assess_reading,
    resident_status,
)

ROOT = Path(__file__).resolve().parents[3]
RULES = load_rules()
T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
TODAY = T0.date()


def bp(s: int, d: int, *, first: bool = False, at: datetime = T0, uuid: str = "r1") -> ReadingFacts:
    return ReadingFacts(uuid, "blood_pressure", at, systolic=s, diastolic=d, first_of_kind=first)


def glu(v: float | None, meal: str = "random", oor: str | None = None) -> ReadingFacts:
    return ReadingFacts("g1", "glucose", T0, glucose_mmol_per_l=v, meal=meal, out_of_range=oor)


HTN_60 = ResidentFacts(age=60, hypertension_programme=True)
HTN_65 = ResidentFacts(age=65, hypertension_programme=True)
HTN_64 = ResidentFacts(age=64, hypertension_programme=True)
DM = ResidentFacts(age=60, diabetes_programme=True)
OTHER_40 = ResidentFacts(age=40)
OTHER_34 = ResidentFacts(age=34)

LEVELS = [
    # urgent: ≥180 and/or ≥110, glucose ≤3.9 or ≥16.7, LO/HI — for everyone
    (bp(180, 100), OTHER_40, "urgent"),
    (bp(179, 109), OTHER_40, "abnormal"),
    (bp(150, 110), HTN_65, "urgent"),
    (glu(3.9), OTHER_40, "urgent"),
    (glu(4.0), OTHER_40, "fine"),
    (glu(16.7), DM, "urgent"),
    (glu(16.6), OTHER_40, "abnormal"),
    (glu(None, oor="LO"), OTHER_40, "urgent"),
    (glu(None, oor="HI"), DM, "urgent"),
    # hypertension management: < 140/90 controlled; from 65, < 150/90
    (bp(139, 89), HTN_60, "fine"),
    (bp(140, 89), HTN_60, "abnormal"),
    (bp(139, 90), HTN_60, "abnormal"),
    (bp(140, 89), HTN_64, "abnormal"),
    (bp(149, 89), HTN_65, "fine"),
    (bp(150, 89), HTN_65, "abnormal"),
    (bp(149, 90), HTN_65, "abnormal"),
    # diabetes management: fasting ≥ 7.0 uncontrolled
    (glu(6.9, "fasting"), DM, "fine"),
    (glu(7.0, "fasting"), DM, "abnormal"),
    (glu(11.0, "random"), DM, "fine"),
    (glu(11.1, "random"), DM, "abnormal"),
    # anyone else: abnormal under the profile
    (bp(139, 89), OTHER_40, "fine"),
    (bp(140, 80), OTHER_40, "abnormal"),
    (bp(120, 90), OTHER_40, "abnormal"),
    (bp(89, 60), OTHER_40, "abnormal"),  # low
    (bp(149, 85), DM, "abnormal"),  # diabetes programme: BP judged as anyone else
    (glu(6.0, "fasting"), OTHER_40, "fine"),
    (glu(6.1, "fasting"), OTHER_40, "abnormal"),
    (glu(7.7, "random"), OTHER_40, "fine"),
    (glu(7.8, "random"), OTHER_40, "abnormal"),
]


@pytest.mark.parametrize(("reading", "resident", "level"), LEVELS)
def test_reading_level(reading: ReadingFacts, resident: ResidentFacts, level: str) -> None:
    assert assess_reading(reading, resident, RULES).level == level


@pytest.mark.parametrize(
    ("reading", "resident", "flag"),
    [
        (bp(140, 80, first=True), OTHER_40, True),
        (bp(139, 89, first=True), OTHER_40, False),
        (bp(140, 80, first=True), OTHER_34, False),  # under 35
        (bp(140, 80, first=True), ResidentFacts(age=35), True),
        (bp(140, 80, first=False), OTHER_40, False),  # not the first reading
        (bp(140, 80, first=True), HTN_60, False),  # already managed
    ],
)
def test_screening_flag(reading: ReadingFacts, resident: ResidentFacts, flag: bool) -> None:
    a = assess_reading(reading, resident, RULES)
    assert a.screening is flag
    if flag:
        assert a.rule == "followup.screening.confirm" and "another day" in a.reason


def test_urgent_beats_abnormal_and_latest_wins_ties() -> None:
    r1 = bp(150, 95, at=T0, uuid="a")
    r2 = bp(185, 95, at=T0 - timedelta(days=3), uuid="b")
    r3 = bp(160, 95, at=T0 + timedelta(hours=1), uuid="c")
    s = resident_status(OTHER_40, [r1, r2, r3], ContactFacts(), today=TODAY, tz=UTC, rules=RULES)
    assert s.status == "urgent" and s.trigger is not None and s.trigger.uuid == "b"
    s = resident_status(OTHER_40, [r1, r3], ContactFacts(), today=TODAY, tz=UTC, rules=RULES)
    assert s.status == "abnormal" and s.trigger is not None and s.trigger.uuid == "c"
    assert s.review_due_on == (T0 + timedelta(hours=1)).date() + timedelta(days=14)


def test_the_days_are_the_districts() -> None:
    """An urgent reading at 00:30 in Beijing (16:30 UTC the day before) is to be
    reviewed that Beijing day, and is not late on it; an abnormal one 14 days on; the
    follow-up interval counts from the same day."""
    beijing = ZoneInfo("Asia/Shanghai")
    at = datetime(2026, 3, 2, 0, 30, tzinfo=beijing)
    day = date(2026, 3, 2)
    urgent = bp(185, 95, at=at.astimezone(UTC), uuid="u")
    s = resident_status(OTHER_40, [urgent], ContactFacts(), today=day, tz=beijing, rules=RULES)
    assert s.status == "urgent" and s.review_due_on == day
    abnormal = bp(150, 95, at=at.astimezone(UTC), uuid="a")
    s = resident_status(OTHER_40, [abnormal], ContactFacts(), today=day, tz=beijing, rules=RULES)
    assert s.review_due_on == day + timedelta(days=14)
    c = ContactFacts(last_reading_at=at.astimezone(UTC))
    days = RULES.followup.overdue_days
    s = resident_status(HTN_60, [], c, today=day + timedelta(days=days), tz=beijing, rules=RULES)
    assert s.status == "fine"
    s = resident_status(
        HTN_60, [], c, today=day + timedelta(days=days + 1), tz=beijing, rules=RULES
    )
    assert (s.status, s.days_overdue) == ("overdue", 1)
    # in UTC days the same reading was the day before, and so late on its own day
    s = resident_status(OTHER_40, [urgent], ContactFacts(), today=day, tz=UTC, rules=RULES)
    assert s.review_due_on == day - timedelta(days=1)


def _overdue(
    resident: ResidentFacts, contacts: ContactFacts, today: date
) -> tuple[str, int | None]:
    s = resident_status(resident, [], contacts, today=today, tz=UTC, rules=RULES)
    return s.status, s.days_overdue


def test_overdue_after_interval_both_sides() -> None:
    c = ContactFacts(last_reading_at=T0)
    assert _overdue(HTN_60, c, TODAY + timedelta(days=90)) == ("fine", None)
    assert _overdue(HTN_60, c, TODAY + timedelta(days=91)) == ("overdue", 1)
    assert _overdue(DM, c, TODAY + timedelta(days=91)) == ("overdue", 1)
    assert _overdue(OTHER_40, c, TODAY + timedelta(days=400)) == ("fine", None)  # not enrolled


def test_review_resets_the_interval_and_next_date_missed_puts_back() -> None:
    review_at = T0 + timedelta(days=80)
    c = ContactFacts(last_reading_at=T0, last_review_at=review_at, next_follow_up_on=None)
    assert _overdue(HTN_60, c, TODAY + timedelta(days=100))[0] == "fine"
    nxt = review_at.date() + timedelta(days=28)
    c = ContactFacts(last_reading_at=T0, last_review_at=review_at, next_follow_up_on=nxt)
    assert _overdue(OTHER_40, c, nxt) == ("fine", None)
    assert _overdue(OTHER_40, c, nxt + timedelta(days=1)) == ("overdue", 1)
    # a reading after the review is a contact: the scheduled date no longer applies
    c2 = ContactFacts(
        last_reading_at=review_at + timedelta(days=2), last_review_at=review_at,
        next_follow_up_on=nxt,
    )  # fmt: skip
    assert _overdue(OTHER_40, c2, nxt + timedelta(days=5))[0] == "fine"


def test_removed_is_not_overdue() -> None:
    c = ContactFacts(last_reading_at=T0, last_review_at=T0 + timedelta(days=1), removed=True)
    assert _overdue(HTN_60, c, TODAY + timedelta(days=500))[0] == "fine"


def test_long_overdue_over_a_year() -> None:
    c = ContactFacts(last_reading_at=T0)
    due = TODAY + timedelta(days=90)
    s = resident_status(HTN_60, [], c, today=due + timedelta(days=365), tz=UTC, rules=RULES)
    assert s.status == "overdue" and not s.long_overdue
    s = resident_status(HTN_60, [], c, today=due + timedelta(days=366), tz=UTC, rules=RULES)
    assert s.long_overdue


def test_followup_intervals_are_configuration() -> None:
    rules = load_rules({"followup": {"overdue_days": 30, "elderly_controlled_systolic_below": 145}})
    c = ContactFacts(last_reading_at=T0)
    s = resident_status(HTN_60, [], c, today=TODAY + timedelta(days=31), tz=UTC, rules=rules)
    assert s.status == "overdue"
    assert assess_reading(bp(146, 80), HTN_65, rules).level == "abnormal"


def test_age_on_birthday_boundary() -> None:
    assert age_on(date(1961, 3, 1), date(2026, 3, 1)) == 65
    assert age_on(date(1961, 3, 2), date(2026, 3, 1)) == 64
    assert age_on(None, date(2026, 3, 1)) is None


def _cli(*args: str, config: Path | None = None) -> subprocess.CompletedProcess[str]:
    pre = ["--config", str(config)] if config else []
    return subprocess.run(
        [sys.executable, "-m", "healthkiosk", *pre, "rules", "classify", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def test_cli_classify_blood_pressure() -> None:
    out = _cli("blood_pressure", "140", "85")
    assert out.returncode == 0, out.stderr
    obj = json.loads(out.stdout)
    assert obj["category"] == "grade_1" and obj["isolated_systolic"] is True
    assert obj["urgent"] is False and obj["rule"] == "bp.grade_1.systolic"
    assert obj["threshold"] == "systolic >= 140 mmHg" and "close_to_limit" in obj


def test_cli_classify_glucose_and_profile_from_config(tmp_path: Path) -> None:
    out = _cli("glucose", "7.0", "--fasting")
    obj = json.loads(out.stdout)
    assert (obj["category"], obj["urgent"], obj["rule"]) == ("high", False, "glucose.fasting.high")
    assert "isolated_systolic" not in obj
    cfg = tmp_path / "hk.toml"
    cfg.write_text('[rules.blood_pressure]\nprofile = "aha2017"\n')
    obj = json.loads(_cli("blood_pressure", "130", "70", config=cfg).stdout)
    assert obj["category"] == "grade_1"


def test_cli_implausible_exits_2_with_reason() -> None:
    out = _cli("blood_pressure", "80", "90")
    assert out.returncode == 2 and "systolic_not_above_diastolic" in out.stderr
    assert out.stdout == ""
    out = _cli("glucose", "0.5", "--random")
    assert out.returncode == 2 and "glucose_out_of_range" in out.stderr


# --- issue #14: a rhythm check and a device event are reasons of their own ------------


def bp_irregular(s: int, d: int) -> ReadingFacts:
    return ReadingFacts("r1", "blood_pressure", T0, systolic=s, diastolic=d, irregular_pulse=True)


@pytest.mark.parametrize("resident", [OTHER_40, HTN_60, HTN_65])
def test_an_irregular_pulse_is_not_fine_its_reason_reads_rhythm_check(
    resident: ResidentFacts,
) -> None:
    """Finding 5: 118/76 with an irregular pulse was assessed fine."""
    assert assess_reading(bp(118, 76), resident, RULES).level == "fine"
    a = assess_reading(bp_irregular(118, 76), resident, RULES)
    assert (a.level, a.rule) == ("abnormal", "followup.rhythm_check")
    assert a.reason == "心律检查 / rhythm check: irregular pulse at 118/76 mmHg"
    readings = [bp_irregular(118, 76)]
    st = resident_status(resident, readings, ContactFacts(), today=TODAY, tz=UTC, rules=RULES)
    assert st.status == "abnormal" and st.trigger is not None
    assert st.trigger.rule == "followup.rhythm_check"


def test_an_irregular_pulse_beside_a_raised_reading_keeps_its_reason_and_is_named() -> None:
    urgent = assess_reading(bp_irregular(184, 100), OTHER_40, RULES)
    assert urgent.level == "urgent" and urgent.rule.startswith("bp.")
    assert urgent.reason.endswith("; 心律检查 / rhythm check: irregular pulse at 184/100 mmHg")
    raised = assess_reading(bp_irregular(150, 95), OTHER_40, RULES)
    assert raised.level == "abnormal" and "rhythm check" in raised.reason


def test_a_device_event_is_on_the_list_as_could_not_measure() -> None:
    from healthkiosk.rules.status import DeviceEventFacts

    event = ReadingFacts(
        "e1", "device_event", T0,
        event=DeviceEventFacts("implausible_value", "glucose", "glucose_out_of_range",
                               mmol_per_l=0.9),
    )  # fmt: skip
    a = assess_reading(event, DM, RULES)
    assert (a.level, a.rule, a.classification) == (
        "abnormal", "device_event.implausible_value", None,
    )  # fmt: skip
    assert a.reason == "无法测量 / could not measure: 0.9 mmol/L reported (glucose out of range)"
    bp_event = ReadingFacts(
        "e2", "device_event", T0,
        event=DeviceEventFacts("implausible_value", "blood_pressure", "systolic_out_of_range",
                               systolic=320, diastolic=90),
    )  # fmt: skip
    assert "320/90 mmHg reported" in assess_reading(bp_event, OTHER_40, RULES).reason
