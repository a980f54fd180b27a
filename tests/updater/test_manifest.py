"""The signed manifest: every refusal names its reason; nothing unsigned is believed."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from healthkiosk.errors import UpdateRefusedError
from updater import manifest
from updater.manifest import FileEntry, Refusal

NOW = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
KEY = Ed25519PrivateKey.generate()
TRUSTED = {manifest.key_id(KEY.public_key()): KEY.public_key()}
FILES = [FileEntry("wheels/a-1.0-py3-none-any.whl", "ab" * 32, 1234)]


def doc(*, release: int = 5, expires: timedelta = timedelta(days=1), rollback: bool = False,
        key: Ed25519PrivateKey = KEY) -> bytes:  # fmt: skip
    signed = manifest.build_signed(
        name="healthkiosk", release=release, version="0.5.0", files=FILES,
        expires=NOW + expires, created=NOW - timedelta(hours=1),
        requirement="healthkiosk[station]==0.5.0", rollback=rollback,
    )  # fmt: skip
    return manifest.sign(signed, key)


def check(raw: bytes, installed: int | None = 4) -> manifest.Manifest:
    return manifest.verify(
        raw, trusted_keys=TRUSTED, now=NOW, installed_release=installed,
        expected_name="healthkiosk",
    )  # fmt: skip


def refused(raw: bytes, installed: int | None = 4) -> UpdateRefusedError:
    with pytest.raises(UpdateRefusedError) as info:
        check(raw, installed)
    return info.value


def test_a_good_manifest_verifies_with_every_field() -> None:
    m = check(doc())
    assert (m.name, m.release, m.version, m.rollback) == ("healthkiosk", 5, "0.5.0", False)
    assert m.files == tuple(FILES)
    assert m.expires == NOW + timedelta(days=1)
    assert m.keyid == manifest.key_id(KEY.public_key())
    assert m.dir_name == "5-0.5.0"


def test_unsigned_is_refused() -> None:
    d = json.loads(doc())
    d["signatures"] = []
    assert refused(json.dumps(d).encode()).reason == Refusal.UNSIGNED


def test_signed_by_an_untrusted_key_is_refused() -> None:
    assert refused(doc(key=Ed25519PrivateKey.generate())).reason == Refusal.UNKNOWN_KEY


def test_a_changed_hash_breaks_the_signature() -> None:
    d = json.loads(doc())
    d["signed"]["files"][0]["sha256"] = "cd" * 32
    assert refused(json.dumps(d).encode()).reason == Refusal.BAD_SIGNATURE


def test_a_raised_release_number_breaks_the_signature() -> None:
    d = json.loads(doc(release=3))
    d["signed"]["release"] = 9
    assert refused(json.dumps(d).encode()).reason == Refusal.BAD_SIGNATURE


def test_expired_metadata_cannot_confirm_freshness() -> None:
    err = refused(doc(expires=timedelta(seconds=-1)))
    assert err.reason == Refusal.EXPIRED
    assert "cannot confirm freshness" in str(err)
    assert err.release == 5


@pytest.mark.parametrize("release", [3, 4])
def test_downgrade_and_replay_of_the_installed_release_are_refused(release: int) -> None:
    err = refused(doc(release=release))
    assert err.reason == Refusal.DOWNGRADE
    assert err.release == release


def test_a_signed_rollback_release_may_go_back() -> None:
    assert check(doc(release=3, rollback=True)).rollback is True


def test_the_rollback_flag_is_covered_by_the_signature() -> None:
    d = json.loads(doc(release=3))
    d["signed"]["rollback"] = True
    assert refused(json.dumps(d).encode()).reason == Refusal.BAD_SIGNATURE


def test_first_install_has_nothing_to_compare_with() -> None:
    assert check(doc(release=1), installed=None).release == 1


def test_an_oversized_manifest_is_refused_unread() -> None:
    assert refused(b" " * (manifest.MAX_MANIFEST_BYTES + 1)).reason == Refusal.TOO_LONG


@pytest.mark.parametrize("path", ["../etc/passwd", "/abs.whl", "a//b", "wheels/../x"])
def test_unsafe_file_paths_are_refused_even_when_signed(path: str) -> None:
    signed = manifest.build_signed(
        name="healthkiosk", release=5, version="0.5.0",
        files=[FileEntry(path, "ab" * 32, 1)], expires=NOW + timedelta(days=1),
        created=NOW, requirement="healthkiosk",
    )  # fmt: skip
    assert refused(manifest.sign(signed, KEY)).reason == Refusal.MALFORMED


def test_garbage_is_malformed() -> None:
    assert refused(b"\xff\x00").reason == Refusal.MALFORMED
    assert refused(b"[]").reason == Refusal.MALFORMED


_OK_FILE = {"path": "x.whl", "sha256": "ab" * 32, "length": 1}


@pytest.mark.parametrize(
    ("change", "message", "release"),
    [
        ({"schema": "hk.release/2"}, "manifest schema is not hk.release/1", None),
        ({"release": True}, "manifest release number malformed", None),
        ({"release": "5"}, "manifest release number malformed", None),
        ({"release": 0}, "manifest release number malformed", None),
        ({"name": 3}, "manifest name/version malformed", 5),
        ({"version": ""}, "manifest name/version malformed", 5),
        ({"rollback": 1}, "manifest requirement/rollback malformed", 5),
        ({"requirement": None}, "manifest requirement/rollback malformed", 5),
        ({"created": "2026-11-25"}, "manifest field created is not a UTC timestamp", None),
        ({"expires": 5}, "manifest field expires is not a timestamp", None),
        ({"files": []}, "manifest lists no files", None),
        ({"files": "x.whl"}, "manifest lists no files", None),
        ({"files": [1]}, "manifest file entry is not an object", None),
        (
            {"files": [{**_OK_FILE, "sha256": "AB" * 32}]},
            "manifest file x.whl: sha256 malformed",
            None,
        ),
        ({"files": [{**_OK_FILE, "length": True}]}, "manifest file x.whl: length malformed", None),
        ({"files": [{**_OK_FILE, "length": -1}]}, "manifest file x.whl: length malformed", None),
        ({"files": [_OK_FILE, _OK_FILE]}, "manifest lists x.whl twice", None),
    ],
)
def test_every_malformed_signed_field_is_named(
    change: dict[str, object], message: str, release: int | None
) -> None:
    signed = json.loads(doc())["signed"]
    signed.update(change)
    err = refused(manifest.sign(signed, KEY))
    assert (err.reason, str(err), err.release) == (Refusal.MALFORMED, message, release)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"{}", Refusal.MALFORMED),
        (b'{"signed": [], "signatures": []}', Refusal.MALFORMED),
        (b'{"signed": {}}', Refusal.UNSIGNED),
        (b'{"signed": {}, "signatures": "x"}', Refusal.UNSIGNED),
        (b'{"signed": {}, "signatures": [1, {"keyid": 3}]}', Refusal.UNKNOWN_KEY),
    ],
)
def test_the_envelope_is_checked_before_anything_else(raw: bytes, reason: Refusal) -> None:
    assert refused(raw).reason == reason
