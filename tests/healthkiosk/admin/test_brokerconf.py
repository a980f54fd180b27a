"""The generated broker configuration against real Mosquitto: TLS, passwords,
the ACL; and the link's handling of a broker that refuses a publish."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from healthkiosk.admin.brokerconf import hash_password
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


def check_password(password: str, hashed: str) -> bool:
    """Mosquitto's own check of a ``$7$`` (PBKDF2-SHA512) entry, to test ours against."""
    try:
        _empty, seven, iterations, salt_b64, digest_b64 = hashed.split("$")
    except ValueError:
        return False
    if seven != "7":
        return False
    salt = base64.b64decode(salt_b64)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, int(iterations))
    return secrets.compare_digest(digest, base64.b64decode(digest_b64))


def _settings(
    broker: Mosquitto,
    user: str | None,
    *,
    client_id: str,
    tls: Tls | None = None,
    password: str | None = None,
) -> MqttSettings:
    return MqttSettings(
        host="127.0.0.1",
        port=broker.tls_port if tls else broker.port,  # type: ignore[arg-type]
        client_id=client_id,
        username=user,
        password=password if password is not None else (broker.password(user) if user else None),
        tls_ca=tls.ca if tls else None,
        clean_start=True,
        session_expiry_s=0,
        connect_timeout_s=5,
    )


def test_password_hash_is_mosquitto_format() -> None:
    h = hash_password("secret", salt=bytes(range(12)))
    assert h.startswith("$7$101$")
    assert check_password("secret", h)
    assert not check_password("Secret", h)
    # mosquitto_passwd's own file is read by our checker too.
    tmp = Path(
        subprocess.run(["mktemp"], capture_output=True, text=True, check=True).stdout.strip()
    )
    try:
        subprocess.run(["mosquitto_passwd", "-b", str(tmp), "alice", "pw1"], check=True)
        stored = tmp.read_text().strip().split(":", 1)[1]
        assert check_password("pw1", stored)
    finally:
        tmp.unlink()


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
    first = (out / "credentials" / "st-1.password").read_text()
    conf = (out / "mosquitto.conf").read_text()
    assert "allow_anonymous false" in conf and "persistence true" in conf
    assert "listener 8883 0.0.0.0" in conf and "listener 11883 127.0.0.1" in conf
    acl = (out / "acl").read_text()
    assert "topic read hk/v1/grp/north/config" in acl
    assert "topic write hk/v1/st/st-2/readings" in acl
    users = [ln.split(":")[0] for ln in (out / "passwd").read_text().splitlines()]
    assert users == ["followup", "st-1", "st-2"]
    assert (out / "passwd").stat().st_mode & 0o777 == 0o600
    # Again: the same passwords (credentials handed out stay valid).
    assert subprocess.run(args, cwd=REPO, capture_output=True, check=False).returncode == 0
    assert (out / "credentials" / "st-1.password").read_text() == first
    bad = subprocess.run(
        [*args[:7], "--station", "BAD_ID"], cwd=REPO, capture_output=True, text=True, check=False
    )
    assert bad.returncode == 2 and "not a valid" in bad.stderr


async def test_acl_tls_and_anonymous(
    mosquitto: Callable[..., Mosquitto], tls_material: Tls
) -> None:
    broker = mosquitto(["st-a", "st-b"], tls=tls_material)
    # TLS with the deployment's CA, per-station credentials.
    async with connect(_settings(broker, "st-a", client_id="st-a", tls=tls_material)) as a:
        await a.publish("hk/v1/st/st-a/readings", b"{}", timeout=5)
        await a.subscribe([("hk/v1/st/st-a/receipts", 1), ("hk/v1/grp/g1/config", 1)], timeout=5)
        # Another station's topics: the broker refuses (v5 reason codes).
        with pytest.raises(PublishRefusedError) as pub:
            await a.publish("hk/v1/st/st-b/readings", b"{}", timeout=5)
        assert pub.value.reason_code == 0x87
        with pytest.raises(PublishRefusedError):
            await a.publish("hk/v1/st/st-b/status", b"{}", retain=True, timeout=5)
        # Reading another station's topics: Mosquitto 2.0 grants the SUBACK but
        # delivers nothing the ACL does not allow (newer brokers refuse with 0x87).
        for foreign in ("hk/v1/st/st-b/receipts", "hk/v1/st/+/readings", "hk/v1/grp/g2/config"):
            try:
                await a.subscribe([(foreign, 1)], timeout=5)
            except SubscribeRefusedError as err:
                assert err.reason_code == 0x87
        with pytest.raises(PublishRefusedError):
            await a.publish("hk/v1/st/st-b/receipts", b"{}", timeout=5)
        async with connect(_settings(broker, "st-b", client_id="st-b")) as b:
            await b.publish("hk/v1/st/st-b/readings", b"{}", timeout=5)
        async with connect(_settings(broker, "followup", client_id="f0")) as f:
            await f.publish("hk/v1/st/st-b/receipts", b"{}", timeout=5)
            await f.publish("hk/v1/grp/g2/config", b"{}", timeout=5)
            await f.publish("hk/v1/st/st-a/receipts", b"mine", timeout=5)
        got = await a.next_message(timeout=5)
        assert (got.topic, got.payload) == ("hk/v1/st/st-a/receipts", b"mine")
        with pytest.raises(SyncTimeoutError):
            await a.next_message(timeout=0.5)
    # Anonymous, and a wrong password: refused at CONNECT.
    with pytest.raises(ConnectRefusedError):
        async with connect(_settings(broker, None, client_id="anon")):
            pass
    with pytest.raises(ConnectRefusedError):
        async with connect(_settings(broker, "st-a", client_id="st-a", password="guess")):
            pass
    # The follow-up service may read every station and write receipts.
    async with connect(_settings(broker, "followup", client_id="f", tls=tls_material)) as f:
        await f.subscribe(
            [("$share/followup/hk/v1/st/+/readings", 1), ("hk/v1/st/+/status", 1)], timeout=5
        )
        await f.publish("hk/v1/st/st-b/receipts", b"{}", timeout=5)


def test_refused_publish_stays_in_outbox_with_an_alert(
    mosquitto: Callable[..., Mosquitto], deploy, tmp_path: Path
) -> None:
    broker = mosquitto(["st-rf"], start=False)
    acl = broker.directory / "acl"
    acl.write_text(acl.read_text().replace("topic write hk/v1/st/st-rf/readings\n", ""))
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
