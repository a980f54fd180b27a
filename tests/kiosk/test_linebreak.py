"""Chinese line breaking (kiosk.linebreak), measured by a stand-in font: every
character of a fixed width (Chinese a whole em, Latin half), as the screens'
and the slip's fonts nearly are."""

from __future__ import annotations

import random

import pytest

from kiosk.linebreak import NOT_AT_END, NOT_AT_START, wrap


def em(words: str) -> float:
    return sum(0.5 if ch.isascii() else 1.0 for ch in words)


SENTENCES = (
    "请放身份证，或输入身份证号（18位）",
    "不要取下袖带，45 秒后测第二次。",
    "号码有误，请逐位核对。",
    "请坐下休息，不要离开，工作人员马上来！",
    "上次 3月2日 135/85 mmHg，这次 128/82 mmHg。",
    "袖带正在充气。请坐好别动，不要说话",
    "Keep the cuff on. Reading 2 in 45 s",
)


@pytest.mark.parametrize("words", SENTENCES)
def test_no_line_starts_with_a_closing_mark_at_any_width(words: str) -> None:
    for tenths in range(30, 200):
        width = tenths / 10
        lines = wrap(words, em, width)
        assert "".join(lines).replace(" ", "") == words.replace(" ", "")
        for line in lines:
            assert line[0] not in NOT_AT_START, (width, lines)
            assert line[-1] not in NOT_AT_END, (width, lines)
            # only a closing mark kept with what it closes may stick out
            assert em(line) <= width or em(line[:-1]) <= width, (width, line)


def test_a_number_stays_with_its_unit_and_the_comma_with_its_clause() -> None:
    assert wrap("请放身份证，或输入身份证号（18位）", em, 6) == [
        "请放身份证，",
        "或输入身份证",
        "号（18位）",
    ]
    lines = wrap("上次 3月2日 135/85 mmHg，很好", em, 9)
    assert any("135/85 mmHg，" in line for line in lines), lines


def test_random_punctuation_never_leads_a_line() -> None:
    seed = random.randrange(2**32)
    rng = random.Random(seed)
    alphabet = "血压测量请坐好别动，。：！？）（“”、12 ab"
    for _ in range(300):
        words = "".join(rng.choice(alphabet) for _ in range(rng.randrange(1, 40))).strip()
        if not words:
            continue
        width = rng.uniform(2, 12)
        lines = wrap(words, em, width)
        assert "".join(lines).replace(" ", "") == words.replace(" ", ""), (seed, words)
        for line in lines[1:]:  # the first starts where the words do
            assert line[0] not in NOT_AT_START, (seed, words, width, lines)
