"""Mosquitto configuration for a deployment (``healthkiosk broker config``).

Writes ``mosquitto.conf`` (TLS listener, an optional plain listener on
loopback, persistence on, no anonymous clients) and ``dynamic-security.json``,
the accounts and their rights for Mosquitto's dynamic-security plugin, plus
each generated password in ``credentials/<account>.password`` (0600) to hand
out. Existing credential files are reused, so running it again changes no
password.

Why the dynamic-security plugin and not ``password_file``/``acl_file``
(docs/security.md says it at length): Mosquitto 2.0 never consults the ACL
file for a SUBSCRIBE, so an ACL file cannot keep a station out of the
ingest's shared subscription (it is then handed its round-robin share of the
readings, which the broker drops); and a password file does not tie a client
id to a username, so one station's password can take over another station's
or the ingest's session. The plugin checks every subscription, the
``$share/<group>/`` prefix included, against the account's roles, and refuses
a login whose client id is not the account's own.

The accounts, each bound to one client id (= its username):

- ``<station>`` (sync) and ``<station>.updates`` (update orders), with the
  station's one password: publish only under ``hk/v1/st/<station>/``, read
  only its own receipts, status, configuration, commands and update orders
  and its group's;
- ``followup-ingest-1`` … ``-N``: the ingest workers: the readings through
  the shared subscription ``$share/<group>/hk/v1/st/+/readings`` only (the
  group name is a generated secret, ``credentials/ingest-group``), the
  stations' statuses, reports and calls for staff (``help``); publish receipts;
- ``followup-web``: publish urgent-reading alerts and the fleet page's commands
  (among them ``help_ack``, a call for staff acknowledged on the web);
- ``followup-rollout``: publish update orders, read update reports;
- ``followup-admin``: ``healthkiosk admin config|command``: configuration
  documents (signed by the administrator's key, checked by the station),
  commands and their results;
- one per ``--gateway`` (an SMS gateway): read the alerts, nothing else.

Mosquitto drops to its ``user`` (``mosquitto``) *before* it reads the plugin's
file, the TLS key and its persistence, so :func:`apply_access` gives those to
that user (as root), or says which ``chown`` to run.
"""

from __future__ import annotations

import base64
import grp
import hashlib
import json
import os
import pwd
import re
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from healthkiosk.atomicfile import write_atomic
from healthkiosk.config import (
    ADMIN_ACCOUNT,
    INGEST_ACCOUNT_PREFIX,
    INGEST_GROUP_FILE,
    INGEST_GROUP_PATTERN,
    ROLLOUT_ACCOUNT,
    UPDATES_ACCOUNT_SUFFIX,
    WEB_ACCOUNT,
)
from healthkiosk.errors import ConfigError

PBKDF2_ITERATIONS = 101  # what mosquitto_passwd and the dynamic-security plugin use
SALT_BYTES = 12  # the plugin accepts exactly 12
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
DYNSEC_FILE = "dynamic-security.json"
PLUGIN_NAME = "mosquitto_dynamic_security.so"
PLUGIN_DIRS = (
    "/usr/lib/x86_64-linux-gnu",
    "/usr/lib/aarch64-linux-gnu",
    "/usr/lib/arm-linux-gnueabihf",
    "/usr/lib",
    "/usr/local/lib",
)
SESSION_EXPIRY = "14d"
"""``persistent_client_expiration``: longer than the ingest's 7-day session
expiry, so a durable session nobody resumes (a retired worker's) ends."""

STATION_PUBLISHES = (
    "readings",
    "status",
    "counts",
    "cmd-result",
    "config-report",
    "update-report",
    "help",
)
"""Leaves under ``hk/v1/st/<station>/`` a station publishes to (``counts``: the
daily counts of issue 19's loss visibility; ``help``: its calls for staff,
``hk.help/1``)."""
STATION_READS = ("receipts", "status", "config", "cmd", "update")
"""Leaves under ``hk/v1/st/<station>/`` a station subscribes to."""
GROUP_READS = ("config", "update")
"""Leaves under ``hk/v1/grp/<group>/`` a station subscribes to."""
INGEST_READS = ("status", "counts", "cmd-result", "config-report", "update-report", "help")
"""Leaves the ingest subscribes to for every station (besides the readings)."""


def _pbkdf2(password: str) -> tuple[bytes, bytes]:
    """(salt, digest) as the plugin checks them: PBKDF2-HMAC-SHA512, 64 bytes."""
    salt = secrets.token_bytes(SALT_BYTES)
    return salt, hashlib.pbkdf2_hmac("sha512", password.encode(), salt, PBKDF2_ITERATIONS)


@dataclass(frozen=True, slots=True)
class StationEntry:
    id: str
    group: str = "default"


def find_plugin() -> Path | None:
    """The dynamic-security plugin of the installed Mosquitto, if found."""
    for d in PLUGIN_DIRS:
        path = Path(d) / PLUGIN_NAME
        if path.is_file():
            return path
    return None


@dataclass(frozen=True, slots=True)
class Deployment:
    stations: Sequence[StationEntry]
    ingest_workers: int = 2
    """Accounts ``followup-ingest-1`` … ``-N`` (one per ``followup-ingest@N``)."""
    ingest_group: str | None = None
    """None: the one generated before (``credentials/ingest-group``), else a new secret."""
    gateways: Sequence[str] = ()
    """Accounts that may only read the urgent-reading alerts (an SMS gateway)."""
    tls_port: int | None = 8883
    tls_bind: str = "0.0.0.0"  # noqa: S104 - the broker serves the stations
    tls_cert: Path | None = None
    tls_key: Path | None = None
    tls_ca: Path | None = None
    require_client_cert: bool = False
    plain_port: int | None = None
    """A plain listener on 127.0.0.1 (for the follow-up service on the same host)."""
    persistence_dir: Path = Path("/var/lib/mosquitto/")
    log_dest: str = "stderr"
    broker_user: str = "mosquitto"
    """The user Mosquitto runs as (its ``user`` option); it must read the files."""
    plugin: Path | None = None
    """The dynamic-security plugin; None: looked for in the usual places."""
    extra: list[str] = field(default_factory=list)

    def doctor_accounts(self) -> list[str]:
        ingest = [f"{INGEST_ACCOUNT_PREFIX}{n}" for n in range(1, self.ingest_workers + 1)]
        return [*ingest, WEB_ACCOUNT, ROLLOUT_ACCOUNT, ADMIN_ACCOUNT]

    def check(self) -> None:
        names = [s.id for s in self.stations]
        for n in [*names, *self.gateways, *(s.group for s in self.stations)]:
            if not NAME_RE.match(n):
                raise ConfigError(f"{n!r} is not a valid station, group or gateway name")
        if len(set(names)) != len(names):
            raise ConfigError("a station is listed twice")
        if not 1 <= self.ingest_workers <= 64:
            raise ConfigError("--ingest-workers must be 1 to 64")
        if self.ingest_group is not None and not re.fullmatch(
            INGEST_GROUP_PATTERN, self.ingest_group
        ):
            raise ConfigError("the ingest group must be 1-64 of A-Z a-z 0-9 _ -")
        taken = set(names)
        for n in [*self.doctor_accounts(), *self.gateways]:
            if n in taken:
                raise ConfigError(f"{n!r} is both a station and another account")
            taken.add(n)
        if self.tls_port is not None and not (self.tls_cert and self.tls_key):
            raise ConfigError("a TLS listener needs --tls-cert and --tls-key")
        if self.tls_port is None and self.plain_port is None:
            raise ConfigError("no listener: give a TLS port or a plain loopback port")

    def plugin_path(self) -> Path:
        path = self.plugin or find_plugin()
        if path is None:
            raise ConfigError(
                f"Mosquitto's dynamic-security plugin ({PLUGIN_NAME}) was not found in "
                f"{', '.join(PLUGIN_DIRS)}: install mosquitto 2.0, or give --plugin"
            )
        return path


def render_conf(d: Deployment, *, dynsec: Path, plugin: Path) -> str:
    lines = [
        "# Generated by `healthkiosk broker config`; edits are overwritten.",
        "# Accounts and rights: the dynamic-security plugin's file (docs/security.md).",
        "per_listener_settings false",
        "allow_anonymous false",
        f"user {d.broker_user}",
        f"plugin {plugin}",
        f"plugin_opt_config_file {dynsec}",
        "persistence true",
        f"persistence_location {str(d.persistence_dir).rstrip('/')}/",
        f"persistent_client_expiration {SESSION_EXPIRY}",
        "autosave_interval 60",
        "max_queued_messages 100000",
        "max_inflight_messages 100",
        "set_tcp_nodelay true",
        f"log_dest {d.log_dest}",
        "log_type error",
        "log_type warning",
        "log_type notice",
        "connection_messages true",
        "",
    ]
    if d.tls_port is not None:
        lines += [f"listener {d.tls_port} {d.tls_bind}", "protocol mqtt"]
        lines += [f"certfile {d.tls_cert}", f"keyfile {d.tls_key}"]
        if d.tls_ca is not None:
            lines.append(f"cafile {d.tls_ca}")
        lines += [
            "tls_version tlsv1.2",
            f"require_certificate {'true' if d.require_client_cert else 'false'}",
            "",
        ]
    if d.plain_port is not None:
        lines += [f"listener {d.plain_port} 127.0.0.1", "protocol mqtt", ""]
    lines += d.extra
    return "\n".join(lines) + "\n"


# --- the plugin's file ----------------------------------------------------------------


def _acl(acltype: str, topic: str) -> dict[str, Any]:
    return {"acltype": acltype, "topic": topic, "priority": 0, "allow": True}


def _role(
    name: str,
    *,
    send: Sequence[str] = (),
    literal: Sequence[str] = (),
    pattern: Sequence[str] = (),
    receive: Sequence[str] = (),
) -> dict[str, Any]:
    acls = [
        *(_acl("publishClientSend", t) for t in send),
        *(_acl("subscribeLiteral", t) for t in literal),
        *(_acl("subscribePattern", t) for t in pattern),
        *(_acl("publishClientReceive", t) for t in receive),
    ]
    return {"rolename": name, "acls": acls}


def roles(d: Deployment, group: str) -> list[dict[str, Any]]:
    """Every role of the deployment (each account has exactly one)."""
    out: list[dict[str, Any]] = []
    for s in d.stations:
        base = f"hk/v1/st/{s.id}"
        reads = [f"{base}/{leaf}" for leaf in STATION_READS]
        reads += [f"hk/v1/grp/{s.group}/{leaf}" for leaf in GROUP_READS]
        out.append(
            _role(
                f"station-{s.id}",
                send=[f"{base}/{leaf}" for leaf in STATION_PUBLISHES],
                literal=reads,
                receive=reads,
            )
        )
    every = "hk/v1/st/+"
    ingest_filters = [f"{every}/{leaf}" for leaf in INGEST_READS]
    out += [
        _role(
            "ingest",
            send=[f"{every}/receipts"],
            literal=[f"$share/{group}/{every}/readings", *ingest_filters],
            receive=[f"{every}/readings", *ingest_filters],
        ),
        _role("web", send=["hk/v1/alerts/#", f"{every}/cmd"]),
        _role(
            "rollout",
            send=[f"{every}/update", "hk/v1/grp/+/update"],
            literal=[f"{every}/update-report"],
            receive=[f"{every}/update-report"],
        ),
        _role(
            "admin",
            send=[f"{every}/config", "hk/v1/grp/+/config", f"{every}/cmd"],
            pattern=[
                f"{every}/config",
                "hk/v1/grp/+/config",
                f"{every}/config-report",
                f"{every}/cmd-result",
            ],
            receive=[
                f"{every}/config",
                "hk/v1/grp/+/config",
                f"{every}/config-report",
                f"{every}/cmd-result",
            ],
        ),
        _role("gateway", pattern=["hk/v1/alerts/#"], receive=["hk/v1/alerts/#"]),
    ]
    return out


def _client(username: str, password: str, role: str) -> dict[str, Any]:
    salt, digest = _pbkdf2(password)
    return {
        "username": username,
        "clientid": username,  # the plugin refuses a login with any other client id
        "textname": role,
        "password": base64.b64encode(digest).decode(),
        "salt": base64.b64encode(salt).decode(),
        "iterations": PBKDF2_ITERATIONS,
        "roles": [{"rolename": role}],
    }


def render_dynsec(d: Deployment, passwords: dict[str, str], group: str) -> dict[str, Any]:
    """The plugin's file: every account bound to its client id, nothing allowed by default."""
    clients: list[dict[str, Any]] = []
    for s in d.stations:
        pw = passwords[s.id]
        clients.append(_client(s.id, pw, f"station-{s.id}"))
        clients.append(_client(f"{s.id}{UPDATES_ACCOUNT_SUFFIX}", pw, f"station-{s.id}"))
    for n in range(1, d.ingest_workers + 1):
        name = f"{INGEST_ACCOUNT_PREFIX}{n}"
        clients.append(_client(name, passwords[name], "ingest"))
    clients.append(_client(WEB_ACCOUNT, passwords[WEB_ACCOUNT], "web"))
    clients.append(_client(ROLLOUT_ACCOUNT, passwords[ROLLOUT_ACCOUNT], "rollout"))
    clients.append(_client(ADMIN_ACCOUNT, passwords[ADMIN_ACCOUNT], "admin"))
    clients += [_client(g, passwords[g], "gateway") for g in d.gateways]
    return {
        "defaultACLAccess": {
            "publishClientSend": False,
            "publishClientReceive": False,
            "subscribe": False,
            "unsubscribe": True,
        },
        "clients": clients,
        "groups": [],
        "roles": roles(d, group),
    }


# --- credentials -------------------------------------------------------------------------


def _password_for(cred_dir: Path, user: str) -> str:
    path = cred_dir / f"{user}.password"
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    password = secrets.token_urlsafe(24)
    write_atomic(path, password + "\n", mode=0o600, overwrite=False)
    return password


def _ingest_group(d: Deployment, cred_dir: Path) -> str:
    """The shared-subscription group: given, else kept from before, else a new secret."""
    path = cred_dir / INGEST_GROUP_FILE
    if d.ingest_group is not None:
        group = d.ingest_group
    elif path.exists():
        group = path.read_text(encoding="utf-8").strip()
        if not re.fullmatch(INGEST_GROUP_PATTERN, group):
            raise ConfigError(f"{path} does not hold a valid group name")
        return group
    else:
        group = "ingest-" + secrets.token_urlsafe(16)
    write_atomic(path, group + "\n", mode=0o600)
    return group


# --- who may read what ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Access:
    """What a file needs so that the broker (its user) reads it and nobody else."""

    path: Path
    mode: int | None
    owner: str | None
    """None: left as it is."""
    group: str | None
    directory: bool = False
    """Made (as root) when missing."""


def broker_group(user: str) -> str:
    """The primary group of ``user`` (ConfigError when there is no such user)."""
    try:
        gid = pwd.getpwnam(user).pw_gid
    except KeyError:
        raise ConfigError(
            f"there is no user {user!r} (install mosquitto, or give --broker-user)"
        ) from None
    return str(grp.getgrgid(gid).gr_name)


def access_plan(d: Deployment, written: Written, group: str) -> list[Access]:
    """Owner, group and mode of what the broker reads after dropping to its user:
    the plugin's file (it holds the password hashes: no bits for others), the
    configuration (read again on SIGHUP), the persistence directory (written),
    the TLS key (group-readable)."""
    u = d.broker_user
    plan = [
        Access(written.dynsec, 0o640, u, group),
        Access(written.conf, 0o644, None, None),
        Access(d.persistence_dir, None, u, group, directory=True),
    ]
    if d.tls_key is not None:
        plan.append(Access(d.tls_key, 0o640, None, group))
    return plan


def apply_access(
    plan: Sequence[Access],
    *,
    euid: int | None = None,
    chown: Callable[[Path, str | None, str | None], None] | None = None,
) -> list[str]:
    """Set modes, and owners when root (``euid`` 0). Returns the commands left for
    root to run when not root (nothing when everything is already right)."""
    me = os.geteuid() if euid is None else euid
    root = me == 0
    do_chown = chown or _chown
    todo: list[str] = []
    for a in plan:
        if not a.path.exists():
            if a.directory and root:
                a.path.mkdir(parents=True, exist_ok=True)
            elif a.directory:
                todo.append(f"install -d -o {a.owner} -g {a.group} {a.path}")
                continue
            else:
                raise ConfigError(f"{a.path} does not exist")
        mine = a.path.stat().st_uid == me
        if a.mode is not None and (root or mine):
            os.chmod(a.path, a.mode)
        if a.owner is None and a.group is None:
            continue
        if root:
            do_chown(a.path, a.owner, a.group)
        elif not _owned_as(a):
            cmd = f"chown {a.owner or ''}:{a.group or ''} {a.path}"
            if a.mode is not None and not mine:
                cmd += f" && chmod {a.mode:o} {a.path}"
            todo.append(cmd)
    return todo


def _owned_as(a: Access) -> bool:
    st = a.path.stat()
    try:
        uid_ok = a.owner is None or st.st_uid == pwd.getpwnam(a.owner).pw_uid
        gid_ok = a.group is None or st.st_gid == grp.getgrnam(a.group).gr_gid
    except KeyError:
        return False
    return uid_ok and gid_ok


def _chown(path: Path, owner: str | None, group: str | None) -> None:
    uid = pwd.getpwnam(owner).pw_uid if owner is not None else -1
    gid = grp.getgrnam(group).gr_gid if group is not None else -1
    os.chown(path, uid, gid)


@dataclass(frozen=True, slots=True)
class Written:
    conf: Path
    dynsec: Path
    credentials: Path
    ingest_group: str
    todo: tuple[str, ...] = ()
    """``chown`` commands left to run (when not written as root)."""


def write_deployment(d: Deployment, out: Path) -> Written:
    d.check()
    plugin = d.plugin_path()
    try:
        group_of_broker = broker_group(d.broker_user)
    except ConfigError:
        if os.geteuid() == 0:
            raise
        group_of_broker = d.broker_user  # named in the chown left to do
    out.mkdir(parents=True, exist_ok=True)
    cred_dir = out / "credentials"
    cred_dir.mkdir(mode=0o700, exist_ok=True)
    dynsec, conf = out / DYNSEC_FILE, out / "mosquitto.conf"
    accounts = [s.id for s in d.stations] + d.doctor_accounts() + list(d.gateways)
    passwords = {a: _password_for(cred_dir, a) for a in accounts}
    group = _ingest_group(d, cred_dir)
    body = json.dumps(render_dynsec(d, passwords, group), indent=1) + "\n"
    write_atomic(dynsec, body, mode=0o640)
    write_atomic(conf, render_conf(d, dynsec=dynsec.resolve(), plugin=plugin), mode=0o644)
    written = Written(conf=conf, dynsec=dynsec, credentials=cred_dir, ingest_group=group)
    todo = apply_access(access_plan(d, written, group_of_broker))
    return Written(conf, dynsec, cred_dir, group, tuple(todo))


def parse_station(text: str) -> StationEntry:
    """``id`` or ``id:group``."""
    sid, _, group = text.partition(":")
    return StationEntry(id=sid.strip(), group=(group.strip() or "default"))
