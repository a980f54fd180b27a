"""Configuration: one TOML file, validated at start.

Search order (the first that exists wins; nothing found means the embedded
defaults, which run a whole demo on a laptop):

1. ``--config PATH`` on the command line;
2. the ``HEALTHKIOSK_CONFIG`` environment variable;
3. ``./healthkiosk.toml`` in the working directory;
4. ``$XDG_CONFIG_HOME/healthkiosk/config.toml`` (``~/.config/...``);
5. ``/etc/healthkiosk/config.toml``.

Every error names the dotted key at fault (``mqtt.port: ...``). Unknown keys
are errors too: a typo must not silently fall back to a default.

Remote configuration (see :mod:`management.remote_config`): after the file is read,
the overlay the station accepted from its administrators
(``<data_dir>/remote-config.json``, key ``applied``) is merged over it, the
group's settings first, then the station's own (a ``rules`` table replaces the
one before it as a whole: :func:`merge_layer`). The file alone must be valid;
if the merged result is not (say an older release does not know a key the
overlay sets), the overlay is ignored with a warning and the file alone is
used. ``load_config(..., overlay=False)`` reads the file alone.
"""

from __future__ import annotations

import logging
import os
import re
import tomllib
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from healthkiosk.errors import ConfigError
from healthkiosk.validation import describe, key_of

ENV_VAR = "HEALTHKIOSK_CONFIG"
OVERLAY_FILENAME = "remote-config.json"
OVERLAY_SCOPES = ("group", "station")
"""The order in which the accepted overlay's documents are merged over the file."""
STATION_ID_PATTERN = r"^[a-z0-9][a-z0-9-]{0,62}$"
PHONE_PATTERN = r"^\+?[0-9(][0-9 ()-]{1,22}[0-9]$"
"""A telephone number as people write it: digits, spaces, dashes, brackets, a leading +."""
USB_ID_PATTERN = r"^[0-9a-fA-F]{4}:[0-9a-fA-F]{4}$"
"""Vendor and product id as ``lsusb`` prints them (``0416:5011``)."""
ACCOUNT_PATTERN = r"^[a-z0-9][a-z0-9.-]{0,62}$"
"""A broker account (= its client id): a station id, ``<station>.updates`` or a
doctor-side account."""
INGEST_GROUP_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
"""MQTT forbids ``/ + #`` in a share name."""
INGEST_GROUP_FILE = "ingest-group"
DEFAULT_INGEST_GROUP = "followup"
INGEST_ACCOUNT_PREFIX = "followup-ingest-"
WEB_ACCOUNT = "followup-web"
"""The web app: urgent-reading alerts and the fleet page's commands."""
ROLLOUT_ACCOUNT = "followup-rollout"
ADMIN_ACCOUNT = "followup-admin"
"""``healthkiosk admin config|command``."""
UPDATES_ACCOUNT_SUFFIX = ".updates"
"""A station's update-order connection signs in as ``<username>.updates``."""


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "healthkiosk"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StationConfig(_Section):
    id: str = Field(default="demo-station-01", pattern=STATION_ID_PATTERN)
    group: str = Field(default="default", pattern=STATION_ID_PATTERN)
    name: str = "Demo health station"
    area: str = ""
    data_dir: Path = Field(default_factory=default_data_dir)
    timezone: str = "Asia/Shanghai"
    """The district's time zone (an IANA name): the times on the take-home slip."""
    doctor_name: str = Field(default="", max_length=24)
    """The community doctor the take-home slip names (empty: none printed)."""
    doctor_phone: str = Field(default="", max_length=24)
    """Their telephone number, printed on the slip (empty: none printed)."""

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @field_validator("doctor_name")
    @classmethod
    def _plain_name(cls, value: str) -> str:
        value = value.strip()
        if any(not ch.isprintable() for ch in value):
            raise ValueError("the name has a control character")
        return value

    @field_validator("doctor_phone")
    @classmethod
    def _phone(cls, value: str) -> str:
        value = value.strip()
        if value and not re.fullmatch(PHONE_PATTERN, value):
            raise ValueError("not a telephone number (digits, spaces, dashes, brackets, +)")
        return value

    clock: Literal["auto", "trusted", "untrusted"] = "auto"
    """Whether the station's clock is trusted: ``auto`` asks the system whether it
    is synchronised (:mod:`healthkiosk.clocktrust`); ``trusted`` for a station
    with a battery-backed real-time clock that is right from boot."""


class StoreConfig(_Section):
    path: Path | None = None
    """The kiosk's SQLite file; default ``<data_dir>/kiosk.sqlite``."""
    retention_days: int = Field(default=30, ge=1)
    """Delivered readings are purged after this many days; undelivered never."""
    min_free_mb: int = Field(default=200, ge=1)
    """Below this much free disk, new readings are refused (visibly)."""
    id_hash_key_file: Path | None = None
    """Secret for the keyed hash of ID numbers; default ``<data_dir>/id-hash.key``."""


class MqttConfig(_Section):
    host: str = "127.0.0.1"
    port: int = Field(default=1883, ge=1, le=65535)
    username: str | None = None
    password: str | None = None
    password_file: Path | None = None
    tls_ca: Path | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    keepalive_s: int = Field(default=30, ge=5, le=3600)
    session_expiry_s: int = Field(default=7 * 24 * 3600, ge=0)
    inflight_window: int = Field(default=20, ge=1, le=1000)
    rate_limit_per_s: float | None = Field(default=None, gt=0)
    receipt_timeout_s: float = Field(default=60.0, gt=0)
    reconnect_min_s: float = Field(default=1.0, gt=0)
    reconnect_max_s: float = Field(default=120.0, gt=0)
    status_interval_s: float = Field(default=60.0, gt=0)
    batch_size: int = Field(default=10, ge=1, le=500)
    """Readings per message on the wire (``hk.reading-batch/1`` when > 1); never
    more than the in-flight window."""
    poll_interval_s: float = Field(default=1.0, gt=0)
    """How often the link looks for new readings when the outbox ran dry."""


class DeviceConfig(_Section):
    driver: str
    port: str | None = None
    address: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)

    def driver_options(self) -> dict[str, Any]:
        """The ``options`` the driver's opener is given."""
        return dict(self.options)


class PrinterConfig(DeviceConfig):
    """``[devices.printer]``: a thermal receipt printer for the take-home slip
    (``escpos-usb`` or ``escpos-serial``; docs/guides/devices.md)."""

    enabled: bool = True
    """false: the printer stays configured but unused (the slip is not printed)."""
    dot_width: int = Field(default=384, ge=128, le=1024, multiple_of=8)
    """Printable dots across the paper: 384 for 58 mm paper, 576 for most 80 mm
    printers (512 for an Epson TM-T88, 640 for full-width 80 mm heads)."""
    usb_id: str | None = Field(default=None, pattern=USB_ID_PATTERN)
    """``escpos-usb``: the printer's vendor and product id (``lsusb``: ``0416:5011``)."""

    @model_validator(mode="after")
    def _not_twice(self) -> PrinterConfig:
        for key in ("dot_width", "usb_id"):
            if key in self.options:
                raise ValueError(f"options.{key}: set {key} in [devices.printer] itself")
        return self

    def driver_options(self) -> dict[str, Any]:
        extra: dict[str, Any] = {"dot_width": self.dot_width}
        if self.usb_id is not None:
            extra["usb_id"] = self.usb_id
        return {**self.options, **extra}


class DevicesConfig(_Section):
    simulate: bool = True
    """Use the drivers' emulated devices (``--simulate`` forces it on)."""
    blood_pressure: DeviceConfig | None = None
    glucose: DeviceConfig | None = None
    id_card: DeviceConfig | None = None
    qr_code: DeviceConfig | None = None
    """A QR-code scanner for check-in with an elder service card (``serial-qr``)."""
    printer: PrinterConfig | None = None
    """A thermal receipt printer for the take-home slip (none: the slip is not printed)."""
    weight: DeviceConfig | None = None
    """A weight scale (``ble-weight-standard``): weight and BMI."""
    pulse_oximeter: DeviceConfig | None = None
    """A pulse oximeter (``ble-plx-standard``): SpO2 and pulse."""
    thermometer: DeviceConfig | None = None
    """A body thermometer (``ble-thermometer-standard``)."""


class KioskConfig(_Section):
    language: Literal["zh_CN", "en"] = "zh_CN"
    fullscreen: bool = False
    panel_width_mm: float = Field(default=154.0, gt=0)
    panel_height_mm: float = Field(default=86.0, gt=0)
    resolution: tuple[int, int] = (800, 480)
    idle_timeout_s: float = Field(default=60.0, gt=0)
    still_here_s: float = Field(default=20.0, ge=20.0)
    result_timeout_s: float = Field(default=45.0, gt=0)
    """The result screen's time to read, without a touch, before "still here?"
    (``idle_timeout_s`` elsewhere); unanswered, the visit ends as completed."""
    technician_pin: str = Field(default="2468", pattern=r"^\d{4,8}$")
    voice_enabled: bool = True
    voice_volume: float = Field(default=0.8, ge=0.0, le=1.0)
    voice_pack: Path | None = None
    done_s: float = Field(default=8.0, gt=0)
    """The thank-you screen stays this long before the attract screen."""
    card_reader_side: Literal["left", "right", "below"] = "below"
    """Where the ID card reader is, seen from the elder: the check-in screen's
    arrow points there (and its keypad keeps to the other side)."""
    measure_timeout_s: float = Field(default=180.0, gt=0)
    """How long the kiosk waits for a device's measurement (shown as a countdown)."""
    slip_languages: tuple[Literal["zh_CN", "en"], ...] = Field(
        default=("zh_CN", "en"), min_length=1, max_length=2
    )
    """The take-home slip's languages: the first in large print, the second
    (if any) smaller under it."""
    staff_lamp_gpio: int | None = Field(default=None, ge=0, le=63)
    """A staff lamp (a light, or a relay for one) on this GPIO pin (BCM
    numbering), lit while a call for staff is open (issue 16); unset: none."""
    staff_lamp_active_low: bool = False
    """The lamp is on when the pin is low (many relay boards)."""
    staff_lamp_tool: str = "pinctrl"
    """The program that sets the pin (Raspberry Pi OS's ``pinctrl``:
    ``pinctrl set <pin> op dh|dl``)."""
    chime: bool = True
    """A chime through the speaker when a person is called (even with the voice off)."""

    @field_validator("slip_languages")
    @classmethod
    def _distinct(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(value)) != len(value):
            raise ValueError("a language is listed twice")
        return value


class EscalationConfig(_Section):
    """``[followup.escalation]``: an urgent reading nobody acknowledged within
    ``after_minutes`` goes to the next person of the duty chain through
    ``followup.alert_webhook`` (docs/guides/doctor.md, "Escalation")."""

    after_minutes: float = Field(default=15.0, gt=0, le=24 * 60)
    doctor_phones: dict[str, str] = Field(default_factory=dict)
    """A doctor's username → phone (the chain's first link: the responsible doctor)."""
    station_phones: dict[str, str] = Field(default_factory=dict)
    """A station's id → its duty phone (the second link)."""
    centre_phone: str | None = None
    """The health centre's duty phone (the last link)."""
    give_up_after_hours: float = Field(default=24.0, gt=0)
    """Alerts older than this are no longer escalated (the list still shows them)."""


class FollowupConfig(_Section):
    database_url: str | None = None
    """SQLAlchemy URL; default SQLite at ``<data_dir>/followup.sqlite``."""
    listen_host: str = "127.0.0.1"
    listen_port: int = Field(default=8080, ge=1, le=65535)
    ingest_group: str | None = Field(default=None, pattern=INGEST_GROUP_PATTERN)
    """The MQTT shared-subscription group of the ingest workers. Default: the
    secret name ``healthkiosk broker config`` wrote to ``<mqtt_accounts_dir>/ingest-group``,
    else ``followup`` (see :meth:`resolved_ingest_group`)."""
    ingest_client_id: str = Field(default="followup-ingest-1", pattern=ACCOUNT_PATTERN)
    mqtt: MqttConfig = Field(default_factory=MqttConfig)
    mqtt_accounts_dir: Path | None = None
    """Each doctor-side process signs in to the broker with its own account
    (``healthkiosk broker config`` makes them): the username is the process's
    client id (``followup-ingest-1``, ``followup-web``, ``followup-rollout``,
    ``followup-admin``) and the password is read from ``<dir>/<client id>.password``;
    host, port and TLS come from ``[followup.mqtt]``. Unset: every process signs in
    with ``[followup.mqtt]``'s username and password (a broker without per-account
    client ids, e.g. the demo's)."""
    secret_key_file: Path | None = None
    alert_webhook: str | None = None
    escalation: EscalationConfig = Field(default_factory=EscalationConfig)
    id_hash_key_file: Path | None = None
    """Key of the keyed hash that finds residents by ID number; default
    ``<data_dir>/followup-id-hash.key`` (created on first use)."""
    max_payload_bytes: int = Field(default=512 * 1024, ge=1024)
    """Larger reading messages are refused (dead-lettered) unparsed."""
    max_clock_ahead_s: float = Field(default=300.0, ge=0, le=86400)
    """A station's time of a reading further ahead of its arrival than this is
    not believed: the reading takes its arrival time, the station's kept beside it."""
    timezone: str = "Asia/Shanghai"
    """The district's time zone (an IANA name): the doctor's pages show every time in it."""

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("not a known time zone (an IANA name such as Asia/Shanghai)") from None
        return value

    rule_sets: dict[str, dict[str, Any]] = Field(default_factory=dict)
    """Rule sets the doctor's side holds besides its own ``[rules]``, by name:
    each a whole ``[rules]`` table (``[followup.rule_sets.home_bp.blood_pressure]``).
    A station may be given (``admin config set``) only a rule set held here
    (docs/clinical.md, "One meaning"); checked with the rules at load."""
    trusted_proxies: list[str] = Field(default_factory=lambda: ["127.0.0.1", "::1"])
    """Addresses (or networks) of the reverse proxies whose ``X-Forwarded-For`` and
    ``X-Forwarded-Proto`` the web app believes: the client's address (the
    per-address sign-in limit) and whether it came over TLS (the Secure cookie)."""
    config_key_file: Path | None = None
    """The private configuration key ``healthkiosk admin config set|clear`` signs
    with (0600; ``--key`` overrides it)."""

    def account_mqtt(self, client_id: str) -> MqttConfig:
        """``[followup.mqtt]`` signed in as the account of ``client_id`` (see
        :attr:`mqtt_accounts_dir`); the process connects with that client id."""
        d = self.mqtt_accounts_dir
        if d is None:
            return self.mqtt
        return self.mqtt.model_copy(
            update={
                "username": client_id,
                "password": None,
                "password_file": d.expanduser() / f"{client_id}.password",
            }
        )

    def resolved_ingest_group(self) -> str:
        """:attr:`ingest_group`, else the group file next to the accounts, else ``followup``."""
        if self.ingest_group is not None:
            return self.ingest_group
        if self.mqtt_accounts_dir is not None:
            path = self.mqtt_accounts_dir.expanduser() / INGEST_GROUP_FILE
            try:
                name = path.read_text(encoding="utf-8").strip()
            except FileNotFoundError:
                return DEFAULT_INGEST_GROUP
            except OSError as err:
                raise ConfigError(f"cannot read {path}: {err.strerror}") from None
            if not re.fullmatch(INGEST_GROUP_PATTERN, name):
                raise ConfigError(f"{path} does not hold a valid group name")
            return name
        return DEFAULT_INGEST_GROUP


class LoggingConfig(_Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    format: Literal["text", "json"] = "text"


class UpdateConfig(_Section):
    """The station updater (``updater``); see docs/updates.md."""

    name: str = "healthkiosk"
    """The project name a release's manifest must carry."""
    root: Path = Path("/opt/healthkiosk")
    """Holds ``releases/<release>-<version>/``, the ``current`` symlink and the state."""
    server_url: str | None = None
    """Where releases are published, e.g. ``http://followup.local:8080/releases``."""
    trusted_keys: list[Path] = Field(default_factory=list)
    """Public fleet keys (PEM) whose signatures this station accepts."""
    restart_command: list[str] = Field(
        default_factory=lambda: ["systemctl", "restart", "kiosk-sync.service", "kiosk.service"]
    )
    health_units: list[str] = Field(default_factory=lambda: ["kiosk-sync", "kiosk"])
    health_dir: Path | None = None
    """Default ``<data_dir>/health``."""
    visit_lock: Path | None = None
    """Default ``<data_dir>/visit.lock``."""
    ready_timeout_s: float = Field(default=120.0, gt=0)
    stability_window_s: float = Field(default=60.0, ge=0)
    max_start_tries: int = Field(default=3, ge=1, le=10)
    download_deadline_s: float = Field(default=1800.0, gt=0)
    read_timeout_s: float = Field(default=20.0, gt=0)
    download_retries: int = Field(default=5, ge=0, le=50)
    """Further attempts after a transient network failure, resuming the partial file."""
    retry_backoff_s: float = Field(default=2.0, ge=0)
    """Wait before the first retry, doubled each time (at most 60 s)."""
    visit_wait_s: float = Field(default=4 * 3600.0, gt=0)
    order_command: list[str] = Field(default_factory=list)
    """How ``kiosk-sync`` starts ``healthkiosk admin update run-order`` for an
    update order received over MQTT, outside its own cgroup (the update restarts
    ``kiosk-sync``). Empty (the default): only write ``<data_dir>/update-order.json``,
    which ``healthkiosk-update-order.path`` watches."""
    order_start_timeout_s: float = Field(default=300.0, gt=0)
    """An order whose updater has not started after this long is reported failed."""


class FleetConfig(_Section):
    """Remote configuration and commands in ``kiosk-sync`` (docs/guides/administrator.md).

    None of these can be set remotely (they name commands this station runs)."""

    restart_command: list[str] = Field(
        default_factory=lambda: ["systemctl", "restart", "kiosk.service"]
    )
    """Restarts the kiosk app (at an idle moment: no visit in progress)."""
    unpair_command: list[str] = Field(
        default_factory=lambda: ["bluetoothctl", "remove", "{address}"]
    )
    """Forgets a BLE device's bond (``{address}`` is replaced) for ``repair``."""
    revert_after_s: float = Field(default=25.0, gt=0)
    """A configuration after which the broker is not reached again within this
    many seconds is reverted by the station itself. 25 s, so that with the
    reconnection on the old settings the station is back within 30 s."""
    idle_wait_s: float = Field(default=3600.0, gt=0)
    """How long a restart waits for a visit to end before giving up."""
    log_files: list[Path] = Field(default_factory=list)
    """Log files the ``logs`` command reads; default ``<data_dir>/kiosk.log`` and
    ``<data_dir>/kiosk-sync.log`` (those present), else journald."""
    journal_units: list[str] = Field(default_factory=lambda: ["kiosk-sync", "kiosk"])
    config_keys: list[Path] = Field(default_factory=list)
    """Public configuration keys (PEM, ``healthkiosk admin keygen``) whose signature
    a remote configuration must carry; empty: every remote configuration is refused.
    A key of its own, not the release key (docs/security.md)."""


class Config(_Section):
    station: StationConfig = Field(default_factory=StationConfig)
    store: StoreConfig = Field(default_factory=StoreConfig)
    mqtt: MqttConfig = Field(default_factory=MqttConfig)
    devices: DevicesConfig = Field(default_factory=DevicesConfig)
    kiosk: KioskConfig = Field(default_factory=KioskConfig)
    followup: FollowupConfig = Field(default_factory=FollowupConfig)
    logging: LoggingConfig = Field(default_factory=LoggingConfig)
    rules: dict[str, Any] = Field(default_factory=dict)
    """Overrides of the clinical rules' defaults (see ``healthkiosk.rules``)."""
    update: UpdateConfig = Field(default_factory=UpdateConfig)
    fleet: FleetConfig = Field(default_factory=FleetConfig)
    source: Path | None = None
    """The file this configuration was read from (set by the loader)."""

    @property
    def data_dir(self) -> Path:
        return self.station.data_dir.expanduser()

    @property
    def store_path(self) -> Path:
        return (self.store.path or self.data_dir / "kiosk.sqlite").expanduser()

    @property
    def id_hash_key_path(self) -> Path:
        return (self.store.id_hash_key_file or self.data_dir / "id-hash.key").expanduser()

    @property
    def followup_database_url(self) -> str:
        if self.followup.database_url:
            return self.followup.database_url
        return f"sqlite:///{self.data_dir / 'followup.sqlite'}"

    @property
    def followup_id_hash_key_path(self) -> Path:
        default = self.data_dir / "followup-id-hash.key"
        return (self.followup.id_hash_key_file or default).expanduser()


def search_paths() -> list[Path]:
    xdg = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return [
        Path("healthkiosk.toml"),
        Path(xdg) / "healthkiosk" / "config.toml",
        Path("/etc/healthkiosk/config.toml"),
    ]


def find_config(explicit: str | Path | None = None) -> Path | None:
    """The configuration file to use, by the documented search order."""
    if explicit:
        return Path(explicit)
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env)
    for candidate in search_paths():
        if candidate.is_file():
            return candidate
    return None


def from_mapping(data: dict[str, Any], *, source: Path | None = None) -> Config:
    """Validate a parsed TOML document; errors name the key."""
    if "source" in data:
        raise ConfigError("not a configuration key", key="source")
    try:
        cfg = Config.model_validate(data)
    except ValidationError as err:
        first = err.errors()[0]
        msg = first["msg"]
        if first["type"] == "extra_forbidden":
            msg = "unknown key"
        extra = f" (and {err.error_count() - 1} more)" if err.error_count() > 1 else ""
        raise ConfigError(f"{msg}{extra}", key=key_of(first["loc"]) or None) from None
    return cfg.model_copy(update={"source": source})


def merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """``over`` merged into a copy of ``base``: tables merge key by key, any
    other value (lists too) replaces."""
    out = dict(base)
    for key, value in over.items():
        old = out.get(key)
        if isinstance(old, dict) and isinstance(value, dict):
            out[key] = merge(old, value)
        else:
            out[key] = value
    return out


WHOLE_TABLES: tuple[str, ...] = ("rules",)
"""Tables a remote layer replaces as a whole instead of merging key by key: a
``rules`` table is one rule set, checked as one by the doctor's side
(docs/clinical.md, "One meaning")."""


def merge_layer(base: dict[str, Any], layer: dict[str, Any]) -> dict[str, Any]:
    """A remote configuration layer over the file (or the layer before): as
    :func:`merge`, but each table of :data:`WHOLE_TABLES` in ``layer`` replaces
    the one in ``base``."""
    out = merge(base, {k: v for k, v in layer.items() if k not in WHOLE_TABLES})
    for key in WHOLE_TABLES:
        if key in layer:
            out[key] = layer[key]
    return out


def overlay_path(data_dir: Path) -> Path:
    return data_dir.expanduser() / OVERLAY_FILENAME


class _AppliedDoc(BaseModel):
    settings: dict[str, Any]


class _OverlayFile(BaseModel):
    """What the loader reads of ``remote-config.json`` (written, in full, by
    :mod:`management.remote_config`)."""

    applied: dict[str, _AppliedDoc | None] = Field(default_factory=dict)


def read_overlay(data_dir: Path) -> list[dict[str, Any]]:
    """The accepted remote settings, in merge order (group, then station)."""
    path = overlay_path(data_dir)
    try:
        state = _OverlayFile.model_validate_json(path.read_bytes())
    except FileNotFoundError:
        return []
    except OSError as err:
        logging.getLogger(__name__).warning("remote configuration ignored: %s", err)
        return []
    except ValidationError as err:
        logging.getLogger(__name__).warning(
            "remote configuration ignored: %s: %s", path.name, describe(err)
        )
        return []
    return [d.settings for s in OVERLAY_SCOPES if (d := state.applied.get(s)) is not None]


def read_mapping(path: Path | None) -> dict[str, Any]:
    """A configuration file as a mapping (``{}`` for None: the defaults)."""
    if path is None:
        return {}
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError(f"cannot read configuration {path}: {err.strerror}") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path} is not valid TOML: {err}") from None


def load_config(explicit: str | Path | None = None, *, overlay: bool = True) -> Config:
    """Find, read and validate the configuration (defaults when none is found),
    then apply the accepted remote overlay (see the module's docstring)."""
    path = find_config(explicit)
    data = read_mapping(path)
    local = from_mapping(data, source=path)
    layers = read_overlay(local.data_dir) if overlay else []
    if not layers:
        return local
    merged = data
    for layer in layers:
        merged = merge_layer(merged, layer)
    try:
        return from_mapping(merged, source=path)
    except ConfigError as err:
        logging.getLogger(__name__).warning(
            "remote configuration ignored, the file alone is used: %s", err
        )
        return local
