"""Resident ID numbers (GB 11643): check digit, X, region, birth date, masking."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from healthkiosk.errors import IdNumberError
from healthkiosk.idnumber import (
    IdNumber,
    Sex,
    check_character,
    mask,
    mask_in_text,
    parse,
)

# The standard's own worked example (GB 11643-1999, annex): 11010519491231002X.
EXAMPLE = "11010519491231002X"
PROVINCES = [11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44,
             45, 46, 50, 51, 52, 53, 54, 61, 62, 63, 64, 65, 71, 81, 82, 83]  # fmt: skip


def test_the_standards_example_with_x() -> None:
    assert check_character(EXAMPLE[:17]) == "X"
    n = parse(EXAMPLE)
    assert n.value == EXAMPLE and n.region == "110105"
    assert n.birth_date == date(1949, 12, 31) and n.sex is Sex.FEMALE
    assert parse(EXAMPLE.lower()).value == EXAMPLE  # a lower-case x is accepted
    assert parse("110105 19491231 002X").value == EXAMPLE  # typed with spaces


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("11010519491231002", "id_length"),
        ("1101051949123100221", "id_length"),
        ("11010519491231002Y", "id_format"),
        ("1101051949123100X2", "id_format"),
        ("110105194912310029", "id_check_digit"),
        ("990105194912310020", "id_region"),  # check digit fixed below
        ("110105194902300020", "id_birth_date"),
        ("110105230001010010", "id_birth_date"),
    ],
)
def test_errors_give_a_reason_never_the_number(text: str, reason: str) -> None:
    if reason in {"id_region", "id_birth_date"}:
        text = text[:17] + check_character(text[:17])
    with pytest.raises(IdNumberError) as info:
        parse(text, today=date(2026, 1, 1))
    assert info.value.reason == reason
    assert text not in str(info.value) and text[:14] not in str(info.value)


def test_birth_date_in_the_future_is_refused() -> None:
    first17 = "11010520260102001"
    number = first17 + check_character(first17)
    assert parse(number, today=date(2026, 1, 2)).birth_date == date(2026, 1, 2)
    with pytest.raises(IdNumberError, match="plausible"):
        parse(number, today=date(2026, 1, 1))


def test_masking_and_repr() -> None:
    n = parse(EXAMPLE)
    assert n.masked == mask(EXAMPLE) == "110***********002X"
    for shown in (repr(n), str(n), f"{n}", repr([n]), repr({"n": n})):
        assert EXAMPLE not in shown and "19491231" not in shown
    assert mask("12345") == "*****"
    text = f"resident {EXAMPLE} and {EXAMPLE.lower()} and 110105 19491231 002X, old 110105491231002"
    masked = mask_in_text(text)
    assert "19491231" not in masked and "491231" not in masked
    assert masked.count("110***") == 4
    assert mask_in_text("order 1234567890123456789 stays") == "order 1234567890123456789 stays"


@st.composite
def valid_numbers(draw: st.DrawFn) -> str:
    region = f"{draw(st.sampled_from(PROVINCES)):02d}{draw(st.integers(0, 9999)):04d}"
    born = draw(st.dates(min_value=date(1900, 1, 1), max_value=date(2025, 12, 31)))
    seq = draw(st.integers(0, 999))
    first17 = f"{region}{born:%Y%m%d}{seq:03d}"
    return first17 + check_character(first17)


@settings(max_examples=300, deadline=None)
@given(valid_numbers())
def test_every_valid_number_passes(number: str) -> None:
    n = parse(number, today=date(2026, 1, 1))
    assert isinstance(n, IdNumber) and n.value == number
    assert n.sex is (Sex.MALE if int(number[16]) % 2 else Sex.FEMALE)
    assert mask_in_text(f"x {number} y") == f"x {n.masked} y"


@settings(max_examples=300, deadline=None)
@given(valid_numbers(), st.integers(0, 17), st.sampled_from("0123456789X"))
def test_any_single_character_change_fails(number: str, position: int, char: str) -> None:
    if position < 17 and char == "X":
        char = "7"
    if number[position] == char:
        char = "0" if char != "0" else "1"
    changed = number[:position] + char + number[position + 1 :]
    with pytest.raises(IdNumberError):
        parse(changed, today=date(2026, 1, 1))
