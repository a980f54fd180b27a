"""A real systemd user manager of the tests' own, on a machine where systemd is not PID 1.

``systemd --user`` runs anywhere as long as three things hold, and the launch
script below arranges them in a private mount namespace (``unshare --mount``),
so nothing outside it changes:

- ``/run/systemd/system`` exists (``sd_booted()``; without it systemd says
  "Trying to run as user instance, but the system has not been booted with
  systemd." and exits): a tmpfs on ``/run/systemd`` inside the namespace has it.
- a cgroup v2 tree it may write to. On a host with the hybrid layout (v1
  controllers, v2 at ``/sys/fs/cgroup/unified``) systemd would otherwise take
  the name=systemd v1 hierarchy and *the v1 controllers*, and a manager whose
  cgroup is the root moves every process of the machine into its
  ``init.scope``. So the namespace gets the v2 hierarchy mounted at
  ``/sys/fs/cgroup`` (v2 has no controllers here: they are bound to v1, so no
  process's limits or accounting change), and the manager starts in a new
  child of the launcher's own v2 cgroup, which it alone manages.
- ``$XDG_RUNTIME_DIR`` (a temporary directory): ``systemctl --user`` reaches the
  manager through its private socket ``$XDG_RUNTIME_DIR/systemd/private``,
  no D-Bus needed.

The manager logs to the journal protocol; ``/run/systemd/journal/socket`` in
the namespace is a link to a datagram socket this class reads, so the
manager's own words ("Watchdog timeout") are at hand. Units go in
``$XDG_CONFIG_HOME/systemd/user``; the manager starts ``hk-test.target``
(no dependencies) instead of ``default.target``, so nothing else of the host's
user units runs. When the manager exits, the launcher kills whatever is left
in its cgroup (``cgroup.kill``) and removes the cgroups.

Needs root (a mount namespace, a cgroup directory). Where the manager cannot
start, :meth:`UserManager.start` raises :class:`ManagerUnavailable` with the
reason.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time
from pathlib import Path

SYSTEMD_BINARIES = ("/lib/systemd/systemd", "/usr/lib/systemd/systemd")
TARGET = "hk-test.target"

# Runs as root in a new mount namespace. $HK_* come from the environment.
LAUNCH = r"""
set -eu
mkdir -p /run/systemd
mount -t tmpfs -o mode=0755 hk-systemd /run/systemd
mkdir -p /run/systemd/system /run/systemd/journal
ln -s "$HK_JOURNAL" /run/systemd/journal/socket
if [ "$(stat -f -c %T /sys/fs/cgroup)" != cgroup2fs ]; then
    mount -t cgroup2 hk-cgroup2 /sys/fs/cgroup
fi
home=$(sed -n 's/^0:://p' /proc/self/cgroup)
cg="/sys/fs/cgroup${home%/}/hk-user-manager-$$"
mkdir "$cg"
echo $$ > "$cg/cgroup.procs"
"$HK_SYSTEMD" --user --unit="$HK_TARGET" --log-target=journal --log-level=info &
manager=$!
echo "$manager" > "$HK_DIR/manager.pid"
trap 'kill -TERM "$manager" 2>/dev/null || :' TERM INT HUP
while kill -0 "$manager" 2>/dev/null; do wait "$manager" || :; done
echo $$ > "/sys/fs/cgroup${home}/cgroup.procs"
if [ -e "$cg/cgroup.kill" ]; then echo 1 > "$cg/cgroup.kill"; fi
for _ in 1 2 3 4 5 6 7 8 9 10; do
    find "$cg" -depth -type d -exec rmdir {} + 2>/dev/null && break
    sleep 0.2
done
[ ! -e "$cg" ] || { echo "could not remove $cg" >&2; exit 1; }
"""


class ManagerUnavailable(RuntimeError):
    """A systemd user manager cannot be started on this machine (the reason)."""


def systemd_binary() -> str | None:
    return next((p for p in SYSTEMD_BINARIES if os.access(p, os.X_OK)), None)


def parse_journal_datagram(data: bytes) -> dict[str, str]:
    """One message of the journal's native protocol: ``KEY=value`` lines, or
    ``KEY``, a little-endian 64-bit length and the raw value for values with
    a newline."""
    fields: dict[str, str] = {}
    i = 0
    while i < len(data):
        end = data.index(b"\n", i)
        line = data[i:end]
        if b"=" in line:
            key, _, value = line.partition(b"=")
            i = end + 1
        else:
            (size,) = struct.unpack_from("<Q", data, end + 1)
            key, value = line, data[end + 9 : end + 9 + size]
            i = end + 9 + size + 1
        fields[key.decode()] = value.decode(errors="replace")
    return fields


class UserManager:
    def __init__(self) -> None:
        # Short: socket paths live under it (at most 107 bytes).
        self.dir = Path(tempfile.mkdtemp(prefix="hk-sdu-"))
        self.runtime = self.dir / "run"
        self.runtime.mkdir(mode=0o700)
        self.config = self.dir / "config"
        self.units = self.config / "systemd" / "user"
        self.units.mkdir(parents=True)
        (self.units / TARGET).write_text(
            "[Unit]\nDescription=healthkiosk tests\nDefaultDependencies=no\n"
        )
        self._journal = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._journal.bind(str(self.dir / "journal.sock"))
        self._journal.settimeout(0.1)
        self._messages: list[dict[str, str]] = []
        # Read all the time: a unix datagram socket queues only a few messages
        # (net.unix.max_dgram_qlen), and then the manager's log call blocks (10 s).
        self._closing = threading.Event()
        self._reader = threading.Thread(target=self._read_journal, daemon=True)
        self._reader.start()
        self._stderr = self.dir / "launcher.err"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def env(self) -> dict[str, str]:
        """The environment for ``systemctl --user`` (and the manager itself)."""
        env = {
            k: v
            for k, v in os.environ.items()
            if k
            not in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "DBUS_SESSION_BUS_ADDRESS")
        }
        env.update(
            XDG_RUNTIME_DIR=str(self.runtime),
            XDG_CONFIG_HOME=str(self.config),
            HOME=str(self.dir),
        )
        return env

    def start(self, timeout: float = 30.0) -> None:
        binary = systemd_binary()
        if binary is None:
            raise FileNotFoundError(f"no systemd binary at {' or '.join(SYSTEMD_BINARIES)}")
        if shutil.which("unshare") is None:
            raise ManagerUnavailable("no unshare(1) (util-linux)")
        env = {
            **self.env,
            "HK_SYSTEMD": binary,
            "HK_TARGET": TARGET,
            "HK_DIR": str(self.dir),
            "HK_JOURNAL": str(self.dir / "journal.sock"),
        }
        with self._stderr.open("wb") as err:
            self.proc = subprocess.Popen(
                ["unshare", "--mount", "--propagation", "private", "/bin/sh", "-c", LAUNCH],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=err,
                stderr=err,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ManagerUnavailable(self._why(f"the launcher exited {self.proc.returncode}"))
            if (self.runtime / "systemd" / "private").exists():
                # Not is-system-running: out here, sd_booted() makes it say "offline".
                state = self.systemctl("show", "--property=SystemState", "--value").stdout
                if state.strip() in ("running", "degraded"):
                    return
            time.sleep(0.05)
        raise ManagerUnavailable(self._why(f"not running after {timeout:.0f} s"))

    def _why(self, what: str) -> str:
        err = self._stderr.read_text(errors="replace").strip() if self._stderr.exists() else ""
        said = [m.get("MESSAGE", "") for m in self.messages()][-5:]
        return "; ".join(x for x in (what, err, " / ".join(said)) if x)

    def systemctl(self, *args: str, check: bool = False) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["systemctl", "--user", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
            check=check,
        )

    def show(self, unit: str, *props: str) -> dict[str, str]:
        out = self.systemctl("show", unit, *(f"--property={p}" for p in props), check=True)
        return dict(line.split("=", 1) for line in out.stdout.splitlines() if "=" in line)

    def _read_journal(self) -> None:
        while not self._closing.is_set():
            try:
                data = self._journal.recv(1 << 20)
            except TimeoutError:
                continue
            except OSError:
                return
            with contextlib.suppress(ValueError, struct.error):
                self._messages.append(parse_journal_datagram(data))

    def messages(self) -> list[dict[str, str]]:
        """Everything the manager logged so far (journal fields)."""
        return list(self._messages)

    def close(self, timeout: float = 30.0) -> None:
        """Stop the manager (and with it every unit), remove its cgroups; idempotent."""
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            self.systemctl("exit")
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.send_signal(signal.SIGTERM)  # forwarded to the manager
                try:
                    proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    pid = (self.dir / "manager.pid").read_text().strip()
                    with contextlib.suppress(ProcessLookupError, ValueError):
                        os.kill(int(pid), signal.SIGKILL)
                    proc.wait(timeout)
        self._closing.set()
        self._reader.join(5)
        self._journal.close()
        shutil.rmtree(self.dir, ignore_errors=True)
