"""Building an offline-installable release bundle.

A bundle is a directory::

    <out>/bundle.json        name, version, requirement, platforms (unsigned notes)
    <out>/wheels/*.whl       the project's wheel, every dependency's wheel, and pip's

The project's wheel is built with ``pip wheel --no-deps`` (or taken as given);
its dependencies come from ``pip download --only-binary=:all:`` for the target
platform: by default the Raspberry Pi's (64-bit Raspberry Pi OS, aarch64,
CPython 3.11, glibc 2.36), or this machine's with ``here=True``. Nothing is
built for the Pi here: a dependency with no wheel for the target fails the
build with pip's message, which is the honest outcome for an offline bundle.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from healthkiosk.errors import HealthKioskError
from healthkiosk.validation import describe

BUNDLE_INFO = "bundle.json"
WHEELS = "wheels"

PI_PYTHON_VERSION = "3.11"
PI_PLATFORMS: tuple[str, ...] = (
    "manylinux2014_aarch64",
    *(f"manylinux_2_{minor}_aarch64" for minor in range(17, 37)),
    "linux_aarch64",
)
"""pip does not widen ``manylinux_2_X`` by itself: every glibc up to Bookworm's 2.36."""


class BuildError(HealthKioskError):
    reason = "release_build_failed"


@dataclass(frozen=True, slots=True)
class Bundle:
    path: Path
    name: str
    version: str
    requirement: str
    wheels: tuple[str, ...]


def _pip(args: list[str], *, timeout_s: float) -> None:
    cmd = [sys.executable, "-m", "pip", *args]
    try:
        proc = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        raise BuildError(f"pip {args[0]} took longer than {timeout_s:g} s") from None
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-4:]
        raise BuildError(f"pip {args[0]} failed: {' | '.join(tail)}")


def _wheel_name_version(wheel: Path) -> tuple[str, str]:
    parts = wheel.name.split("-")
    if len(parts) < 5 or not wheel.name.endswith(".whl"):
        raise BuildError(f"{wheel.name} is not a wheel file name")
    return parts[0].replace("_", "-").lower(), parts[1]


def build(
    out: Path,
    *,
    project: Path | None = None,
    wheel: Path | None = None,
    extras: tuple[str, ...] = ("station",),
    here: bool = False,
    platforms: tuple[str, ...] = PI_PLATFORMS,
    python_version: str = PI_PYTHON_VERSION,
    find_links: tuple[Path, ...] = (),
    no_index: bool = False,
    timeout_s: float = 1800.0,
) -> Bundle:
    """Make the bundle in ``out`` (which must not exist or be empty)."""
    if (project is None) == (wheel is None):
        raise BuildError("give exactly one of a project directory or a wheel")
    if out.exists() and any(out.iterdir()):
        raise BuildError(f"{out} is not empty")
    wheels = out / WHEELS
    wheels.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="hk-build-") as tmp:
        if project is not None:
            _pip(["wheel", "--no-deps", "-w", tmp, str(project)], timeout_s=timeout_s)
            built = sorted(Path(tmp).glob("*.whl"))
            if len(built) != 1:
                raise BuildError(f"expected one wheel from {project}, got {len(built)}")
            wheel = built[0]
        assert wheel is not None
        name, version = _wheel_name_version(wheel)
        project_wheel = wheels / wheel.name
        shutil.copy2(wheel, project_wheel)

    extra = f"[{','.join(extras)}]" if extras else ""
    requirement = f"{name}{extra}=={version}"
    args = ["download", "--only-binary=:all:", "-d", str(wheels)]
    if not here:
        args += ["--python-version", python_version, "--implementation", "cp"]
        for tag in platforms:
            args += ["--platform", tag]
    if no_index:
        args.append("--no-index")
    for link in (*find_links, wheels):
        args += ["--find-links", str(link)]
    # pip itself, so each release venv can install the next release offline.
    args += [requirement, "pip"]
    env_note = "this machine" if here else f"CPython {python_version} on {platforms[-1]}"
    _pip(args, timeout_s=timeout_s)

    names = tuple(sorted(p.name for p in wheels.glob("*.whl")))
    info = {
        "name": name,
        "version": version,
        "requirement": requirement,
        "target": env_note,
        "wheels": list(names),
    }
    (out / BUNDLE_INFO).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    return Bundle(out, name, version, requirement, names)


class BundleInfo(BaseModel):
    """``bundle.json``: what :func:`build_bundle` made (read back to sign it)."""

    model_config = ConfigDict(extra="ignore", frozen=True, strict=True)
    name: str
    version: str
    requirement: str
    target: str = ""
    wheels: list[str] = Field(default_factory=list)


def read_info(bundle: Path) -> BundleInfo:
    try:
        raw = (bundle / BUNDLE_INFO).read_bytes()
    except OSError as err:
        raise BuildError(f"{bundle} is not a release bundle: {err}") from None
    try:
        return BundleInfo.model_validate_json(raw)
    except ValidationError as err:
        raise BuildError(f"{bundle}/{BUNDLE_INFO} is malformed: {describe(err)}") from None


def bundle_files(bundle: Path) -> list[Path]:
    """Every file the manifest must list (all but the manifest itself)."""
    files = []
    for root, _dirs, names in os.walk(bundle):
        for n in names:
            path = Path(root) / n
            rel = path.relative_to(bundle).as_posix()
            if rel not in ("manifest.json", BUNDLE_INFO):
                files.append(path)
    return sorted(files)
