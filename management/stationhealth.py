"""Station health figures for ``hk.status/1``: disk, store size, CPU temperature."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

THERMAL_ZONE = Path("/sys/class/thermal/thermal_zone0/temp")
MB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Health:
    disk_free_mb: float | None
    disk_free_percent: float | None
    store_size_mb: float | None
    cpu_temp_c: float | None


def cpu_temp_c(path: Path = THERMAL_ZONE) -> float | None:
    """The SoC temperature in °C (the file holds millidegrees), None without one."""
    try:
        return round(int(path.read_text().strip()) / 1000.0, 1)
    except (OSError, ValueError):
        return None


def store_size_mb(store_path: Path) -> float | None:
    """The SQLite file with its WAL and shared-memory files."""
    total, found = 0, False
    for suffix in ("", "-wal", "-shm"):
        p = store_path.with_name(store_path.name + suffix)
        try:
            total += p.stat().st_size
            found = True
        except OSError:
            continue
    return round(total / MB, 2) if found else None


def measure(data_dir: Path, store_path: Path, *, thermal: Path = THERMAL_ZONE) -> Health:
    try:
        usage = shutil.disk_usage(data_dir)
        free_mb: float | None = round(usage.free / MB, 1)
        free_pct: float | None = round(100.0 * usage.free / usage.total, 1)
    except OSError:
        free_mb = free_pct = None
    return Health(
        disk_free_mb=free_mb,
        disk_free_percent=free_pct,
        store_size_mb=store_size_mb(store_path),
        cpu_temp_c=cpu_temp_c(thermal),
    )
