"""Remote configuration on the station: decide, persist, revert (no MQTT here).

The administrators publish ``hk.config/1`` documents (:class:`sync.schema.DesiredConfig`),
retained, one for the station's group and one for the station itself, each
signed with the administrator's configuration key (:mod:`management.signedconfig`;
an unsigned or wrongly signed one is refused with its reason before anything
here). A signed document's version must be higher than any this station has seen
for that scope (:func:`admit`, the high-water mark), so a replayed or older one
is refused; a scope is cleared by a signed document with ``cleared``. The
effective configuration is the local file, then the group's settings, then the
station's (:func:`healthkiosk.config.merge`), validated with the same pydantic
:class:`~healthkiosk.config.Config` as the file:

- a document whose version is the highest seen is stale (the retained document
  again at a reconnect): ignored, nothing reported; an older one is refused;
- a document that sets a key that cannot be set remotely (:data:`FORBIDDEN`)
  or makes the configuration invalid is **rejected**, the reason naming the
  key; the running configuration stays;
- a ``rules`` table is a whole rule set (it replaces the file's, it is not
  merged key by key): it must pass the rules' checks and come with the
  ``rules_digest`` the doctor's side wrote after checking it holds that rule
  set (docs/clinical.md, "One meaning"), else the document is **rejected**;
- otherwise it is **applied**: the overlay (the accepted documents) is written
  atomically to ``<data_dir>/remote-config.json``, which the loader merges at
  the next start. Keys of :data:`RECONNECT_KEYS` need a new broker connection:
  the previous overlay is kept in the file as ``previous`` until the broker is
  reached with the new settings; if that does not happen within
  ``fleet.revert_after_s`` the station goes back to it (**reverted**).

:func:`plan` says what applying needs: a reconnect, a kiosk app restart, or
nothing more than re-reading the configuration in ``kiosk-sync``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import TypeAdapter

from healthkiosk.atomicfile import write_atomic
from healthkiosk.config import (
    OVERLAY_SCOPES,
    Config,
    from_mapping,
    merge_layer,
    overlay_path,
    read_mapping,
)
from healthkiosk.errors import ConfigError
from healthkiosk.rules import load_rules, rules_digest
from healthkiosk.validation import read_json

Scope = Literal["group", "station"]

FORBIDDEN: tuple[str, ...] = (
    "station.id",
    "station.group",
    "station.data_dir",
    "store.path",
    "store.id_hash_key_file",
    "update",
    "fleet",
    "followup",
    "source",
)
"""Keys (and tables) only the local file may set: the station's identity and
where its data lives, the updater's trust (keys, commands), the commands this
module runs, and the doctor's side's section."""

RECONNECT_KEYS: frozenset[str] = frozenset(
    f"mqtt.{k}"
    for k in (
        "host",
        "port",
        "username",
        "password",
        "password_file",
        "tls_ca",
        "tls_cert",
        "tls_key",
        "keepalive_s",
        "session_expiry_s",
    )
)
"""Applied by reconnecting to the broker, under the revert guard."""

SYNC_LIVE_PREFIXES: tuple[str, ...] = ("mqtt.", "logging.", "store.retention_days")
"""Read again by ``kiosk-sync`` at once (the link's window, batch, timeouts,
status interval, reconnect back-off, log level, retention)."""


def flatten(settings: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"kiosk": {"done_s": 5}}`` → ``{"kiosk.done_s": 5}`` (tables only; lists
    are values)."""
    out: dict[str, Any] = {}
    for key, value in settings.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, f"{dotted}."))  # an empty table sets nothing
        else:
            out[dotted] = value
    return out


def check_remote_keys(settings: dict[str, Any]) -> None:
    """Raise :class:`ConfigError` naming the first key remote settings may not set."""
    for dotted in flatten(settings):
        for forbidden in FORBIDDEN:
            if dotted == forbidden or dotted.startswith(f"{forbidden}."):
                raise ConfigError("cannot be set remotely (local file only)", key=dotted)


def effective(
    local: dict[str, Any], layers: list[dict[str, Any]], *, source: Path | None = None
) -> Config:
    """The local file's mapping with each layer merged over it, validated."""
    merged = local
    for layer in layers:
        merged = merge_layer(merged, layer)
    return from_mapping(merged, source=source)


def check_remote_rules(doc: Doc) -> None:
    """A document's ``rules`` table: a valid rule set whose digest is the one the
    doctor's side checked it holds (``rules_digest``); :class:`ConfigError` if not."""
    if "rules" not in doc.settings:
        return
    table = doc.settings["rules"]
    if not isinstance(table, dict):
        raise ConfigError("must be a table", key="rules")
    digest = rules_digest(load_rules(table))  # RulesError names the key at fault
    if doc.rules_digest is None:
        raise ConfigError(
            f"rule set {digest[:12]} comes without the doctor's side's digest: "
            "give it with 'healthkiosk admin config set', which checks it is held",
            key="rules",
        )
    if doc.rules_digest != digest:
        raise ConfigError(
            f"rule set {digest[:12]} is not the one the doctor's side checked "
            f"({doc.rules_digest[:12]})",
            key="rules",
        )


def changed_keys(old: Config, new: Config) -> set[str]:
    a = flatten(old.model_dump(mode="json", exclude={"source"}))
    b = flatten(new.model_dump(mode="json", exclude={"source"}))
    return {k for k in a.keys() | b.keys() if a.get(k) != b.get(k)}


@dataclass(frozen=True, slots=True)
class Plan:
    changed: frozenset[str]
    reconnect: bool
    sync_live: frozenset[str]
    kiosk_restart: frozenset[str]

    @property
    def restart_needed(self) -> bool:
        return bool(self.kiosk_restart)


def plan(old: Config, new: Config) -> Plan:
    changed = changed_keys(old, new)
    live = {k for k in changed if k.startswith(SYNC_LIVE_PREFIXES)}
    return Plan(
        changed=frozenset(changed),
        reconnect=bool(changed & RECONNECT_KEYS),
        sync_live=frozenset(live),
        kiosk_restart=frozenset(changed - live),
    )


# --- the persisted overlay ----------------------------------------------------------------


@dataclass(slots=True)
class Doc:
    version: int
    settings: dict[str, Any]
    issued_at: str = ""
    issued_by: str = ""
    rules_digest: str | None = None
    """The digest of ``settings["rules"]`` the doctor's side checked it holds."""

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "settings": self.settings,
            "issued_at": self.issued_at,
            "issued_by": self.issued_by,
            "rules_digest": self.rules_digest,
        }


Overlay = dict[str, Doc | None]


def _overlay_json(o: Overlay) -> dict[str, Any]:
    return {s: (d.to_json() if (d := o.get(s)) else None) for s in OVERLAY_SCOPES}


@dataclass(slots=True)
class OverlayState:
    """``<data_dir>/remote-config.json``: what the loader merges (``applied``),
    the overlay to go back to while a new one is on probation (``previous``),
    the last version refused per scope (never tried again), and the highest
    version seen per scope."""

    applied: Overlay = field(default_factory=lambda: {s: None for s in OVERLAY_SCOPES})
    previous: Overlay | None = None
    probation_scope: str | None = None
    refused: dict[str, int] = field(default_factory=dict)
    high_water: dict[str, int] = field(default_factory=dict)
    """The highest version of a signed document seen, per :func:`scope_key`
    (applied, refused or cleared): never lowered, so an older document (a replay,
    a rollback) is refused."""

    def versions(self, overlay: Overlay | None = None) -> dict[str, int | None]:
        o = self.applied if overlay is None else overlay
        return {s: (d.version if (d := o.get(s)) else None) for s in OVERLAY_SCOPES}

    def layers(self, overlay: Overlay | None = None) -> list[dict[str, Any]]:
        o = self.applied if overlay is None else overlay
        return [d.settings for s in OVERLAY_SCOPES if (d := o.get(s)) is not None]

    def config_version(self) -> int | None:
        """One number for the status: the sum of the applied documents' versions
        (grows with every change that reaches the station)."""
        vs = [v for v in self.versions().values() if v is not None]
        return sum(vs) if vs else None

    def to_json(self) -> dict[str, Any]:
        return {
            "applied": _overlay_json(self.applied),
            "previous": _overlay_json(self.previous) if self.previous is not None else None,
            "probation_scope": self.probation_scope,
            "refused": dict(self.refused),
            "high_water": dict(self.high_water),
        }

    @classmethod
    def load(cls, data_dir: Path) -> OverlayState:
        """The saved state; a fresh one when the file is missing or damaged."""
        try:
            state = read_json(overlay_path(data_dir), _STATE)
        except (OSError, ValueError):
            return cls()
        state.applied = {s: state.applied.get(s) for s in OVERLAY_SCOPES}
        if state.previous is not None:
            state.previous = {s: state.previous.get(s) for s in OVERLAY_SCOPES}
        return state

    def save(self, data_dir: Path) -> None:
        """Atomically and durably (:func:`healthkiosk.atomicfile.write_atomic`)."""
        path = overlay_path(data_dir)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, json.dumps(self.to_json(), ensure_ascii=False, indent=1))


_STATE: TypeAdapter[OverlayState] = TypeAdapter(OverlayState)


def scope_key(scope: Scope, *, group: str, station_id: str) -> str:
    """The high-water mark's key: a group change starts a new count."""
    return f"group:{group}" if scope == "group" else f"station:{station_id}"


def seed_high_water(state: OverlayState, *, group: str, station_id: str) -> None:
    """A state saved before the high-water mark existed: start it from what was
    applied or refused (once: later, a key missing is a new count, e.g. a new group)."""
    if state.high_water:
        return
    for scope in ("group", "station"):
        key = scope_key(scope, group=group, station_id=station_id)
        if key in state.high_water:
            continue
        doc = state.applied.get(scope)
        seen = [v for v in (doc.version if doc else None, state.refused.get(scope)) if v]
        if seen:
            state.high_water[key] = max(seen)


# --- decisions -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Stale:
    """Not newer than what is applied or was refused: ignored silently."""

    why: str


@dataclass(frozen=True, slots=True)
class Rejected:
    reason: str


@dataclass(frozen=True, slots=True)
class Accepted:
    config: Config
    overlay: Overlay
    plan: Plan


Decision = Stale | Rejected | Accepted


def admit(state: OverlayState, *, key: str, version: int) -> Stale | Rejected | None:
    """A signed document's version against the highest seen for its scope: the
    same one again (the retained document at every reconnect) is stale; an older
    one is refused; None: newer, to be considered."""
    seen = state.high_water.get(key)
    if seen is None or version > seen:
        return None
    if version == seen:
        return Stale(f"version {version} seen before")
    return Rejected(
        f"downgrade: version {version} is older than version {seen} seen before "
        "(a replayed or rolled-back document)"
    )


def decide(
    state: OverlayState,
    *,
    scope: Scope,
    doc: Doc | None,
    local: dict[str, Any],
    running: Config,
) -> Decision:
    """What to do with a new document for ``scope`` (None: the scope was cleared),
    already admitted by :func:`admit` (signed, newer than any seen)."""
    if doc is None:
        if state.applied.get(scope) is None:
            return Stale("already clear")
    else:
        try:
            check_remote_keys(doc.settings)
            check_remote_rules(doc)
        except ConfigError as err:
            return Rejected(str(err))
    overlay: Overlay = dict(state.applied)
    overlay[scope] = doc
    try:
        new = effective(local, state.layers(overlay), source=running.source)
        load_rules(new.rules)  # the rules the station would run: checked as at its start
    except ConfigError as err:
        return Rejected(str(err))
    return Accepted(config=new, overlay=overlay, plan=plan(running, new))


def local_mapping(cfg: Config) -> dict[str, Any]:
    """The station's own file (what remote settings are merged over)."""
    return read_mapping(cfg.source)
