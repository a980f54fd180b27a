"""Codec tests from published bytes (sources named per test) and property tests."""

from __future__ import annotations

import contextlib
from datetime import date, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.idcard import sam_frame as sf
from drivers.idcard import text_block as tb
from drivers.idcard.nations import NATIONS
from drivers.serial import lifescan_binary as lb
from drivers.serial import lifescan_text as lt
from drivers.serial import lineformat as lf
from emulation.idcard.sam_reader import SAMPLE_CARD
from healthkiosk.errors import InvalidChecksum, ProtocolError

# --- OneTouch Ultra 2: glucometerutils drivers/tests/test_otultra2.py ---------------


def test_ultra2_checksum_published_values() -> None:
    # glucometerutils test_otultra2.py: checksum(b"T") == 0x0054 and the full clock line.
    assert lt.checksum(b"T") == 0x0054
    assert lt.checksum(b'T "SAT","08/03/13","22:12:00   "') == 0x0608


def test_ultra2_clock_line_parses() -> None:
    line = b'T "SAT","08/03/13","22:12:00   " 0608\r'
    body = lt.parse_line(line)
    assert lt.parse_clock_response(body, prefix="T") == datetime(2013, 8, 3, 22, 12, 0)


@pytest.mark.parametrize(
    ("line", "error"),
    [
        # glucometerutils test_otultra2.py test_invalid_response cases
        (b"INVALID", lt.UltraTextError),
        (b"% 1337\r", lt.UltraTextChecksum),
        (b"% 13AZ\r", lt.UltraTextError),
    ],
)
def test_ultra2_bad_lines(line: bytes, error: type[Exception]) -> None:
    with pytest.raises(error):
        lt.parse_line(line)


def test_ultra2_checksum_error_states_both_values() -> None:
    with pytest.raises(InvalidChecksum) as info:
        lt.parse_line(b"% 1337\r")
    assert (info.value.wire, info.value.calculated) == (0x1337, lt.checksum(b"%"))
    assert info.value.raw == b"% 1337\r"


def test_ultra2_serial_must_end_in_y() -> None:
    # glucometerutils: '@ "12345678O" 0297' is an invalid serial number.
    with pytest.raises(lt.UltraTextError):
        lt.parse_serial(lt.parse_line(b'@ "12345678O" 0297\r'))


def test_ultra2_record_whole() -> None:
    body = 'P "SAT","08/03/13","22:12:00   ","  123 ","B","05", 00'
    assert lt.parse_record(body) == lt.Ultra2Record(
        when=datetime(2013, 8, 3, 22, 12), mg_dl=123, meal="B", comment="05"
    )


ultra2_records = st.builds(
    lt.Ultra2Record,
    when=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31)).map(
        lambda d: d.replace(microsecond=0)
    ),
    mg_dl=st.integers(0, 999),
    control=st.booleans(),
    parity_error=st.booleans(),
    meal=st.sampled_from("NBA"),
    comment=st.sampled_from(sorted(lt.COMMENT_CODES)),
)


@settings(deadline=None)
@given(ultra2_records)
def test_ultra2_record_round_trip(record: lt.Ultra2Record) -> None:
    line = lt.encode_line(lt.format_record(record))
    framed = lt.LineFramer().feed(line)
    assert [lt.parse_record(lt.parse_line(x)) for x in framed] == [record]


@settings(deadline=None)
@given(st.binary(max_size=300))
def test_ultra2_arbitrary_bytes_raise_only_codec_errors(data: bytes) -> None:
    for line in lt.LineFramer().feed(data + b"\n"):
        with contextlib.suppress(lt.UltraTextError):
            lt.parse_record(lt.parse_line(line))


# --- OneTouch UltraEasy: glucometerutils support/tests/test_lifescan.py, ----------
# --- drivers/tests/test_otultraeasy.py ----------------------------------------------


def test_lifescan_crc_published_values() -> None:
    # glucometerutils test_lifescan.py
    assert lb.crc_ccitt(b"\x02\x06\x06\x03") == 0x41CD
    assert lb.crc_ccitt(b"\x02\x06\x08\x03") == 0x62C2


def test_lifescan_packets_published_bytes() -> None:
    # glucometerutils test_otultraeasy.py: the disconnect packet and the version request
    disconnect = b"\x02\x06\x08\x03\xc2\x62"
    version = b"\x02\x09\x03\x05\x0d\x02\x03\x08\x9f"
    assert lb.encode_packet(lb.Packet(lb.LinkControl(disconnect=True))) == disconnect
    assert lb.decode_packet(version) == lb.Packet(
        lb.LinkControl(sequence=True, expect_receive=True), lb.VERSION_REQUEST
    )


def test_lifescan_bad_crc() -> None:
    with pytest.raises(lb.LifeScanChecksum) as info:
        lb.decode_packet(b"\x02\x06\x08\x03\xc2\x63")
    assert info.value.wire == 0x63C2 and info.value.calculated == 0x62C2


def test_lifescan_framer_resyncs_after_garbage() -> None:
    packet = b"\x02\x09\x03\x05\x0d\x02\x03\x08\x9f"
    framer = lb.PacketFramer()
    # garbage with a fake STX and a long length in front must not hold the real packet back
    out = framer.feed(b"\x55\x02\xf0\x13" + packet)
    assert out == [lb.decode_packet(packet)]


def test_lifescan_every_truncation_yields_nothing() -> None:
    packet = b"\x02\x09\x03\x05\x0d\x02\x03\x08\x9f"
    for n in range(len(packet)):
        assert lb.PacketFramer().feed(packet[:n]) == []
        with pytest.raises(lb.LifeScanBinaryError):
            lb.decode_packet(packet[:n])


@settings(deadline=None)
@given(
    st.builds(
        lb.LinkControl, st.booleans(), st.booleans(), st.booleans(), st.booleans(), st.booleans()
    ),
    st.binary(max_size=249),
)
def test_lifescan_packet_round_trip(link: lb.LinkControl, message: bytes) -> None:
    packet = lb.Packet(link, message)
    assert lb.PacketFramer().feed(lb.encode_packet(packet)) == [packet]


@settings(deadline=None)
@given(st.integers(0, 2**31), st.integers(0, 2**32 - 1))
def test_lifescan_record_round_trip(seconds: int, value: int) -> None:
    record = lb.EasyRecord(lb.from_meter_seconds(seconds), value)
    assert lb.parse_record(lb.encode_record(record)) == record


@settings(deadline=None)
@given(st.binary(max_size=64))
def test_lifescan_arbitrary_bytes_raise_only_codec_errors(data: bytes) -> None:
    for parser in (lb.decode_packet, lb.parse_record, lb.parse_count, lb.parse_version,
                   lb.parse_clock, lb.parse_unit, lb.parse_serial):  # fmt: skip
        with contextlib.suppress(lb.LifeScanBinaryError):
            parser(data)


# --- SAM ID card frames: published in vendors' SDK notes, e.g. IDCardDemo's README
# --- (blog.csdn.net/qiwenmingshiwo/article/details/50698927) ------------------------

PUBLISHED = {
    "find": "AA AA AA 96 69 00 03 20 01 22",
    "find_ok": "AA AA AA 96 69 00 08 00 00 9F 00 00 00 00 97",
    "find_fail": "AA AA AA 96 69 00 04 00 00 80 84",
    "select": "AA AA AA 96 69 00 03 20 02 21",
    "select_ok": "AA AA AA 96 69 00 0C 00 00 90 00 00 00 00 00 00 00 00 9C",
    "read": "AA AA AA 96 69 00 03 30 01 32",
}


def test_sam_commands_published_bytes() -> None:
    assert sf.encode_command(sf.Command.FIND_CARD) == bytes.fromhex(PUBLISHED["find"])
    assert sf.encode_command(sf.Command.SELECT_CARD) == bytes.fromhex(PUBLISHED["select"])
    assert sf.encode_command(sf.Command.READ_BASE) == bytes.fromhex(PUBLISHED["read"])


def test_sam_responses_published_bytes() -> None:
    assert sf.decode_response(bytes.fromhex(PUBLISHED["find_ok"])) == sf.Response(
        0, 0, 0x9F, bytes(4)
    )
    assert sf.decode_response(bytes.fromhex(PUBLISHED["find_fail"])).status == "no card found"
    assert sf.decode_response(bytes.fromhex(PUBLISHED["select_ok"])).sw3 == sf.Sw3.SUCCESS


def test_sam_read_header_published() -> None:
    # "AAAAAA9669050800009001000400 + 256 text + 1024 photo + 1 checksum" (1295 bytes)
    data = (256).to_bytes(2, "big") + (1024).to_bytes(2, "big") + bytes(1280)
    frame = sf.encode_response(sf.Response(0, 0, 0x90, data))
    assert len(frame) == 1295
    assert frame[:14] == bytes.fromhex("AAAAAA9669050800009001000400")


def test_sam_bad_checksum_states_both() -> None:
    bad = bytes.fromhex("AA AA AA 96 69 00 08 00 00 9F 00 00 00 00 96")
    with pytest.raises(sf.SamChecksum) as info:
        sf.decode_response(bad)
    assert (info.value.wire, info.value.calculated) == (0x96, 0x97)


@settings(deadline=None)
@given(st.integers(0, 255), st.integers(0, 255), st.integers(0, 255), st.binary(max_size=1300))
def test_sam_response_round_trip(sw1: int, sw2: int, sw3: int, data: bytes) -> None:
    response = sf.Response(sw1, sw2, sw3, data)
    frames = sf.SamFramer().feed(b"\x13\xaa" + sf.encode_response(response))
    assert [sf.decode_response(f) for f in frames] == [response]


@settings(deadline=None)
@given(st.binary(max_size=64))
def test_sam_arbitrary_bytes_raise_only_codec_errors(data: bytes) -> None:
    with contextlib.suppress(sf.SamError):
        sf.decode_response(sf.PREAMBLE + data)


def test_text_block_sample_card() -> None:
    block = tb.encode(SAMPLE_CARD)
    assert len(block) == 256
    # the name field: 30 bytes of UCS-2LE, space padded
    assert block[:6] == "王小明".encode("utf-16-le") and block[6:30] == " ".encode("utf-16-le") * 12
    card = tb.decode(block)
    assert card == SAMPLE_CARD
    assert (card.sex, card.nation) == ("male", "汉")


def test_nation_table() -> None:
    assert len([c for c in NATIONS if int(c) <= 56]) == 56
    assert (NATIONS["01"], NATIONS["10"], NATIONS["56"]) == ("汉", "朝鲜", "基诺")


cjk = st.text(alphabet=st.characters(min_codepoint=0x4E00, max_codepoint=0x9FA5), min_size=1)


@settings(deadline=None)
@given(
    name=cjk.filter(lambda s: len(s) <= 15),
    sex=st.sampled_from(sorted(tb.SEX)),
    nation=st.sampled_from(sorted(NATIONS)),
    address=st.text(
        alphabet=st.characters(min_codepoint=0x4E00, max_codepoint=0x9FA5), max_size=35
    ),
    born=st.dates(min_value=date(1000, 1, 1)),
)
def test_text_block_round_trip(
    name: str, sex: str, nation: str, address: str, born: object
) -> None:
    card = tb.CardText(
        name=name, sex_code=sex, nation_code=nation, birth_date=f"{born:%Y%m%d}",
        address=address, id_number="11010119500307123X", issuing_authority="某市公安局",
        valid_from="20200101", valid_to="20400101",
    )  # fmt: skip
    assert tb.decode(tb.encode(card)) == card


@given(st.binary(min_size=256, max_size=256))
@settings(deadline=None, max_examples=200)
def test_text_block_arbitrary_bytes(data: bytes) -> None:
    with contextlib.suppress(tb.CardTextError):
        tb.decode(data)


# --- line formats: each shipped example ------------------------------------------------

EXAMPLES = {
    "bp-csv-sum8": (
        b"128,082,071,202611250930*B0",
        lf.LineRecord(128, 82, 71, when=datetime(2026, 11, 25, 9, 30)),
    ),
    "bp-stx-xor": (b"\x02S128D082P071X70", lf.LineRecord(128, 82, 71)),
    "bp-semicolon-kpa": (b"16.0;10.7;071;6B6F", lf.LineRecord(16.0, 10.7, 71)),
    "glucose-seq-crc16": (
        b"G,0001,2026-11-25 09:30,05.6,FCC3",
        lf.LineRecord(glucose=5.6, sequence=1, when=datetime(2026, 11, 25, 9, 30)),
    ),
}


def test_every_shipped_format_has_a_worked_example() -> None:
    assert sorted(EXAMPLES) == lf.shipped_formats()


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_shipped_format_decodes_its_example(name: str) -> None:
    line, expected = EXAMPLES[name]
    codec = lf.LineCodec(lf.load_format(name))
    assert codec.decode(line) == expected


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_shipped_format_checksum_and_truncations(name: str) -> None:
    line, _ = EXAMPLES[name]
    codec = lf.LineCodec(lf.load_format(name))
    flipped = line[:-1] + (b"0" if line[-1:] != b"0" else b"1")
    with pytest.raises(lf.LineChecksumError):
        codec.decode(flipped)
    for n in range(len(line)):
        with pytest.raises(lf.LineFormatError):
            codec.decode(line[:n])


def test_error_codes_map_per_format() -> None:
    codec = lf.LineCodec(lf.load_format("bp-csv-sum8"))
    event = codec.decode(b"ERR,E2")
    assert event == lf.LineDeviceError("E2", lf.MeasurementProblem.BODY_MOVEMENT)


def test_inline_format_without_code() -> None:
    fmt = lf.load_format(
        {"name": "x", "kind": "blood_pressure", "unit": "mmHg", "delimiter": " ",
         "fields": ["systolic", "diastolic", "pulse", "checksum"],
         "checksum": {"kind": "xor8", "exclude_trailing": 1}}
    )  # fmt: skip
    codec = lf.LineCodec(fmt)
    line = codec.encode({"systolic": 140, "diastolic": 90, "pulse": 60})
    assert codec.decode(line.rstrip(b"\r\n")) == lf.LineRecord(140, 90, 60)


@pytest.mark.parametrize(
    ("data", "key"),
    [
        (
            {
                "name": "x",
                "kind": "blood_pressure",
                "unit": "mmHg",
                "pattern": "^(?P<systolic>\\d+)$",
            },
            "format",
        ),
        (
            {"name": "x", "kind": "glucose", "unit": "mmHg", "pattern": "^(?P<glucose>\\d+)$"},
            "format",
        ),
        (
            {
                "name": "x",
                "kind": "glucose",
                "unit": "mmol/L",
                "pattern": "^(?P<glucose>\\d+)$",
                "bogus": 1,
            },
            "format.bogus",
        ),
    ],
)
def test_bad_formats_are_config_errors(data: dict[str, object], key: str) -> None:
    from healthkiosk.errors import ConfigError

    with pytest.raises(ConfigError) as info:
        lf.load_format(data)
    assert info.value.key == key


@pytest.mark.parametrize("name", sorted(EXAMPLES))
@given(data=st.binary(max_size=120))
@settings(deadline=None, max_examples=60)
def test_line_formats_arbitrary_bytes(name: str, data: bytes) -> None:
    codec = lf.LineCodec(lf.load_format(name))
    with contextlib.suppress(lf.LineFormatError):
        codec.decode(data)


@settings(deadline=None)
@given(
    st.integers(40, 299), st.integers(20, 199), st.integers(30, 220),
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 1, 1)).map(
        lambda d: d.replace(second=0, microsecond=0)
    ),
)  # fmt: skip
def test_csv_round_trip(sys: int, dia: int, pulse: int, when: datetime) -> None:
    codec = lf.LineCodec(lf.load_format("bp-csv-sum8"))
    line = codec.encode({"systolic": sys, "diastolic": dia, "pulse": pulse, "datetime": when})
    assert lf.LineFramer(b"\r\n").feed(line) == [line[:-2]]
    assert codec.decode(line[:-2]) == lf.LineRecord(sys, dia, pulse, when=when)


def test_every_codec_error_is_a_protocol_error() -> None:
    for cls in (
        lt.UltraTextError,
        lb.LifeScanBinaryError,
        sf.SamError,
        tb.CardTextError,
        lf.LineFormatError,
    ):
        assert issubclass(cls, ProtocolError)
    for cls in (lt.UltraTextChecksum, lb.LifeScanChecksum, sf.SamChecksum, lf.LineChecksumError):
        assert issubclass(cls, InvalidChecksum)


@settings(deadline=None)
@given(
    data=st.data(),
    name=st.sampled_from(sorted(EXAMPLES)),
)
def test_every_shipped_format_round_trips(data: st.DataObject, name: str) -> None:
    fmt = lf.load_format(name)
    codec = lf.LineCodec(fmt)
    when = data.draw(
        st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 1, 1)).map(
            lambda d: d.replace(second=0, microsecond=0)
        )
    )
    if fmt.kind == "glucose":
        tenths = data.draw(st.integers(11, 333))
        sequence = data.draw(st.integers(0, 9999))
        values = {"glucose": f"{tenths / 10:04.1f}", "sequence": sequence, "datetime": when}
        expected = lf.LineRecord(glucose=tenths / 10, sequence=sequence, when=when)
    elif fmt.unit == "kPa":
        sys_t, dia_t = data.draw(st.integers(53, 373)), data.draw(st.integers(27, 267))
        pulse = data.draw(st.integers(30, 220))
        values = {"systolic": sys_t / 10, "diastolic": dia_t / 10, "pulse": pulse}
        expected = lf.LineRecord(sys_t / 10, dia_t / 10, pulse)
    else:
        sys, dia, pulse = (data.draw(st.integers(40, 299)) for _ in range(3))
        values = {"systolic": sys, "diastolic": dia, "pulse": pulse, "datetime": when}
        expected = lf.LineRecord(sys, dia, pulse, when=when if "datetime" in fmt.pattern else None)  # type: ignore[operator]
    line = codec.encode(values)
    [framed] = lf.LineFramer(fmt.terminator_bytes).feed(line)
    assert codec.decode(framed) == expected


def test_card_fields_must_agree_with_the_number() -> None:
    import dataclasses

    from drivers.idcard.sam_reader import to_card_data

    assert to_card_data(SAMPLE_CARD).birth_date == "1950-03-07"
    with pytest.raises(tb.CardTextError):
        to_card_data(dataclasses.replace(SAMPLE_CARD, birth_date="19500308"))
    with pytest.raises(tb.CardTextError) as info:
        to_card_data(dataclasses.replace(SAMPLE_CARD, sex_code="2"))
    assert SAMPLE_CARD.id_number not in str(info.value)


def test_id_codec_errors_never_carry_the_text_block() -> None:
    text = tb.encode(SAMPLE_CARD)
    data = (256).to_bytes(2, "big") + (1024).to_bytes(2, "big") + text + bytes(1024)
    frame = bytearray(sf.encode_response(sf.Response(0, 0, 0x90, data)))
    frame[-1] ^= 0xFF
    with pytest.raises(sf.SamChecksum) as info:
        sf.decode_response(bytes(frame))
    assert SAMPLE_CARD.id_number.encode("utf-16-le") not in info.value.raw
    assert len(info.value.raw) == sf.PRIVATE_AFTER
    broken = bytearray(text)
    broken[30:32] = "7".encode("utf-16-le")  # sex code 7 does not exist
    with pytest.raises(tb.CardTextError) as err:
        tb.decode(bytes(broken))
    assert err.value.raw == b""
