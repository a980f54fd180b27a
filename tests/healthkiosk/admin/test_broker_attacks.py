"""Issue 19's attacks on the broker configuration ``healthkiosk broker config``
writes, against a real Mosquitto started on the generated files (findings 3, 5
and the password file's owner of 9), and the ingest working beside them with
several workers.

Each broker here is the deployment exactly as generated (no test-only account);
the tests use only what an attacker holding one station's password has.
"""

from __future__ import annotations

import asyncio
import getpass
import os
import pwd
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from followup.db.engine import make_engine
from followup.db.models import Reading
from healthkiosk.errors import ConnectRefusedError, PublishRefusedError, SubscribeRefusedError
from healthkiosk.mqtt import Connection, MqttSettings, connect
from sync.outbox import Outbox
from sync.schema import encode
from sync.store.db import open_store
from tests.support.flowcheck import wait_until
from tests.support.synckit import (
    REPO,
    Notify,
    fill_store,
    free_port,
    running,
    spawn,
    stop,
    wait_port,
    write_config,
)


@dataclass
class Generated:
    out: Path
    port: int
    proc: subprocess.Popen[bytes] | None = None

    def password(self, account: str) -> str:
        return (self.out / "credentials" / f"{account}.password").read_text().strip()

    def settings(
        self, user: str, client_id: str, *, password: str | None = None, durable: bool = False
    ) -> MqttSettings:
        return MqttSettings(
            host="127.0.0.1",
            port=self.port,
            client_id=client_id,
            username=user,
            password=password if password is not None else self.password(user),
            clean_start=not durable,
            session_expiry_s=3600 if durable else 0,
            connect_timeout_s=5,
        )

    def start(self) -> None:
        with open(self.out / "broker.log", "ab") as log:
            self.proc = subprocess.Popen(
                ["mosquitto", "-c", str(self.out / "mosquitto.conf")],
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
        try:
            wait_port(self.port)
        except TimeoutError:
            self.stop()
            raise AssertionError((self.out / "broker.log").read_text(errors="replace")) from None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


def generate(out: Path, *, user: str | None) -> Generated:
    """``healthkiosk broker config`` for stations st-a and st-b on a plain loopback
    port; ``user``: run the broker as this user instead of the generated one."""
    port = free_port()
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "healthkiosk",
            "broker",
            "config",
            "--out",
            str(out),
            "--station",
            "st-a",
            "--station",
            "st-b",
            "--tls-port",
            "0",
            "--plain-port",
            str(port),
            "--persistence-dir",
            str(out / "persist"),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert r.returncode == 0, r.stderr
    if user is not None:  # the tests' own user instead of the generated one
        conf = out / "mosquitto.conf"
        lines = [ln for ln in conf.read_text().splitlines() if not ln.startswith("user ")]
        conf.write_text("\n".join([*lines, f"user {user}"]) + "\n")
    return Generated(out, port)


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Generated]:
    g = generate(tmp_path / "broker", user=getpass.getuser())
    g.start()
    yield g
    g.stop()


async def _refused_subscription(conn: Connection, name: str) -> int | None:
    """The SUBACK's failure reason code, None when granted."""
    try:
        await conn.subscribe([(name, 1)], timeout=5)
    except SubscribeRefusedError as err:
        return err.reason_code
    return None


async def test_a_station_password_cannot_join_the_ingest_group_or_read_readings(
    broker: Generated,
) -> None:
    """Finding 3: any station's password joined ``$share/followup/...`` and was
    handed its turn of every station's readings (which the broker then dropped)."""
    attempts = [
        "$share/followup/hk/v1/st/+/readings",  # the old default group name
        "$share/+/hk/v1/st/+/readings",
        "$share/x/#",
        "hk/v1/st/+/readings",
        "hk/v1/st/st-b/readings",
        "hk/v1/st/+/status",
        "#",
        "$SYS/#",
    ]
    async with connect(broker.settings("st-a", "st-a")) as a:
        for name in attempts:
            assert await _refused_subscription(a, name) == 0x87, name
        # Even knowing the ingest's secret group name.
        group = (broker.out / "credentials" / "ingest-group").read_text().strip()
        assert await _refused_subscription(a, f"$share/{group}/hk/v1/st/+/readings") == 0x87
        with pytest.raises(PublishRefusedError):  # nor reconfigure the broker's accounts
            await a.publish("$CONTROL/dynamic-security/v1", b'{"commands":[]}', timeout=5)
    # The same with the station's second account (update orders), durable sessions too.
    async with connect(
        broker.settings("st-a.updates", "st-a.updates", password=broker.password("st-a"))
    ) as u:
        for name in attempts:
            assert await _refused_subscription(u, name) == 0x87, name
    # Nor any other doctor-side account: only the ingest reads readings, and only in its group.
    for account in ("followup-web", "followup-rollout", "followup-admin"):
        async with connect(broker.settings(account, account)) as c:
            assert await _refused_subscription(c, f"$share/{group}/hk/v1/st/+/readings")
            assert await _refused_subscription(c, "hk/v1/st/+/readings")
    async with connect(broker.settings("followup-ingest-1", "followup-ingest-1")) as i:
        assert await _refused_subscription(i, "$share/other/hk/v1/st/+/readings") == 0x87
        assert await _refused_subscription(i, "hk/v1/st/+/readings") == 0x87

    # Two ingest workers in the group get every reading station st-b publishes.
    got: list[str] = []
    async with (
        connect(broker.settings("followup-ingest-1", "followup-ingest-1")) as w1,
        connect(broker.settings("followup-ingest-2", "followup-ingest-2")) as w2,
    ):
        for w in (w1, w2):
            await w.subscribe([(f"$share/{group}/hk/v1/st/+/readings", 1)], timeout=5)

        async def drain(w: Connection) -> None:
            while True:
                try:
                    msg = await w.next_message(timeout=1.5)
                except TimeoutError:
                    return
                got.append(msg.payload.decode())
                w.ack(msg)

        async with connect(broker.settings("st-b", "st-b")) as b:
            for n in range(100):
                await b.publish("hk/v1/st/st-b/readings", str(n).encode(), timeout=5)
        await asyncio.gather(drain(w1), drain(w2))
    assert sorted(got, key=int) == [str(n) for n in range(100)]


async def test_a_station_password_cannot_take_another_client_id(broker: Generated) -> None:
    """Finding 5: st-a's password connecting as ``st-b`` disconnected station B; as
    ``followup-ingest-1`` it took over the ingest's persistent session."""
    st_a = broker.password("st-a")
    async with connect(broker.settings("st-b", "st-b")) as b:
        for user, cid in [
            ("st-a", "st-b"),
            ("st-a", "followup-ingest-1"),
            ("st-a", "st-b.updates"),
            ("st-a.updates", "st-b"),
            ("st-a.updates", "followup-ingest-1"),
        ]:
            with pytest.raises(ConnectRefusedError):
                async with connect(broker.settings(user, cid, password=st_a, durable=True)):
                    pass
        with pytest.raises(ConnectRefusedError):  # st-a's password is not st-b's
            async with connect(broker.settings("st-b", "st-b", password=st_a)):
                pass
        # Station B was never disconnected.
        await b.publish("hk/v1/st/st-b/readings", b"still here", timeout=5)
        assert b.connected

    # The ingest's persistent session keeps what arrived while it was away.
    group = (broker.out / "credentials" / "ingest-group").read_text().strip()
    ingest = broker.settings("followup-ingest-1", "followup-ingest-1", durable=True)
    async with connect(ingest) as w:
        await w.subscribe([(f"$share/{group}/hk/v1/st/+/readings", 1)], timeout=5)
    async with connect(broker.settings("st-b", "st-b")) as b:
        for n in range(10):
            await b.publish("hk/v1/st/st-b/readings", str(n).encode(), timeout=5)
    with pytest.raises(ConnectRefusedError):
        async with connect(broker.settings("st-a", "followup-ingest-1", password=st_a)):
            pass
    async with connect(ingest) as w:
        assert w.session_present
        await w.subscribe([(f"$share/{group}/hk/v1/st/+/readings", 1)], timeout=5)
        got = []
        for _ in range(10):
            msg = await w.next_message(timeout=5)
            got.append(msg.payload.decode())
            w.ack(msg)
    assert sorted(got, key=int) == [str(n) for n in range(10)]


@pytest.mark.slow
def test_the_ingest_with_two_workers_stores_every_reading(
    broker: Generated, tmp_path: Path, notify: Notify
) -> None:
    """The accounts as deployed: two ``healthkiosk followup ingest`` workers, each its
    own account, and a station's readings all stored once."""
    accounts = tmp_path / "followup-accounts"  # what the administrator copies
    accounts.mkdir()
    for f in (broker.out / "credentials").iterdir():
        if f.name.startswith("followup-") or f.name == "ingest-group":
            shutil.copy(f, accounts / f.name)
    url = f"sqlite:///{tmp_path / 'f.sqlite'}"
    mqtt = {"host": "127.0.0.1", "port": broker.port, "reconnect_min_s": 0.1}
    cfg = write_config(
        tmp_path / "followup.toml",
        {
            "station": {"id": "followup-host", "data_dir": str(tmp_path / "fd")},
            "followup": {
                "database_url": url,
                "mqtt": mqtt,
                "mqtt_accounts_dir": str(accounts),
            },
            "logging": {"level": "INFO"},
        },
    )
    store = tmp_path / "st-b.sqlite"
    fill_store(store, 300)
    payloads = [
        encode(p.message) for p in Outbox(open_store(store), station_id="st-b").fetch_after(-1, 300)
    ]
    w1 = ("followup", "ingest", "--client-id", "followup-ingest-1")
    w2 = ("followup", "ingest", "--client-id", "followup-ingest-2")
    with (
        running(spawn(cfg, *w1, notify=notify, log=tmp_path / "w1.log")) as p1,
        running(spawn(cfg, *w2, log=tmp_path / "w2.log")) as p2,
    ):
        assert notify.wait_for("STATUS=connected", 15)

        async def publish() -> None:
            async with connect(broker.settings("st-b", "st-b")) as b:
                for p in payloads:
                    await b.publish("hk/v1/st/st-b/readings", p, timeout=5)

        assert wait_until(
            lambda: "ingest followup-ingest-2 connected" in _log(tmp_path / "w2.log"), 15
        )
        asyncio.run(publish())

        engine = make_engine(url)

        def stored() -> int:
            with Session(engine) as s:
                return int(s.scalar(select(func.count()).select_from(Reading)) or 0)

        assert wait_until(lambda: stored() == 300, 30), stored()
        engine.dispose()
        assert p1.poll() is None and p2.poll() is None
        assert stop(p1) == 0 and stop(p2) == 0
    log = _log(tmp_path / "w1.log") + _log(tmp_path / "w2.log")
    assert "dead" not in log.lower() and "refused" not in log.lower()


def _log(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else ""


# --- the files Mosquitto reads after dropping to its user ----------------------------------


@pytest.mark.skipif(os.geteuid() != 0, reason="starts Mosquitto as root (it drops to its user)")
def test_mosquitto_as_its_own_user_reads_the_generated_files() -> None:
    """Finding 9 (the broker's part): the generated password file was 0600 root, and
    Mosquitto, which drops to ``mosquitto`` before reading it, refused to start."""
    try:
        broker_user = pwd.getpwnam("mosquitto")
    except KeyError:
        pytest.fail("no mosquitto user: apt-get install mosquitto")
    # A directory the broker's user may enter (pytest's tmp_path is private to root).
    top = Path(tempfile.mkdtemp(prefix="hk-broker-"))
    top.chmod(0o755)
    try:
        g = generate(top / "broker", user=None)  # as generated: `user mosquitto`
        (top / "broker").chmod(0o755)
        g.start()
        try:

            async def login() -> None:
                async with connect(g.settings("st-a", "st-a")) as a:
                    await a.publish("hk/v1/st/st-a/readings", b"{}", timeout=5)

            asyncio.run(login())
            # A reload (SIGHUP) reads them again as the broker's user: still served.
            assert g.proc is not None
            g.proc.send_signal(signal.SIGHUP)
            time.sleep(1.0)
            asyncio.run(login())
            assert g.proc.poll() is None
        finally:
            g.stop()
        dynsec = g.out / "dynamic-security.json"
        st = dynsec.stat()
        assert (st.st_uid, st.st_gid) == (broker_user.pw_uid, broker_user.pw_gid)
        assert stat.S_IMODE(st.st_mode) == 0o640  # the hashes: nobody else
        assert (g.out / "persist").stat().st_uid == broker_user.pw_uid
        cred = g.out / "credentials"
        assert stat.S_IMODE(cred.stat().st_mode) == 0o700 and cred.stat().st_uid == 0
        log = (g.out / "broker.log").read_text(errors="replace")
        assert "Unable to open" not in log and "not readable" not in log, log
    finally:
        shutil.rmtree(top, ignore_errors=True)
