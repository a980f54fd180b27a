"""What differs between Omron models: where each user's records are, how big
a record is and how its bits are laid out, the read block size, where the
settings (unread counters, device clock) are read and written. Data only.

Every number here is from omblepy's per-model files at commit 708c13e
(``deviceSpecific/hem*.py``), cross-checked for HEM-7322T, HEM-7600T and
HEM-7361T against hass-omron's catalogue (commit d6758ed); the table is
reproduced, with the sources, in docs/protocols/omron.md. Addresses are the
logical addresses of the Bluetooth protocol, not the EEPROM chip's.

A model's ``counter_verified`` / ``clock_verified`` say whether omblepy's
maintainer marked the unread-counter reset and the clock write as tested on
the device: the driver writes to the device only where they are. Everything
else is read-only.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum

from healthkiosk.errors import ConfigError


class RecordFormat(StrEnum):
    BIG_ENDIAN_14 = "be14"
    """14-byte records: diastolic, systolic − 25, year, pulse, then the date
    and flags packed most significant bit first (HEM-7322T, HEM-7600T)."""
    BIG_ENDIAN_14_WRIST = "be14-wrist"
    """As ``be14``, with the movement and irregular-heartbeat bits swapped
    (HEM-6232T). The year's width is the model's ``year_bits``."""
    LITTLE_ENDIAN_16 = "le16"
    """16-byte records: systolic − 25, diastolic, pulse, year, then two
    little-endian 16-bit words with the date, time and flags (HEM-7361T,
    HEM-7155T, HEM-7150T, HEM-7342T)."""


class TimeFormat(StrEnum):
    SHORT_10 = "time10"
    """10 bytes at settings + 0x14 (the 0x0260 family)."""
    LONG_16 = "time16"
    """16 bytes at settings + 0x2C (the 0x0010 family)."""


@dataclass(frozen=True, slots=True)
class UserArea:
    start: int
    capacity: int


@dataclass(frozen=True, slots=True)
class ModelLayout:
    model: str
    sold_as: str
    record: RecordFormat
    record_size: int
    users: tuple[UserArea, ...]
    read_block: int
    """Bytes per read command (omblepy's ``transmissionBlockSize``)."""
    settings_read: int
    settings_write: int
    unread_size: int | None
    """Bytes of the unread section at the settings' start (None: not known)."""
    time: TimeFormat | None
    """The device clock's section (None: not known or not trustworthy)."""
    counter_verified: bool
    clock_verified: bool
    little_endian: bool
    year_bits: int = 8
    """Bits of the record's year field (6 in the little-endian records and on
    HEM-6232T and HEM-7530T: years 2000–2063)."""

    @property
    def time_offset(self) -> int:
        return 0x14 if self.time is TimeFormat.SHORT_10 else 0x2C

    @property
    def time_size(self) -> int:
        return 10 if self.time is TimeFormat.SHORT_10 else 16

    def user(self, number: int) -> UserArea:
        """The memory of user ``number`` (1-based, as on the monitor's switch)."""
        if not 1 <= number <= len(self.users):
            raise ConfigError(
                f"{self.model} has {len(self.users)} user memor"
                f"{'y' if len(self.users) == 1 else 'ies'}, not user {number}",
                key="devices.blood_pressure.options.user",
            )
        return self.users[number - 1]


_BIG_ENDIAN = ModelLayout(
    model="",
    sold_as="",
    record=RecordFormat.BIG_ENDIAN_14,
    record_size=14,
    users=(),
    read_block=0x38,
    settings_read=0x0260,
    settings_write=0x0286,
    unread_size=8,
    time=TimeFormat.SHORT_10,
    counter_verified=False,
    clock_verified=False,
    little_endian=False,
)
"""The 0x0260 family: 14-byte big-endian records, settings read at 0x0260."""

_LITTLE_ENDIAN = ModelLayout(
    model="",
    sold_as="",
    record=RecordFormat.LITTLE_ENDIAN_16,
    record_size=16,
    users=(),
    read_block=0x10,
    settings_read=0x0010,
    settings_write=0x0054,
    unread_size=16,
    time=TimeFormat.LONG_16,
    counter_verified=False,
    clock_verified=False,
    little_endian=True,
    year_bits=6,
)
"""The 0x0010 family: 16-byte little-endian records, settings read at 0x0010."""

MODELS: dict[str, ModelLayout] = {
    m.model: m
    for m in (
        replace(
            _BIG_ENDIAN,
            model="HEM-7322T",
            sold_as="M700 Intelli IT, M6",
            users=(UserArea(0x02AC, 100), UserArea(0x0824, 100)),
            counter_verified=True,
            clock_verified=True,
        ),
        replace(
            _BIG_ENDIAN,
            model="HEM-7600T",
            sold_as="Evolv",
            users=(UserArea(0x02AC, 100),),
            counter_verified=True,
            clock_verified=True,
        ),
        replace(
            _LITTLE_ENDIAN,
            model="HEM-7361T",
            sold_as="M500 / M7 Intelli IT",
            users=(UserArea(0x0098, 100), UserArea(0x06D8, 100)),
            counter_verified=True,
            clock_verified=True,
        ),
        replace(
            _LITTLE_ENDIAN,
            model="HEM-7155T",
            sold_as="M400 / M4 / X4 smart",
            users=(UserArea(0x0098, 60), UserArea(0x0458, 60)),
            counter_verified=True,
            clock_verified=True,
        ),
        replace(
            _LITTLE_ENDIAN,
            model="HEM-7150T",
            sold_as="BP7250",
            users=(UserArea(0x0098, 60),),
        ),
        replace(
            _LITTLE_ENDIAN,
            model="HEM-7342T",
            sold_as="BP7450",
            users=(UserArea(0x0098, 100), UserArea(0x06D8, 100)),
        ),
        replace(
            _BIG_ENDIAN,
            model="HEM-6232T",
            sold_as="RS7 Intelli IT (wrist)",
            record=RecordFormat.BIG_ENDIAN_14_WRIST,
            users=(UserArea(0x02E8, 100), UserArea(0x0860, 100)),
            settings_write=0x02A4,
            time=None,  # omblepy: "probably not correct"
            year_bits=6,
        ),
        replace(
            _BIG_ENDIAN,
            model="HEM-7530T",
            sold_as="Complete",
            users=(UserArea(0x02E8, 90),),
            read_block=0x10,
            settings_write=0x02A4,
            unread_size=None,
            time=None,
            year_bits=6,
        ),
    )
}


def layout_for(model: str) -> ModelLayout:
    try:
        return MODELS[model.upper()]
    except KeyError:
        known = ", ".join(sorted(MODELS))
        raise ConfigError(
            f"unknown Omron model {model!r} (known: {known})",
            key="devices.blood_pressure.options.model",
        ) from None


def layout_from_model_number(text: str) -> ModelLayout | None:
    """The layout of the model a Device Information model number names
    ("HEM-7361T-ESL" → HEM-7361T), or None."""
    upper = text.strip().upper()
    for model in sorted(MODELS, key=len, reverse=True):
        if upper.startswith(model):
            return MODELS[model]
    return None
