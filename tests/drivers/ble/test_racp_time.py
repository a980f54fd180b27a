"""Record Access Control Point (0x2A52), Current Time (0x2A2B), Date Time
(0x2A08) and the A&D custom command frames.

RACP bytes: Nordic Semiconductor, Android-BLE-Common-Library,
ble-common/src/test/.../RecordAccessControlPointDataCallbackTest.java (one
response per response code, ``{6, 0, request, code}``; number of records
``{5, 0, 2, 1}`` = 258). Requests: GLS 1.0 / GSS field layout.
Current Time: GATT Specification Supplement layout (Exact Time 256 + adjust
reason). A&D frames: A&D UA-651BLE SDK notes v1.2 §5.1 as quoted by public
code ("Set Time 2014-03-11 19:12:34 → 08 01 01 0E 03 0B 13 0C 22",
"Disconnect → 02 01 03", "Read buffer size → 02 00 D6", response
"03 02 D6 01").
Fuzz: Hypothesis (a failure prints ``--hypothesis-seed=N``).
"""

from __future__ import annotations

from datetime import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers.ble import and_custom, racp
from drivers.ble.gatt_time import (
    AdjustReason,
    CurrentTime,
    DateTime,
    TimeCodecError,
    decode_current_time,
    decode_date_time,
    encode_current_time,
    encode_date_time,
)
from drivers.ble.racp import OpCode, Operator, RacpError, RacpRequest, RacpResponse, ResponseCode
from tests.support.strategies import current_times, date_times, racp_values


@pytest.mark.parametrize(
    ("raw", "request_op", "code"),
    [
        ([6, 0, 1, 1], OpCode.REPORT_STORED_RECORDS, ResponseCode.SUCCESS),
        ([6, 0, 2, 2], OpCode.DELETE_STORED_RECORDS, ResponseCode.OP_CODE_NOT_SUPPORTED),
        ([6, 0, 1, 3], OpCode.REPORT_STORED_RECORDS, ResponseCode.INVALID_OPERATOR),
        ([6, 0, 2, 4], OpCode.DELETE_STORED_RECORDS, ResponseCode.OPERATOR_NOT_SUPPORTED),
        ([6, 0, 1, 5], OpCode.REPORT_STORED_RECORDS, ResponseCode.INVALID_OPERAND),
        ([6, 0, 1, 6], OpCode.REPORT_STORED_RECORDS, ResponseCode.NO_RECORDS_FOUND),
        ([6, 0, 3, 7], OpCode.ABORT_OPERATION, ResponseCode.ABORT_UNSUCCESSFUL),
        ([6, 0, 2, 8], OpCode.DELETE_STORED_RECORDS, ResponseCode.PROCEDURE_NOT_COMPLETED),
        ([6, 0, 2, 9], OpCode.DELETE_STORED_RECORDS, ResponseCode.OPERAND_NOT_SUPPORTED),
    ],
)
def test_every_response_code(raw: list[int], request_op: OpCode, code: ResponseCode) -> None:
    value = racp.decode(bytes(raw))
    assert value == RacpResponse(
        OpCode.RESPONSE_CODE, request_op_code=request_op, response_code=code
    )
    assert racp.encode(value) == bytes(raw)


def test_nordic_op_code_12_is_reserved() -> None:
    # Nordic's test sends {6, 0, 12, 2}: request op code 12 is reserved in GLS.
    with pytest.raises(RacpError):
        racp.decode(bytes([6, 0, 12, 2]))


def test_number_of_records() -> None:
    assert racp.decode(bytes([5, 0, 2, 1])) == RacpResponse(
        OpCode.NUMBER_OF_STORED_RECORDS_RESPONSE, number_of_records=258
    )


@pytest.mark.parametrize(
    "raw",
    [
        [5, 0, 1],  # Nordic: uint8 count — GLS says uint16
        [5, 0, 3, 2, 1],
        [1, 1, 1, 2, 0],  # "all records" takes no operand
        [6, 1, 1],  # response with an operator
        [1, 0],  # report with operator null
        [6, 0, 1, 10],  # response code 10 is reserved
        [1, 3, 2, 0, 0],  # filter type user facing time: not supported
        [1, 4, 1, 5, 0, 4, 0],  # range 5..4
        [9, 1],
        [1, 7],
    ],
)
def test_invalid_racp_values(raw: list[int]) -> None:
    with pytest.raises(RacpError) as err:
        racp.decode(bytes(raw))
    assert err.value.raw == bytes(raw)


def test_requests_on_the_wire() -> None:
    assert racp.encode(racp.report_all()) == bytes([1, 1])
    assert racp.encode(racp.report_from(1001)) == bytes([1, 3, 1, 0xE9, 0x03])
    assert racp.encode(racp.count_all()) == bytes([4, 1])
    assert racp.encode(racp.count_from(7)) == bytes([4, 3, 1, 7, 0])
    assert racp.encode(racp.report_last()) == bytes([1, 6])
    assert racp.encode(racp.abort()) == bytes([3, 0])
    assert racp.decode(bytes([2, 4, 1, 1, 0, 9, 0])) == RacpRequest(
        OpCode.DELETE_STORED_RECORDS, Operator.WITHIN_RANGE, racp.FilterType.SEQUENCE_NUMBER, (1, 9)
    )


@given(racp_values())
def test_racp_round_trip(value: RacpRequest | RacpResponse) -> None:
    assert racp.decode(racp.encode(value)) == value


@given(st.binary(max_size=10))
def test_arbitrary_bytes_raise_only_racp_error(raw: bytes) -> None:
    try:
        racp.decode(raw)
    except RacpError as err:
        assert err.raw == raw


# --- time ------------------------------------------------------------------------

CURRENT_TIME = bytes([0xE2, 0x07, 0x0B, 0x19, 0x08, 0x1E, 0x00, 0x07, 0x80, 0x01])


def test_current_time() -> None:
    value = decode_current_time(CURRENT_TIME)
    assert value == CurrentTime(DateTime(2018, 11, 25, 8, 30, 0), 7, 128, AdjustReason(manual=True))
    assert encode_current_time(value) == CURRENT_TIME
    assert CurrentTime.from_datetime(datetime(2018, 11, 25, 8, 30, 0, 500000)) == value


@pytest.mark.parametrize(
    "raw",
    [
        CURRENT_TIME[:9],
        CURRENT_TIME[:7] + bytes([8, 0, 0]),  # day of week 8
        CURRENT_TIME[:9] + bytes([0x10]),  # reserved adjust reason bit
        bytes([0xE2, 0x07, 2, 30, 0, 0, 0, 1, 0, 0]),  # 30 February
        bytes([0xE2, 0x07, 1, 1, 24, 0, 0, 1, 0, 0]),  # 24 h
    ],
)
def test_invalid_current_time(raw: bytes) -> None:
    with pytest.raises(TimeCodecError):
        decode_current_time(raw)


def test_unknown_date_has_no_datetime() -> None:
    from datetime import UTC

    assert decode_date_time(bytes(7)).to_datetime(UTC) is None


@given(date_times)
def test_date_time_round_trip(value: DateTime) -> None:
    assert decode_date_time(encode_date_time(value)) == value


@given(current_times)
def test_current_time_round_trip(value: CurrentTime) -> None:
    assert decode_current_time(encode_current_time(value)) == value


@given(st.binary(max_size=12))
def test_arbitrary_bytes_raise_only_time_error(raw: bytes) -> None:
    for decode in (decode_date_time, decode_current_time):
        try:
            decode(raw)
        except TimeCodecError as err:
            assert err.raw == raw


# --- A&D custom frames -------------------------------------------------------------


def test_and_sdk_examples() -> None:
    frame = and_custom.set_time(datetime(2014, 3, 11, 19, 12, 34))
    assert and_custom.encode(frame) == bytes.fromhex("0801010e030b130c22")
    assert and_custom.encode(frame, pad=True) == bytes.fromhex("0801010e030b130c22").ljust(
        20, b"\0"
    )
    assert and_custom.encode(and_custom.disconnect()) == bytes.fromhex("020103")
    assert and_custom.encode(and_custom.read_buffer_size()) == bytes.fromhex("0200d6")
    response = and_custom.decode(bytes.fromhex("0302d601"))
    assert response == and_custom.AndFrame(and_custom.FrameType.RESPONSE, 0xD6, b"\x01")
    assert and_custom.decode(and_custom.encode(frame, pad=True)) == frame


@given(st.binary(max_size=24))
def test_arbitrary_bytes_raise_only_and_error(raw: bytes) -> None:
    try:
        frame = and_custom.decode(raw)
    except and_custom.AndCommandError as err:
        assert err.raw == raw
    else:
        assert and_custom.decode(and_custom.encode(frame)) == frame
