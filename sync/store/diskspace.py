"""Free disk before writing: a full SD card must refuse a reading visibly,
never half-write one."""

from __future__ import annotations

import shutil
from pathlib import Path

from healthkiosk.errors import StoreFullError

MB = 1024 * 1024


def free_mb(path: Path) -> float:
    """Free space (for unprivileged writers) on the file system holding ``path``."""
    target = path if path.is_dir() else path.parent
    return shutil.disk_usage(target).free / MB


def ensure_free_space(path: Path, *, min_free_mb: int) -> None:
    """Raise :class:`StoreFullError` when less than ``min_free_mb`` is free."""
    free = free_mb(path)
    if free < min_free_mb:
        raise StoreFullError(
            f"only {free:.0f} MB free on the store's disk (need {min_free_mb} MB): "
            "reading not saved"
        )
