"""``hk.help/1`` (a call for staff) and the files between the kiosk app and kiosk-sync."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from healthkiosk.errors import SchemaError
from sync import helpfile
from sync.schema import Command, HelpCall, decode, encode, topic

AT = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


def _call(**changes: Any) -> dict[str, Any]:
    return {
        "schema": "hk.help/1",
        "station_id": "st-01",
        "id": str(uuid.UUID(int=7)),
        "reason": "urgent_result",
        "screen": "result",
        "detail": "blood_pressure:grade_3",
        "called_at": AT.isoformat(),
        **changes,
    }


def test_help_call_round_trip_and_topic() -> None:
    msg = decode(encode(HelpCall.model_validate(_call())))
    assert isinstance(msg, HelpCall)
    assert msg.reason == "urgent_result" and msg.screen == "result"
    assert msg.acknowledged_at is None and msg.acknowledged_where is None
    assert topic("st-01", "help") == "hk/v1/st/st-01/help"


def test_an_acknowledged_call_round_trips() -> None:
    data = _call(
        acknowledged_at=(AT + timedelta(minutes=2)).isoformat(),
        acknowledged_by="technician",
        acknowledged_where="station",
    )
    msg = decode(encode(HelpCall.model_validate(data)))
    assert isinstance(msg, HelpCall)
    assert msg.acknowledged_where == "station" and msg.acknowledged_by == "technician"


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"reason": "coffee"}, "reason"),
        ({"screen": "Result!"}, "screen"),
        ({"screen": ""}, "screen"),
        ({"detail": "110101194903071230"[:6] + " name"}, "detail"),
        ({"called_at": "2026-12-07T09:00:00"}, "called_at"),
        ({"station_id": "ST 1"}, "station_id"),
        ({"acknowledged_at": AT.isoformat()}, "(message)"),
        ({"acknowledged_by": "li"}, "(message)"),
        ({"acknowledged_where": "web"}, "(message)"),
    ],
)
def test_a_bad_help_call_is_refused_saying_where(change: dict[str, Any], where: str) -> None:
    with pytest.raises(SchemaError) as err:
        decode(encode_raw(_call(**change)))
    assert err.value.reason == "invalid"
    assert str(err.value).startswith(where)


def encode_raw(data: dict[str, Any]) -> bytes:
    import json

    return json.dumps(data).encode()


def test_help_ack_is_a_command() -> None:
    cmd = Command.model_validate(
        {
            "schema": "hk.command/1",
            "id": str(uuid.uuid4()),
            "command": "help_ack",
            "args": {"call": str(uuid.UUID(int=7)), "by": "dr-li"},
            "issued_at": AT.isoformat(),
            "expires_at": (AT + timedelta(minutes=5)).isoformat(),
        }
    )
    assert decode(encode(cmd)) == cmd


def test_call_file_round_trip_keeps_open_calls(tmp_path: Path) -> None:
    path = helpfile.calls_path(tmp_path)
    assert helpfile.read_calls(path) == []
    old_open = helpfile.CallRecord(
        id="a", reason="staff_call", screen="error", called_at=AT - timedelta(days=3)
    )
    old_done = old_open.model_copy(
        update={"id": "b", "acknowledged_at": AT - timedelta(days=3), "acknowledged_where": "web"}
    )
    new = helpfile.CallRecord(
        id=str(uuid.UUID(int=3)), reason="urgent_result", screen="result", called_at=AT
    )
    helpfile.write_calls(path, [old_open, old_done, new], now=AT)
    assert [c.id for c in helpfile.read_calls(path)] == ["a", new.id]
    msg = new.message("st-01")
    assert msg.station_id == "st-01" and str(msg.called_at) == str(AT)


def test_an_unreadable_file_reads_as_empty(tmp_path: Path) -> None:
    path = helpfile.acks_path(tmp_path)
    path.write_text("{not json")
    assert helpfile.read_acks(path) == []
    ack = helpfile.AckRecord(call="c", at=AT, by="dr-li")
    assert helpfile.add_ack(path, ack, now=AT)
    assert not helpfile.add_ack(path, ack, now=AT)
    assert helpfile.read_acks(path) == [ack]
