"""The fleet messages of the wire schema: round trips, refusals, topics."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from healthkiosk.errors import SchemaError
from sync.schema import (
    Command,
    CommandResult,
    ConfigReport,
    DesiredConfig,
    UpdateOrder,
    UpdateReport,
    decode,
    encode,
    group_topic,
    topic,
)

NOW = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)

EXAMPLES = [
    DesiredConfig(
        scope="group",
        target="east",
        version=3,
        settings={"kiosk": {"rest_s": 300}},
        issued_at=NOW,
        issued_by="admin",
    ),
    ConfigReport(
        station_id="st-01",
        outcome="reverted",
        group_version=3,
        running_group_version=2,
        reason="broker not reached within 30 s",
        at=NOW,
    ),
    UpdateOrder(
        scope="station",
        target="st-01",
        release=7,
        manifest_url="http://followup:8080/releases/7/manifest.json",
        rollout_id="r-7",
        issued_at=NOW,
    ),
    UpdateReport(station_id="st-01", release=7, step="download", outcome="in_progress", at=NOW),
    Command(
        id=uuid.uuid4(),
        command="logs",
        args={"lines": 200},
        issued_at=NOW,
        expires_at=NOW + timedelta(minutes=5),
    ),
    CommandResult(
        station_id="st-01", id=uuid.uuid4(), command="resync", ok=True, detail="12 resent", at=NOW
    ),
]


@pytest.mark.parametrize("msg", EXAMPLES, ids=lambda m: type(m).__name__)
def test_every_fleet_message_survives_the_wire(msg: object) -> None:
    raw = encode(msg)  # type: ignore[arg-type]
    assert raw.startswith(b'{"schema":"hk.')
    assert decode(raw) == msg


def test_an_unknown_command_is_refused_with_the_field_named() -> None:
    raw = encode(EXAMPLES[4]).replace(b'"logs"', b'"format-disk"')
    with pytest.raises(SchemaError, match="command"):
        decode(raw)


def test_a_config_version_below_one_is_refused() -> None:
    raw = encode(EXAMPLES[0]).replace(b'"version":3', b'"version":0')
    with pytest.raises(SchemaError, match="version"):
        decode(raw)


def test_a_newer_major_version_of_a_fleet_message_is_refused() -> None:
    raw = encode(EXAMPLES[2]).replace(b"hk.update-order/1", b"hk.update-order/2")
    with pytest.raises(SchemaError) as err:
        decode(raw)
    assert err.value.reason == "schema_version"


def test_topics_for_groups_and_stations() -> None:
    assert group_topic("east", "config") == "hk/v1/grp/east/config"
    assert topic("st-01", "cmd-result") == "hk/v1/st/st-01/cmd-result"
