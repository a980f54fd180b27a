"""IEEE 11073-20601 SFLOAT (16-bit) and FLOAT (32-bit), as the Bluetooth SIG
health profiles use them (Blood Pressure, Glucose).

A value is ``mantissa × 10^exponent``; SFLOAT has a 4-bit exponent and a 12-bit
mantissa, FLOAT an 8-bit exponent and a 24-bit mantissa, both two's complement,
little-endian on the wire. Five mantissa values are not numbers: NaN, NRes (not
at this resolution), +INF, -INF and one reserved value. They decode to a
:class:`Nfloat` with ``special`` set and ``value`` None — never to a number.
(The standard defines them with exponent 0; the same mantissas with any other
exponent are reported as ``reserved``.)

Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from healthkiosk.errors import ProtocolError


class NfloatError(ProtocolError):
    """Bytes that are not an SFLOAT/FLOAT, or a value that cannot be encoded."""

    reason = "nfloat_invalid"


class Special(StrEnum):
    NAN = "nan"
    NRES = "nres"
    PLUS_INF = "+inf"
    MINUS_INF = "-inf"
    RESERVED = "reserved"


@dataclass(frozen=True, slots=True)
class _Format:
    name: str
    size: int
    exponent_bits: int
    mantissa_bits: int

    @property
    def specials(self) -> dict[int, Special]:
        top = 1 << (self.mantissa_bits - 1)  # 0x800 for SFLOAT
        return {
            top - 1: Special.NAN,  # 0x07FF
            -top: Special.NRES,  # 0x0800
            top - 2: Special.PLUS_INF,  # 0x07FE
            -top + 2: Special.MINUS_INF,  # 0x0802
            -top + 1: Special.RESERVED,  # 0x0801
        }

    @property
    def max_mantissa(self) -> int:
        """Largest magnitude of a numeric mantissa (the rest are specials)."""
        return (1 << (self.mantissa_bits - 1)) - 3

    @property
    def exponent_range(self) -> tuple[int, int]:
        half = 1 << (self.exponent_bits - 1)
        return -half, half - 1


SFLOAT = _Format("SFLOAT", 2, 4, 12)
FLOAT = _Format("FLOAT", 4, 8, 24)

_SPECIAL_MANTISSA = {
    fmt.name: {special: m for m, special in fmt.specials.items()} for fmt in (SFLOAT, FLOAT)
}


@dataclass(frozen=True, slots=True)
class Nfloat:
    """A decoded SFLOAT or FLOAT: a number, or a special value with its reason."""

    mantissa: int
    exponent: int
    special: Special | None = None

    @property
    def decimal(self) -> Decimal | None:
        """The exact value, or None for a special value."""
        if self.special is not None:
            return None
        return Decimal(self.mantissa).scaleb(self.exponent)

    @property
    def value(self) -> float | None:
        d = self.decimal
        return None if d is None else float(d)

    @property
    def is_number(self) -> bool:
        return self.special is None

    @classmethod
    def of(cls, special: Special) -> Nfloat:
        """A special value (for the encoder and the emulators)."""
        return cls(mantissa=_SPECIAL_MANTISSA["SFLOAT"][special], exponent=0, special=special)


def _signed(value: int, bits: int) -> int:
    return value - (1 << bits) if value & (1 << (bits - 1)) else value


def _decode(fmt: _Format, data: bytes) -> Nfloat:
    raw = bytes(data)
    if len(raw) != fmt.size:
        raise NfloatError(f"{fmt.name} needs {fmt.size} bytes, got {len(raw)}", raw=raw)
    word = int.from_bytes(raw, "little")
    mantissa = _signed(word & ((1 << fmt.mantissa_bits) - 1), fmt.mantissa_bits)
    exponent = _signed(word >> fmt.mantissa_bits, fmt.exponent_bits)
    special = fmt.specials.get(mantissa)
    if special is not None:
        return Nfloat(mantissa, exponent, special if exponent == 0 else Special.RESERVED)
    return Nfloat(mantissa, exponent)


def _encode(fmt: _Format, value: Nfloat) -> bytes:
    if value.special is not None:
        mantissa, exponent = _SPECIAL_MANTISSA[fmt.name][value.special], 0
    else:
        mantissa, exponent = value.mantissa, value.exponent
        if abs(mantissa) > fmt.max_mantissa:
            raise NfloatError(f"{fmt.name} mantissa {mantissa} out of range")
    lo, hi = fmt.exponent_range
    if not lo <= exponent <= hi:
        raise NfloatError(f"{fmt.name} exponent {exponent} out of range {lo}..{hi}")
    word = ((exponent & ((1 << fmt.exponent_bits) - 1)) << fmt.mantissa_bits) | (
        mantissa & ((1 << fmt.mantissa_bits) - 1)
    )
    return word.to_bytes(fmt.size, "little")


def decode_sfloat(data: bytes) -> Nfloat:
    return _decode(SFLOAT, data)


def encode_sfloat(value: Nfloat) -> bytes:
    return _encode(SFLOAT, value)


def decode_float(data: bytes) -> Nfloat:
    return _decode(FLOAT, data)


def encode_float(value: Nfloat) -> bytes:
    return _encode(FLOAT, value)


def sfloat_from_decimal(value: Decimal | int | str, *, fmt: _Format = SFLOAT) -> Nfloat:
    """The representation of ``value`` with the smallest exponent that fits
    (so 120 → 120e0, 12.5 → 125e-1, 0.00110 → 110e-5)."""
    d = Decimal(value).normalize()
    sign, digits, exponent = d.as_tuple()
    if not isinstance(exponent, int):
        raise NfloatError(f"{value} is not a finite number")
    mantissa = int("".join(map(str, digits)) or "0") * (-1 if sign else 1)
    lo, hi = fmt.exponent_range
    while abs(mantissa) > fmt.max_mantissa or exponent < lo:
        if mantissa % 10:
            raise NfloatError(f"{value} does not fit in {fmt.name}")
        mantissa //= 10
        exponent += 1
    # Prefer a small positive exponent only when needed; widen the mantissa
    # (123e1 → 1230e0) when that fits, for a canonical form.
    while exponent > 0 and abs(mantissa * 10) <= fmt.max_mantissa:
        mantissa *= 10
        exponent -= 1
    if exponent > hi:
        raise NfloatError(f"{value} does not fit in {fmt.name}")
    return Nfloat(mantissa, exponent)
