"""``healthkiosk demo``: the whole system on one machine, on embedded defaults.

It starts, as child processes under one :class:`~emulation.supervise.Supervisor`:

1. a broker on a free loopback port: Mosquitto when installed (its own
   configuration and persistence in the demo folder), otherwise the embedded
   demo broker ``healthkiosk broker embedded`` (:mod:`emulation.minibroker`:
   in memory, loopback only); ``--broker`` chooses;
2. the follow-up ingest worker and web app on SQLite, with a demo doctor
   account whose password is printed (and kept in the demo folder);
3. ``kiosk-sync`` (the station's MQTT link);
4. the kiosk on the devices' emulated twins (:class:`emulation.twins.Simulation`):
   a window (``healthkiosk run --simulate``), or with ``--headless`` the
   scripted visitor (:mod:`emulation.visitor`) that walks through a visit
   every little while.

Ctrl-C stops everything; children die with the demo even if it is killed.
"""

from __future__ import annotations

import fcntl
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from emulation.supervise import Child, Supervisor
from healthkiosk.atomicfile import write_atomic
from healthkiosk.errors import HealthKioskError

DEMO_STATION = "demo-station-01"
DEMO_DOCTOR = "doctor"


class DemoError(HealthKioskError):
    reason = "demo_failed"


def default_demo_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "healthkiosk-demo"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


BROKER_CHOICES = ("auto", "mosquitto", "embedded")


def find_mosquitto() -> str:
    for candidate in (shutil.which("mosquitto"), "/usr/sbin/mosquitto"):
        if candidate and Path(candidate).is_file():
            return candidate
    raise DemoError(
        "--broker mosquitto: Mosquitto is not installed (apt-get install mosquitto), "
        "or use --broker embedded"
    )


def broker_command(choice: str, layout: DemoLayout) -> tuple[str, list[str]]:
    """(description, command line) of the demo's broker: Mosquitto when asked
    for or installed, otherwise the embedded demo broker."""
    if choice not in BROKER_CHOICES:
        raise DemoError(f"unknown broker {choice!r}: one of {', '.join(BROKER_CHOICES)}")
    if choice == "mosquitto" or (choice == "auto" and _has_mosquitto()):
        conf = str(layout.root / "broker" / "mosquitto.conf")
        return "Mosquitto", [find_mosquitto(), "-c", conf]
    port = str(layout.broker_port)
    return (
        "embedded demo broker (Mosquitto not used: in memory, loopback only)",
        # --config only marks the process as this demo's (the broker reads no config).
        hk("--config", str(layout.config_path), "broker", "embedded", "--port", port),
    )


def _has_mosquitto() -> bool:
    try:
        find_mosquitto()
    except DemoError:
        return False
    return True


@dataclass(frozen=True)
class DemoLayout:
    root: Path
    broker_port: int
    web_port: int

    @property
    def config_path(self) -> Path:
        return self.root / "healthkiosk.toml"

    @property
    def logs(self) -> Path:
        return self.root / "logs"


def write_files(layout: DemoLayout) -> None:
    root = layout.root
    (root / "broker").mkdir(mode=0o700, parents=True, exist_ok=True)
    write_atomic(
        root / "broker" / "mosquitto.conf",
        f"# healthkiosk demo broker: loopback only, anonymous, persistent\n"
        f"listener {layout.broker_port} 127.0.0.1\n"
        f"allow_anonymous true\n"
        f"persistence true\n"
        f"persistence_location {root / 'broker'}/\n"
        f"log_dest stderr\n"
        f"log_type error\nlog_type warning\nlog_type notice\n",
        mode=0o600,
    )
    write_atomic(
        layout.config_path,
        f"""# healthkiosk demo configuration (written by `healthkiosk demo`)
[station]
id = "{DEMO_STATION}"
name = "Demo health station"
area = "Demo community"
data_dir = "{root / "station"}"

[mqtt]
host = "127.0.0.1"
port = {layout.broker_port}
receipt_timeout_s = 10
status_interval_s = 15

[devices]
simulate = true

# The real BLE driver code against the drivers' emulated peripherals.
[devices.blood_pressure]
driver = "ble-bp-standard"

[devices.glucose]
driver = "ble-glucose-standard"

[kiosk]
language = "zh_CN"

# Demo only: the guideline's 5-minute rest and 45 s pause (the defaults) made
# short so a visit takes a minute. A station keeps the defaults.
[rules.blood_pressure.protocol]
rest_s = 15
pause_s = 5

[followup]
database_url = "sqlite:///{root / "followup.sqlite"}"
listen_host = "127.0.0.1"
listen_port = {layout.web_port}
secret_key_file = "{root / "followup-secret.key"}"

[followup.mqtt]
host = "127.0.0.1"
port = {layout.broker_port}
""",
        mode=0o600,
    )


def hk(*args: str) -> list[str]:
    return [sys.executable, "-m", "healthkiosk", *args]


def ensure_doctor(layout: DemoLayout) -> str:
    """The demo doctor's password: made once, kept in the demo folder.

    The file is written before the account is made, so a first run stopped in
    between leaves a password that the next run makes the account with (and
    an account that exists always has its password in the file)."""
    pw_file = layout.root / "doctor-password.txt"
    if pw_file.is_file():
        password = pw_file.read_text(encoding="utf-8").strip()
    else:
        password = secrets.token_urlsafe(9)
        write_atomic(pw_file, password + "\n", mode=0o600)
    proc = subprocess.run(
        hk("--config", str(layout.config_path), "followup", "user", "add", DEMO_DOCTOR,
           "--role", "doctor", "--display-name", "Demo doctor", "--password-stdin"),
        input=password + "\n", capture_output=True, text=True, check=False,
    )  # fmt: skip
    if proc.returncode != 0 and f"user {DEMO_DOCTOR!r} exists" not in proc.stderr:
        raise DemoError(f"could not create the demo doctor: {proc.stderr.strip()}")
    return password


def _interrupt(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def hold_demo_lock(root: Path) -> int:
    """One demo per folder: a second one would share its ports' files and
    database. Returns the locked descriptor (released when the process ends)."""
    fd = os.open(root / "demo.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise DemoError(
            f"another demo is running from {root}: stop it (Ctrl-C) first, "
            "or give this one its own folder with --data-dir"
        ) from None
    return fd


def wait_port(port: int, *, timeout_s: float, sup: Supervisor) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
        for child in sup.children:
            if not child.running():
                raise DemoError(f"{child.name} stopped while starting: see {child.log_path}")
    raise DemoError(f"the broker did not listen on port {port} within {timeout_s:.0f} s")


def wait_http(url: str, *, timeout_s: float, sup: Supervisor) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):  # noqa: S310 - loopback URL we built
                return
        except urllib.error.HTTPError:
            return  # it answers
        except OSError:
            time.sleep(0.3)
        for child in sup.children:
            if not child.running():
                raise DemoError(f"{child.name} stopped while starting: see {child.log_path}")
    raise DemoError(f"the web app did not answer at {url} within {timeout_s:.0f} s")


def run_demo(
    *, root: Path, headless: bool, web_port: int | None = None, broker: str = "auto"
) -> int:
    root = root.expanduser().resolve()
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    # Ctrl-C stops everything, also when a script started us in the background
    # (a shell without job control starts those with SIGINT ignored); SIGTERM
    # (a service manager, `kill`) stops as cleanly as Ctrl-C.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _interrupt)
    lock_fd = hold_demo_lock(root)
    try:
        return _run_demo(root, headless=headless, web_port=web_port, broker=broker)
    finally:
        os.close(lock_fd)


def _run_demo(root: Path, *, headless: bool, web_port: int | None, broker: str) -> int:
    layout = DemoLayout(root=root, broker_port=free_port(), web_port=web_port or free_port())
    broker_name, broker_cmd = broker_command(broker, layout)
    write_files(layout)
    cfg = ["--config", str(layout.config_path)]
    password = ensure_doctor(layout)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with Supervisor() as sup:
        print(f"broker: {broker_name} on 127.0.0.1:{layout.broker_port}", flush=True)
        sup.start(Child("broker", broker_cmd, layout.logs / "broker.log", env))
        wait_port(layout.broker_port, timeout_s=15, sup=sup)
        sup.start(Child("ingest", hk(*cfg, "followup", "ingest"), layout.logs / "ingest.log", env))
        sup.start(Child("web", hk(*cfg, "followup", "serve"), layout.logs / "web.log", env))
        sup.start(Child("kiosk-sync", hk(*cfg, "sync", "run"), layout.logs / "sync.log", env))
        url = f"http://127.0.0.1:{layout.web_port}/"
        wait_http(url + "login", timeout_s=60, sup=sup)
        # Headless: the kiosk's visit flow driven by a scripted visitor, no window.
        kiosk = (
            [sys.executable, "-m", "emulation.visitor", *cfg]
            if headless
            else hk(*cfg, "run", "--simulate", "--window")
        )
        sup.start(Child("kiosk", kiosk, layout.logs / "kiosk.log", env))
        print(
            f"\nhealthkiosk demo is running (data in {root})\n"
            f"  follow-up list:  {url}\n"
            f"  doctor login:    {DEMO_DOCTOR} / {password}\n"
            f"  broker:          {broker_name}\n"
            f"  kiosk:           {'scripted visits, no window' if headless else 'the window'}\n"
            f"  logs:            {layout.logs}/\n"
            f"Ctrl-C stops everything.\n",
            flush=True,
        )
        try:
            stopped = sup.watch()
        except KeyboardInterrupt:
            print("\nstopping ...", flush=True)
            return 0
        if stopped == "kiosk" and not headless:
            print("the kiosk window was closed: stopping the demo", flush=True)
            return 0
        raise DemoError(f"{stopped} stopped unexpectedly: see {layout.logs}/{stopped}.log")
