"""The 256-byte text block of a second-generation resident ID card: pure codec.

UCS-2 little-endian, fixed-width fields padded with spaces (GA 450 layout,
as the readers' SDK notes publish it):

=====================  =====  ==========================================
field                  bytes  content
=====================  =====  ==========================================
name                   30     up to 15 characters
sex                    2      GB/T 2261.1 code: 0 unknown, 1 male,
                              2 female, 9 unspecified
nation                 4      GB 3304 code, ``01`` .. ``56`` (97 other,
                              98 foreign origin)
birth date             16     ``YYYYMMDD``
address                70     up to 35 characters
ID number              36     18 characters
issuing authority      30     up to 15 characters
validity start         16     ``YYYYMMDD``
validity end           16     ``YYYYMMDD`` or ``长期`` (no end)
reserved               36
=====================  =====  ==========================================

The photo block that follows on the wire is never decoded or kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from drivers.idcard.nations import NATIONS
from healthkiosk.errors import ProtocolError

LAYOUT = (
    ("name", 30),
    ("sex_code", 2),
    ("nation_code", 4),
    ("birth_date", 16),
    ("address", 70),
    ("id_number", 36),
    ("issuing_authority", 30),
    ("valid_from", 16),
    ("valid_to", 16),
)
TEXT_SIZE = 256
SEX = {"0": "unknown", "1": "male", "2": "female", "9": "unspecified"}
NO_END = "长期"


class CardTextError(ProtocolError):
    """A text block that does not follow the card layout.

    It never carries the block (``raw`` is empty): the block holds a
    resident's name and ID number."""


@dataclass(frozen=True, slots=True)
class CardText:
    """The card's fields as printed on it (codes kept, dates as ``YYYYMMDD``)."""

    name: str
    sex_code: str
    nation_code: str
    birth_date: str
    address: str
    id_number: str = field(repr=False)
    issuing_authority: str
    valid_from: str
    valid_to: str

    @property
    def sex(self) -> str:
        return SEX[self.sex_code]

    @property
    def nation(self) -> str:
        return NATIONS[self.nation_code]


def _date(text: str, name: str) -> None:
    if len(text) != 8 or not text.isdigit():
        raise CardTextError(f"{name} is not YYYYMMDD")
    try:
        date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        raise CardTextError(f"{name} is not a date") from None


def decode(block: bytes) -> CardText:
    if len(block) != TEXT_SIZE:
        raise CardTextError(f"text block is {len(block)} bytes, not 256")
    values: dict[str, str] = {}
    at = 0
    for name, size in LAYOUT:
        chunk = block[at : at + size]
        at += size
        try:
            text = chunk.decode("utf-16-le")
        except UnicodeDecodeError:
            raise CardTextError(f"{name} is not UCS-2") from None
        values[name] = text.rstrip(" \x00")
    if values["sex_code"] not in SEX:
        raise CardTextError("unknown sex code")
    if values["nation_code"] not in NATIONS:
        raise CardTextError("unknown nation code")
    for name in ("birth_date", "valid_from"):
        _date(values[name], name)
    if values["valid_to"] != NO_END:
        _date(values["valid_to"], "valid_to")
    if not values["name"]:
        raise CardTextError("the name is empty")
    return CardText(**values)


def encode(card: CardText) -> bytes:
    out = bytearray()
    for name, size in LAYOUT:
        text = getattr(card, name)
        raw = text.encode("utf-16-le")
        if len(raw) > size:
            raise ValueError(f"{name} is longer than {size // 2} characters")
        out += raw + " ".encode("utf-16-le") * ((size - len(raw)) // 2)
    out += " ".encode("utf-16-le") * ((TEXT_SIZE - len(out)) // 2)
    return bytes(out)
