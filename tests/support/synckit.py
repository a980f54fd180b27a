"""Test kit for the sync tests: real Mosquitto, a throwaway CA, PostgreSQL,
bulk readings in a kiosk store, and the CLI processes as real subprocesses."""

from __future__ import annotations

import base64
import contextlib
import getpass
import hashlib
import ipaddress
import json
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid as uuidlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import insert, select

from healthkiosk.admin.brokerconf import Deployment, StationEntry, write_deployment
from healthkiosk.idnumber import check_character
from sync.schema import ReadingBatch, ReadingMessage, decode
from sync.store.db import open_store
from sync.store.models import OutboxEntry, Reading, Resident

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.02)
    raise TimeoutError(f"nothing listens on {port}")


# --- a throwaway CA ---------------------------------------------------------------


@dataclass(frozen=True)
class Tls:
    ca: Path
    cert: Path
    key: Path


def make_tls(directory: Path) -> Tls:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    directory.mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC)

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(name("healthkiosk test CA"))
        .issuer_name(name("healthkiosk test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name("localhost"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    tls = Tls(ca=directory / "ca.pem", cert=directory / "server.pem", key=directory / "server.key")
    tls.ca.write_bytes(ca.public_bytes(pem))
    tls.cert.write_bytes(cert.public_bytes(pem))
    tls.key.write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return tls


# --- Mosquitto ------------------------------------------------------------------------


GATEWAY = "sms-gateway"
"""The tests' brokers' gateway account (reads the urgent-reading alerts only)."""
OBSERVER = "followup"
"""A test-only account on the tests' brokers (never in a real deployment): may read
and publish anything, under any client id, so a test can watch and inject."""


def add_observer(dynsec: Path, password: str, name: str = OBSERVER) -> None:
    """Add the test-only observer account to a generated dynamic-security file."""
    data = json.loads(dynsec.read_text())
    salt = os.urandom(12)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, 101)
    data["clients"].append(
        {
            "username": name,
            "password": base64.b64encode(digest).decode(),
            "salt": base64.b64encode(salt).decode(),
            "iterations": 101,
            "roles": [{"rolename": "test-observer"}],
        }
    )
    acls = [
        {"acltype": t, "topic": "#", "priority": 0, "allow": True}
        for t in ("publishClientSend", "publishClientReceive", "subscribePattern")
    ]
    acls.append({"acltype": "subscribePattern", "topic": "$share/#", "priority": 0, "allow": True})
    data["roles"].append({"rolename": "test-observer", "acls": acls})
    dynsec.write_text(json.dumps(data))


@dataclass
class Mosquitto:
    """A Mosquitto of our own: the generated config (dynamic-security accounts bound
    to their client ids), free ports, own persistence, running as the tests' user,
    plus the test-only :data:`OBSERVER` account (``observer=False``: the deployment
    exactly as generated)."""

    directory: Path
    stations: list[str]
    tls: Tls | None = None
    port: int = field(default_factory=free_port)
    tls_port: int | None = None
    proc: subprocess.Popen[bytes] | None = None
    persistence: bool = True
    observer: bool = True
    group: str = "g1"
    """Every station's group (a station subscribes to its group's topics only)."""
    ingest_workers: int = 2
    """Accounts followup-ingest-1 .. -N."""

    def __post_init__(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        if self.tls is not None and self.tls_port is None:
            self.tls_port = free_port()
        self.log = self.directory / "mosquitto.log"
        self._write(persistence=True)

    @property
    def credentials(self) -> Path:
        """The generated credentials: ``[followup] mqtt_accounts_dir`` of the doctor's side."""
        return self.directory / "credentials"

    def _write(self, *, persistence: bool) -> None:
        pdir = self.directory / "persist"
        pdir.mkdir(exist_ok=True)
        d = Deployment(
            stations=[StationEntry(s, self.group) for s in self.stations],
            tls_port=self.tls_port,
            tls_bind="127.0.0.1",
            tls_cert=self.tls.cert if self.tls else None,
            tls_key=self.tls.key if self.tls else None,
            tls_ca=self.tls.ca if self.tls else None,
            plain_port=self.port,
            persistence_dir=pdir,
            log_dest=f"file {self.log}",
            broker_user=getpass.getuser(),
            gateways=[GATEWAY],
            ingest_workers=self.ingest_workers,
        )
        w = write_deployment(d, self.directory)
        if self.observer:
            pw = self.credentials / f"{OBSERVER}.password"
            if not pw.exists():
                pw.write_text(secrets.token_urlsafe(24) + "\n")
            add_observer(w.dynsec, pw.read_text().strip())
        self.conf = w.conf
        self.ingest_group = w.ingest_group
        if not persistence:
            body = self.conf.read_text().replace("persistence true", "persistence false")
            self.conf.write_text(body)
        self.persistence = persistence

    def password(self, user: str) -> str:
        return (self.directory / "credentials" / f"{user}.password").read_text().strip()

    def password_file(self, user: str) -> Path:
        return self.directory / "credentials" / f"{user}.password"

    def start(self, *, persistence: bool | None = None) -> None:
        if persistence is not None and persistence != self.persistence:
            self._write(persistence=persistence)
        if not self.persistence:
            shutil.rmtree(self.directory / "persist", ignore_errors=True)
            (self.directory / "persist").mkdir()
        self.proc = subprocess.Popen(
            ["mosquitto", "-c", str(self.conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_port(self.port)
        if self.tls_port:
            wait_port(self.tls_port)

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)
            self.proc = None

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
            self.proc = None

    def connections(self, client_id: str) -> int:
        """How many times ``client_id`` connected (from the broker's log)."""
        try:
            body = self.log.read_text(errors="replace")
        except FileNotFoundError:
            return 0
        return sum(
            1
            for ln in body.splitlines()
            if "New client connected" in ln and f" as {client_id} " in ln
        )


# --- PostgreSQL -------------------------------------------------------------------------


class PgCluster:
    """A throwaway PostgreSQL cluster from Debian's binaries, as an unprivileged user."""

    def __init__(self) -> None:
        bins = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
        if not bins:
            raise RuntimeError(
                "PostgreSQL binaries not found: apt-get install postgresql "
                "(or set HEALTHKIOSK_TEST_POSTGRES_URL)"
            )
        self.bin = bins[-1].parent
        self.dir = Path(tempfile.mkdtemp(prefix="hk-pg-"))
        self.port = free_port()
        self.user_prefix: list[str] = []
        if os.geteuid() == 0:
            self.user_prefix = [
                "setpriv",
                "--reuid=nobody",
                "--regid=nogroup",
                "--clear-groups",
                "--",
            ]
            shutil.chown(self.dir, "nobody", "nogroup")
        self.data = self.dir / "data"

    def _run(self, *args: str) -> None:
        subprocess.run(
            [*self.user_prefix, *args],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            cwd=self.dir,
            env={**os.environ, "HOME": str(self.dir)},
        )

    def start(self) -> str:
        self._run(
            str(self.bin / "initdb"),
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
        )
        self._run(
            str(self.bin / "pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.dir / "log"),
            "-w",
            "-o",
            f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off",
            "start",
        )
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop")
        shutil.rmtree(self.dir, ignore_errors=True)


def _admin_execute(admin_url: str, statement: str) -> None:
    import psycopg
    from sqlalchemy.engine import make_url

    u = make_url(admin_url)
    with psycopg.connect(
        host=u.host,
        port=u.port,
        user=u.username,
        password=u.password,
        dbname=u.database or "postgres",
        autocommit=True,
    ) as conn:
        conn.execute(statement)  # type: ignore[arg-type]


def create_database(admin_url: str, name: str) -> str:
    from sqlalchemy.engine import make_url

    _admin_execute(admin_url, f'CREATE DATABASE "{name}"')
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def drop_database(admin_url: str, name: str) -> None:
    """Drop a database made by :func:`create_database`, its sessions too (PG 13+)."""
    _admin_execute(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# --- kiosk store with readings --------------------------------------------------------------


class Broker(Protocol):
    """What a configuration needs of a test broker (Mosquitto, the embedded one)."""

    port: int

    def password_file(self, user: str) -> Path: ...


def mqtt_section(broker: Broker, user: str) -> dict[str, Any]:
    """A configuration's ``[mqtt]`` for ``user`` on ``broker`` (quick reconnects)."""
    return {
        "host": "127.0.0.1",
        "port": broker.port,
        "keepalive_s": 5,
        "reconnect_min_s": 0.1,
        "reconnect_max_s": 1.0,
        "username": user,
        "password_file": str(broker.password_file(user)),
    }


def followup_section(broker: Mosquitto, database_url: str | None = None) -> dict[str, Any]:
    """A configuration's ``[followup]`` on ``broker``: each doctor-side process signs in
    with its own generated account (``mqtt_accounts_dir``), as in a deployment."""
    mqtt = mqtt_section(broker, OBSERVER)
    del mqtt["username"], mqtt["password_file"]
    out: dict[str, Any] = {"mqtt": mqtt, "mqtt_accounts_dir": str(broker.credentials)}
    if database_url is not None:
        out["database_url"] = database_url
    return out


def id_number(i: int) -> str:
    first17 = f"110105{1940 + i % 40:04d}{1 + i % 12:02d}{1 + i % 28:02d}{i % 1000:03d}"
    return first17 + check_character(first17)


def fill_store(path: Path, n: int, *, seed: int = 1, start_seq: int = 0) -> list[str]:
    """Bulk-insert ``n`` readings with their outbox rows; returns their UUIDs."""
    rng = random.Random(seed)
    sessions = open_store(path)
    now = datetime.now(UTC)
    with sessions.begin() as s:
        existing = s.scalar(select(Resident.id).limit(1))
        if existing is None:
            s.execute(
                insert(Resident),
                [
                    {
                        "id": i + 1,
                        "id_hash": f"{i:064x}",
                        "id_number": id_number(i),
                        "id_masked": "masked",
                        "name": f"居民{i}",
                        "sex": "female" if i % 2 else "male",
                        "birth_date": date(1940 + i % 40, 1 + i % 12, 1 + i % 28),
                        "first_seen": now,
                        "last_seen": now,
                    }
                    for i in range(50)
                ],
            )
        readings, outbox = [], []
        uuids = []
        for k in range(n):
            u = str(uuidlib.UUID(int=rng.getrandbits(128), version=4))
            uuids.append(u)
            at = now - timedelta(days=30) + timedelta(seconds=k * 10 + rng.random())
            bp = k % 3 != 2
            base: dict[str, Any] = {
                "uuid": u,
                "station_seq": start_seq + k,
                "resident_id": 1 + rng.randrange(50),
                "visit_id": None,
                "kind": "blood_pressure" if bp else "glucose",
                "measured_at": at,
                "device_time": at - timedelta(seconds=rng.randrange(0, 3600)) if k % 2 else None,
                "systolic_mmhg": rng.randrange(90, 200) if bp else None,
                "diastolic_mmhg": rng.randrange(50, 120) if bp else None,
                "mean_arterial_mmhg": rng.randrange(60, 140) if bp else None,
                "pulse_bpm": rng.randrange(50, 120) if bp else None,
                "irregular_pulse": bp and rng.random() < 0.1,
                "measurements": (
                    [
                        {
                            "systolic": 130 + j,
                            "diastolic": 80 + j,
                            "pulse": 70,
                            "measured_at": (at - timedelta(seconds=60 * j)).isoformat(),
                        }
                        for j in range(2)
                    ]
                    if bp
                    else None
                ),
                "glucose_mmol_per_l": None if bp else round(rng.uniform(3, 20), 1),
                "meal_context": None if bp else rng.choice(["fasting", "after_meal", "random"]),
                "original_value": None,
                "original_unit": None if bp else "mmol/L",
                "out_of_range": None,
                "device_model": "Omron HEM-7155T" if bp else "Sinocare GA-3",
                "device_manufacturer": "test",
                "device_serial": f"SN{k % 7}",
                "device_firmware": "1.0",
                "device_transport": "emulated",
                "category": rng.choice(["normal", "high_normal", "grade_1"]) if bp else "normal",
                "urgent": rng.random() < 0.05,
                "isolated_systolic": False if bp else None,
                "close_to_limit": False,
                "rule": None,
                "software_version": "0.1.0",
                "created_at": at,
            }
            readings.append(base)
            outbox.append({"reading_uuid": u, "enqueued_at": at, "attempts": 0})
        for i in range(0, n, 2000):
            s.execute(insert(Reading), readings[i : i + 2000])
            s.execute(insert(OutboxEntry), outbox[i : i + 2000])
    sessions.kw["bind"].dispose()
    return uuids


def outbox_counts(path: Path) -> tuple[int, int, int]:
    """(undelivered, delivered, rejected), read with plain sqlite3 (cheap to poll)."""
    import sqlite3

    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)) as c:
        und, dlv, rej = c.execute(
            "SELECT sum(delivered_at IS NULL AND rejected_at IS NULL),"
            " sum(delivered_at IS NOT NULL), sum(rejected_at IS NOT NULL) FROM outbox"
        ).fetchone()
    return int(und or 0), int(dlv or 0), int(rej or 0)


def integrity_ok(path: Path) -> bool:
    import sqlite3

    with contextlib.closing(sqlite3.connect(path)) as c:
        return bool(c.execute("PRAGMA integrity_check").fetchone()[0] == "ok")


# --- configuration files and processes --------------------------------------------------------


def write_config(path: Path, data: dict[str, Any]) -> Path:
    def val(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, int | float):
            return repr(v)
        if isinstance(v, list):
            return "[" + ", ".join(val(x) for x in v) + "]"
        return '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'

    lines: list[str] = []

    def section(prefix: str, d: dict[str, Any]) -> None:
        scalars = {k: v for k, v in d.items() if not isinstance(v, dict)}
        tables = {k: v for k, v in d.items() if isinstance(v, dict)}
        if prefix:
            lines.append(f"[{prefix}]")
        lines.extend(f"{k} = {val(v)}" for k, v in scalars.items())
        for k, v in tables.items():
            section(f"{prefix}.{k}" if prefix else k, v)

    section("", data)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


class Notify:
    """A NOTIFY_SOCKET the child processes report to (READY, STATUS=connected)."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / f"notify-{uuidlib.uuid4().hex[:8]}.sock"
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(self.path))
        self.sock.setblocking(False)

    def drain(self) -> list[str]:
        out = []
        while True:
            try:
                out.append(self.sock.recv(4096).decode())
            except BlockingIOError:
                return out

    def wait_for(self, needle: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(needle in m for m in self.drain()):
                return True
            time.sleep(0.005)
        return False

    def close(self) -> None:
        self.sock.close()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


def spawn(
    config: Path, *args: str, notify: Notify | None = None, log: Path | None = None
) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "WATCHDOG_USEC")}
    if notify is not None:
        env["NOTIFY_SOCKET"] = str(notify.path)
    out = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115
    try:
        return subprocess.Popen(
            [sys.executable, "-m", "healthkiosk", "--config", str(config), *args],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=out if log else subprocess.DEVNULL,
        )
    finally:
        if log:
            out.close()  # type: ignore[union-attr]


def stop(proc: subprocess.Popen[bytes], *, kill: bool = False, timeout: float = 10.0) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)
        raise


@contextlib.contextmanager
def running(proc: subprocess.Popen[bytes]) -> Iterator[subprocess.Popen[bytes]]:
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def decode_readings(payload: bytes | str) -> list[ReadingMessage]:
    """What a broker subscriber saw on a readings topic: a reading or a batch, as a list."""
    msg = decode(payload)
    if isinstance(msg, ReadingMessage):
        return [msg]
    assert isinstance(msg, ReadingBatch), msg
    return list(msg.readings)
