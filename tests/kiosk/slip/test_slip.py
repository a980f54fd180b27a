"""The take-home slip: what it says (the lines the renderer draws, since no
OCR reads the image back), what it never says (an ID number, a whole name),
and the image a printer gets (its width, its sizes, its margins)."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from healthkiosk.config import from_mapping
from healthkiosk.errors import ConfigError
from kiosk.flow.printing import slip_for_visit
from kiosk.flow.state import BpResult, Explanation, GlucoseResult, TrendPoint
from kiosk.linebreak import NOT_AT_END, NOT_AT_START
from kiosk.slip import render as rd
from kiosk.slip.layout import layout
from kiosk.slip.model import Slip, SlipSettings, mask_name, sample_slip
from tests.support.fake_devices import demo_card

ID_PATTERN = re.compile(r"\d{17}[\dXx]|\d{6}\s*\d{8}\s*\d{3}[\dXx]")
AT = datetime(2026, 3, 2, 6, 5, tzinfo=UTC)  # 14:05 in Beijing
SETTINGS = SlipSettings(
    station="示例社区卫生服务站",
    doctor_name="李建华",
    doctor_phone="010-6512 3456",
)


def bp(systolic: int, diastolic: int, category: str, *, urgent: bool = False) -> BpResult:
    return BpResult(
        systolic=systolic, diastolic=diastolic, pulse=88, irregular_pulse=True,
        readings=((systolic, diastolic, 88),), category=category, urgent=urgent,
        isolated_systolic=False, rule=f"bp.{category}.systolic",
        explanation=Explanation("explain.bp.systolic_min"),
        advice="advice.bp.urgent" if urgent else f"advice.bp.{category}", saved=True,
    )  # fmt: skip


def glucose(value: float, category: str, *, close: bool = False) -> GlucoseResult:
    return GlucoseResult(
        mmol_per_l=value, shown=None, meal="fasting", category=category, urgent=False,
        close_to_limit=close, rule=f"glucose.{category}",
        explanation=Explanation("explain.glucose.at_least"), advice=f"advice.glucose.{category}",
        saved=True,
    )  # fmt: skip


def history() -> list[TrendPoint]:
    days = [40, 30, 20, 10, 5]
    pts = [
        TrendPoint(AT - timedelta(days=d), "blood_pressure", (130.0 + d, 80.0), "high_normal")
        for d in days
    ]
    pts.append(TrendPoint(AT - timedelta(days=12), "glucose", (6.4,), "impaired_fasting"))
    return pts


def visit_slip(**settings: Any) -> Slip:
    card = demo_card()
    measured = [AT - timedelta(minutes=3), AT - timedelta(minutes=1)]
    this_visit = [
        TrendPoint(measured[0], "glucose", (5.2,), "normal"),
        TrendPoint(measured[1], "blood_pressure", (184.0, 112.0), "grade_3"),
    ]
    return slip_for_visit(
        replace(SETTINGS, **settings),
        name=card.name,
        results=[glucose(5.2, "normal", close=True), bp(184, 112, "grade_3", urgent=True)],
        history=[*history(), *this_visit],
        measured=measured,
        at=AT,
    )


def test_the_slip_says_station_time_results_earlier_results_and_doctor() -> None:
    texts = [b.text for b in layout(visit_slip())]
    zh = "\n".join(texts)
    assert texts[0] == "健康自测结果" and texts[1] == "Health check result"
    assert "示例社区卫生服务站" in texts
    assert "2026年3月2日 14:05 北京时间" in texts  # the station's zone, labelled
    assert "2026-03-02 14:05 Beijing time" in texts
    assert "姓名：王*英" in texts
    # The urgent result first, with its number, category word and advice, pulse, note.
    first_bp = texts.index("血压")
    first_glucose = texts.index("血糖（空腹）")
    assert first_bp < first_glucose
    assert texts[first_bp + 2] == "184/112 mmHg"
    assert texts[first_bp + 3 : first_bp + 7] == ["很高", "Very high", "请马上找医生",
                                                   "Please see the doctor now"]  # fmt: skip
    assert "脉搏 88" in texts and "Pulse 88" in texts
    assert "脉搏不齐：请找医生" in zh or "脉搏不齐" in zh
    assert "5.2 mmol/L" in texts
    # The last three earlier blood pressures (oldest first) and the one glucose;
    # not the older ones, not this visit's.
    assert texts.index("以往结果") > first_glucose
    earlier = [t for t in texts if re.match(r"\d+月\d+日 ", t)]
    assert earlier == ["2月10日 150/80 稍高", "2月20日 140/80 稍高",
                       "2月25日 135/80 稍高", "2月18日 6.4 稍高"]  # fmt: skip
    assert "您的医生：李建华" in texts and "电话：010-6512 3456" in texts
    assert "Phone: 010-6512 3456" in texts


def test_close_to_the_limit_is_never_beside_an_urgent_result() -> None:
    slip = visit_slip()
    urgent, other = slip.results
    assert urgent.urgent and urgent.notes == ("result.irregular",)
    assert not other.urgent and other.notes == ("result.close_to_limit",)


@pytest.mark.parametrize("dot_width", [384, 576])
def test_no_id_number_and_no_whole_name_in_anything_drawn(dot_width: int) -> None:
    card = demo_card()
    drawn = rd.render(visit_slip(), dot_width=dot_width)
    words = "\n".join(drawn.texts)
    assert not ID_PATTERN.search(words.replace(" ", ""))
    assert card.id_number not in words and card.id_number[-6:] not in words
    assert card.name not in words
    assert "王*英" in words
    assert drawn.missing == 0


@pytest.mark.parametrize("dot_width", [384, 576, 512])
def test_the_image_is_the_printer_s_width_black_and_white_with_white_margins(
    dot_width: int,
) -> None:
    drawn = rd.render(sample_slip(SETTINGS, at=AT), dot_width=dot_width)
    image = drawn.image
    assert image.mode == "1" and image.width == dot_width == drawn.width
    px = image.load()
    for y in range(image.height):
        for x in (*range(rd.MARGIN - 2), *range(dot_width - rd.MARGIN + 2, dot_width)):
            assert px[x, y] == 255, (x, y)  # nothing printed in the side margins
    for line in drawn.lines:
        x, _y, w, _h = line.box
        assert x == rd.MARGIN and x + w <= dot_width - rd.MARGIN + 2


def test_results_are_in_large_print() -> None:
    drawn = rd.render(visit_slip(), dot_width=384)
    by_text = {line.text: line for line in drawn.lines}
    for words in ("184/112 mmHg", "很高", "请马上找医生", "血压", "5.2 mmol/L"):
        style = by_text[words].style
        assert rd.LOOKS[style].size >= 32, words
    assert rd.LOOKS[by_text["184/112 mmHg"].style].size >= 48
    # The English below each in small print, still 3 mm.
    assert by_text["Very high"].style == "small" and rd.LOOKS["small"].size >= 24


def test_the_test_slip_is_marked_at_the_top_and_the_bottom() -> None:
    texts = rd.render(sample_slip(SETTINGS, at=AT), dot_width=384).texts
    assert texts[0].startswith("测试小票") and texts[1] == "TEST SLIP - sample data"
    assert texts[-1] == "TEST SLIP - sample data" and texts[-2].startswith("测试小票")


def test_a_slip_in_english_only_and_another_time_zone() -> None:
    slip = visit_slip(languages=("en",), timezone="Asia/Tokyo")
    texts = [b.text for b in layout(slip)]
    assert "2026-03-02 15:05 UTC+9" in texts
    assert "Very high" in texts and "很高" not in texts
    assert "Name: 王*英" in texts


def test_without_a_doctor_configured_no_doctor_lines() -> None:
    texts = [b.text for b in layout(visit_slip(doctor_name="", doctor_phone=""))]
    assert not any("医生：" in t or "电话" in t for t in texts)


@pytest.mark.parametrize(
    ("name", "masked"),
    [("王秀英", "王*英"), ("王英", "王*"), ("欧阳秀英", "欧**英"),
     ("阿依古丽·买买提", "阿******提"), ("王", "*"), (" 王 秀 英 ", "王*英"), ("", None),
     (None, None)],
)  # fmt: skip
def test_names_are_masked(name: str | None, masked: str | None) -> None:
    assert mask_name(name) == masked


def test_lines_never_start_with_a_closing_mark_and_keep_numbers_whole() -> None:
    f = rd.font("body")
    words = (
        "请坐下休息，不要走开。工作人员马上过来（社区卫生服务中心）。血压 184/110 mmHg，脉搏 88。"
    )
    for width in range(100, 600, 7):
        lines = rd.wrap(words, f, width)
        assert "".join(lines).replace(" ", "") == words.replace(" ", "")
        for line in lines:
            assert line[0] not in NOT_AT_START, (width, lines)
            assert line[-1] not in NOT_AT_END, (width, lines)
            # Only a closing mark kept with what it closes may stick out.
            assert f.getlength(line) <= width or f.getlength(line[:-1]) <= width, (width, line)
        if width >= f.getlength("184/110 mmHg，"):
            assert any("184/110 mmHg，" in line for line in lines), (width, lines)


def test_a_rare_name_character_is_drawn_from_a_font_that_has_it() -> None:
    # 𠮷 (Ext-B) is not in WenQuanYi Micro Hei; Noto Sans CJK SC has it.
    f, lacking = rd.font_for("body", "姓名：𠮷*明")
    assert lacking == 0 and rd.has_glyph(f, "𠮷")
    assert f.getname()[0] == "Noto Sans CJK SC"


def test_the_slip_configuration_is_checked() -> None:
    cfg = from_mapping(
        {
            "station": {
                "name": "站",
                "doctor_name": " 李医生 ",
                "doctor_phone": "+86 (10) 6512-3456",
            },
            "kiosk": {"slip_languages": ["en", "zh_CN"]},
        }
    )
    s = SlipSettings.from_config(cfg)
    assert (s.doctor_name, s.doctor_phone, s.languages) == (
        "李医生",
        "+86 (10) 6512-3456",
        ("en", "zh_CN"),
    )
    for bad, key in [
        ({"station": {"doctor_phone": "call me"}}, "station.doctor_phone"),
        ({"station": {"timezone": "Asia/Beijing"}}, "station.timezone"),
        ({"kiosk": {"slip_languages": []}}, "kiosk.slip_languages"),
        ({"kiosk": {"slip_languages": ["fr"]}}, "kiosk.slip_languages.0"),
        ({"devices": {"printer": {"driver": "escpos-usb", "dot_width": 380}}},
         "devices.printer.dot_width"),
        ({"devices": {"printer": {"driver": "escpos-usb", "usb_id": "416:5011"}}},
         "devices.printer.usb_id"),
    ]:  # fmt: skip
        with pytest.raises(ConfigError) as err:
            from_mapping(bad)
        assert err.value.key == key, bad


def test_weight_spo2_and_temperature_on_the_slip() -> None:
    """Each as on its result screen: the value and unit, the category word,
    the advice, and the lines beside it (the BMI and height, the pulse); the
    urgent SpO2 first."""
    from kiosk.flow.state import VitalResult

    def vital(
        kind: str,
        shown: str,
        category: str,
        *,
        urgent: bool = False,
        explanation: Explanation,
        notes: tuple[Explanation, ...] = (),
    ) -> VitalResult:
        return VitalResult(
            kind=kind, shown=shown, category=category, urgent=urgent,  # type: ignore[arg-type]
            rule=f"{kind}.{category}", explanation=explanation,
            advice=f"advice.{kind}.urgent" if urgent else f"advice.{kind}.{category}",
            saved=True, notes=notes,
        )  # fmt: skip

    results = [
        vital("weight", "68.4", "overweight",
              explanation=Explanation("explain.bmi.at_least",
                                      (("bmi", "25.1"), ("threshold", "24.0"))),
              notes=(Explanation("result.height", (("height", "165"),)),)),
        vital("spo2", "88", "very_low", urgent=True,
              explanation=Explanation("explain.spo2.below", (("value", "88"), ("threshold", "90"))),
              notes=(Explanation("result.pulse", (("pulse", "104"),)),)),
        vital("temperature", "37.5", "low_fever",
              explanation=Explanation("explain.temperature.at_least",
                                      (("value", "37.5"), ("threshold", "37.3")))),
    ]  # fmt: skip
    slip = slip_for_visit(SETTINGS, name="王秀英", results=results, at=AT)
    texts = [b.text for b in layout(slip)]
    spo2, weight, temp = texts.index("血氧"), texts.index("体重"), texts.index("体温")
    assert spo2 < weight < temp  # the urgent one first
    assert texts[spo2 + 2 : spo2 + 6] == ["88 %", "很低", "Very low", "请马上找医生"]
    assert "88%：低于 90%。" in texts
    assert "脉搏 104" in texts and "Pulse 104" in texts
    assert texts[weight + 2 : weight + 4] == ["68.4 公斤", "超重"]
    assert "体重指数 25.1：达到 24.0 或以上。" in texts
    assert "BMI 25.1: 24.0 or more." in texts
    assert "身高 165 厘米" in texts and "Height 165 cm" in texts
    assert "37.5 °C" in texts and "低热" in texts and "Slight fever" in texts
