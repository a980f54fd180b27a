"""Signed remote configuration on the station, as plain Python (a fake link): what
is refused and why (unsigned, another key, tampered, replayed, downgraded, expired,
an empty clear), what is applied (a signed change, a signed clear, a signed broker
change under the revert guard), and the high-water mark that never goes down."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from healthkiosk.errors import RemoteConfigRefusedError
from healthkiosk.mqtt import Message
from management.remote_config import OverlayState
from management.signedconfig import Refusal, parse, verify
from management.station import StationManagement
from sync.schema import encode, group_topic, topic
from tests.support.stationfakes import (
    ConfigKey,
    FakeConn,
    FakeLink,
    config_key,
    document,
    reports,
    signed,
    station,
)
from updater.manifest import key_id


def _run(
    fleet: StationManagement, link: FakeLink, *payloads: bytes, scope: str = "station"
) -> FakeConn:
    """Hand the payloads to the station one by one; the reports it publishes."""
    name = topic("st-a", "config") if scope == "station" else group_topic("g1", "config")

    async def go() -> FakeConn:
        conn = FakeConn()
        await fleet.connected(conn, link.generation)  # type: ignore[arg-type]
        for i, p in enumerate(payloads):
            fleet.on_message(Message(name, p, 1, True, i + 1))
            work = fleet._queue.get_nowait()
            await fleet._on_config(work)  # type: ignore[arg-type]
            await fleet.connected(conn, link.generation)  # type: ignore[arg-type]
        return conn

    return asyncio.run(go())


@pytest.fixture
def key(tmp_path: Path) -> ConfigKey:
    return config_key(tmp_path)


def test_unsigned_foreign_and_tampered_documents_are_refused_with_the_reason(
    tmp_path: Path, key: ConfigKey
) -> None:
    link = station(tmp_path, trusted=[key.public])
    fleet = StationManagement(link)
    evil = {"mqtt": {"host": "203.0.113.9", "password": "theirs"}}
    other = config_key(tmp_path, "someone-else")
    tampered = json.loads(signed(key, 2, {"kiosk": {"done_s": 5}}))
    tampered["settings"] = evil
    duplicate = signed(key, 3, {"kiosk": {"done_s": 5}}).replace(
        b'"version":', b'"version": 99, "version":', 1
    )
    conn = _run(
        fleet,
        link,
        encode(document(1, evil)),  # unsigned: what anyone able to publish could send
        signed(other, 2, evil),
        json.dumps(tampered).encode(),
        duplicate,
        b"",  # an unsigned clear
    )
    got = [(r["outcome"], r["reason"].split(":")[0]) for r in reports(conn)]
    assert got == [
        ("rejected", "unsigned"),
        ("rejected", "unknown_key"),
        ("rejected", "bad_signature"),
        ("rejected", "malformed"),
        ("rejected", "unsigned"),
    ]
    assert link.applied == [] and link.reconnects == 0
    assert link.cfg.mqtt.host == "127.0.0.1"
    state = OverlayState.load(tmp_path)
    assert state.applied == {"group": None, "station": None}
    assert state.high_water == {}  # nothing unsigned moves the mark
    # A station that trusts no key refuses everything, signed or not.
    (tmp_path / "bare").mkdir()
    bare = station(tmp_path / "bare", trusted=[])
    conn = _run(StationManagement(bare), bare, signed(key, 1, {"kiosk": {"done_s": 5}}))
    assert reports(conn)[0]["reason"].startswith("no_trusted_keys")


def test_replayed_and_downgraded_documents_are_refused_and_the_mark_never_goes_down(
    tmp_path: Path, key: ConfigKey
) -> None:
    link = station(tmp_path, trusted=[key.public])
    fleet = StationManagement(link, clock_trusted=lambda: True)
    v1 = signed(key, 1, {"mqtt": {"batch_size": 5}})
    v2 = signed(key, 2, {"mqtt": {"batch_size": 6}})
    clear3 = signed(key, 3, {}, cleared=True)
    conn = _run(fleet, link, v1, v2, v2, v1, clear3, v2)
    got = [(r["outcome"], r["station_version"], r["reason"][:9]) for r in reports(conn)]
    assert got == [
        ("applied", 1, ""),
        ("applied", 2, ""),
        # v2 again (the retained document at a reconnect): nothing to say
        ("rejected", 1, "downgrade"),  # v1 replayed
        ("applied", 3, ""),  # the signed clear
        ("rejected", 2, "downgrade"),  # v2 replayed after the clear
    ]
    assert link.cfg.mqtt.batch_size == 10  # the file's (cleared)
    state = OverlayState.load(tmp_path)
    assert state.applied["station"] is None
    assert state.high_water == {"station:st-a": 3}
    # After a restart (a new process on the same data directory): still 3.
    fleet = StationManagement(link, clock_trusted=lambda: True)
    conn = _run(fleet, link, v2, clear3, signed(key, 4, {"mqtt": {"batch_size": 7}}))
    got = [(r["outcome"], r["station_version"]) for r in reports(conn)]
    assert got == [("rejected", 2), ("applied", 4)]
    assert link.cfg.mqtt.batch_size == 7


def test_a_group_change_starts_a_new_count(tmp_path: Path, key: ConfigKey) -> None:
    link = station(tmp_path, trusted=[key.public])
    _run(
        StationManagement(link),
        link,
        signed(key, 5, {"kiosk": {"done_s": 5}}, scope="group", target="g1"),
        scope="group",
    )
    assert OverlayState.load(tmp_path).high_water == {"group:g1": 5}
    moved = station(tmp_path, trusted=[key.public], group="g2")
    fleet = StationManagement(moved)
    payload = signed(key, 1, {"kiosk": {"done_s": 6}}, scope="group", target="g2")

    async def go() -> FakeConn:
        conn = FakeConn()
        await fleet.connected(conn, moved.generation)  # type: ignore[arg-type]
        fleet.on_message(Message(group_topic("g2", "config"), payload, 1, True, 1))
        await fleet._on_config(fleet._queue.get_nowait())  # type: ignore[arg-type]
        return conn

    (r,) = reports(asyncio.run(go()))
    assert (r["outcome"], r["group_version"]) == ("applied", 1), r["reason"]


def test_expiry_is_enforced_only_when_the_clock_is_trusted(tmp_path: Path, key: ConfigKey) -> None:
    past = datetime.now(UTC) - timedelta(days=100)
    old = signed(key, 1, {"kiosk": {"done_s": 5}}, issued_at=past, expires=past + timedelta(1))
    link = station(tmp_path, trusted=[key.public])
    conn = _run(StationManagement(link, clock_trusted=lambda: True), link, old)
    (r,) = reports(conn)
    assert r["outcome"] == "rejected" and r["reason"].startswith("expired: expired at")
    assert link.applied == [] and OverlayState.load(tmp_path).high_water == {}
    # An unsynchronised clock cannot say: accepted (it is newer than anything seen),
    # and the report says freshness was not confirmed.
    conn = _run(StationManagement(link, clock_trusted=lambda: False), link, old)
    (r,) = reports(conn)
    assert r["outcome"] == "applied" and "freshness not confirmed" in r["reason"]
    assert link.cfg.kiosk.done_s == 5.0


def test_a_signed_broker_change_is_applied_and_reverted_when_the_broker_is_lost(
    tmp_path: Path, key: ConfigKey
) -> None:
    link = station(tmp_path, trusted=[key.public])
    conn = _run(
        StationManagement(link),
        link,
        signed(key, 1, {"mqtt": {"host": "192.0.2.1", "port": 8883}}),
    )
    assert [c.mqtt.host for c in link.applied] == ["192.0.2.1", "127.0.0.1"]
    assert link.reconnects == 2
    (r,) = reports(conn)
    assert r["outcome"] == "reverted" and "192.0.2.1:8883 not reached" in r["reason"]
    assert OverlayState.load(tmp_path).high_water == {"station:st-a": 1}


def test_verify_names_each_reason(key: ConfigKey) -> None:
    trusted = {key_id(key.private.public_key()): key.private.public_key()}
    good = signed(key, 1, {"a": 1.5})
    assert verify(good, trusted).settings == {"a": 1.5}
    cases: list[tuple[bytes, Refusal]] = [
        (b"[]", Refusal.MALFORMED),
        (b'{"schema": "hk.status/1"}', Refusal.MALFORMED),
        (b'{"schema": "hk.config/1", "v": NaN}', Refusal.MALFORMED),
        (encode(document(1, {})), Refusal.UNSIGNED),
        (good.replace(b'"a": 1.5', b'"a": 2.5'), Refusal.BAD_SIGNATURE),
    ]
    for payload, reason in cases:
        with pytest.raises(RemoteConfigRefusedError) as err:
            verify(payload, trusted)
        assert err.value.reason == reason.value, payload
    with pytest.raises(RemoteConfigRefusedError) as err:
        verify(good, {})
    assert err.value.reason == "no_trusted_keys"
    assert parse(b'{"a": 1}') == {"a": 1}
