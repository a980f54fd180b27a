"""Publishing a signed bundle into the follow-up server's release directory.

Layout served by :mod:`followup.rollout.releases`::

    <releases>/<release>-<version>/manifest.json
    <releases>/<release>-<version>/wheels/...
    <releases>/latest          "<release>-<version>/manifest.json"

The copy goes to a temporary directory first and is renamed into place, and
``latest`` is replaced atomically, so a station never sees half a release.
``latest`` is not signed and needs not be: what it points to is.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from pydantic import ValidationError

from healthkiosk.admin.release.bundle import BuildError
from healthkiosk.atomicfile import write_atomic
from healthkiosk.validation import describe
from updater import manifest

LATEST = "latest"


def publish(bundle: Path, releases_dir: Path, *, make_latest: bool = True) -> str:
    """Copy the signed bundle; returns the manifest's path relative to ``releases_dir``."""
    man_path = bundle / manifest.MANIFEST_NAME
    try:
        signed = manifest.read_signed(man_path.read_bytes())
    except ValidationError as err:
        raise BuildError(f"{bundle}: its manifest is malformed: {describe(err)}") from None
    except (OSError, ValueError) as err:
        raise BuildError(
            f"{bundle} has no signed manifest (run admin release sign): {err}"
        ) from None
    name = f"{signed.release}-{signed.version}"
    releases_dir.mkdir(parents=True, exist_ok=True)
    final = releases_dir / name
    if final.exists():
        raise BuildError(f"release {name} is already published in {releases_dir}")
    tmp = releases_dir / f".{name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    shutil.copy2(man_path, tmp / manifest.MANIFEST_NAME)
    for entry in signed.files:
        src = bundle / entry.path
        dst = tmp / entry.path
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dst)
    os.replace(tmp, final)
    rel = f"{name}/{manifest.MANIFEST_NAME}"
    if make_latest:
        write_atomic(releases_dir / LATEST, rel + "\n")
    return rel
