"""The keyed hash of ID numbers: how the store finds a resident again.

HMAC-SHA256 under a per-station secret, so the hashes are useless without
the key file (a plain hash of an 18-digit number with a known structure is
reversed by trying them all). The key is made on first use, 32 random bytes,
readable by the owner only.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import stat
from pathlib import Path

from healthkiosk.atomicfile import write_atomic
from healthkiosk.errors import StoreError
from healthkiosk.idnumber import IdNumber, normalise

log = logging.getLogger(__name__)

KEY_BYTES = 32


def load_or_create_key(path: Path) -> bytes:
    """Read the key at ``path``, creating it (mode 0600) when missing.

    Two processes creating it at once agree on one key: it is written
    without overwriting (:func:`healthkiosk.atomicfile.write_atomic`), so the
    first one wins and the other reads it."""
    path = path.expanduser()
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            write_atomic(path, secrets.token_bytes(KEY_BYTES), mode=0o600, overwrite=False)
            log.info("created the ID hash key %s", path)
        except FileExistsError:
            pass
    try:
        key = path.read_bytes()
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError as err:
        raise StoreError(f"cannot read the ID hash key {path}: {err.strerror}") from None
    if len(key) < KEY_BYTES:
        raise StoreError(f"the ID hash key {path} is shorter than {KEY_BYTES} bytes")
    if mode & 0o077:
        log.warning("the ID hash key %s is readable by others (mode %o): chmod 600", path, mode)
    return key


class IdHasher:
    """``hash(number)`` → 64 hex characters; the key never shows in a repr."""

    __slots__ = ("_key",)

    def __init__(self, key: bytes) -> None:
        if len(key) < KEY_BYTES:
            raise ValueError(f"the key must have at least {KEY_BYTES} bytes")
        self._key = bytes(key)

    @classmethod
    def from_file(cls, path: Path) -> IdHasher:
        return cls(load_or_create_key(path))

    def hash(self, number: IdNumber | str) -> str:
        value = number.value if isinstance(number, IdNumber) else normalise(number)
        return hmac.new(self._key, value.encode("ascii"), hashlib.sha256).hexdigest()

    def __repr__(self) -> str:
        return "IdHasher(<key hidden>)"
