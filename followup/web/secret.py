"""The session-signing key: read from its file, or created there once (mode 0600)."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

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
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key + "\n")
    return key
