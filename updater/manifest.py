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
from typing import Annotated, Any, Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
)

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


def _utc_time(value: object) -> datetime:
    if not isinstance(value, str):
        raise ValueError("not a timestamp")
    try:
        return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        raise ValueError("not a UTC timestamp") from None


def _safe_path(value: str) -> str:
    if not _SAFE_PATH.match(value) or ".." in value.split("/"):
        raise ValueError("not a safe relative path")
    return value


_STRICT = ConfigDict(extra="ignore", frozen=True, strict=True)


class _Signature(BaseModel):
    model_config = _STRICT
    keyid: str
    sig: str


class _Document(BaseModel):
    """The envelope: ``signed`` is kept as parsed (its canonical bytes are what
    the signature covers); each signature is checked on its own."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    signed: dict[str, Any]
    signatures: list[Any] = Field(min_length=1)


class _File(BaseModel):
    model_config = _STRICT
    path: Annotated[str, AfterValidator(_safe_path)]
    sha256: Annotated[str, Field(pattern=_SHA256.pattern)]
    length: int = Field(ge=0)


UtcTime = Annotated[datetime, BeforeValidator(_utc_time)]


class SignedPart(BaseModel):
    """The ``signed`` part of a manifest: believed only once a trusted key's
    signature over it checks out (:func:`verify`)."""

    model_config = _STRICT
    schema_: Literal["hk.release/1"] = Field(alias="schema")
    release: int = Field(ge=1)
    name: str
    version: str = Field(min_length=1)
    requirement: str = Field(min_length=1)
    rollback: bool
    created: UtcTime
    expires: UtcTime
    files: list[_File] = Field(min_length=1)

    @field_validator("files")
    @classmethod
    def _once_each(cls, files: list[_File]) -> list[_File]:
        seen: set[str] = set()
        for f in files:
            if f.path in seen:
                raise ValueError(f"lists {f.path} twice")
            seen.add(f.path)
        return files


class _Envelope(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    signed: dict[str, Any]


def read_signed(raw: bytes) -> SignedPart:
    """The ``signed`` part of a manifest document, checked for shape but NOT
    verified (signed or not): for the administrator's own tools (publishing a
    bundle, starting a rollout), never for deciding what a station installs.
    Raises ``ValueError`` (a pydantic ``ValidationError`` naming the key)."""
    return SignedPart.model_validate(_Envelope.model_validate_json(raw).signed)


def _malformed(err: ValidationError, signed: Mapping[str, Any]) -> UpdateRefusedError:
    """The refusal for the first problem in ``signed``, in the order the fields
    are checked, naming the field; a name, version, requirement or rollback
    problem carries the (valid) release number."""
    first = err.errors()[0]
    loc = first["loc"]
    field = str(loc[0]) if loc else ""
    bad = {str(e["loc"][0]) for e in err.errors() if e["loc"]}
    release = signed.get("release") if "release" not in bad else None
    rel = release if isinstance(release, int) else None
    if field == "schema":
        return _refuse(f"manifest schema is not {SCHEMA}", Refusal.MALFORMED)
    if field == "release":
        return _refuse("manifest release number malformed", Refusal.MALFORMED)
    if field in ("name", "version"):
        return _refuse("manifest name/version malformed", Refusal.MALFORMED, rel)
    if field in ("requirement", "rollback"):
        return _refuse("manifest requirement/rollback malformed", Refusal.MALFORMED, rel)
    if field in ("created", "expires"):
        why = str(first.get("ctx", {}).get("error", "not a timestamp"))
        return _refuse(f"manifest field {field} is {why}", Refusal.MALFORMED)
    if field == "files" and len(loc) >= 3:
        files = signed.get("files")
        item = files[loc[1]] if isinstance(files, list) and isinstance(loc[1], int) else None
        path = item.get("path") if isinstance(item, dict) else None
        if loc[2] == "path":
            return _refuse(
                f"manifest file path {path!r} is not a safe relative path", Refusal.MALFORMED
            )
        return _refuse(f"manifest file {path}: {loc[2]} malformed", Refusal.MALFORMED)
    if field == "files" and len(loc) == 2:
        return _refuse("manifest file entry is not an object", Refusal.MALFORMED)
    if field == "files" and first["type"] == "value_error":
        why = str(first.get("ctx", {}).get("error", "malformed"))
        return _refuse(f"manifest {why}", Refusal.MALFORMED)
    if field == "files":
        return _refuse("manifest lists no files", Refusal.MALFORMED)
    return _refuse(f"manifest field {field or '?'} malformed", Refusal.MALFORMED)


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
        parsed = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise _refuse("manifest is not JSON", Refusal.MALFORMED) from None
    try:
        doc = _Document.model_validate(parsed)
    except ValidationError as err:
        if any(e["loc"][:1] == ("signatures",) for e in err.errors()) and not any(
            e["loc"][:1] in ((), ("signed",)) for e in err.errors()
        ):
            raise _refuse("manifest is not signed", Refusal.UNSIGNED) from None
        raise _refuse("manifest has no signed part", Refusal.MALFORMED) from None

    message = canonical_bytes(doc.signed)
    accepted: str | None = None
    known = False
    for entry in doc.signatures:
        try:
            signature = _Signature.model_validate(entry)
        except ValidationError:
            continue
        if signature.keyid not in trusted_keys:
            continue
        known = True
        try:
            trusted_keys[signature.keyid].verify(
                base64.b64decode(signature.sig, validate=True), message
            )
        except (InvalidSignature, binascii.Error, ValueError):
            continue
        accepted = signature.keyid
        break
    if accepted is None:
        if not known:
            raise _refuse("manifest is not signed by a trusted fleet key", Refusal.UNKNOWN_KEY)
        raise _refuse("manifest signature does not verify", Refusal.BAD_SIGNATURE)

    # From here on the content is the fleet key holder's word.
    try:
        signed = SignedPart.model_validate(doc.signed)
    except ValidationError as err:
        raise _malformed(err, doc.signed) from None
    release = signed.release
    manifest = Manifest(
        name=signed.name,
        release=release,
        version=signed.version,
        created=signed.created,
        expires=signed.expires,
        rollback=signed.rollback,
        files=tuple(FileEntry(path=f.path, sha256=f.sha256, length=f.length) for f in signed.files),
        requirement=signed.requirement,
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
