"""Accounts: argon2 password hashes, creating users, checking a login with lockout."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import select
from sqlalchemy.orm import Session

from followup.db.auth import ROLES, LoginAttempt, User
from healthkiosk.errors import HealthKioskError

_HASHER = PasswordHasher()
_DUMMY = _HASHER.hash("not a password: equalises the time of unknown usernames")
MIN_PASSWORD = 10
USERNAME_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789._-")


class AccountError(HealthKioskError):
    reason = "account_error"


@dataclass(frozen=True, slots=True)
class Lockout:
    max_failures: int = 5
    duration: timedelta = timedelta(minutes=15)


@dataclass(frozen=True, slots=True)
class CurrentUser:
    id: int
    username: str
    role: str
    display_name: str
    language: str | None = None
    """The account's language (zh_CN, en), or None: the browser's."""


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


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
    if len(password) < MIN_PASSWORD:
        raise AccountError(
            f"password must have at least {MIN_PASSWORD} characters", reason="password_short"
        )
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


def check_login(
    session: Session,
    *,
    username: str,
    password: str,
    now: datetime,
    remote: str = "",
    lockout: Lockout = Lockout(),
) -> tuple[CurrentUser | None, str]:
    """Verify a login; returns (user or None, reason: ok / bad / locked / inactive)."""
    username = username.strip().lower()[:64]
    user = session.scalar(select(User).where(User.username == username))
    attempt = LoginAttempt(username=username, at=now, ok=False, remote=remote[:64])
    session.add(attempt)
    if user is None:
        with contextlib.suppress(VerificationError):
            _HASHER.verify(_DUMMY, password)
        return None, "bad"
    if user.locked_until is not None and user.locked_until > now:
        return None, "locked"
    try:
        _HASHER.verify(user.password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        user.failed_logins += 1
        if user.failed_logins >= lockout.max_failures:
            user.locked_until = now + lockout.duration
            user.failed_logins = 0
            return None, "locked"
        return None, "bad"
    if not user.active:
        return None, "inactive"
    user.failed_logins = 0
    user.locked_until = None
    if _HASHER.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    attempt.ok = True
    return CurrentUser(user.id, user.username, user.role, user.display_name, user.language), "ok"
