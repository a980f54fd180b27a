"""Test releases: tiny real wheels, a stand-in app that reports health, a fake restart.

The stand-in app (``hkfakeapp``) plays the kiosk's part in an update: started
from ``<root>/current/bin/python``, it imports its dependency (``hkfakedep``,
proving the bundle's dependencies were installed), then reports ``starting``
and ``ready`` through the real :mod:`healthkiosk.health` (imported from this
repository). Its ``MODE`` decides how it behaves: ``good``, ``crash`` (dies
before READY), ``hang`` (never READY) or ``die_in_window`` (READY, then dies).

The fake restart command stands in for ``systemctl restart kiosk``: it stops
the running app (pid file) and starts the one ``current`` points to.
"""

from __future__ import annotations

import base64
import hashlib
import os
import signal
import sys
import time
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from healthkiosk.admin.release.bundle import BUNDLE_INFO
from healthkiosk.admin.release.signing import sign_bundle

REPO = Path(__file__).resolve().parents[2]
APP = "hkfakeapp"
DEP = "hkfakedep"


def make_wheel(
    directory: Path,
    name: str,
    version: str,
    files: dict[str, str],
    *,
    requires: tuple[str, ...] = (),
) -> Path:
    """A valid pure-Python wheel written directly (no build backend needed)."""
    dist = f"{name}-{version}.dist-info"
    metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    metadata += "".join(f"Requires-Dist: {r}\n" for r in requires)
    wheel_meta = "Wheel-Version: 1.0\nGenerator: healthkiosk-tests\nRoot-Is-Purelib: true\n"
    wheel_meta += "Tag: py3-none-any\n"
    content = {**files, f"{dist}/METADATA": metadata, f"{dist}/WHEEL": wheel_meta}
    record = []
    for path, text in content.items():
        data = text.encode()
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(data)}")
    record.append(f"{dist}/RECORD,,")
    content[f"{dist}/RECORD"] = "\n".join(record) + "\n"
    directory.mkdir(parents=True, exist_ok=True)
    out = directory / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for path, text in content.items():
            zf.writestr(zipfile.ZipInfo(path, date_time=(2024, 1, 1, 0, 0, 0)), text)
    return out


APP_MAIN = """\
import os, sys, time
sys.path.append(os.environ["HK_REPO"])
import hkfakedep
from healthkiosk import health

MODE = {mode!r}
UNIT = os.environ.get("HK_UNIT", "kiosk")
assert hkfakedep.ANSWER == 42
health.report("starting", unit=UNIT)
time.sleep(0.2)
if MODE == "crash":
    sys.exit(3)
if MODE != "hang":
    health.report("ready", unit=UNIT)
if MODE == "die_in_window":
    time.sleep(0.8)
    sys.exit(4)
while True:
    time.sleep(1)
"""


def bundle(
    out: Path,
    *,
    version: str,
    mode: str = "good",
    padding: int = 0,
) -> Path:
    """An unsigned bundle of the stand-in app ``version`` plus its dependency."""
    wheels = out / "wheels"
    files = {
        f"{APP}/__init__.py": f"VERSION = {version!r}\n",
        f"{APP}/__main__.py": APP_MAIN.format(mode=mode),
    }
    if padding:
        # Deterministic, incompressible-ish payload to make downloads take a while.
        blob = base64.b64encode(hashlib.shake_256(version.encode()).digest(padding)).decode()
        files[f"{APP}/padding.txt"] = blob
    make_wheel(wheels, APP, version, files, requires=(DEP,))
    make_wheel(wheels, DEP, "1.0", {f"{DEP}/__init__.py": "ANSWER = 42\n"})
    (out / BUNDLE_INFO).write_text(
        f'{{"name": "{APP}", "version": "{version}", "requirement": "{APP}=={version}"}}\n'
    )
    return out


def signed_bundle(
    out: Path,
    *,
    key: Path,
    release: int,
    version: str,
    mode: str = "good",
    expires_in: timedelta = timedelta(days=30),
    rollback: bool = False,
    now: datetime | None = None,
    padding: int = 0,
) -> Path:
    bundle(out, version=version, mode=mode, padding=padding)
    sign_bundle(
        out,
        key_path=key,
        release=release,
        expires_in=expires_in,
        rollback=rollback,
        now=now or datetime.now(UTC),
    )
    return out


RESTART_SCRIPT = """\
import os, signal, subprocess, sys, time
root = os.environ["HEALTHKIOSK_ROOT"]
pidfile = os.path.join(root, "app.pid")
try:
    old = int(open(pidfile).read())
    os.kill(old, signal.SIGTERM)
    for _ in range(50):
        os.kill(old, 0)
        time.sleep(0.02)
except (FileNotFoundError, ValueError, ProcessLookupError):
    pass
log = open(os.path.join(root, "app.log"), "ab")
proc = subprocess.Popen(
    [os.path.join(root, "current", "bin", "python"), "-m", "hkfakeapp"],
    stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True,
)
open(pidfile, "w").write(str(proc.pid))
"""


@dataclass
class Station:
    """One station's directories and configuration, for in-process and CLI tests."""

    root: Path
    data: Path
    pubkey: Path
    restart: Path

    @property
    def health(self) -> Path:
        return self.data / "health"

    @property
    def visit_lock(self) -> Path:
        return self.data / "visit.lock"

    def env(self) -> dict[str, str]:
        return {**os.environ, "HK_REPO": str(REPO)}

    def config_toml(
        self, *, server: str = "", window: float = 1.0, ready: float = 5.0, deadline: float = 60
    ) -> str:
        return (
            f'[station]\ndata_dir = "{self.data}"\n\n[update]\nroot = "{self.root}"\n'
            'name = "hkfakeapp"\n'
            f'server_url = "{server}"\ntrusted_keys = ["{self.pubkey}"]\n'
            f'restart_command = ["{sys.executable}", "{self.restart}"]\n'
            f'health_units = ["kiosk"]\nready_timeout_s = {ready}\n'
            f"stability_window_s = {window}\ndownload_deadline_s = {deadline}\n"
            "read_timeout_s = 5.0\n"
        )

    def stop_app(self) -> None:
        try:
            pid = int((self.root / "app.pid").read_text())
            os.kill(pid, signal.SIGKILL)
        except (FileNotFoundError, ValueError, ProcessLookupError):
            pass

    def app_pid(self) -> int:
        return int((self.root / "app.pid").read_text())

    def current(self) -> str | None:
        link = self.root / "current"
        return os.readlink(link) if link.is_symlink() else None

    def current_runs(self) -> str:
        """Run the installed ``current`` release's code: its version, or raise."""
        import subprocess

        out = subprocess.run(
            [str(self.root / "current" / "bin" / "python"), "-c",
             "import hkfakeapp, hkfakedep; print(hkfakeapp.VERSION)"],
            capture_output=True, text=True, timeout=30, check=True,
        )  # fmt: skip
        return out.stdout.strip()


def wait_for(predicate: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError("condition not reached in time")
