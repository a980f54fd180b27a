"""Record Access Control Point (0x2A52) codec, as the Glucose Service uses it.

A value is op code (uint8), operator (uint8), operand. Requests: report stored
records (1), delete stored records (2), abort operation (3), report number of
stored records (4); with operators all (1), less than or equal (2), greater
than or equal (3), within range inclusive (4), first (5), last (6) — the
comparison operators take a filter type (1 = sequence number) and uint16
sequence number(s). Responses: number of stored records (5, operator null,
uint16) and response code (6, operator null, request op code + response code).

Pure: no I/O. Every malformed input raises :class:`RacpError`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum

from healthkiosk.errors import ProtocolError


class RacpError(ProtocolError):
    reason = "racp_invalid"


class OpCode(IntEnum):
    REPORT_STORED_RECORDS = 1
    DELETE_STORED_RECORDS = 2
    ABORT_OPERATION = 3
    REPORT_NUMBER_OF_STORED_RECORDS = 4
    NUMBER_OF_STORED_RECORDS_RESPONSE = 5
    RESPONSE_CODE = 6


class Operator(IntEnum):
    NULL = 0
    ALL_RECORDS = 1
    LESS_THAN_OR_EQUAL = 2
    GREATER_THAN_OR_EQUAL = 3
    WITHIN_RANGE = 4
    FIRST_RECORD = 5
    LAST_RECORD = 6


class FilterType(IntEnum):
    SEQUENCE_NUMBER = 1
    USER_FACING_TIME = 2


class ResponseCode(IntEnum):
    SUCCESS = 1
    OP_CODE_NOT_SUPPORTED = 2
    INVALID_OPERATOR = 3
    OPERATOR_NOT_SUPPORTED = 4
    INVALID_OPERAND = 5
    NO_RECORDS_FOUND = 6
    ABORT_UNSUCCESSFUL = 7
    PROCEDURE_NOT_COMPLETED = 8
    OPERAND_NOT_SUPPORTED = 9


_REQUESTS = (
    OpCode.REPORT_STORED_RECORDS,
    OpCode.DELETE_STORED_RECORDS,
    OpCode.REPORT_NUMBER_OF_STORED_RECORDS,
)
_OPERAND_COUNT = {
    Operator.ALL_RECORDS: 0,
    Operator.FIRST_RECORD: 0,
    Operator.LAST_RECORD: 0,
    Operator.LESS_THAN_OR_EQUAL: 1,
    Operator.GREATER_THAN_OR_EQUAL: 1,
    Operator.WITHIN_RANGE: 2,
}


@dataclass(frozen=True, slots=True)
class RacpRequest:
    op_code: OpCode
    operator: Operator = Operator.NULL
    filter_type: FilterType | None = None
    operand: tuple[int, ...] = ()
    """Sequence numbers: one for ≤ / ≥, two (low, high) for a range."""


@dataclass(frozen=True, slots=True)
class RacpResponse:
    op_code: OpCode
    request_op_code: OpCode | None = None
    response_code: ResponseCode | None = None
    number_of_records: int | None = None
    operator: Operator = Operator.NULL


RacpValue = RacpRequest | RacpResponse


def _enum(kind: type[IntEnum], value: int, what: str, raw: bytes) -> IntEnum:
    try:
        return kind(value)
    except ValueError:
        raise RacpError(f"reserved {what} {value}", raw=raw) from None


def decode(data: bytes) -> RacpValue:
    raw = bytes(data)
    if len(raw) < 2:
        raise RacpError(f"RACP value too short ({len(raw)} bytes)", raw=raw)
    op = OpCode(_enum(OpCode, raw[0], "op code", raw))
    operator = Operator(_enum(Operator, raw[1], "operator", raw))
    rest = raw[2:]
    if op is OpCode.NUMBER_OF_STORED_RECORDS_RESPONSE:
        if operator is not Operator.NULL or len(rest) != 2:
            raise RacpError("number of records response needs operator null and uint16", raw=raw)
        return RacpResponse(op, number_of_records=struct.unpack("<H", rest)[0])
    if op is OpCode.RESPONSE_CODE:
        if operator is not Operator.NULL or len(rest) != 2:
            raise RacpError("response code needs operator null, request op code, code", raw=raw)
        request = OpCode(_enum(OpCode, rest[0], "request op code", raw))
        code = ResponseCode(_enum(ResponseCode, rest[1], "response code", raw))
        return RacpResponse(op, request_op_code=request, response_code=code)
    if op is OpCode.ABORT_OPERATION:
        if operator is not Operator.NULL or rest:
            raise RacpError("abort takes operator null and no operand", raw=raw)
        return RacpRequest(op)
    if operator is Operator.NULL:
        raise RacpError(f"{op.name.lower()} needs an operator", raw=raw)
    count = _OPERAND_COUNT[operator]
    if count == 0:
        if rest:
            raise RacpError(f"operator {operator.name.lower()} takes no operand", raw=raw)
        return RacpRequest(op, operator)
    if not rest:
        raise RacpError(f"operator {operator.name.lower()} needs an operand", raw=raw)
    filter_type = FilterType(_enum(FilterType, rest[0], "filter type", raw))
    if filter_type is not FilterType.SEQUENCE_NUMBER:
        raise RacpError("only the sequence number filter is supported", raw=raw)
    if len(rest) != 1 + 2 * count:
        raise RacpError(f"operand needs {2 * count} bytes after the filter type", raw=raw)
    values = struct.unpack(f"<{count}H", rest[1:])
    if operator is Operator.WITHIN_RANGE and values[0] > values[1]:
        raise RacpError("range low bound above high bound", raw=raw)
    return RacpRequest(op, operator, filter_type, tuple(values))


def encode(value: RacpValue) -> bytes:
    if isinstance(value, RacpResponse):
        if value.op_code is OpCode.NUMBER_OF_STORED_RECORDS_RESPONSE:
            if value.number_of_records is None or not 0 <= value.number_of_records <= 0xFFFF:
                raise RacpError("number of records must be a uint16")
            return bytes([value.op_code, 0]) + struct.pack("<H", value.number_of_records)
        if value.request_op_code is None or value.response_code is None:
            raise RacpError("response code needs request op code and response code")
        return bytes([value.op_code, 0, value.request_op_code, value.response_code])
    head = bytes([value.op_code, value.operator])
    if not value.operand:
        return head
    if value.filter_type is None or any(not 0 <= v <= 0xFFFF for v in value.operand):
        raise RacpError("operand needs a filter type and uint16 sequence numbers")
    return (
        head + bytes([value.filter_type]) + struct.pack(f"<{len(value.operand)}H", *value.operand)
    )


# Convenience constructors for the collector (the driver) and the emulator.
def report_all() -> RacpRequest:
    return RacpRequest(OpCode.REPORT_STORED_RECORDS, Operator.ALL_RECORDS)


def report_from(sequence: int) -> RacpRequest:
    """Records with sequence number ≥ ``sequence``."""
    return RacpRequest(
        OpCode.REPORT_STORED_RECORDS,
        Operator.GREATER_THAN_OR_EQUAL,
        FilterType.SEQUENCE_NUMBER,
        (sequence,),
    )


def count_all() -> RacpRequest:
    return RacpRequest(OpCode.REPORT_NUMBER_OF_STORED_RECORDS, Operator.ALL_RECORDS)


def count_from(sequence: int) -> RacpRequest:
    return RacpRequest(
        OpCode.REPORT_NUMBER_OF_STORED_RECORDS,
        Operator.GREATER_THAN_OR_EQUAL,
        FilterType.SEQUENCE_NUMBER,
        (sequence,),
    )


def report_last() -> RacpRequest:
    return RacpRequest(OpCode.REPORT_STORED_RECORDS, Operator.LAST_RECORD)


def abort() -> RacpRequest:
    return RacpRequest(OpCode.ABORT_OPERATION)
