"""Signed remote configuration: ``hk.config/1`` documents carry Ed25519 signatures.

Signed like the release manifests (:mod:`updater.manifest`), with the same key
format (:mod:`updater.keys`, ``healthkiosk admin keygen``) and the same
canonical JSON (:func:`updater.manifest.canonical_bytes`: sorted keys, no
whitespace, UTF-8), but with a key of its own:

- the **configuration key** signs ``healthkiosk admin config set|clear`` on the
  doctor's side; the stations trust its public half in ``fleet.config_keys``
  (their local file only: ``fleet`` can never be set remotely);
- the **release key** (``update.trusted_keys``) signs software. It is used
  rarely and may stay offline; the configuration key is used often, on a
  machine that is online. Neither can do the other's work: a leaked
  configuration key cannot install code, a leaked release key cannot move a
  station to another broker.

The signature covers the document *as sent* without its ``signatures`` member:
the station parses the payload once (duplicate keys and NaN refused),
verifies the canonical bytes of that parsed object, and then uses that same
object, so what was verified is what is applied. Everything else a station
checks (the scope and target against the topic, a version never lower than
the highest it has seen, the expiry when its clock is trusted, the keys it
may set) is in :mod:`management.station` and :mod:`management.remote_config`.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from datetime import timedelta
from enum import StrEnum
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import ValidationError

from healthkiosk.errors import RemoteConfigRefusedError
from healthkiosk.validation import describe
from sync.schema import DesiredConfig, to_dict
from updater.manifest import canonical_bytes, key_id

MAX_DOCUMENT_BYTES = 256 * 1024
DEFAULT_LIFETIME = timedelta(days=90)
"""How long a signed document may still be accepted (re-sign before then)."""


class Refusal(StrEnum):
    """Why a document was refused before it was considered (the report's reason)."""

    MALFORMED = "malformed"
    UNSIGNED = "unsigned"
    NO_TRUSTED_KEYS = "no_trusted_keys"
    UNKNOWN_KEY = "unknown_key"
    BAD_SIGNATURE = "bad_signature"
    EXPIRED = "expired"
    DOWNGRADE = "downgrade"
    """Older than the newest version this station has seen: replayed or rolled back."""


def refuse(reason: Refusal, message: str) -> RemoteConfigRefusedError:
    return RemoteConfigRefusedError(f"{reason.value}: {message}", reason=reason.value)


def sign(doc: DesiredConfig, key: Ed25519PrivateKey) -> bytes:
    """The payload to publish: ``doc`` with one signature by ``key``."""
    body = to_dict(doc)
    body.pop("signatures", None)
    signature = key.sign(canonical_bytes(body))
    body["signatures"] = [
        {"keyid": key_id(key.public_key()), "sig": base64.b64encode(signature).decode("ascii")}
    ]
    return json.dumps(body, ensure_ascii=False, allow_nan=False).encode("utf-8")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise ValueError(f"duplicate key {k!r}")
        out[k] = v
    return out


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def parse(payload: bytes) -> dict[str, Any]:
    """The payload as one JSON object (no duplicate keys, no NaN/Infinity)."""
    if len(payload) > MAX_DOCUMENT_BYTES:
        raise refuse(Refusal.MALFORMED, f"over {MAX_DOCUMENT_BYTES} bytes")
    try:
        data = json.loads(payload, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError) as err:
        raise refuse(Refusal.MALFORMED, f"not a JSON document: {err}") from None
    if not isinstance(data, dict):
        raise refuse(Refusal.MALFORMED, "not a JSON object")
    return data


def verify(payload: bytes, trusted: Mapping[str, Ed25519PublicKey]) -> DesiredConfig:
    """The document, if a key of ``trusted`` signed it; else
    :class:`~healthkiosk.errors.RemoteConfigRefusedError` with the reason."""
    data = parse(payload)
    if data.get("schema") != "hk.config/1":
        raise refuse(Refusal.MALFORMED, f"expected hk.config/1, got {data.get('schema')!r}")
    sigs = data.get("signatures")
    if not sigs:
        raise refuse(Refusal.UNSIGNED, "the document carries no signature")
    if not trusted:
        raise refuse(Refusal.NO_TRUSTED_KEYS, "this station trusts no key (fleet.config_keys)")
    if not isinstance(sigs, list):
        raise refuse(Refusal.MALFORMED, "signatures is not a list")
    signed = canonical_bytes({k: v for k, v in data.items() if k != "signatures"})
    known = False
    for s in sigs[:8]:
        if not isinstance(s, dict):
            continue
        key = trusted.get(str(s.get("keyid")))
        if key is None:
            continue
        known = True
        try:
            key.verify(base64.b64decode(str(s.get("sig")), validate=True), signed)
        except (InvalidSignature, binascii.Error, ValueError):
            continue
        try:
            return DesiredConfig.model_validate(data)
        except ValidationError as err:
            raise refuse(Refusal.MALFORMED, describe(err)) from None
    if not known:
        raise refuse(Refusal.UNKNOWN_KEY, "signed by no key this station trusts")
    raise refuse(Refusal.BAD_SIGNATURE, "the signature does not match the document")
