"""Remote configuration and commands end to end: a real Mosquitto (with the
generated ACL) and two stations, each a separate ``healthkiosk sync run``
process with its own data directory; the administrator's side through the
``healthkiosk admin`` CLI."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from healthkiosk import visitlock
from healthkiosk.config import FleetConfig, load_config
from healthkiosk.idnumber import mask
from healthkiosk.mqtt import MqttSettings, connect
from healthkiosk.rules import load_rules, rules_digest
from management.devicestatus import DeviceBook, path_for
from management.remote_config import OverlayState
from management.signedconfig import sign
from sync.schema import Command, DesiredConfig, encode, topic
from tests.support.synckit import REPO, Mosquitto, fill_store, spawn, stop
from updater import keys

GROUP = "g1"
STATIONS = ("st-a", "st-b")
ID_NUMBER = "11010519491231002X"
REVERT_S = FleetConfig().revert_after_s  # the shipped default, not a test value
# The hooks the stations run instead of systemctl / bluetoothctl: append a line to a file.
HOOK = "import sys; open(sys.argv[1], 'a').write(' '.join(sys.argv[2:]) + '\\n')"


def toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    return json.dumps(v if isinstance(v, list) else str(v))


def write_toml(path: Path, data: dict[str, dict[str, Any]]) -> Path:
    lines: list[str] = []
    for section, values in data.items():
        lines.append(f"[{section}]")
        lines.extend(f"{k} = {toml_value(v)}" for k, v in values.items())
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@dataclass
class Station:
    id: str
    dir: Path
    config: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def restarts(self) -> list[str]:
        p = self.dir / "restarts.txt"
        return p.read_text().splitlines() if p.exists() else []

    @property
    def unpaired(self) -> list[str]:
        p = self.dir / "unpaired.txt"
        return p.read_text().splitlines() if p.exists() else []


class Fleet:
    def __init__(self, tmp: Path, broker: Mosquitto) -> None:
        self.tmp = tmp
        self.broker = broker
        # The administrator's configuration key; the stations trust its public half.
        self.config_key, self.config_pub = tmp / "config-key.pem", tmp / "config-key.pub.pem"
        keys.generate(self.config_key, self.config_pub)
        self.admin_config = write_toml(
            tmp / "admin.toml",
            {
                "station": {"data_dir": str(tmp / "admin")},
                "followup": {
                    "config_key_file": str(self.config_key),
                    "mqtt_accounts_dir": str(broker.credentials),
                },
                "followup.mqtt": {"host": "127.0.0.1", "port": broker.port},
            },
        )
        self.stations = {s: self._station(s) for s in STATIONS}

    def _station(self, sid: str) -> Station:
        d = self.tmp / sid
        d.mkdir()
        cfg = write_toml(
            self.tmp / f"{sid}.toml",
            {
                "station": {"id": sid, "group": GROUP, "data_dir": str(d)},
                "mqtt": {
                    "host": "127.0.0.1",
                    "port": self.broker.port,
                    "username": sid,
                    "password_file": str(self.broker.password_file(sid)),
                    "reconnect_min_s": 0.2,
                    "reconnect_max_s": 1.0,
                    "status_interval_s": 1.0,
                    "receipt_timeout_s": 600.0,
                },
                "fleet": {
                    "config_keys": [str(self.config_pub)],
                    "restart_command": [sys.executable, "-c", HOOK, str(d / "restarts.txt")],
                    "unpair_command": [
                        sys.executable,
                        "-c",
                        HOOK,
                        str(d / "unpaired.txt"),
                        "{address}",
                    ],
                },
                "devices.blood_pressure": {
                    "driver": "ble-and-ua651",
                    "address": "AA:BB:CC:DD:EE:01",
                },
                "devices.glucose": {"driver": "onetouch-ultra2", "port": "/dev/ttyUSB0"},
            },
        )
        return Station(sid, d, cfg)

    def start(self) -> None:
        for st in self.stations.values():
            st.proc = spawn(st.config, "sync", "run", log=st.dir / "kiosk-sync.log")

    def stop(self) -> None:
        for st in self.stations.values():
            if st.proc is not None:
                stop(st.proc)

    # --- the administrator's side -----------------------------------------------------

    def admin(
        self, *args: str, check: bool = True, config: Path | None = None
    ) -> subprocess.CompletedProcess[str]:
        cfg = config or self.admin_config
        cp = subprocess.run(
            [sys.executable, "-m", "healthkiosk", "--config", str(cfg), *args],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if check and cp.returncode != 0:
            raise AssertionError(f"{args}: exit {cp.returncode}\n{cp.stdout}\n{cp.stderr}")
        return cp

    def settings(self) -> MqttSettings:
        return MqttSettings(
            host="127.0.0.1",
            port=self.broker.port,
            client_id=f"test-{uuid.uuid4().hex[:8]}",
            username="followup",
            password=self.broker.password("followup"),
            clean_start=True,
            session_expiry_s=0,
            manual_ack=False,
        )

    def retained(self, name: str) -> dict[str, Any] | None:
        async def go() -> dict[str, Any] | None:
            async with connect(self.settings()) as conn:
                await conn.subscribe([(name, 1)], timeout=5.0)
                try:
                    msg = await conn.next_message(timeout=0.5)
                except TimeoutError:
                    return None
                return json.loads(msg.payload) if msg.payload else None

        return asyncio.run(go())

    def wait_retained(
        self, name: str, pred: Callable[[dict[str, Any]], bool], timeout: float
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            last = self.retained(name)
            if last is not None and pred(last):
                return last
            time.sleep(0.2)
        raise AssertionError(f"{name}: last seen {last}")

    def report(self, sid: str, pred: Callable[[dict[str, Any]], bool], timeout: float = 20.0):  # type: ignore[no-untyped-def]
        return self.wait_retained(topic(sid, "config-report"), pred, timeout)

    def command_results(self, sid: str, commands: list[Command], listen_s: float) -> list[Any]:
        """Publish raw commands; every result that comes within ``listen_s``."""

        async def go() -> list[Any]:
            out: list[Any] = []
            async with connect(self.settings()) as conn:
                await conn.subscribe([(topic(sid, "cmd-result"), 1)], timeout=5.0)
                for c in commands:
                    await conn.publish(topic(sid, "cmd"), encode(c), timeout=5.0)
                loop = asyncio.get_running_loop()
                end = loop.time() + listen_s
                while (left := end - loop.time()) > 0:
                    try:
                        msg = await conn.next_message(timeout=left)
                    except TimeoutError:
                        break
                    out.append(json.loads(msg.payload))
            return out

        return asyncio.run(go())


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[Fleet]:
    broker = Mosquitto(tmp_path / "broker", list(STATIONS))
    broker.start()
    f = Fleet(tmp_path, broker)
    try:
        f.start()
        for sid in STATIONS:  # both online
            f.wait_retained(topic(sid, "status"), lambda m: m["online"], 20.0)
        yield f
    finally:
        f.stop()
        broker.kill()


def test_a_group_config_is_applied_and_reported_by_both_stations(fleet: Fleet) -> None:
    out = fleet.admin(
        "admin", "config", "set", "--group", GROUP, "kiosk.done_s=5", "mqtt.batch_size=4"
    )
    assert json.loads(out.stdout)["version"] == 1
    for sid in STATIONS:
        r = fleet.report(sid, lambda m: m["outcome"] == "applied" and m["group_version"] == 1)
        assert r["running_group_version"] == 1
    # The kiosk app's device book reaches the status.
    book = DeviceBook(path_for(fleet.stations["st-a"].dir))
    book.update("blood_pressure", model="UA-651BLE", connected=True, battery_percent=77)
    book.update("blood_pressure", model="UA-651BLE", connected=True, reading=True)
    status = fleet.wait_retained(topic("st-a", "status"), lambda m: bool(m["devices"]), 10.0)
    (dev,) = status["devices"]
    assert dev["role"] == "blood_pressure" and dev["battery_percent"] == 77
    assert dev["last_reading"] is not None and dev["connected"] is True
    for st in fleet.stations.values():
        # kiosk.done_s is the kiosk app's: restarted (at an idle moment) through the hook.
        deadline = time.monotonic() + 10
        while not st.restarts and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(st.restarts) == 1
        # The next start uses it: the loader merges the accepted overlay.
        cfg = load_config(st.config)
        assert cfg.kiosk.done_s == 5.0 and cfg.mqtt.batch_size == 4
        status = fleet.wait_retained(
            topic(st.id, "status"), lambda m: m.get("config_version") == 1, 10.0
        )
        assert status["disk_free_mb"] > 0 and status["store_size_mb"] > 0
        # The clock's state, from the system (this machine's answer, whichever it is).
        assert isinstance(status["clock_synced"], bool) and status["clock_source"]
        assert status["version"] and status["uptime_s"] >= 0 and status["backlog"] == 0
    # A second set merges into the first and counts on from the retained version.
    out = fleet.admin("admin", "config", "set", "--group", GROUP, "kiosk.idle_timeout_s=90")
    assert json.loads(out.stdout) == {
        "topic": f"hk/v1/grp/{GROUP}/config",
        "version": 2,
        "settings": {"kiosk": {"done_s": 5, "idle_timeout_s": 90}, "mqtt": {"batch_size": 4}},
    }
    fleet.report("st-b", lambda m: m["outcome"] == "applied" and m["group_version"] == 2)
    shown = json.loads(fleet.admin("admin", "config", "show", "--station", "st-b").stdout)
    assert shown["report"]["running_group_version"] == 2


def test_an_invalid_config_is_refused_with_the_reason_and_the_old_one_kept(fleet: Fleet) -> None:
    fleet.admin("admin", "config", "set", "--station", "st-a", "kiosk.done_s=6")
    fleet.report("st-a", lambda m: m["outcome"] == "applied" and m["station_version"] == 1)
    # The admin CLI checks what it can...
    cp = fleet.admin("admin", "config", "set", "--station", "st-a", "kiosk.done_s=-1", check=False)
    assert cp.returncode == 2 and "kiosk.done_s" in cp.stderr
    cp = fleet.admin(
        "admin", "config", "set", "--station", "st-a", "update.trusted_keys=['/x']", check=False
    )
    assert cp.returncode == 2 and "update.trusted_keys: cannot be set remotely" in cp.stderr
    # ... and the station decides: published anyway, refused there.
    fleet.admin("admin", "config", "set", "--no-check", "--station", "st-a", "kiosk.done_s=-1")
    r = fleet.report("st-a", lambda m: m["outcome"] == "rejected")
    assert r["reason"].startswith("kiosk.done_s:") and r["station_version"] == 2
    assert r["running_station_version"] == 1
    st = fleet.stations["st-a"]
    assert OverlayState.load(st.dir).versions()["station"] == 1
    assert load_config(st.config).kiosk.done_s == 6.0
    # The retained refused document comes again at every reconnect: ignored, not re-tried;
    # the next good version is applied.
    fleet.admin("admin", "config", "set", "--station", "st-a", "kiosk.done_s=7")
    r = fleet.report("st-a", lambda m: m["outcome"] == "applied" and m["station_version"] == 3)
    assert load_config(st.config).kiosk.done_s == 7.0
    assert fleet.retained(topic("st-b", "config-report")) is None  # not st-b's business


def test_a_station_is_given_only_a_rule_set_the_doctors_side_holds(
    fleet: Fleet, tmp_path: Path
) -> None:
    """Issue #14, one meaning: the admin CLI refuses a rule set the doctor's side
    does not hold and writes the digest of one it holds; the station refuses a
    rules table that comes without that digest."""
    home = [
        "admin",
        "config",
        "set",
        "--station",
        "st-a",
        'rules.blood_pressure.profile="cn2018_home"',
    ]
    cp = fleet.admin(*home, check=False)
    assert cp.returncode == 2, cp.stdout
    assert cp.stderr.startswith("healthkiosk: rules: the doctor's side does not hold this rule set")
    assert fleet.retained(topic("st-a", "config")) is None  # nothing was published
    # The doctor's side holds the home-BP rule set: given, with its digest, and applied.
    text = fleet.admin_config.read_text(encoding="utf-8")
    holding = tmp_path / "admin-holding.toml"
    holding.write_text(
        text + '\n[followup.rule_sets.home_bp.blood_pressure]\nprofile = "cn2018_home"\n',
        encoding="utf-8",
    )
    out = json.loads(fleet.admin(*home, config=holding).stdout)
    want = rules_digest(load_rules({"blood_pressure": {"profile": "cn2018_home"}}))
    assert out["rules_digest"] == want
    fleet.report("st-a", lambda m: m["outcome"] == "applied" and m["station_version"] == 1)
    st = fleet.stations["st-a"]
    assert load_config(st.config).rules == {"blood_pressure": {"profile": "cn2018_home"}}
    # A rules table published by hand, without the doctor's side's check: refused.
    # (signed with the administrator's configuration key: the signature is not what
    # it lacks)
    now = datetime.now(UTC)
    doc = DesiredConfig(
        scope="station", target="st-a", version=2,
        settings={"rules": {"blood_pressure": {"profile": "aha2017"}}},
        issued_at=now, expires=now + timedelta(days=1),
    )  # fmt: skip
    payload = sign(doc, keys.load_private(fleet.config_key))

    async def publish() -> None:
        async with connect(fleet.settings()) as conn:
            await conn.publish(topic("st-a", "config"), payload, retain=True, timeout=5.0)

    asyncio.run(publish())
    r = fleet.report("st-a", lambda m: m["outcome"] == "rejected" and m["station_version"] == 2)
    assert (
        r["reason"].startswith("rules: rule set")
        and "without the doctor's side's digest" in r["reason"]
    )
    assert load_config(st.config).rules == {"blood_pressure": {"profile": "cn2018_home"}}


def test_a_signed_clear_goes_back_to_the_file_and_old_documents_stay_out(fleet: Fleet) -> None:
    fleet.admin("admin", "config", "set", "--station", "st-b", "mqtt.batch_size=3")
    fleet.report("st-b", lambda m: m["outcome"] == "applied" and m["station_version"] == 1)
    old = fleet.retained(topic("st-b", "config"))
    assert old is not None and old["signatures"]
    out = json.loads(fleet.admin("admin", "config", "clear", "--station", "st-b").stdout)
    assert out == {"topic": "hk/v1/st/st-b/config", "version": 2, "cleared": True}
    r = fleet.report("st-b", lambda m: m["outcome"] == "applied" and m["station_version"] == 2)
    assert r["running_station_version"] is None  # cleared: the file alone
    st = fleet.stations["st-b"]
    assert load_config(st.config).mqtt.batch_size == 10

    # The version-1 document, signed and all, published again: refused as a replay.
    async def replay() -> None:
        async with connect(fleet.settings()) as conn:
            await conn.publish(
                topic("st-b", "config"), json.dumps(old).encode(), retain=True, timeout=5.0
            )

    asyncio.run(replay())
    r = fleet.report("st-b", lambda m: m["outcome"] == "rejected")
    assert r["reason"].startswith("downgrade: version 1") and r["station_version"] == 1
    assert load_config(st.config).mqtt.batch_size == 10


def test_a_config_restart_waits_for_the_visit_to_end(fleet: Fleet) -> None:
    st = fleet.stations["st-a"]
    visit = visitlock.VisitLock(visitlock.path_for(load_config(st.config)))
    assert visit.begin()  # an elder is checked in at st-a
    try:
        fleet.admin("admin", "config", "set", "--station", "st-a", "kiosk.done_s=9")
        r = fleet.report("st-a", lambda m: m["outcome"] == "applied" and m["station_version"] == 1)
        assert r["restart_needed"] is True  # accepted; the kiosk app takes it at its next start
        time.sleep(3.0)
        assert st.restarts == []  # never in the middle of the visit
    finally:
        visit.end()
    r = fleet.report("st-a", lambda m: m["outcome"] == "applied" and not m["restart_needed"])
    assert len(st.restarts) == 1 and r["station_version"] == 1
    assert load_config(st.config).kiosk.done_s == 9.0


def test_a_config_that_loses_the_broker_is_reverted_by_the_station(fleet: Fleet) -> None:
    """A signed change of the broker's host (nothing listens there) is applied, then
    reverted by the station itself."""
    t0 = time.monotonic()
    fleet.admin("admin", "config", "set", "--station", "st-a", "mqtt.host=127.0.0.2")
    r = fleet.report("st-a", lambda m: m["outcome"] == "reverted", timeout=40.0)
    took = time.monotonic() - t0
    assert REVERT_S <= took < 30.0, took
    port = fleet.broker.port
    assert f"127.0.0.2:{port} not reached within {REVERT_S:g} s" in r["reason"]
    assert r["station_version"] == 1 and r["running_station_version"] is None
    st = fleet.stations["st-a"]
    assert load_config(st.config).mqtt.host == "127.0.0.1"
    state = OverlayState.load(st.dir)
    assert state.previous is None and state.refused == {"station": 1}
    assert state.high_water == {"station:st-a": 1}
    # Back on the broker, serving: online and answering commands.
    fleet.wait_retained(topic("st-a", "status"), lambda m: m["online"], 10.0)
    res = json.loads(fleet.admin("admin", "command", "st-a", "resync", "--wait", "10").stdout)
    assert res["ok"] is True


def _cmd(name: str, **args: Any) -> Command:
    now = datetime.now(UTC)
    return Command(
        id=uuid.uuid4(),
        command=name,
        args=args,
        issued_at=now,
        expires_at=now + timedelta(minutes=1),
    )


def test_every_remote_command_is_answered(fleet: Fleet) -> None:
    st = fleet.stations["st-a"]
    # logs: a line carrying a whole ID number (say, from a crash trace) comes back masked.
    with open(st.dir / "kiosk-sync.log", "a", encoding="utf-8") as fh:
        fh.write(f"Traceback: resident {ID_NUMBER} not found\n")
    cp = fleet.admin("admin", "command", "st-a", "logs", "--lines", "50", "--wait", "10")
    res = json.loads(cp.stdout)
    assert res["ok"] is True and res["command"] == "logs"
    assert "resident " in res["output"] and "not found" in res["output"]
    assert ID_NUMBER not in res["output"] and f"resident {mask(ID_NUMBER)}" in res["output"]
    assert len(res["output"].splitlines()) <= 51

    # resync: readings without a receipt (no doctor's side here) are sent again.
    fill_store(st.dir / "kiosk.sqlite", 7)
    time.sleep(1.5)
    res = json.loads(fleet.admin("admin", "command", "st-a", "resync", "--wait", "10").stdout)
    assert res["ok"] is True and res["detail"].startswith("7 unreceipted")

    # restart: through the hook, at an idle moment.
    res = json.loads(fleet.admin("admin", "command", "st-a", "restart", "--wait", "10").stdout)
    assert res["ok"] is True and len(st.restarts) == 1

    # repair: the BLE monitor's bond is forgotten, then the kiosk restarted.
    cp = fleet.admin("admin", "command", "st-a", "repair", "--role", "blood_pressure")
    res = json.loads(cp.stdout)
    assert res["ok"] is True and "bond with AA:BB:CC:DD:EE:01 removed" in res["detail"]
    assert st.unpaired == ["AA:BB:CC:DD:EE:01"] and len(st.restarts) == 2
    # A serial meter has no pairing: said so, nothing run.
    cp = fleet.admin("admin", "command", "st-a", "repair", "--role", "glucose", check=False)
    assert cp.returncode == 1
    assert "no pairing to forget" in json.loads(cp.stdout)["detail"]
    # A role with no device.
    cp = fleet.admin("admin", "command", "st-a", "repair", "--role", "id_card", check=False)
    assert cp.returncode == 1 and "no device configured" in json.loads(cp.stdout)["detail"]
    assert len(st.restarts) == 2


def test_expired_commands_are_not_run_and_an_id_is_answered_once(fleet: Fleet) -> None:
    st = fleet.stations["st-b"]
    now = datetime.now(UTC)
    expired = Command(
        id=uuid.uuid4(),
        command="restart",
        issued_at=now - timedelta(minutes=10),
        expires_at=now - timedelta(minutes=5),
    )
    dup = _cmd("resync")
    results = fleet.command_results("st-b", [expired, dup, dup], listen_s=3.0)
    by_id: dict[str, list[dict[str, Any]]] = {}
    for r in results:
        by_id.setdefault(r["id"], []).append(r)
    assert len(by_id[str(expired.id)]) == 1 and len(by_id[str(dup.id)]) == 1
    assert by_id[str(expired.id)][0]["ok"] is False
    assert "expired" in by_id[str(expired.id)][0]["detail"]
    assert st.restarts == []
    # No answer from a station that is not there: exit 3.
    cp = fleet.admin("admin", "command", "st-zz", "resync", "--wait", "1", check=False)
    assert cp.returncode == 3


def test_help_calls_are_sent_and_a_web_acknowledgement_is_kept_for_the_kiosk(
    fleet: Fleet,
) -> None:
    """Issue 16: the kiosk app's call (its file) goes out as ``hk.help/1``; the
    web's ``help_ack`` comes back into the file the kiosk app reads; the call
    acknowledged goes out again."""
    from sync import helpfile

    st = fleet.stations["st-a"]
    now = datetime.now(UTC)
    call = helpfile.CallRecord(
        id=str(uuid.uuid4()), reason="staff_call", screen="error", detail="device_timeout",
        called_at=now,
    )  # fmt: skip

    async def listen(write: Callable[[], None]) -> dict[str, Any]:
        async with connect(fleet.settings()) as conn:
            await conn.subscribe([(topic("st-a", "help"), 1)], timeout=5.0)
            write()
            msg = await conn.next_message(timeout=15.0)
            return dict(json.loads(msg.payload))

    path = helpfile.calls_path(st.dir)
    sent = asyncio.run(listen(lambda: helpfile.write_calls(path, [call], now=now)))
    assert sent["schema"] == "hk.help/1" and sent["id"] == call.id
    assert (sent["station_id"], sent["screen"], sent["detail"]) == (
        "st-a", "error", "device_timeout"
    )  # fmt: skip
    assert sent["acknowledged_at"] is None

    ack = Command(
        id=uuid.uuid4(), command="help_ack", args={"call": call.id, "by": "dr-li"},
        issued_at=now, expires_at=now + timedelta(minutes=5), issued_by="dr-li",
    )  # fmt: skip
    results = fleet.command_results("st-a", [ack], listen_s=5.0)
    assert [r["ok"] for r in results] == [True], results
    assert results[0]["detail"] == f"call {call.id} acknowledged"
    acks = helpfile.read_acks(helpfile.acks_path(st.dir))
    assert [(a.call, a.by, a.where) for a in acks] == [(call.id, "dr-li", "web")]

    # The kiosk app takes it into its call: sent again, acknowledged.
    done = call.model_copy(
        update={"acknowledged_at": acks[0].at, "acknowledged_by": "dr-li",
                "acknowledged_where": "web"}
    )  # fmt: skip
    again = asyncio.run(listen(lambda: helpfile.write_calls(path, [done], now=now)))
    assert again["id"] == call.id and again["acknowledged_where"] == "web"
