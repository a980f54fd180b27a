"""Signing a bundle: the manifest that lists every file with its hash and length."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

from healthkiosk.admin.release.bundle import bundle_files, read_info
from updater import keys, manifest
from updater.manifest import FileEntry


def file_entry(bundle: Path, path: Path) -> FileEntry:
    digest = hashlib.sha256()
    length = 0
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
            length += len(chunk)
    return FileEntry(path.relative_to(bundle).as_posix(), digest.hexdigest(), length)


def sign_bundle(
    bundle: Path,
    *,
    key_path: Path,
    release: int,
    expires_in: timedelta = timedelta(days=30),
    rollback: bool = False,
    now: datetime | None = None,
) -> Path:
    """Write ``<bundle>/manifest.json`` signed with the fleet key; returns its path."""
    info = read_info(bundle)
    private = keys.load_private(key_path)
    created = now or datetime.now(UTC)
    signed = manifest.build_signed(
        name=info.name,
        release=release,
        version=info.version,
        files=[file_entry(bundle, p) for p in bundle_files(bundle)],
        expires=created + expires_in,
        created=created,
        requirement=info.requirement,
        rollback=rollback,
    )
    out = bundle / manifest.MANIFEST_NAME
    out.write_bytes(manifest.sign(signed, private))
    return out
