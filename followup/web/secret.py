"""The session-signing key: read from its file, or created there once (mode 0600)."""

from __future__ import annotations

import secrets
from pathlib import Path

from healthkiosk.atomicfile import write_atomic
from healthkiosk.errors import ConfigError


def load_or_create_secret(path: Path) -> str:
    path = path.expanduser()
    if path.exists():
        key = path.read_text().strip()
        if len(key) < 32:
            raise ConfigError(
                "secret key file holds fewer than 32 characters", key="followup.secret_key_file"
            )
        return key
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    try:
        write_atomic(path, key + "\n", mode=0o600, overwrite=False)
    except FileExistsError:  # another worker made it first: use theirs
        return load_or_create_secret(path)
    return key
