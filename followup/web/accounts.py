"""Accounts: argon2 password hashes, creating users, checking a login, sessions.

Checking a login (:func:`check_login`) counts the attempt *before* the password
is verified, in one statement, and commits it; only then is the password
verified, outside any transaction:

1. the address's attempts in the current window (``login_rate``, one
   ``INSERT ... ON CONFLICT DO UPDATE ... RETURNING``); over the per-address
   limit, no account is even looked at;
2. the account's failure count (one ``UPDATE users ... RETURNING``, which
   matches only an account that is not locked; the attempt that reaches the
   limit also sets ``locked_until``). Concurrent attempts queue on the row, so
   however many arrive at once, at most ``max_failures`` passwords are
   verified per lockout;
3. exactly one argon2 verification: against the account's hash, or against a
   dummy hash when the account is unknown, locked or the address is over its
   limit, so every failure costs the same time and reads the same
   (:data:`FAILED`); the real reason goes to the audit log only;
4. on success the account's count goes back to 0, the address's attempt is
   given back, and a new server-side session is made (:func:`start_session`).

Sessions (``web_sessions``): the cookie carries a random token, the table its
SHA-256, the user, and when it ends (absolute and idle). Signing out deletes
the row; disabling an account or changing its password deletes all of the
account's rows, so a copied cookie is dead at once.
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import case, delete, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from followup.db.auth import ROLES, LoginAttempt, LoginRate, User, WebSession
from followup.messages import N_
from healthkiosk.errors import HealthKioskError

_HASHER = PasswordHasher()
_DUMMY = _HASHER.hash("not a password: equalises the time of unknown usernames")
MIN_PASSWORD = 10
USERNAME_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789._-")
FAILED = N_("Wrong username or password, or too many attempts (wait 15 minutes and try again).")
"""The one answer to every failed sign-in: unknown, wrong, locked, limited, disabled."""


class AccountError(HealthKioskError):
    reason = "account_error"


@dataclass(frozen=True, slots=True)
class Lockout:
    max_failures: int = 5
    """Passwords verified per account before it is locked for ``duration``."""
    duration: timedelta = timedelta(minutes=15)
    per_address: int = 30
    """Sign-in attempts per address (an IPv6 /64) per ``address_window``."""
    address_window: timedelta = timedelta(minutes=15)


@dataclass(frozen=True, slots=True)
class CurrentUser:
    id: int
    username: str
    role: str
    display_name: str
    language: str | None = None
    """The account's language (zh_CN, en), or None: the browser's."""


@dataclass(frozen=True, slots=True)
class LoginResult:
    user: CurrentUser | None
    reason: str
    """ok, bad, unknown, locked, address_limited or inactive (for the audit log only)."""


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def _check_new_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise AccountError(
            f"password must have at least {MIN_PASSWORD} characters", reason="password_short"
        )


def add_user(
    session: Session,
    *,
    username: str,
    password: str,
    role: str,
    display_name: str = "",
    now: datetime,
) -> User:
    """Create an account (raises :class:`AccountError` with a reason)."""
    username = username.strip().lower()
    if not username or len(username) > 64 or not set(username) <= USERNAME_CHARS:
        raise AccountError("username must be 1-64 of a-z 0-9 . _ -", reason="username_invalid")
    if role not in ROLES:
        raise AccountError(f"role must be one of {', '.join(ROLES)}", reason="role_invalid")
    _check_new_password(password)
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise AccountError(f"user {username!r} exists", reason="username_taken")
    user = User(
        username=username,
        display_name=display_name.strip()[:100] or username,
        password_hash=hash_password(password),
        role=role,
        active=True,
        created_at=now,
    )
    session.add(user)
    session.flush()
    return user


def set_password(session: Session, *, username: str, password: str) -> User:
    """A new password; every session of the account ends (raises :class:`AccountError`)."""
    _check_new_password(password)
    user = session.scalar(select(User).where(User.username == username.strip().lower()))
    if user is None:
        raise AccountError(f"no user {username!r}", reason="username_unknown")
    user.password_hash = hash_password(password)
    user.failed_logins = 0
    user.locked_until = None
    end_sessions(session, user_id=user.id)
    return user


# --- counting attempts -------------------------------------------------------------------


def address_key(remote: str) -> str:
    """``ip:<address>``; an IPv6 address counts as its /64 (one household, one host)."""
    try:
        ip = ipaddress.ip_address(remote)
    except ValueError:
        return f"ip:{remote[:60]}"
    if ip.version == 6:
        return f"ip:{ipaddress.ip_network(f'{ip}/64', strict=False)}"
    return f"ip:{ip}"


def window_start(now: datetime, window: timedelta) -> datetime:
    seconds = window.total_seconds()
    epoch = now.timestamp()
    return datetime.fromtimestamp(epoch - epoch % seconds, tz=now.tzinfo)


def _count_address(session: Session, key: str, start: datetime, delta: int = 1) -> int:
    """Add ``delta`` to the address's attempts in the window; the new count (one statement)."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(LoginRate).values(key=key, window_start=start, attempts=max(delta, 0))
    upsert = stmt.on_conflict_do_update(
        index_elements=[LoginRate.key, LoginRate.window_start],
        set_={"attempts": LoginRate.attempts + delta},
    ).returning(LoginRate.attempts)
    return int(session.execute(upsert).scalar_one())


@dataclass(frozen=True, slots=True)
class _Reserved:
    id: int
    password_hash: str
    active: bool


def _reserve_account(
    session: Session, username: str, now: datetime, lockout: Lockout
) -> _Reserved | None:
    """Count one attempt on the account, unless it is locked (then None, as for an
    unknown one). SET reads the row as it was; concurrent UPDATEs of the row wait."""
    expired = User.locked_until.is_not(None) & (User.locked_until <= now)
    n = case((expired, 1), else_=User.failed_logins + 1)
    row = session.execute(
        update(User)
        .where(
            User.username == username,
            or_(User.locked_until.is_(None), User.locked_until <= now),
        )
        .values(
            failed_logins=n,
            locked_until=case((n >= lockout.max_failures, now + lockout.duration), else_=None),
        )
        .returning(User.id, User.password_hash, User.active)
        .execution_options(synchronize_session=False)
    ).first()
    return None if row is None else _Reserved(row[0], row[1], bool(row[2]))


def _verify(password_hash: str, password: str) -> bool:
    try:
        return bool(_HASHER.verify(password_hash, password))
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def check_login(
    sessions: sessionmaker[Session],
    *,
    username: str,
    password: str,
    now: datetime,
    remote: str = "",
    lockout: Lockout = Lockout(),
    record: Callable[[Session, LoginResult], None] | None = None,
) -> LoginResult:
    """Verify a login (see the module's docstring). ``record(session, result)`` runs
    in the transaction that notes the outcome (the audit entry, the new session)."""
    username = username.strip().lower()[:64]
    key = address_key(remote)
    start = window_start(now, lockout.address_window)
    with sessions.begin() as s:
        attempts = _count_address(s, key, start)
        limited = attempts > lockout.per_address
        reserved = None if limited else _reserve_account(s, username, now, lockout)
    # One argon2 verification on every path, outside any transaction.
    ok = _verify(reserved.password_hash if reserved else _DUMMY, password)
    with sessions.begin() as s:
        user = s.scalar(select(User).where(User.username == username))
        if limited:
            reason = "address_limited"
        elif reserved is None:
            reason = "unknown" if user is None else "locked"
        elif not ok:
            reason = "bad"
        elif user is None or not user.active:
            reason = "inactive"
        else:
            reason = "ok"
        current = None
        if reason == "ok" and user is not None:
            user.failed_logins = 0
            user.locked_until = None
            with contextlib.suppress(InvalidHashError):
                if _HASHER.check_needs_rehash(user.password_hash):
                    user.password_hash = hash_password(password)
            _count_address(s, key, start, -1)  # a good sign-in is not held against the address
            current = CurrentUser(
                user.id, user.username, user.role, user.display_name, user.language
            )
        s.add(LoginAttempt(username=username, at=now, ok=current is not None, remote=remote[:64]))
        result = LoginResult(current, reason)
        if record is not None:
            record(s, result)
    return result


# --- sessions -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SessionPolicy:
    max_age: timedelta = timedelta(hours=12)
    idle: timedelta = timedelta(hours=2)
    touch_every: timedelta = timedelta(minutes=1)
    """``last_seen_at`` is written at most this often (not on every request)."""


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_session(
    session: Session, *, user_id: int, now: datetime, policy: SessionPolicy, remote: str = ""
) -> str:
    """A new session for ``user_id``; returns the token for the cookie."""
    token = secrets.token_urlsafe(32)
    session.add(
        WebSession(
            id_hash=_digest(token),
            user_id=user_id,
            created_at=now,
            last_seen_at=now,
            expires_at=now + policy.max_age,
            remote=remote[:64],
        )
    )
    # Sessions that ended long ago are cleared on the way (cheap: indexed by user).
    session.execute(
        delete(WebSession).where(WebSession.user_id == user_id, WebSession.expires_at < now)
    )
    return token


def session_user(
    session: Session, token: object, *, now: datetime, policy: SessionPolicy
) -> CurrentUser | None:
    """The active user of a live session, or None (unknown, ended, idle too long,
    account disabled)."""
    if not isinstance(token, str) or not 20 <= len(token) <= 100:
        return None
    ws = session.get(WebSession, _digest(token))
    if ws is None:
        return None
    if ws.expires_at <= now or ws.last_seen_at + policy.idle <= now:
        session.delete(ws)
        return None
    u = session.get(User, ws.user_id)
    if u is None or not u.active:
        return None
    if now - ws.last_seen_at >= policy.touch_every:
        ws.last_seen_at = now
    return CurrentUser(u.id, u.username, u.role, u.display_name, u.language)


def end_session(session: Session, token: object) -> None:
    if isinstance(token, str):
        session.execute(delete(WebSession).where(WebSession.id_hash == _digest(token)))


def end_sessions(session: Session, *, user_id: int) -> int:
    """Every session of the account (disabled, new password); how many ended."""
    result = session.execute(delete(WebSession).where(WebSession.user_id == user_id))
    return int(getattr(result, "rowcount", 0) or 0)
