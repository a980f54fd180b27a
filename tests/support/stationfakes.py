"""A fake link and connection for :class:`management.station.StationManagement`,
a station configuration file, and signed ``hk.config/1`` documents."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from healthkiosk.config import Config, load_config
from management.signedconfig import sign
from sync.schema import DesiredConfig, Scope


class FakeConn:
    connected = True

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes, bool]] = []

    async def publish(self, name: str, payload: bytes, *, retain: bool, timeout: float) -> None:  # noqa: ASYNC109
        self.sent.append((name, payload, retain))


class FakeLink:
    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.generation = 0
        self.applied: list[Config] = []
        self.reconnects = 0

    def apply_config(self, cfg: Config) -> int:
        self.cfg = cfg
        self.applied.append(cfg)
        self.generation += 1
        return self.generation

    def request_reconnect(self) -> None:
        self.reconnects += 1

    async def resync(self) -> int:
        return 0

    def last_error(self) -> str | None:
        return "cannot connect to 127.0.0.1:9: refused"


@dataclass(frozen=True)
class ConfigKey:
    """An administrator's configuration key; the station trusts ``public``."""

    private: Ed25519PrivateKey
    public: Path


def config_key(directory: Path, name: str = "config-key") -> ConfigKey:
    key = Ed25519PrivateKey.generate()
    public = directory / f"{name}.pub.pem"
    public.write_bytes(
        key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    )
    return ConfigKey(key, public)


def station(tmp_path: Path, *, trusted: list[Path], group: str = "g1", extra: str = "") -> FakeLink:
    """A station st-a whose file trusts the configuration keys ``trusted``."""
    conf = tmp_path / "station.toml"
    keys = ", ".join(json.dumps(str(p)) for p in trusted)
    conf.write_text(
        f'[station]\nid = "st-a"\ngroup = "{group}"\ndata_dir = "{tmp_path}"\n'
        f"[fleet]\nrevert_after_s = 0.3\nrestart_command = []\nconfig_keys = [{keys}]\n" + extra,
        encoding="utf-8",
    )
    return FakeLink(load_config(conf))


def document(
    version: int,
    settings: dict[str, Any],
    *,
    scope: Scope = "station",
    target: str = "st-a",
    cleared: bool = False,
    expires: datetime | None = None,
    issued_at: datetime | None = None,
) -> DesiredConfig:
    at = issued_at or datetime.now(UTC)
    return DesiredConfig(
        scope=scope,
        target=target,
        version=version,
        settings=settings,
        cleared=cleared,
        issued_at=at,
        expires=expires or at + timedelta(days=30),
    )


def signed(key: ConfigKey, version: int, settings: dict[str, Any], **kw: Any) -> bytes:
    return sign(document(version, settings, **kw), key.private)


def reports(conn: FakeConn) -> list[dict[str, Any]]:
    return [json.loads(p) for n, p, _r in conn.sent if n.endswith("/config-report")]
