"""Durable atomic file writes: the one way the project writes a file that must
be whole after a crash or a power cut (state files, settings, keys, markers).

:func:`write_atomic`:

1. writes the data to a temporary file in the same folder (unique per call,
   so two writers never share one), with its mode set before any data;
2. ``fsync`` s the file;
3. puts it in place with :func:`os.replace` (or, with ``overwrite=False``,
   :func:`os.link`, which fails if the file exists: the first writer wins);
4. ``fsync`` s the folder, so the new name itself survives a power cut.

A reader sees the old content or the new, never a mix; on any error the
temporary file is removed and the old file is untouched.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def fsync_dir(path: Path) -> None:
    """Flush a folder's entries (a rename or a new name in it) to disk."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(
    path: Path, data: bytes | str, *, mode: int = 0o644, overwrite: bool = True
) -> None:
    """Replace (or, with ``overwrite=False``, create) ``path`` with ``data``
    (text is written as UTF-8), durably; the file gets exactly ``mode``
    (``0o600`` for secrets), whatever the umask.

    With ``overwrite=False`` an existing file is left as it is and
    :class:`FileExistsError` is raised. The folder must exist."""
    payload = data.encode("utf-8") if isinstance(data, str) else data
    folder = path.parent
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as fh:
            os.fchmod(fh.fileno(), mode)
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        if overwrite:
            os.replace(tmp, path)
        else:
            os.link(tmp, path)
            tmp.unlink()
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    fsync_dir(folder)
