"""Voice: number clips, the voice pack, espeak-ng fallback, missing engines."""

from __future__ import annotations

import asyncio
import io
import logging
import wave
from array import array
from pathlib import Path

import pytest

from kiosk.voice import Number, Say, Voice, number_clips, scale_wav
from tests.support.flowkit import Harness


@pytest.mark.parametrize(
    ("value", "zh"),
    [
        (0, ["num_0"]),
        (7, ["num_7"]),
        (10, ["num_10"]),
        (15, ["num_10", "num_5"]),
        (80, ["num_8", "num_10"]),
        (105, ["num_1", "num_100", "num_0", "num_5"]),
        (135, ["num_1", "num_100", "num_3", "num_10", "num_5"]),
        (110, ["num_1", "num_100", "num_1", "num_10"]),
        (200, ["num_2", "num_100"]),
    ],
)
def test_chinese_numbers_from_digit_clips(value: int, zh: list[str]) -> None:
    assert number_clips(value, "zh_CN") == zh


@pytest.mark.parametrize(
    ("value", "en"),
    [
        (0, ["num_0"]),
        (13, ["num_13"]),
        (80, ["num_80"]),
        (135, ["num_1", "num_100", "num_30", "num_5"]),
        (110, ["num_1", "num_100", "num_10"]),
    ],
)
def test_english_numbers(value: int, en: list[str]) -> None:
    assert number_clips(value, "en") == en


def test_decimals() -> None:
    assert number_clips(6.4, "zh_CN", decimals=1) == ["num_6", "num_point", "num_4"]


def _wav(samples: list[int]) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(array("h", samples).tobytes())
    return buf.getvalue()


def test_volume_scales_samples() -> None:
    out = scale_wav(_wav([1000, -1000, 30000]), 0.5)
    with wave.open(io.BytesIO(out)) as w:
        assert list(array("h", w.readframes(3))) == [500, -500, 15000]


def test_pack_used_only_when_every_clip_is_there(tmp_path: Path) -> None:
    folder = tmp_path / "zh_CN"
    folder.mkdir()
    for key in ("result.title", "num_1", "num_100", "num_3", "num_10", "num_5"):
        (folder / f"{key}.wav").write_bytes(_wav([0]))
    v = Voice(enabled=True, volume=1.0, pack=tmp_path)
    assert v.clips([Say("result.title"), Number(135)], "zh_CN") is not None
    assert v.clips([Say("result.title"), Number(136)], "zh_CN") is None  # no num_6
    assert v.clips([Say("result.title")], "en") is None


async def test_missing_engine_is_a_warning_not_a_crash(caplog: pytest.LogCaptureFixture) -> None:
    v = Voice(enabled=True, volume=0.5, pack=None, espeak="no-such-espeak", player="no-such")
    with caplog.at_level(logging.WARNING):
        v.say([Say("done.title")], "zh_CN")
        await asyncio.sleep(0.05)
        v.say([Say("done.body")], "en")
        await asyncio.sleep(0.05)
    await v.close()
    assert list(v.spoken) == [("zh_CN", "谢谢"), ("en", "Take care. Goodbye")]
    assert [r.message for r in caplog.records].count(
        "espeak-ng not found: prompts are not spoken"
    ) == 1


async def test_espeak_fallback_runs(tmp_path: Path) -> None:
    import shutil

    if shutil.which("espeak-ng") is None:
        pytest.fail("espeak-ng is a system dependency of the kiosk (apt install espeak-ng)")
    log = tmp_path / "argv"
    fake = tmp_path / "espeak-ng"
    fake.write_text(f'#!/bin/sh\necho "$@" > {log}\n')
    fake.chmod(0o755)
    v = Voice(enabled=True, volume=0.5, pack=None, espeak=str(fake))
    v.say([Say("done.title")], "zh_CN")
    for _ in range(100):
        await asyncio.sleep(0.02)
        if log.exists():
            break
    await v.close()
    assert log.read_text().split() == ["-v", "cmn", "-a", "100", "-s", "140", "谢谢"]


def test_voice_off() -> None:
    v = Voice(enabled=False, volume=1.0, pack=None)
    v.say([Say("done.title")], "zh_CN")
    assert list(v.spoken) == []


async def test_still_here_countdown_is_spoken_at_a_few_moments(h: Harness) -> None:
    """The question with the seconds left, when it appears and at 10 s and 5 s
    left, as the app speaks it (a new cue only): not every second."""
    from kiosk.flow.state import Screen, State
    from kiosk.prompts import prompt_for
    from tests.support.fake_devices import GlucoseOutcome, demo_card

    v = Voice(enabled=True, volume=0.5, pack=None, espeak="no-such-espeak", player="no-such")
    cue: object = None

    def speak(state: State) -> None:  # what KioskApp._apply does with each state
        nonlocal cue
        new, parts = prompt_for(state)
        if new != cue:
            cue = new
            v.say(parts, state.language)

    h.flow.subscribe(speak)
    h.glucose.queue(GlucoseOutcome(5.0))
    h.flow.start_checkin()
    await h.settle()
    h.reader.present(demo_card())
    await h.screen(Screen.CONFIRM, max_s=1)
    h.flow.confirm()
    h.flow.choose("glucose")
    h.flow.answer_meal("fasting")
    h.flow.start_glucose()
    await h.screen(Screen.RESULT)
    h.flow.set_language("en")
    before = len(v.spoken)
    await h.screen(Screen.DONE)
    await v.close()
    assert list(v.spoken)[before:] == [
        ("en", "Are you still here? 20 seconds until the screen resets"),
        ("en", "Are you still here? 10 seconds until the screen resets"),
        ("en", "Are you still here? 5 seconds until the screen resets"),
        ("en", "Thank you Take care. Goodbye Take your ID card. Take off the cuff"),
    ]


def test_still_here_is_spoken_in_chinese() -> None:
    from kiosk.flow.state import Screen, State
    from kiosk.prompts import prompt_for
    from kiosk.voice import _words

    _, parts = prompt_for(State(screen=Screen.CHOOSE, still_here_s=20))
    assert _words(parts, "zh_CN") == "您还在吗？ 20 秒后回到首页"


def test_a_result_says_what_happens_now_or_the_call_for_staff() -> None:
    """An urgent result (SpO2 too) says what happens now, not the call's news;
    a call pressed on a normal result is said like on any other screen."""
    from kiosk.flow.state import Explanation, HelpView, Screen, State, VitalResult
    from kiosk.prompts import prompt_for
    from kiosk.voice import _words

    def spo2(value: str, category: str, urgent: bool) -> VitalResult:
        return VitalResult(kind="spo2", shown=value, category=category, urgent=urgent,
                           rule="r", explanation=Explanation("e"),
                           advice="advice.spo2.normal", saved=True)  # fmt: skip

    called = HelpView(reason="urgent_result", status="called", screen="result")
    urgent = State(screen=Screen.RESULT, vital_result=spo2("87", "very_low", True), help=called)
    words = _words(prompt_for(urgent)[1], "zh_CN")
    assert words.endswith("请坐下休息，不要离开，工作人员马上来")
    assert "已通知工作人员" not in words
    asked = HelpView(reason="staff_call", status="called", screen="result")
    normal = State(screen=Screen.RESULT, vital_result=spo2("97", "normal", False), help=asked)
    words = _words(prompt_for(normal)[1], "zh_CN")
    assert words.endswith("已通知工作人员，请稍候") and "工作人员马上来" not in words
