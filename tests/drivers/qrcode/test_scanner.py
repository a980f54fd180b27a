"""The QR-code scanner: what scanners send (CR-terminated lines, AIM prefixes),
which codes carry an ID number, and the driver against its emulated twin."""

from __future__ import annotations

import asyncio
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers.qrcode import scan_codec as sc
from drivers.qrcode.scanner import ScannerOptions, open_device, to_card_data
from emulation import twins
from emulation.qrcode.scanner import NOT_AN_ID_CODE, SAMPLE_CODE, SAMPLE_ID, QrScannerEmulator
from emulation.serial.device import EmulatorOptions
from healthkiosk.errors import (
    ConfigError,
    DeviceConnectionError,
    DeviceTimeoutError,
    IdNumberError,
    ProtocolError,
)
from healthkiosk.idnumber import check_character

pytestmark = pytest.mark.timeout(60)

PATTERNS = sc.compile_patterns(sc.DEFAULT_PATTERNS)
OTHER17 = "44030419520815331"
OTHER = OTHER17 + check_character(OTHER17)


# --- lines ---------------------------------------------------------------------------


@pytest.mark.parametrize("terminator", [b"\r", b"\n", b"\r\n"])
def test_each_code_is_one_line_whatever_the_terminator(terminator: bytes) -> None:
    split = sc.LineSplitter()
    data = b"first" + terminator + b"second" + terminator + b"third-unfinished"
    assert split.feed(data[:7]) + split.feed(data[7:]) == [b"first", b"second"]


def test_a_line_longer_than_any_qr_code_is_dropped_with_its_tail() -> None:
    split = sc.LineSplitter()
    assert split.feed(b"x" * (sc.MAX_LINE + 10) + b"\rok\r") == [b"ok"]
    assert split.overflows == 1


def test_aim_symbology_prefix_and_bom_are_removed() -> None:
    assert sc.decode_line(b"]Q1" + SAMPLE_ID.encode()) == SAMPLE_ID
    assert sc.decode_line("\ufeff".encode() + b"  abc ") == "abc"


def test_gb18030_codes_from_older_scanners_are_read() -> None:
    assert sc.decode_line("姓名=王;sfzh=1".encode("gb18030")) == "姓名=王;sfzh=1"


def test_control_characters_are_line_noise() -> None:
    with pytest.raises(ProtocolError):
        sc.decode_line(b"\x00\x01abc")


@given(st.lists(st.binary(max_size=300), max_size=20))
def test_random_bytes_never_crash_and_never_make_a_number(chunks: list[bytes]) -> None:
    split = sc.LineSplitter()
    for chunk in chunks:
        for raw in split.feed(chunk):
            try:
                text = sc.decode_line(raw)
                to_card_data(text, PATTERNS)
            except (ProtocolError, IdNumberError):
                continue


# --- which codes carry an ID number --------------------------------------------------


@pytest.mark.parametrize(
    "code",
    [
        SAMPLE_ID,
        SAMPLE_ID.lower(),
        SAMPLE_CODE,
        f"sfzh={SAMPLE_ID};name=x",
        f"zjhm:{SAMPLE_ID}",
        f"https://x.example/p?a=1&id_number={SAMPLE_ID}",
    ],
)
def test_codes_that_carry_an_id_number(code: str) -> None:
    card = to_card_data(code, PATTERNS)
    assert card.id_number == SAMPLE_ID
    assert card.birth_date == "1949-12-31" and card.name == ""


@pytest.mark.parametrize(
    "code",
    [NOT_AN_ID_CODE, f"order={SAMPLE_ID}", f"{SAMPLE_ID}0", f"idno={SAMPLE_ID}9", "hello"],
)
def test_codes_without_one_are_refused_without_repeating_them(code: str) -> None:
    with pytest.raises(IdNumberError) as err:
        to_card_data(code, PATTERNS)
    assert err.value.reason == "not_an_id_code"
    assert code not in str(err.value)


def test_a_wrong_check_digit_is_an_id_error_not_a_resident() -> None:
    wrong = SAMPLE_ID[:-1] + ("0" if SAMPLE_ID[-1] != "0" else "1")
    with pytest.raises(IdNumberError) as err:
        to_card_data(f"idno={wrong}", PATTERNS)
    assert err.value.reason == "id_check_digit"


def test_a_station_can_add_its_own_pattern() -> None:
    own = sc.compile_patterns([r"^HK1\|(?P<id>\d{17}[\dX])\|"])
    assert to_card_data(f"HK1|{OTHER}|2026", own).id_number == OTHER


def test_a_pattern_without_an_id_group_is_a_config_error() -> None:
    from drivers.qrcode.scanner import QrScanner

    with pytest.raises(ConfigError, match=r"options\.patterns"):
        QrScanner(port="/dev/null", options=ScannerOptions(patterns=[r"\d{18}"]))


# --- the driver against its emulated twin --------------------------------------------


async def _read(emu: dict[str, object], *, timeout_s: float = 5) -> object:
    async with twins.connect("serial-qr", options={"emulator": emu}) as scanner:
        return await scanner.read_card(timeout_s=timeout_s)


async def test_a_scanned_elder_service_card() -> None:
    card = await _read({})
    assert card.id_number == SAMPLE_ID  # type: ignore[attr-defined]


async def test_a_line_of_noise_before_the_code_is_skipped() -> None:
    card = await _read({"fault": "garbage"})
    assert card.id_number == SAMPLE_ID  # type: ignore[attr-defined]


async def test_a_code_without_an_id_number_is_a_clear_error() -> None:
    with pytest.raises(IdNumberError, match="does not carry"):
        await _read({"fault": "device_error"})


async def test_nothing_scanned_is_a_timeout() -> None:
    with pytest.raises(DeviceTimeoutError) as err:
        await _read({"fault": "no_card"}, timeout_s=1)
    assert err.value.reason == "no_card"


async def test_unplugged_mid_code_then_plugged_back_in() -> None:
    emulator = QrScannerEmulator(
        EmulatorOptions(fault="drop_measurement", replug_after_s=0.2, measure_after_s=0.3)
    )
    async with emulator.running() as port, open_device(port=port) as scanner:
        with pytest.raises(DeviceConnectionError):
            await scanner.read_card(timeout_s=5)
        for _ in range(100):
            if emulator.link.plugged:
                break
            await asyncio.sleep(0.02)
        emulator.schedule_measurement(0.3)  # the elder shows the card again
        assert (await scanner.read_card(timeout_s=5)).id_number == SAMPLE_ID


async def test_a_megabyte_of_noise_never_makes_a_resident() -> None:
    seed = random.randrange(1 << 30)
    print(f"noise seed {seed}")
    emulator = QrScannerEmulator(EmulatorOptions(fault="noise", seed=seed, measure_after_s=0))
    async with emulator.running() as port, open_device(port=port) as scanner:
        outcomes: list[str] = []
        while emulator.noise_sent < (1 << 20) or not outcomes:
            try:
                await scanner.read_card(timeout_s=1)
                pytest.fail("noise made a resident")
            except (DeviceTimeoutError, IdNumberError) as err:
                outcomes.append(type(err).__name__)
            assert len(outcomes) < 500
    assert emulator.noise_sent == 1 << 20
