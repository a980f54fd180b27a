"""Resident ID numbers (GB 11643-1999, 公民身份号码): validation and masking.

An 18-character number is six digits of region, eight of birth date
(YYYYMMDD), three of sequence (odd for men, even for women) and a check
character computed with ISO 7064 MOD 11-2 (``X`` stands for 10).

The number itself never appears in an error message or a log line: errors
say what is wrong, not what was typed.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from healthkiosk.errors import IdNumberError

_WEIGHTS = tuple(pow(2, 17 - i, 11) for i in range(17))
_CHECK_CHARS = "10X98765432"

# Province-level codes (the first two digits) in use: GB/T 2260.
_PROVINCES = frozenset(
    {
        11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37,
        41, 42, 43, 44, 45, 46, 50, 51, 52, 53, 54, 61, 62, 63, 64, 65,
        71, 81, 82, 83,
    }
)  # fmt: skip

# Anything that looks like an 18- or 15-character ID number, optionally with
# single spaces between the groups (as people type them).
ID_NUMBER_PATTERN = re.compile(
    r"(?<![0-9A-Za-z])(?:\d{6} ?\d{8} ?\d{3}[0-9Xx]|\d{15})(?![0-9A-Za-z])"
)


class Sex(StrEnum):
    MALE = "male"
    FEMALE = "female"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class IdNumber:
    """A validated 18-character ID number."""

    value: str
    region: str
    birth_date: date
    sex: Sex

    @property
    def masked(self) -> str:
        return mask(self.value)

    def __repr__(self) -> str:  # never the whole number, even in a debugger
        return f"IdNumber({self.masked!r})"

    __str__ = __repr__


def check_character(first17: str) -> str:
    """The ISO 7064 MOD 11-2 check character for the first 17 digits."""
    if len(first17) != 17 or not first17.isdigit():
        raise IdNumberError("the first 17 characters must be digits", reason="id_format")
    total = sum(int(d) * w for d, w in zip(first17, _WEIGHTS, strict=True))
    return _CHECK_CHARS[total % 11]


def normalise(text: str) -> str:
    return text.replace(" ", "").strip().upper()


def parse(text: str, *, today: date | None = None) -> IdNumber:
    """Validate an ID number as typed or read from a card.

    Raises :class:`IdNumberError` with a reason: ``id_length``, ``id_format``,
    ``id_check_digit``, ``id_region`` or ``id_birth_date``.
    """
    value = normalise(text)
    if len(value) != 18:
        raise IdNumberError(
            f"an ID number has 18 characters, this has {len(value)}", reason="id_length"
        )
    if not value[:17].isdigit() or not (value[17].isdigit() or value[17] == "X"):
        raise IdNumberError("an ID number is 17 digits and a last digit or X", reason="id_format")
    expected = check_character(value[:17])
    if value[17] != expected:
        raise IdNumberError(
            "the last character does not match the check digit", reason="id_check_digit"
        )
    if int(value[:2]) not in _PROVINCES:
        raise IdNumberError("the region code is not a known province", reason="id_region")
    try:
        born = date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        raise IdNumberError("the birth date is not a date", reason="id_birth_date") from None
    today = today or date.today()
    if born > today or born.year < 1890:
        raise IdNumberError("the birth date is not plausible", reason="id_birth_date")
    sex = Sex.MALE if int(value[16]) % 2 == 1 else Sex.FEMALE
    return IdNumber(value=value, region=value[:6], birth_date=born, sex=sex)


def mask(value: str) -> str:
    """The form shown on screens and in logs: first three and last four kept."""
    v = normalise(value)
    if len(v) <= 7:
        return "*" * len(v)
    return v[:3] + "*" * (len(v) - 7) + v[-4:]


def mask_in_text(text: str) -> str:
    """Replace every ID-number-like run of characters in ``text`` by its mask."""
    return ID_NUMBER_PATTERN.sub(lambda m: mask(m.group(0)), text)


def mask_in_payload(payload: bytes) -> bytes:
    """A message's bytes with every ID-number-like run masked (a dead letter
    keeps them so). JSON is written out again first, so that ``\\u`` escapes
    cannot hide a number; other bytes are kept as they came, apart from the masks."""
    try:
        doc = json.loads(payload)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raw = payload.decode("utf-8", "surrogateescape")
        return mask_in_text(raw).encode("utf-8", "surrogateescape")
    body = json.dumps(doc, ensure_ascii=False, separators=(",", ":"))
    return mask_in_text(body).encode("utf-8", "surrogatepass")
