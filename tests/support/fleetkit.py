"""Kit for the fleet end-to-end tests: stations as separate processes on a real broker.

Each station has its own directories (``<base>/opt`` for the updater's root,
``<base>/data`` for the data directory) and runs two processes: the stand-in
kiosk app of :mod:`tests.support.updater_fakes` (started from ``opt/current``) and
the real ``healthkiosk sync run`` (``kiosk-sync``) with its update-order
service. The only fake is the restart boundary: :data:`FLEET_RESTART` stands
in for ``systemctl restart kiosk-sync.service kiosk.service`` and restarts
both processes, so a report after the restart comes from a new ``kiosk-sync``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from healthkiosk.mqtt import MqttSettings, connect
from sync.schema import UpdateReport, decode
from tests.support.updater_fakes import REPO, Station

FLEET_RESTART = """\
import os, signal, subprocess, sys, time
root = os.environ["HEALTHKIOSK_ROOT"]
base = os.path.dirname(root)

def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, IndexError):
        return False

def restart(pidfile, argv, log):
    try:
        old = int(open(pidfile).read())
        os.kill(old, signal.SIGTERM)
        for _ in range(250):
            if not alive(old):
                break
            time.sleep(0.02)
        else:
            os.kill(old, signal.SIGKILL)
    except (FileNotFoundError, ValueError, ProcessLookupError):
        pass
    out = open(log, "ab")
    env = {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "WATCHDOG_USEC")}
    proc = subprocess.Popen(argv, stdout=out, stderr=out, stdin=subprocess.DEVNULL,
                            start_new_session=True, cwd=os.environ["HK_REPO"], env=env)
    open(pidfile, "w").write(str(proc.pid))

# systemctl restart kiosk-sync.service kiosk.service
restart(os.path.join(root, "sync.pid"),
        [sys.executable, "-m", "healthkiosk", "--config", os.path.join(base, "station.toml"),
         "sync", "run"],
        os.path.join(base, "sync.log"))
restart(os.path.join(root, "app.pid"),
        [os.path.join(root, "current", "bin", "python"), "-m", "hkfakeapp"],
        os.path.join(root, "app.log"))
"""


def toml_value(v: object) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, list):
        return json.dumps([str(x) for x in v])
    return json.dumps(str(v))


def write_toml(path: Path, tables: dict[str, dict[str, object]]) -> Path:
    lines: list[str] = []
    for name, values in tables.items():
        lines.append(f"[{name}]")
        lines.extend(f"{k} = {toml_value(v)}" for k, v in values.items())
        lines.append("")
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def pid_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


@dataclass
class FleetStation(Station):
    id: str = ""
    base: Path = field(default_factory=Path)

    @property
    def config(self) -> Path:
        return self.base / "station.toml"

    @property
    def store(self) -> Path:
        return self.data / "kiosk.sqlite"

    def sync_pid(self) -> int:
        return int((self.root / "sync.pid").read_text())

    def stop_all(self) -> None:
        for name in ("sync.pid", "app.pid"):
            with contextlib.suppress(FileNotFoundError, ValueError, ProcessLookupError):
                os.kill(int((self.root / name).read_text()), signal.SIGKILL)
        # A runner started by kiosk-sync (its own session) may still be at work.
        for pid in runner_pids(self.config):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def log_tail(self) -> str:
        parts = []
        for p in (self.base / "sync.log", self.data / "update-runner.log", self.root / "app.log"):
            with contextlib.suppress(FileNotFoundError):
                parts.append(f"--- {p}\n{p.read_text(errors='replace')[-3000:]}")
        return "\n".join(parts)


def runner_pids(config: Path) -> list[int]:
    out = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            cmd = (proc / "cmdline").read_bytes().split(b"\0")
            if str(config).encode() in cmd and b"run-order" in cmd:
                out.append(int(proc.name))
    return out


def make_station(
    base: Path,
    station_id: str,
    *,
    broker_port: int,
    password_file: Path,
    pubkey: Path,
    window: float = 1.0,
) -> FleetStation:
    base.mkdir(parents=True)
    restart = base / "fleet_restart.py"
    restart.write_text(FLEET_RESTART)
    st = FleetStation(
        root=base / "opt", data=base / "data", pubkey=pubkey, restart=restart,
        id=station_id, base=base,
    )  # fmt: skip
    st.root.mkdir()
    st.data.mkdir()
    write_toml(
        st.config,
        {
            "station": {"id": station_id, "group": "g1", "data_dir": str(st.data)},
            "mqtt": {
                "host": "127.0.0.1",
                "port": broker_port,
                "username": station_id,
                "password_file": str(password_file),
                "keepalive_s": 5,
                "receipt_timeout_s": 2.0,
                "reconnect_min_s": 0.1,
                "reconnect_max_s": 1.0,
                "poll_interval_s": 0.2,
            },
            "update": {
                "root": str(st.root),
                "name": "hkfakeapp",
                "trusted_keys": [str(pubkey)],
                "restart_command": [sys.executable, str(restart)],
                "health_units": ["kiosk"],
                "ready_timeout_s": 10.0,
                "stability_window_s": window,
                "download_deadline_s": 60.0,
                "read_timeout_s": 5.0,
                "order_command": [
                    sys.executable,
                    "-m",
                    "healthkiosk",
                    "--config",
                    str(st.config),
                    "admin",
                    "update",
                    "run-order",
                ],
            },
            "logging": {"level": "INFO"},
        },
    )
    return st


class ReportLog:
    """Every ``hk.update-report/1`` on the broker, in arrival order (a thread of its own)."""

    def __init__(self, port: int, password_file: Path) -> None:
        self.settings = MqttSettings(
            host="127.0.0.1",
            port=port,
            client_id=f"test-observer-{uuid.uuid4().hex[:8]}",
            username="followup",
            password=password_file.read_text().strip(),
            clean_start=True,
            session_expiry_s=0,
        )
        self.reports: list[UpdateReport] = []
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._thread = threading.Thread(target=self._main, daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise TimeoutError("report observer did not connect")

    def _main(self) -> None:
        async def run() -> None:
            self._loop = asyncio.get_running_loop()
            self._task = asyncio.current_task()
            async with connect(self.settings) as conn:
                await conn.subscribe([("hk/v1/st/+/update-report", 1)], timeout=10)
                self._ready.set()
                async for msg in conn.messages():
                    if msg.payload and not msg.retain:
                        rep = decode(msg.payload)
                        if isinstance(rep, UpdateReport):
                            with self._lock:
                                self.reports.append(rep)
                    conn.ack(msg)

        with contextlib.suppress(asyncio.CancelledError):
            asyncio.run(run())

    def of(self, station: str, rollout_id: str | None = None) -> list[UpdateReport]:
        with self._lock:
            return [
                r
                for r in self.reports
                if r.station_id == station and (rollout_id is None or r.rollout_id == rollout_id)
            ]

    def final(self, station: str, rollout_id: str) -> UpdateReport | None:
        finals = [
            r for r in self.of(station, rollout_id) if r.outcome not in ("waiting", "in_progress")
        ]
        return finals[-1] if finals else None

    def close(self) -> None:
        if self._loop is not None and self._task is not None:
            self._loop.call_soon_threadsafe(self._task.cancel)
        self._thread.join(10)


def wait_until(predicate: Callable[[], object], timeout: float, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"not reached in {timeout:g} s: {what}")


__all__ = ["REPO", "FleetStation", "ReportLog", "make_station", "wait_until", "write_toml"]


def publish_retained(port: int, password_file: Path, where: str, payload: bytes) -> None:
    """Publish one retained message as the follow-up side (its credentials)."""

    settings = MqttSettings(
        host="127.0.0.1", port=port, client_id=f"test-admin-{uuid.uuid4().hex[:8]}",
        username="followup", password=password_file.read_text().strip(),
        clean_start=True, session_expiry_s=0,
    )  # fmt: skip

    async def run() -> None:
        async with connect(settings) as conn:
            await conn.publish(where, payload, qos=1, retain=True, timeout=10)

    asyncio.run(run())
