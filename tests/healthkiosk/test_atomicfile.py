"""healthkiosk.atomicfile: the one durable atomic write, on a real file system."""

from __future__ import annotations

import os
import random
import signal
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from healthkiosk import atomicfile
from healthkiosk.atomicfile import write_atomic

REPO = Path(__file__).resolve().parents[2]


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_creates_and_replaces_with_the_mode_given(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    write_atomic(path, '{"a": 1}')
    assert path.read_text() == '{"a": 1}' and _mode(path) == 0o644
    old_inode = path.stat().st_ino
    write_atomic(path, b"\x00\x01secret", mode=0o600)
    assert path.read_bytes() == b"\x00\x01secret" and _mode(path) == 0o600
    assert path.stat().st_ino != old_inode  # a new file put in place, not rewritten
    write_atomic(path, "中文")
    assert path.read_text(encoding="utf-8") == "中文" and _mode(path) == 0o644
    assert os.listdir(tmp_path) == ["state.json"]  # no temporary file left


def test_the_mode_is_exact_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o077)
    try:
        write_atomic(tmp_path / "shared", "x", mode=0o664)
    finally:
        os.umask(old)
    assert _mode(tmp_path / "shared") == 0o664


def test_without_overwrite_the_first_writer_wins(tmp_path: Path) -> None:
    path = tmp_path / "id-hash.key"
    write_atomic(path, b"first", mode=0o600, overwrite=False)
    with pytest.raises(FileExistsError):
        write_atomic(path, b"second", mode=0o600, overwrite=False)
    assert path.read_bytes() == b"first" and _mode(path) == 0o600
    assert os.listdir(tmp_path) == ["id-hash.key"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    write_atomic(path, "old")
    (tmp_path / "target-is-a-dir").mkdir()
    with pytest.raises(OSError):
        write_atomic(tmp_path / "target-is-a-dir", "new")  # os.replace onto a folder fails
    assert path.read_text() == "old"
    assert sorted(os.listdir(tmp_path)) == ["settings.json", "target-is-a-dir"]
    with pytest.raises(FileNotFoundError):
        write_atomic(tmp_path / "missing" / "x", "new")  # the folder must exist


def test_the_file_and_its_folder_are_fsynced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A spy on os.fsync (it still syncs): the only way to see the calls."""
    synced: list[tuple[bool, int]] = []
    real_fsync = os.fsync

    def spy(fd: int) -> None:
        st = os.fstat(fd)
        synced.append((stat.S_ISDIR(st.st_mode), st.st_ino))
        real_fsync(fd)

    monkeypatch.setattr(atomicfile.os, "fsync", spy)
    path = tmp_path / "state.json"
    write_atomic(path, "new")
    assert synced == [(False, path.stat().st_ino), (True, tmp_path.stat().st_ino)]


_WRITER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from healthkiosk.atomicfile import write_atomic

    path = Path(sys.argv[1])
    contents = [bytes([65 + i]) * 4_000_000 for i in range(2)]
    print("ready", flush=True)
    n = 0
    while True:
        write_atomic(path, contents[n % 2])
        n += 1
    """
)


def test_a_writer_killed_at_any_moment_leaves_the_old_or_the_new_content(
    tmp_path: Path,
) -> None:
    seed = int(os.environ.get("HK_ATOMIC_SEED", random.randrange(1 << 30)))
    print(f"HK_ATOMIC_SEED={seed}")
    rng = random.Random(seed)
    path = tmp_path / "state.bin"
    whole = {b"A" * 4_000_000, b"B" * 4_000_000}
    write_atomic(path, b"A" * 4_000_000)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    for _ in range(8):
        proc = subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(path)],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.0, 0.3))
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
        assert path.read_bytes() in whole
        for name in os.listdir(tmp_path):  # a temporary file may be left, never in place
            if name != path.name:
                assert name.startswith(".state.bin.") and name.endswith(".tmp")
