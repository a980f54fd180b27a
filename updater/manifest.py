"""The signed release manifest (``hk.release/1``): format, signing and verification.

One manifest describes one release completely: its monotonically increasing
release number and semantic version, every file of the bundle with its SHA-256
and exact length, when it expires, whether it is a signed rollback, and how to
install it. The station trusts nothing that is not listed in a manifest that
verifies under one of its trusted fleet keys.

On disk and on the wire a manifest is JSON::

    {"signed": {...}, "signatures": [{"keyid": "<hex>", "sig": "<base64>"}]}

The signature covers the canonical JSON of ``signed`` (sorted keys, no
whitespace, UTF-8). The checks here are pure (bytes and keys in, a frozen
:class:`Manifest` or a :class:`~healthkiosk.errors.UpdateRefusedError` out);
the downloader and the updater do the I/O.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from healthkiosk.errors import UpdateRefusedError

SCHEMA = "hk.release/1"
MANIFEST_NAME = "manifest.json"
MAX_MANIFEST_BYTES = 1 << 20
"""A manifest is a few kilobytes; the downloader stops reading at this size."""

_SAFE_PATH = re.compile(r"^[A-Za-z0-9_.+-]+(/[A-Za-z0-9_.+-]+)*$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class Refusal(StrEnum):
    """Why a release was refused; the ``reason`` of :class:`UpdateRefusedError`."""

    MALFORMED = "malformed"
    UNSIGNED = "unsigned"
    UNKNOWN_KEY = "unknown_key"
    BAD_SIGNATURE = "bad_signature"
    EXPIRED = "expired"
    """Reported as "cannot confirm freshness": the manifest may be a frozen old one."""
    DOWNGRADE = "downgrade"
    WRONG_NAME = "wrong_name"
    HASH_MISMATCH = "hash_mismatch"
    """A file does not match the manifest: tampering, or files mixed from two releases."""
    LENGTH_MISMATCH = "length_mismatch"
    TOO_LONG = "too_long"
    """The server sent more than the signed length (endless data)."""
    DEADLINE = "deadline"
    """The download did not finish in time (trickling data, stalled server)."""
    UNAVAILABLE = "unavailable"
    BAD_RELEASE = "bad_release"
    """This release failed its health check on this station before."""


@dataclass(frozen=True, slots=True)
class FileEntry:
    path: str
    sha256: str
    length: int


@dataclass(frozen=True, slots=True)
class Manifest:
    name: str
    release: int
    """Monotonically increasing release number: what downgrade protection compares."""
    version: str
    """The semantic version of the project's wheel (for people)."""
    created: datetime
    expires: datetime
    rollback: bool
    """True only when the administrator signed this release as a rollback."""
    files: tuple[FileEntry, ...]
    requirement: str
    """What to install from the bundle's wheels, e.g. ``healthkiosk[station]``."""
    keyid: str
    """The key whose signature was accepted."""

    @property
    def dir_name(self) -> str:
        """The release's directory name under ``<root>/releases/``."""
        return f"{self.release}-{self.version}"


def canonical_bytes(signed: Mapping[str, Any]) -> bytes:
    return json.dumps(
        signed, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def key_id(public_key: Ed25519PublicKey) -> str:
    """SHA-256 of the raw 32-byte public key, hex: names a fleet key."""
    raw = public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


def format_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def build_signed(
    *,
    name: str,
    release: int,
    version: str,
    files: list[FileEntry],
    expires: datetime,
    created: datetime,
    requirement: str,
    rollback: bool = False,
) -> dict[str, Any]:
    """The ``signed`` part of a manifest, ready for :func:`sign`."""
    if release < 1:
        raise ValueError("release numbers start at 1")
    return {
        "schema": SCHEMA,
        "name": name,
        "release": release,
        "version": version,
        "created": format_time(created),
        "expires": format_time(expires),
        "rollback": rollback,
        "requirement": requirement,
        "files": [
            {"path": f.path, "sha256": f.sha256, "length": f.length}
            for f in sorted(files, key=lambda f: f.path)
        ],
    }


def sign(signed: Mapping[str, Any], private_key: Ed25519PrivateKey) -> bytes:
    """The manifest document: ``signed`` plus one Ed25519 signature."""
    signature = private_key.sign(canonical_bytes(signed))
    doc = {
        "signed": dict(signed),
        "signatures": [
            {
                "keyid": key_id(private_key.public_key()),
                "sig": base64.b64encode(signature).decode("ascii"),
            }
        ],
    }
    return json.dumps(doc, indent=2, sort_keys=True).encode("utf-8") + b"\n"


def _refuse(message: str, reason: Refusal, release: int | None = None) -> UpdateRefusedError:
    return UpdateRefusedError(message, reason=reason.value, release=release)


def _parse_time(value: object, field: str) -> datetime:
    if not isinstance(value, str):
        raise _refuse(f"manifest field {field} is not a timestamp", Refusal.MALFORMED)
    try:
        moment = datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        raise _refuse(f"manifest field {field} is not a UTC timestamp", Refusal.MALFORMED) from None
    return moment


def _files(value: object) -> tuple[FileEntry, ...]:
    if not isinstance(value, list) or not value:
        raise _refuse("manifest lists no files", Refusal.MALFORMED)
    entries: list[FileEntry] = []
    seen: set[str] = set()
    for item in value:
        if not isinstance(item, dict):
            raise _refuse("manifest file entry is not an object", Refusal.MALFORMED)
        path, digest, length = item.get("path"), item.get("sha256"), item.get("length")
        if not isinstance(path, str) or not _SAFE_PATH.match(path) or ".." in path.split("/"):
            raise _refuse(
                f"manifest file path {path!r} is not a safe relative path", Refusal.MALFORMED
            )
        if not isinstance(digest, str) or not _SHA256.match(digest):
            raise _refuse(f"manifest file {path}: sha256 malformed", Refusal.MALFORMED)
        if not isinstance(length, int) or isinstance(length, bool) or length < 0:
            raise _refuse(f"manifest file {path}: length malformed", Refusal.MALFORMED)
        if path in seen:
            raise _refuse(f"manifest lists {path} twice", Refusal.MALFORMED)
        seen.add(path)
        entries.append(FileEntry(path=path, sha256=digest, length=length))
    return tuple(entries)


def verify(
    raw: bytes,
    *,
    trusted_keys: Mapping[str, Ed25519PublicKey],
    now: datetime,
    installed_release: int | None,
    expected_name: str | None = None,
) -> Manifest:
    """Check a manifest document; every refusal names its :class:`Refusal`.

    Order matters: nothing in ``signed`` is believed before a trusted key's
    signature over it checks out; then expiry (a frozen mirror serving an old
    manifest forever), then the release number against ``installed_release``
    (no downgrade, and no re-install of the same number, unless the release is
    a signed rollback).
    """
    if len(raw) > MAX_MANIFEST_BYTES:
        raise _refuse("manifest larger than 1 MiB", Refusal.TOO_LONG)
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise _refuse("manifest is not JSON", Refusal.MALFORMED) from None
    if not isinstance(doc, dict) or not isinstance(doc.get("signed"), dict):
        raise _refuse("manifest has no signed part", Refusal.MALFORMED)
    signed: dict[str, Any] = doc["signed"]
    signatures = doc.get("signatures")
    if not isinstance(signatures, list) or not signatures:
        raise _refuse("manifest is not signed", Refusal.UNSIGNED)

    message = canonical_bytes(signed)
    accepted: str | None = None
    known = False
    for entry in signatures:
        if not isinstance(entry, dict):
            continue
        keyid, sig = entry.get("keyid"), entry.get("sig")
        if not isinstance(keyid, str) or not isinstance(sig, str) or keyid not in trusted_keys:
            continue
        known = True
        try:
            trusted_keys[keyid].verify(base64.b64decode(sig, validate=True), message)
        except (InvalidSignature, binascii.Error, ValueError):
            continue
        accepted = keyid
        break
    if accepted is None:
        if not known:
            raise _refuse("manifest is not signed by a trusted fleet key", Refusal.UNKNOWN_KEY)
        raise _refuse("manifest signature does not verify", Refusal.BAD_SIGNATURE)

    # From here on the content is the fleet key holder's word.
    if signed.get("schema") != SCHEMA:
        raise _refuse(f"manifest schema is not {SCHEMA}", Refusal.MALFORMED)
    release = signed.get("release")
    if not isinstance(release, int) or isinstance(release, bool) or release < 1:
        raise _refuse("manifest release number malformed", Refusal.MALFORMED)
    name, version = signed.get("name"), signed.get("version")
    requirement, rollback = signed.get("requirement"), signed.get("rollback")
    if not isinstance(name, str) or not isinstance(version, str) or not version:
        raise _refuse("manifest name/version malformed", Refusal.MALFORMED, release)
    if not isinstance(requirement, str) or not requirement or not isinstance(rollback, bool):
        raise _refuse("manifest requirement/rollback malformed", Refusal.MALFORMED, release)
    manifest = Manifest(
        name=name,
        release=release,
        version=version,
        created=_parse_time(signed.get("created"), "created"),
        expires=_parse_time(signed.get("expires"), "expires"),
        rollback=rollback,
        files=_files(signed.get("files")),
        requirement=requirement,
        keyid=accepted,
    )
    if expected_name is not None and manifest.name != expected_name:
        raise _refuse(
            f"release is for {manifest.name!r}, not {expected_name!r}", Refusal.WRONG_NAME, release
        )
    if now >= manifest.expires:
        raise _refuse(
            f"cannot confirm freshness: release {release} metadata expired "
            f"{format_time(manifest.expires)}",
            Refusal.EXPIRED,
            release,
        )
    if installed_release is not None and release <= installed_release and not manifest.rollback:
        raise _refuse(
            f"release {release} is not newer than installed release {installed_release} "
            "and is not a signed rollback",
            Refusal.DOWNGRADE,
            release,
        )
    return manifest
