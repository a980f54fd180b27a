"""``healthkiosk admin rollout``: clear errors, nothing changed on bad input."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.fleetkit import REPO, write_toml


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return write_toml(
        tmp_path / "followup.toml",
        {
            "station": {"data_dir": str(tmp_path / "data")},
            "followup": {"database_url": f"sqlite:///{tmp_path / 'f.sqlite'}"},
        },
    )


def cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "healthkiosk", "--config", str(config), "admin", *args],
        cwd=REPO, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def test_bad_input_is_a_one_line_error(config: Path) -> None:
    p = cli(config, "rollout", "status")
    assert (p.returncode, p.stderr.strip()) == (2, "healthkiosk: no rollout yet")
    p = cli(config, "rollout", "start", "--release", "2", "--manifest-url", "http://x/m.json",
            "--stages", "50,40", "--no-check")  # fmt: skip
    assert p.returncode == 2 and "bad policy: stages must add up to 1" in p.stderr
    p = cli(config, "rollout", "start", "--release", "2", "--no-check",
            "--manifest-url", "http://x/m.json")  # fmt: skip
    assert p.returncode == 2 and "no registered stations" in p.stderr
    p = cli(config, "rollout", "start", "--release", "2",
            "--manifest-url", "http://127.0.0.1:9/2-2.0.0/manifest.json")  # fmt: skip
    assert p.returncode == 2 and "cannot read the manifest at http://127.0.0.1:9/" in p.stderr
    p = cli(config, "rollout", "pause")
    assert (p.returncode, p.stderr.strip()) == (2, "healthkiosk: no rollout yet")


def test_start_status_pause_resume_abort(config: Path) -> None:
    for sid in ("st-a", "st-b", "st-c"):
        assert cli(config, "station", "add", sid, "--group", "g1").returncode == 0
    p = cli(config, "rollout", "start", "--release", "3", "--no-check", "--stages", "34,66",
            "--manifest-url", "http://x/3-3.0.0/manifest.json", "--canary", "st-c")  # fmt: skip
    assert p.returncode == 0, p.stderr
    rid = p.stdout.split()[1].rstrip(":")
    assert "stages of 2, 1" in p.stdout
    p = cli(config, "rollout", "start", "--release", "4", "--no-check",
            "--manifest-url", "http://x/4-4.0.0/manifest.json")  # fmt: skip
    assert p.returncode == 2 and f"rollout {rid} (release 3) is running" in p.stderr
    assert cli(config, "rollout", "pause").stdout.strip() == f"rollout {rid}: paused"
    p = cli(config, "rollout", "pause")
    assert p.returncode == 2 and "is paused: cannot pause it" in p.stderr
    assert cli(config, "rollout", "resume").stdout.strip() == f"rollout {rid}: running"
    assert cli(config, "rollout", "abort", "--id", rid).stdout.strip() == f"rollout {rid}: aborted"
    text = cli(config, "rollout", "status").stdout
    assert f"rollout {rid}: release 3 () aborted" in text
    assert "aborted by an administrator" in text
    assert "st-c" in text.splitlines()[4]  # the canary first
