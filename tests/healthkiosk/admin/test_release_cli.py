"""``healthkiosk admin``: keys, release build/sign/publish, stations — through the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from datetime import UTC, datetime
from pathlib import Path

from tests.support.updater_fakes import REPO, make_wheel
from updater import install, keys, manifest


def hk(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "healthkiosk", *args],
        cwd=REPO, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    if check:
        assert proc.returncode == 0, proc.stderr + proc.stdout
    return proc


def test_keygen_makes_a_private_key_only_its_owner_can_read(tmp_path: Path) -> None:
    priv, pub = tmp_path / "k" / "fleet.key", tmp_path / "k" / "fleet.pub"
    out = hk("admin", "keygen", "--private", str(priv), "--public", str(pub)).stdout
    assert priv.stat().st_mode & 0o777 == 0o600
    assert pub.read_text().startswith("-----BEGIN PUBLIC KEY-----")
    assert manifest.key_id(keys.load_public(pub)) in out
    again = hk("admin", "keygen", "--private", str(priv), "--public", str(pub), check=False)
    assert again.returncode == 2 and "not overwriting" in again.stderr
    priv.chmod(0o644)
    b = tmp_path / "b"
    make_wheel(b / "wheels", "hkfakedep", "1.0", {"hkfakedep/__init__.py": ""})
    (b / "bundle.json").write_text('{"name": "x", "version": "1", "requirement": "x"}')
    signed = hk("admin", "release", "sign", str(b), "--key", str(priv), "--release", "1",
                check=False)  # fmt: skip
    assert signed.returncode == 2 and "readable by others" in signed.stderr


def test_build_sign_publish_with_a_local_dependency(tmp_path: Path) -> None:
    priv, pub = tmp_path / "fleet.key", tmp_path / "fleet.pub"
    keys.generate(priv, pub)
    deps = tmp_path / "deps"
    make_wheel(deps, "hkfakedep", "1.0", {"hkfakedep/__init__.py": "ANSWER = 42\n"})
    # Bundles carry pip; offline, a stand-in satisfies the download (never installed here).
    make_wheel(deps, "pip", "99.0", {"pip/__init__.py": ""})
    app = make_wheel(tmp_path / "app", "hkfakeapp", "2.1.0", {"hkfakeapp/__init__.py": ""},
                     requires=("hkfakedep>=1",))  # fmt: skip
    out = tmp_path / "bundle"
    hk("admin", "release", "build", "--here", "--wheel", str(app), "--extra", "",
       "--no-index", "--find-links", str(deps), "--out", str(out))  # fmt: skip
    assert sorted(p.name for p in (out / "wheels").iterdir()) == [
        "hkfakeapp-2.1.0-py3-none-any.whl",
        "hkfakedep-1.0-py3-none-any.whl",
        "pip-99.0-py3-none-any.whl",
    ]
    hk("admin", "release", "sign", str(out), "--key", str(priv), "--release", "4")
    raw = (out / "manifest.json").read_bytes()
    m = manifest.verify(raw, trusted_keys=keys.load_trusted([pub]), now=datetime.now(UTC),
                        installed_release=3, expected_name="hkfakeapp")  # fmt: skip
    assert (m.release, m.version, m.requirement) == (4, "2.1.0", "hkfakeapp==2.1.0")
    for entry in m.files:
        assert (out / entry.path).stat().st_size == entry.length
    published = tmp_path / "releases"
    cfg = tmp_path / "followup.toml"  # publishing writes the audit log's entry here
    cfg.write_text(f'[followup]\ndatabase_url = "sqlite:///{tmp_path}/followup.sqlite"\n')
    text = hk("--config", str(cfg), "admin", "release", "publish", str(out),
              "--to", str(published)).stdout  # fmt: skip
    assert "4-2.1.0/manifest.json" in text
    assert (published / "latest").read_text().strip() == "4-2.1.0/manifest.json"
    assert (published / "4-2.1.0" / "manifest.json").read_bytes() == raw
    again = hk("--config", str(cfg), "admin", "release", "publish", str(out),
               "--to", str(published), check=False)  # fmt: skip
    assert again.returncode == 2 and "already published" in again.stderr


def test_a_bundle_of_the_real_project_installs_offline(tmp_path: Path) -> None:
    """The project's own wheel and its core dependencies (from the configured
    index) for this machine; then an offline install of it into a fresh venv."""
    out = tmp_path / "bundle"
    hk("admin", "release", "build", "--here", "--project", str(REPO), "--extra", "",
       "--out", str(out))  # fmt: skip
    info = json.loads((out / "bundle.json").read_text())
    names = {n.split("-")[0].lower() for n in info["wheels"]}
    assert {"healthkiosk", "pydantic", "sqlalchemy", "alembic", "paho_mqtt"} <= names
    # No emulation on a station: not in the project's wheel, not as a dependency.
    assert not names & {"healthkiosk_emulation", "bumble"}
    (project_wheel,) = (out / "wheels").glob("healthkiosk-*.whl")
    with zipfile.ZipFile(project_wheel) as whl:
        assert not [n for n in whl.namelist() if n.startswith("emulation/")]
    venv = tmp_path / "releases" / "1-0.1.0"
    install.install(venv, wheels=[out / "wheels"], requirement=info["requirement"])
    version = subprocess.run([str(venv / "bin" / "healthkiosk"), "--version"],
                             capture_output=True, text=True, timeout=60, check=True)  # fmt: skip
    assert version.stdout.strip() == "healthkiosk 0.1.0"
    # The bundle's pip went in too: this release can install the next one by itself.
    pip = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "--version"],
                         capture_output=True, text=True, timeout=60, check=True)  # fmt: skip
    assert str(venv) in pip.stdout


def test_stations_are_registered_in_the_followup_database(tmp_path: Path) -> None:
    cfg = tmp_path / "followup.toml"
    cfg.write_text(f'[followup]\ndatabase_url = "sqlite:///{tmp_path}/db/followup.sqlite"\n')
    hk("--config", str(cfg), "admin", "station", "add", "st-01", "--group", "canary",
       "--name", "Station one")  # fmt: skip
    hk("--config", str(cfg), "admin", "station", "add", "st-02")
    dup = hk("--config", str(cfg), "admin", "station", "add", "st-01", check=False)
    assert dup.returncode == 2 and "already registered" in dup.stderr
    bad = hk("--config", str(cfg), "admin", "station", "add", "Bad Id", check=False)
    assert bad.returncode == 2
    lines = hk("--config", str(cfg), "admin", "station", "list").stdout.splitlines()
    assert [line.split()[:3] for line in lines] == [
        ["st-01", "canary", "offline"], ["st-02", "default", "offline"]
    ]  # fmt: skip
