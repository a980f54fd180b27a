"""``devices decode`` / ``devices reading`` for the issue #17 kinds, fuzzed in
process: any bytes give either the codec's ProtocolError (carrying them) or
one JSON-ready object — never another exception. A failure prints
``--hypothesis-seed=N``."""

from __future__ import annotations

import json
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers.ble.decode import decode_to_json
from drivers.ble.reading import KINDS, reading_to_json
from healthkiosk.errors import ProtocolError
from healthkiosk.rules import load_rules

RULES = load_rules()
TZ = ZoneInfo("Asia/Shanghai")
NEW_DECODE_KINDS = (
    "weight",
    "weight-feature",
    "body-composition",
    "plx-spot",
    "plx-continuous",
    "plx-features",
    "temperature",
)


@pytest.mark.parametrize("kind", KINDS)
@given(raw=st.binary(max_size=24))
def test_reading_of_any_bytes(kind: str, raw: bytes) -> None:
    try:
        out = reading_to_json(kind, raw, rules=RULES, tz=TZ)
    except ProtocolError as err:
        assert err.raw == raw
        return
    assert isinstance(out["recorded"], bool)
    assert (out["reason"] is None) is out["recorded"]
    json.dumps(out)


@pytest.mark.parametrize("kind", NEW_DECODE_KINDS)
@given(raw=st.binary(max_size=32))
def test_decode_of_any_bytes(kind: str, raw: bytes) -> None:
    try:
        out = decode_to_json(kind, raw)
    except ProtocolError as err:
        assert err.raw == raw
        return
    json.dumps(out)
