"""Remote configuration on the station, as plain Python: merge, validate,
refuse, ignore stale documents, persist atomically, revert; the loader's
overlay; and the small pieces of the commands and the status."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from healthkiosk.config import Config, from_mapping, load_config, merge, overlay_path
from healthkiosk.errors import ConfigError
from management import commands, devicestatus, stationhealth
from management.remote_config import (
    Accepted,
    Doc,
    OverlayState,
    Rejected,
    Stale,
    admit,
    check_remote_keys,
    decide,
    plan,
    seed_high_water,
)
from tests.support.stationfakes import FakeConn, config_key, reports, signed, station


def local(tmp_path: Path) -> dict[str, Any]:
    return {"station": {"id": "st-a", "group": "g1", "data_dir": str(tmp_path)}}


def running(tmp_path: Path, state: OverlayState | None = None) -> Config:
    data = local(tmp_path)
    for layer in (state or OverlayState()).layers():
        data = merge(data, layer)
    return from_mapping(data)


def test_merge_is_deep_and_later_layers_win() -> None:
    base: dict[str, Any] = {"kiosk": {"done_s": 8.0, "language": "en"}, "rules": {"a": [1, 2]}}
    out = merge(base, {"kiosk": {"done_s": 5.0}, "rules": {"a": [3]}})
    assert out == {"kiosk": {"done_s": 5.0, "language": "en"}, "rules": {"a": [3]}}
    assert base["kiosk"]["done_s"] == 8.0  # not modified


def test_group_then_station_over_the_file(tmp_path: Path) -> None:
    state = OverlayState()
    group = Doc(1, {"kiosk": {"done_s": 5.0, "idle_timeout_s": 90.0}})
    d = decide(state, scope="group", doc=group, local=local(tmp_path), running=running(tmp_path))
    assert isinstance(d, Accepted)
    state.applied = d.overlay
    station = Doc(1, {"kiosk": {"done_s": 6.0}})
    d = decide(state, scope="station", doc=station, local=local(tmp_path), running=d.config)
    assert isinstance(d, Accepted)
    assert d.config.kiosk.done_s == 6.0  # the station's own wins
    assert d.config.kiosk.idle_timeout_s == 90.0  # the group's stays
    assert d.config.station.id == "st-a"  # the file's stays
    assert d.plan.kiosk_restart == {"kiosk.done_s"} and not d.plan.reconnect


def test_an_invalid_document_is_rejected_naming_the_key(tmp_path: Path) -> None:
    state = OverlayState()
    cases: list[tuple[dict[str, Any], str]] = [
        ({"kiosk": {"done_s": -1}}, "kiosk.done_s"),
        ({"kiosk": {"no_such_key": 1}}, "kiosk.no_such_key"),
        ({"mqtt": {"port": 70000}}, "mqtt.port"),
        ({"update": {"trusted_keys": ["/tmp/evil.pem"]}}, "update.trusted_keys"),
        ({"fleet": {"restart_command": ["rm", "-rf", "/"]}}, "fleet.restart_command"),
        ({"station": {"id": "other"}}, "station.id"),
        ({"station": {"data_dir": "/tmp"}}, "station.data_dir"),
    ]
    for settings, key in cases:
        d = decide(
            state,
            scope="group",
            doc=Doc(1, settings),
            local=local(tmp_path),
            running=running(tmp_path),
        )
        assert isinstance(d, Rejected), settings
        assert d.reason.startswith(f"{key}:"), d.reason


def test_versions_are_admitted_against_the_highest_seen_per_scope() -> None:
    state = OverlayState(high_water={"group:g1": 3, "station:st-a": 4})
    assert admit(state, key="group:g1", version=4) is None
    assert isinstance(admit(state, key="group:g1", version=3), Stale)  # the retained one again
    old = admit(state, key="group:g1", version=2)
    assert isinstance(old, Rejected) and old.reason.startswith("downgrade: version 2")
    assert isinstance(admit(state, key="station:st-a", version=1), Rejected)
    assert admit(state, key="group:g2", version=1) is None  # another group: its own count
    legacy = OverlayState(refused={"station": 7})
    legacy.applied["group"] = Doc(3, {})
    seed_high_water(legacy, group="g1", station_id="st-a")
    assert legacy.high_water == {"group:g1": 3, "station:st-a": 7}


def test_clearing_a_scope_goes_back_to_the_file(tmp_path: Path) -> None:
    state = OverlayState()
    state.applied["group"] = Doc(3, {"kiosk": {"done_s": 5.0}})
    d = decide(
        state, scope="group", doc=None, local=local(tmp_path), running=running(tmp_path, state)
    )
    assert isinstance(d, Accepted)
    assert d.config.kiosk.done_s == Config().kiosk.done_s
    assert d.overlay["group"] is None
    empty = OverlayState()
    assert isinstance(
        decide(empty, scope="group", doc=None, local=local(tmp_path), running=running(tmp_path)),
        Stale,
    )


def test_plan_says_what_is_live_and_what_restarts() -> None:
    old = Config()
    new = from_mapping(
        {
            "mqtt": {"port": 1884, "status_interval_s": 10.0},
            "logging": {"level": "DEBUG"},
            "rules": {"x": 1},
            "devices": {"simulate": False},
        }
    )
    p = plan(old, new)
    assert p.reconnect
    assert p.sync_live == {"mqtt.port", "mqtt.status_interval_s", "logging.level"}
    assert p.kiosk_restart == {"rules.x", "devices.simulate"}
    p2 = plan(old, from_mapping({"mqtt": {"batch_size": 5}}))
    assert not p2.reconnect and not p2.restart_needed


def test_forbidden_keys_checked_before_publishing() -> None:
    check_remote_keys({"kiosk": {"done_s": 5}, "mqtt": {"host": "x"}})
    with pytest.raises(ConfigError) as err:
        check_remote_keys({"station": {"group": "other"}})
    assert err.value.key == "station.group"


def test_the_overlay_is_saved_atomically_and_the_loader_applies_it(tmp_path: Path) -> None:
    conf = tmp_path / "station.toml"
    conf.write_text(
        f'[station]\nid = "st-a"\ngroup = "g1"\ndata_dir = "{tmp_path}"\n[kiosk]\ndone_s = 8.0\n',
        encoding="utf-8",
    )
    state = OverlayState()
    state.applied["group"] = Doc(2, {"kiosk": {"done_s": 5.0, "idle_timeout_s": 90.0}})
    state.applied["station"] = Doc(1, {"kiosk": {"done_s": 6.0}})
    state.save(tmp_path)
    assert not list(tmp_path.glob(".remote-config.json.tmp*"))
    cfg = load_config(conf)
    assert cfg.kiosk.done_s == 6.0 and cfg.kiosk.idle_timeout_s == 90.0
    assert load_config(conf, overlay=False).kiosk.done_s == 8.0
    again = OverlayState.load(tmp_path)
    assert again.versions() == {"group": 2, "station": 1}
    assert again.config_version() == 3


def test_an_overlay_this_release_cannot_read_is_ignored_not_fatal(tmp_path: Path) -> None:
    conf = tmp_path / "station.toml"
    conf.write_text(f'[station]\nid = "st-a"\ndata_dir = "{tmp_path}"\n', encoding="utf-8")
    overlay_path(tmp_path).write_text(
        json.dumps({"applied": {"group": {"version": 1, "settings": {"kiosk": {"new": 1}}}}}),
        encoding="utf-8",
    )
    assert load_config(conf).kiosk == Config().kiosk
    overlay_path(tmp_path).write_text("{not json", encoding="utf-8")
    assert load_config(conf).station.id == "st-a"


def test_seen_commands_survive_a_restart_and_stay_bounded(tmp_path: Path) -> None:
    seen = commands.SeenCommands(tmp_path)
    for i in range(commands.SEEN_KEEP + 5):
        seen.add(f"id-{i}")
    again = commands.SeenCommands(tmp_path)
    assert "id-0" not in again and f"id-{commands.SEEN_KEEP + 4}" in again


def test_logs_are_masked_and_bounded(tmp_path: Path) -> None:
    cfg = from_mapping({"station": {"data_dir": str(tmp_path)}})
    log = tmp_path / "kiosk-sync.log"
    lines = [f"line {i}" for i in range(5000)] + ["resident 11010519491231002X checked in"]
    log.write_text("\n".join(lines) + "\n", encoding="utf-8")
    source, text = asyncio.run(commands.recent_logs(cfg, 100))
    assert "kiosk-sync.log" in source
    out = text.splitlines()
    assert out[0] == "==> kiosk-sync.log <==" and len(out) == 101
    assert "11010519491231002X" not in text and "resident " in out[-1]
    _, big = asyncio.run(commands.recent_logs(cfg, 10**6))
    assert len(big.splitlines()) == commands.MAX_LINES + 1


def test_logs_without_a_source_say_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("management.commands.shutil.which", lambda _n: None)
    cfg = from_mapping({"station": {"data_dir": str(tmp_path)}})
    with pytest.raises(FileNotFoundError):
        asyncio.run(commands.recent_logs(cfg, 10))


def test_device_book_round_trip(tmp_path: Path) -> None:
    path = devicestatus.path_for(tmp_path)
    book = devicestatus.DeviceBook(path)
    at = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
    book.update("blood_pressure", model="UA-651BLE", connected=True, battery_percent=80, at=at)
    book.update("blood_pressure", model="UA-651BLE", connected=True, reading=True, at=at)
    book.update("glucose", model="GA-3", connected=False, at=at)
    got = {d.role: d for d in devicestatus.read(path)}
    assert got["blood_pressure"].battery_percent == 80
    assert got["blood_pressure"].last_reading == at
    assert got["glucose"].connected is False and got["glucose"].last_seen is None
    path.write_text('[{"role": 1}]', encoding="utf-8")
    assert devicestatus.read(path) == []


def test_station_health(tmp_path: Path) -> None:
    zone = tmp_path / "temp"
    zone.write_text("48312\n")
    store = tmp_path / "kiosk.sqlite"
    store.write_bytes(b"x" * 1024 * 1024)
    (tmp_path / "kiosk.sqlite-wal").write_bytes(b"x" * 512 * 1024)
    h = stationhealth.measure(tmp_path, store, thermal=zone)
    assert h.cpu_temp_c == 48.3
    assert h.store_size_mb == 1.5
    assert h.disk_free_mb is not None and 0 < (h.disk_free_percent or 0) <= 100
    assert stationhealth.cpu_temp_c(tmp_path / "absent") is None


# --- the revert guard, with a fake link ------------------------------------------------


def test_a_broker_change_not_confirmed_in_time_is_reverted(tmp_path: Path) -> None:
    from healthkiosk.mqtt import Message
    from management.station import StationManagement
    from sync.schema import topic

    key = config_key(tmp_path)
    link = station(tmp_path, trusted=[key.public])
    fleet = StationManagement(link)

    async def go() -> FakeConn:
        msg = Message(topic("st-a", "config"), signed(key, 1, {"mqtt": {"port": 9}}), 1, True, 1)
        fleet.on_message(msg)
        work = fleet._queue.get_nowait()
        await fleet._on_config(work)  # type: ignore[arg-type]
        conn = FakeConn()
        await fleet.connected(conn, link.generation)  # type: ignore[arg-type]
        return conn

    conn = asyncio.run(go())
    assert [c.mqtt.port for c in link.applied] == [9, 1883]
    assert link.reconnects == 2
    (report,) = reports(conn)
    assert report["outcome"] == "reverted" and "127.0.0.1:9 not reached" in report["reason"]
    assert report["station_version"] == 1 and report["running_station_version"] is None
    state = OverlayState.load(tmp_path)
    assert state.applied["station"] is None and state.previous is None
    assert state.refused == {"station": 1}


def test_a_broker_change_confirmed_in_time_is_kept(tmp_path: Path) -> None:
    from healthkiosk.mqtt import Message
    from management.station import StationManagement
    from sync.schema import topic

    key = config_key(tmp_path)
    link = station(tmp_path, trusted=[key.public])
    fleet = StationManagement(link)
    conn = FakeConn()

    async def go() -> None:
        payload = signed(key, 1, {"mqtt": {"keepalive_s": 20}})
        msg = Message(topic("st-a", "config"), payload, 1, True, 1)
        fleet.on_message(msg)
        work = fleet._queue.get_nowait()
        task = asyncio.create_task(fleet._on_config(work))  # type: ignore[arg-type]
        await asyncio.sleep(0.05)
        state = OverlayState.load(tmp_path)
        assert state.previous is not None  # on probation, persisted
        await fleet.connected(conn, link.generation)  # type: ignore[arg-type]
        await task

    asyncio.run(go())
    assert [c.mqtt.keepalive_s for c in link.applied] == [20]
    (report,) = reports(conn)
    assert report["outcome"] == "applied" and report["station_version"] == 1
    state = OverlayState.load(tmp_path)
    assert state.versions()["station"] == 1 and state.previous is None


def test_a_probation_left_by_a_crash_is_finished_at_the_next_start(tmp_path: Path) -> None:
    """Stopped (killed) between applying new broker settings and reaching the
    broker: the next start runs on them, and reverts when they do not work."""
    from management.station import StationManagement

    state = OverlayState()
    state.applied["station"] = Doc(2, {"mqtt": {"port": 9}})
    state.previous = {"group": None, "station": Doc(1, {"kiosk": {"done_s": 5.0}})}
    state.probation_scope = "station"
    state.save(tmp_path)
    link = station(tmp_path, trusted=[])
    assert link.cfg.mqtt.port == 9  # the loader took the overlay on probation

    async def go() -> FakeConn:
        fleet = StationManagement(link)
        task = asyncio.create_task(fleet.run())
        await asyncio.sleep(0.6)  # > revert_after_s
        conn = FakeConn()
        await fleet.connected(conn, link.generation)  # type: ignore[arg-type]
        task.cancel()
        return conn

    conn = asyncio.run(go())
    assert link.cfg.mqtt.port == 1883 and link.cfg.kiosk.done_s == 5.0
    (report,) = reports(conn)
    assert report["outcome"] == "reverted" and report["running_station_version"] == 1
    state = OverlayState.load(tmp_path)
    assert state.versions()["station"] == 1 and state.refused == {"station": 2}


# --- issue #14: a remote rules table is a whole rule set the doctor's side holds -------

HOME = {"blood_pressure": {"profile": "cn2018_home"}}


def _home_doc(version: int = 1, **over: Any) -> Doc:
    from healthkiosk.rules import load_rules, rules_digest

    fields: dict[str, Any] = {"rules_digest": rules_digest(load_rules(HOME))}
    fields.update(over)
    return Doc(version, {"rules": HOME}, **fields)


def test_a_held_rule_set_replaces_the_files_rules_as_a_whole(tmp_path: Path) -> None:
    here = {**local(tmp_path), "rules": {"glucose": {"fasting_high_min": 7.2}}}
    d = decide(OverlayState(), scope="station", doc=_home_doc(), local=here,
               running=from_mapping(here))  # fmt: skip
    assert isinstance(d, Accepted)
    assert d.config.rules == HOME  # not merged with the file's glucose key
    assert "rules.glucose.fasting_high_min" in d.plan.kiosk_restart


@pytest.mark.parametrize(
    ("doc", "reason"),
    [
        (_home_doc(rules_digest=None), "rules: rule set"),
        (_home_doc(rules_digest="0" * 64), "is not the one the doctor's side checked"),
        (Doc(1, {"rules": {"glucose": {"very_low_max": 70}}}), "rules.glucose.very_low_max: "),
        (Doc(1, {"rules": "cn2018"}), "rules: must be a table"),
    ],
)
def test_a_rules_table_not_checked_by_the_doctors_side_is_rejected(
    tmp_path: Path, doc: Doc, reason: str
) -> None:
    d = decide(OverlayState(), scope="station", doc=doc, local=local(tmp_path),
               running=running(tmp_path))  # fmt: skip
    assert isinstance(d, Rejected) and reason in d.reason, d


def test_the_digest_survives_the_saved_overlay(tmp_path: Path) -> None:
    state = OverlayState()
    state.applied["station"] = _home_doc()
    state.save(tmp_path)
    again = OverlayState.load(tmp_path)
    doc = again.applied["station"]
    assert doc is not None and doc.rules_digest == _home_doc().rules_digest


def test_the_admin_cli_gives_only_a_held_rule_set() -> None:
    from healthkiosk.cli.fleet_admin import held_rules_digest
    from healthkiosk.rules import held_rule_sets, load_rules, rules_digest

    held = held_rule_sets({}, {"home_bp": HOME})
    assert held_rules_digest({"kiosk": {"done_s": 5}}, held) is None
    assert held_rules_digest({"rules": HOME}, held) == rules_digest(load_rules(HOME))
    with pytest.raises(ConfigError) as err:
        held_rules_digest({"rules": {"blood_pressure": {"profile": "aha2017"}}}, held)
    assert err.value.key == "rules" and "does not hold" in str(err.value)


def test_the_status_carries_the_wrong_technician_pins(tmp_path: Path) -> None:
    from management import techpin
    from management.station import StationManagement
    from sync.schema import StatusMessage

    link = station(tmp_path, trusted=[])
    fields = StationManagement(link).status_fields()
    assert fields["tech_pin_failures"] == 0 and fields["tech_pin_locked_until"] is None
    until = datetime(2026, 12, 7, 9, 30, tzinfo=UTC)
    techpin.PinFile(techpin.path_for(tmp_path)).save(6, until, at=until)
    fields = StationManagement(link).status_fields()
    assert fields["tech_pin_failures"] == 6 and fields["tech_pin_locked_until"] == until
    msg = StatusMessage(station_id="st-a", online=True, boot_id="b", seq=1, **fields)
    assert msg.tech_pin_failures == 6
