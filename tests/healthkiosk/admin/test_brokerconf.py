"""The generated broker configuration against real Mosquitto: TLS, passwords,
the accounts' rights; and the link's handling of a broker that refuses a publish.
(The attacks of issue 19 on it: test_broker_attacks.py.)"""

from __future__ import annotations

import base64
import getpass
import hashlib
import json
import secrets
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from healthkiosk.admin.brokerconf import Access, apply_access
from healthkiosk.errors import (
    ConnectRefusedError,
    PublishRefusedError,
    SubscribeRefusedError,
    SyncTimeoutError,
)
from healthkiosk.mqtt import MqttSettings, connect
from tests.support.flowcheck import wait_until
from tests.support.synckit import (
    REPO,
    Mosquitto,
    Tls,
    fill_store,
    outbox_counts,
    running,
    spawn,
    stop,
)


def check_password(password: str, client: dict[str, Any]) -> bool:
    """The dynamic-security plugin's own check of a client entry, to test ours against."""
    salt = base64.b64decode(client["salt"])
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, int(client["iterations"]))
    return len(salt) == 12 and secrets.compare_digest(digest, base64.b64decode(client["password"]))


def _settings(
    broker: Mosquitto,
    user: str | None,
    *,
    client_id: str | None = None,
    tls: Tls | None = None,
    password: str | None = None,
) -> MqttSettings:
    return MqttSettings(
        host="127.0.0.1",
        port=broker.tls_port if tls else broker.port,  # type: ignore[arg-type]
        client_id=client_id or user or "anon",
        username=user,
        password=password if password is not None else (broker.password(user) if user else None),
        tls_ca=tls.ca if tls else None,
        clean_start=True,
        session_expiry_s=0,
        connect_timeout_s=5,
    )


def test_cli_writes_a_deployment(tmp_path: Path, tls_material: Tls) -> None:
    out = tmp_path / "broker"
    args = [
        sys.executable,
        "-m",
        "healthkiosk",
        "broker",
        "config",
        "--out",
        str(out),
        "--station",
        "st-1:north",
        "--station",
        "st-2",
        "--gateway",
        "sms",
        "--ingest-workers",
        "3",
        "--broker-user",
        getpass.getuser(),
        "--tls-cert",
        str(tls_material.cert),
        "--tls-key",
        str(tls_material.key),
        "--tls-ca",
        str(tls_material.ca),
        "--plain-port",
        "11883",
        "--persistence-dir",
        str(tmp_path / "p"),
    ]
    r = subprocess.run(args, cwd=REPO, capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stderr
    cred = out / "credentials"
    first = (cred / "st-1.password").read_text()
    group = (cred / "ingest-group").read_text().strip()
    assert group.startswith("ingest-") and len(group) >= 20  # a secret, not "followup"
    conf = (out / "mosquitto.conf").read_text()
    assert "allow_anonymous false" in conf and "persistence true" in conf
    assert "listener 8883 0.0.0.0" in conf and "listener 11883 127.0.0.1" in conf
    assert f"plugin_opt_config_file {(out / 'dynamic-security.json').resolve()}" in conf
    assert "password_file" not in conf and "acl_file" not in conf
    assert "persistent_client_expiration 14d" in conf
    dynsec = json.loads((out / "dynamic-security.json").read_text())
    assert dynsec["defaultACLAccess"] == {
        "publishClientSend": False,
        "publishClientReceive": False,
        "subscribe": False,
        "unsubscribe": True,
    }
    clients = {c["username"]: c for c in dynsec["clients"]}
    assert sorted(clients) == sorted(
        [
            "st-1",
            "st-1.updates",
            "st-2",
            "st-2.updates",
            "followup-ingest-1",
            "followup-ingest-2",
            "followup-ingest-3",
            "followup-web",
            "followup-rollout",
            "followup-admin",
            "sms",
        ]
    )
    for name, c in clients.items():
        assert c["clientid"] == name  # every account bound to its own client id
        pw = (cred / f"{name.removesuffix('.updates')}.password").read_text().strip()
        assert check_password(pw, c)
        assert not check_password(pw + "x", c)
    roles = {r["rolename"]: r["acls"] for r in dynsec["roles"]}
    literal = {a["topic"] for a in roles["ingest"] if a["acltype"] == "subscribeLiteral"}
    assert f"$share/{group}/hk/v1/st/+/readings" in literal
    assert "hk/v1/st/+/readings" not in literal
    north = {a["topic"] for a in roles["station-st-1"] if a["acltype"] == "subscribeLiteral"}
    assert "hk/v1/grp/north/config" in north and "hk/v1/st/st-2/receipts" not in north
    assert {a["topic"] for a in roles["gateway"]} == {"hk/v1/alerts/#"}
    assert (out / "dynamic-security.json").stat().st_mode & 0o777 == 0o640
    assert all(p.stat().st_mode & 0o777 == 0o600 for p in cred.iterdir())
    assert cred.stat().st_mode & 0o777 == 0o700
    # Again: the same passwords and group (credentials handed out stay valid).
    assert subprocess.run(args, cwd=REPO, capture_output=True, check=False).returncode == 0
    assert (cred / "st-1.password").read_text() == first
    assert (cred / "ingest-group").read_text().strip() == group
    bad = subprocess.run(
        [*args[:7], "--station", "BAD_ID"], cwd=REPO, capture_output=True, text=True, check=False
    )
    assert bad.returncode == 2 and "not a valid" in bad.stderr
    clash = subprocess.run(
        [*args[:7], "--station", "followup-web"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert clash.returncode == 2 and "both a station and another account" in clash.stderr


def test_file_access_plan_as_root_and_not(tmp_path: Path) -> None:
    f = tmp_path / "dynamic-security.json"
    f.write_text("{}")
    f.chmod(0o600)
    missing = tmp_path / "persist"
    plan = [
        Access(f, 0o640, "mosquitto", "mosquitto"),
        Access(missing, None, "mosquitto", "mosquitto", directory=True),
    ]
    # Not root (nor the file's owner): nothing changed, the commands to run are said.
    todo = apply_access(plan, euid=f.stat().st_uid + 4242)
    assert todo == [
        f"chown mosquitto:mosquitto {f} && chmod 640 {f}",
        f"install -d -o mosquitto -g mosquitto {missing}",
    ]
    assert stat.S_IMODE(f.stat().st_mode) == 0o600 and not missing.exists()
    # The file's owner, not root: the mode is set, the owner is left to root.
    todo = apply_access(plan[:1], euid=f.stat().st_uid or 4242)
    if f.stat().st_uid != 0:
        assert todo == [f"chown mosquitto:mosquitto {f}"]
    # Root: owners set, the directory made.
    calls: list[tuple[Path, str | None, str | None]] = []
    todo = apply_access(plan, euid=0, chown=lambda p, u, g: calls.append((p, u, g)))
    assert todo == []
    assert missing.is_dir()
    assert calls == [(f, "mosquitto", "mosquitto"), (missing, "mosquitto", "mosquitto")]


async def test_acl_tls_and_anonymous(
    mosquitto: Callable[..., Mosquitto], tls_material: Tls
) -> None:
    broker = mosquitto(["st-a", "st-b"], tls=tls_material)
    # TLS with the deployment's CA, per-station credentials.
    async with connect(_settings(broker, "st-a", tls=tls_material)) as a:
        await a.publish("hk/v1/st/st-a/readings", b"{}", timeout=5)
        await a.subscribe([("hk/v1/st/st-a/receipts", 1), ("hk/v1/grp/g1/config", 1)], timeout=5)
        # Another station's topics: the broker refuses (v5 reason codes).
        with pytest.raises(PublishRefusedError) as pub:
            await a.publish("hk/v1/st/st-b/readings", b"{}", timeout=5)
        assert pub.value.reason_code == 0x87
        with pytest.raises(PublishRefusedError):
            await a.publish("hk/v1/st/st-b/status", b"{}", retain=True, timeout=5)
        # Subscribing to another station's topics: refused at the SUBACK.
        for foreign in ("hk/v1/st/st-b/receipts", "hk/v1/st/+/readings", "hk/v1/grp/g2/config"):
            with pytest.raises(SubscribeRefusedError) as sub:
                await a.subscribe([(foreign, 1)], timeout=5)
            assert sub.value.reason_code == 0x87
        with pytest.raises(PublishRefusedError):
            await a.publish("hk/v1/st/st-b/receipts", b"{}", timeout=5)
        async with connect(_settings(broker, "st-b")) as b:
            await b.publish("hk/v1/st/st-b/readings", b"{}", timeout=5)
        async with connect(_settings(broker, "followup-ingest-1")) as f:
            await f.publish("hk/v1/st/st-b/receipts", b"{}", timeout=5)
            await f.publish("hk/v1/st/st-a/receipts", b"mine", timeout=5)
            with pytest.raises(PublishRefusedError):  # configuration is the admin's
                await f.publish("hk/v1/grp/g1/config", b"{}", timeout=5)
        async with connect(_settings(broker, "followup-admin")) as adm:
            await adm.publish("hk/v1/grp/g2/config", b"{}", timeout=5)
        got = await a.next_message(timeout=5)
        assert (got.topic, got.payload) == ("hk/v1/st/st-a/receipts", b"mine")
        with pytest.raises(SyncTimeoutError):
            await a.next_message(timeout=0.5)
    # Anonymous, and a wrong password: refused at CONNECT.
    with pytest.raises(ConnectRefusedError):
        async with connect(_settings(broker, None, client_id="anon")):
            pass
    with pytest.raises(ConnectRefusedError):
        async with connect(_settings(broker, "st-a", password="guess")):
            pass
    # The ingest reads every station through its shared group, and writes receipts.
    async with connect(_settings(broker, "followup-ingest-2", tls=tls_material)) as f:
        await f.subscribe(
            [(f"$share/{broker.ingest_group}/hk/v1/st/+/readings", 1), ("hk/v1/st/+/status", 1)],
            timeout=5,
        )
        await f.publish("hk/v1/st/st-b/receipts", b"{}", timeout=5)


async def test_help_calls_go_from_a_station_to_the_ingest_and_acks_back(
    mosquitto: Callable[..., Mosquitto],
) -> None:
    """Issue 16: a station publishes its calls for staff on its own ``help`` leaf
    only; every ingest worker reads them; the web's ``help_ack`` reaches the station."""
    broker = mosquitto(["st-a", "st-b"])
    async with (
        connect(_settings(broker, "followup-ingest-1")) as ingest,
        connect(_settings(broker, "st-a")) as a,
    ):
        await ingest.subscribe([("hk/v1/st/+/help", 1)], timeout=5)
        await a.subscribe([("hk/v1/st/st-a/cmd", 1)], timeout=5)
        await a.publish("hk/v1/st/st-a/help", b"call", timeout=5)
        got = await ingest.next_message(timeout=5)
        assert (got.topic, got.payload) == ("hk/v1/st/st-a/help", b"call")
        with pytest.raises(PublishRefusedError):  # never in another station's name
            await a.publish("hk/v1/st/st-b/help", b"call", timeout=5)
        with pytest.raises(SubscribeRefusedError):  # nor reading the others' calls
            await a.subscribe([("hk/v1/st/+/help", 1)], timeout=5)
        async with connect(_settings(broker, "followup-web")) as web:
            await web.publish("hk/v1/st/st-a/cmd", b"ack", timeout=5)
        got = await a.next_message(timeout=5)
        assert (got.topic, got.payload) == ("hk/v1/st/st-a/cmd", b"ack")


def test_refused_publish_stays_in_outbox_with_an_alert(
    mosquitto: Callable[..., Mosquitto], deploy, tmp_path: Path
) -> None:
    broker = mosquitto(["st-rf"], start=False)
    dynsec = broker.directory / "dynamic-security.json"
    data = json.loads(dynsec.read_text())
    (role,) = (r for r in data["roles"] if r["rolename"] == "station-st-rf")
    role["acls"] = [a for a in role["acls"] if a["topic"] != "hk/v1/st/st-rf/readings"]
    dynsec.write_text(json.dumps(data))
    broker.start()
    d = deploy(broker, "st-rf", f"sqlite:///{tmp_path / 'f.sqlite'}", receipt_timeout_s=0.5)
    fill_store(d.store, 30)

    def status() -> dict[str, object]:
        r = subprocess.run(
            [
                sys.executable,
                "-m",
                "healthkiosk",
                "--config",
                str(d.kiosk),
                "sync",
                "status",
                "--json",
            ],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        )
        return dict(json.loads(r.stdout))

    with running(spawn(d.kiosk, "sync", "run")) as kiosk:
        assert wait_until(lambda: any("refused" in a for a in status()["alerts"]), 15)  # type: ignore[attr-defined]
        time.sleep(1.5)  # several receipt timeouts: tried again, still refused
        s = status()
        assert s["connected"] is True
        assert s["backlog"] == 30
        assert outbox_counts(d.store) == (30, 0, 0)
        assert any("0x87" in a for a in s["alerts"])  # type: ignore[attr-defined]
        assert stop(kiosk) == 0
    s = status()
    assert s["running"] is False and s["connected"] is False and s["backlog"] == 30
