"""Fleet keys on disk: Ed25519, PEM (PKCS#8 private, SubjectPublicKeyInfo public).

The private key stays with the administrator (mode 0600); each station holds
only the public keys it trusts (``update.trusted_keys`` in its configuration).
"""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
    load_pem_private_key,
    load_pem_public_key,
)

from healthkiosk.atomicfile import write_atomic
from healthkiosk.errors import ConfigError
from updater.manifest import key_id


def generate(private_path: Path, public_path: Path, *, overwrite: bool = False) -> str:
    """Make a fleet key pair; the private file is created 0600. Returns the key id."""
    if not overwrite and (private_path.exists() or public_path.exists()):
        raise ConfigError(f"{private_path} or {public_path} exists; not overwriting a key")
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    private_path.parent.mkdir(parents=True, exist_ok=True)
    # A new file put in place (never written through a symlink an attacker left).
    write_atomic(private_path, pem, mode=0o600, overwrite=overwrite)
    public_path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(
        public_path,
        key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo),
        overwrite=overwrite,
    )
    return key_id(key.public_key())


def load_private(path: Path) -> Ed25519PrivateKey:
    try:
        mode = path.stat().st_mode & 0o777
        data = path.read_bytes()
    except OSError as err:
        raise ConfigError(f"cannot read fleet key {path}: {err.strerror}") from None
    if mode & 0o077:
        raise ConfigError(f"fleet key {path} is readable by others (mode {mode:o}); chmod 600")
    try:
        key = load_pem_private_key(data, password=None)
    except ValueError as err:
        raise ConfigError(f"{path} is not a PEM private key: {err}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigError(f"{path} is not an Ed25519 key")
    return key


def load_public(path: Path) -> Ed25519PublicKey:
    try:
        key = load_pem_public_key(path.read_bytes())
    except OSError as err:
        raise ConfigError(f"cannot read public key {path}: {err.strerror}") from None
    except ValueError as err:
        raise ConfigError(f"{path} is not a PEM public key: {err}") from None
    if not isinstance(key, Ed25519PublicKey):
        raise ConfigError(f"{path} is not an Ed25519 public key")
    return key


def load_trusted(paths: list[Path]) -> dict[str, Ed25519PublicKey]:
    """The trusted keys by key id."""
    keys = {}
    for path in paths:
        key = load_public(path)
        keys[key_id(key)] = key
    return keys
