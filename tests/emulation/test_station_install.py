"""A station's install has no emulation: the project's wheel (what ``pip install
.[station]`` and ``healthkiosk admin release build`` install) leaves the
``emulation`` package out, asks for bumble and ``healthkiosk-emulation`` only
under the ``emulation`` extra, and ``healthkiosk run --simulate`` there says
what to install instead of failing somewhere deep.

Offline and quick: the wheel is built without build isolation from a copy of
the tree; the fresh venv gets it with ``--no-deps`` and finds the other
dependencies through a ``.pth`` line naming this venv's site-packages (whose
editable installs are not activated that way: only the wheel's packages are
there).
"""

from __future__ import annotations

import email
import shutil
import site
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

from healthkiosk.cli.emulation_hook import INSTALL

ROOT = Path(__file__).resolve().parents[2]
NOT_SOURCE = shutil.ignore_patterns(
    ".git",
    ".venv",
    "artifacts",
    "build",
    "dist",
    "*.egg-info",
    "__pycache__",
    ".*_cache",
    ".hypothesis",
)

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def station_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project's wheel, built from a copy of the tree (``emulation/`` and
    its pyproject included: the root's configuration has to leave it out)."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    shutil.copytree(ROOT, src, ignore=NOT_SOURCE)
    assert (src / "emulation" / "twins.py").is_file()
    out = tmp / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "--no-index", "-q", "-w", str(out), str(src)],
        check=True, capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    (wheel,) = out.glob("healthkiosk-*.whl")
    return wheel


def test_the_wheel_has_no_emulation_and_no_tests(station_wheel: Path) -> None:
    with zipfile.ZipFile(station_wheel) as whl:
        names = whl.namelist()
    tops = {n.split("/")[0] for n in names if "/" in n and ".dist-info/" not in n}
    assert tops == {"healthkiosk", "drivers", "sync", "management", "updater", "kiosk", "followup"}
    assert "healthkiosk/cli/emulation_hook.py" in names
    assert not [n for n in names if n.startswith(("emulation/", "tests/"))]


def test_bumble_and_the_emulation_package_come_with_the_emulation_extra_only(
    station_wheel: Path,
) -> None:
    with zipfile.ZipFile(station_wheel) as whl:
        meta_name = next(n for n in whl.namelist() if n.endswith(".dist-info/METADATA"))
        meta = email.message_from_bytes(whl.read(meta_name))
    requires = meta.get_all("Requires-Dist") or []
    for wanted in ("bumble", "healthkiosk-emulation"):
        lines = [r for r in requires if r.startswith(wanted)]
        assert lines and all('extra == "emulation"' in r for r in lines), (wanted, requires)
    station = [r for r in requires if 'extra == "station"' in r]
    assert any(r.startswith("bleak") for r in station)
    assert not any(r.startswith(("bumble", "healthkiosk-emulation")) for r in station)


@pytest.fixture(scope="module")
def station_venv(station_wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv holding the wheel alone; its dependencies are this venv's."""
    root = tmp_path_factory.mktemp("station") / "venv"
    venv.EnvBuilder(with_pip=False).create(root)
    python = root / "bin" / "python"
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps",
         "--no-index", "-q", str(station_wheel)],
        check=True, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True, timeout=60,
    ).stdout.strip()  # fmt: skip
    deps = "\n".join(site.getsitepackages())
    (Path(purelib) / "zz-dependencies.pth").write_text(deps + "\n", encoding="utf-8")
    return root


def _run(venv_root: Path, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    config = tmp_path / "healthkiosk.toml"
    config.write_text(f'[station]\ndata_dir = "{tmp_path / "station"}"\n', encoding="utf-8")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "LANG": "C.UTF-8"}
    return subprocess.run(
        [*args[:1], "--config", str(config), *args[1:]],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_the_station_venv_has_the_product_but_not_emulation(
    station_venv: Path, tmp_path: Path
) -> None:
    probe = subprocess.run(
        [str(station_venv / "bin" / "python"), "-c",
         "import importlib.util as u, healthkiosk, kiosk.compose, drivers.registry\n"
         "print(healthkiosk.__file__)\n"
         "print(u.find_spec('emulation'), u.find_spec('bumble'))"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    where, missing = probe.stdout.splitlines()
    assert where.startswith(str(station_venv))  # the wheel's code, not the checkout's
    assert missing.startswith("None ")  # no emulation (bumble: this venv's, via the .pth)


@pytest.mark.parametrize(
    ("args", "wanted_by"),
    [
        (("run", "--simulate"), "healthkiosk run --simulate"),
        (("demo", "--headless"), "healthkiosk demo"),
        (("broker", "embedded", "--port", "0"), "healthkiosk broker embedded"),
        (("devices", "read", "ble-bp-standard", "--emulate"), "devices read --emulate"),
        (("devices", "emulate", "sam-idcard"), "devices emulate"),
        (("devices", "print-test", "--emulate"), "devices print-test --emulate"),
    ],
)
def test_commands_that_need_emulation_say_what_to_install(
    station_venv: Path, tmp_path: Path, args: tuple[str, ...], wanted_by: str
) -> None:
    result = _run(station_venv, tmp_path, str(station_venv / "bin" / "healthkiosk"), *args)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr  # one line, no traceback
    assert lines[0].startswith(f"healthkiosk: {wanted_by} needs the emulated devices")
    assert "healthkiosk-emulation" in lines[0] and INSTALL in lines[0]
    assert "a station's install leaves out" in lines[0]


def test_a_station_command_still_works_there(station_venv: Path, tmp_path: Path) -> None:
    result = _run(station_venv, tmp_path, str(station_venv / "bin" / "healthkiosk"),
                  "devices", "list")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "ble-bp-standard" in result.stdout and "sam-idcard" in result.stdout
