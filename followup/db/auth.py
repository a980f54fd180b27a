"""Accounts of the follow-up web app: users with roles, login attempts, the
per-address attempt counts, and the signed-in sessions (kept here, so signing out,
disabling an account or changing its password ends them at once)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from followup.db.base import Base

ROLES = ("doctor", "admin")


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(100), default="")
    password_hash: Mapped[str] = mapped_column(String(200))
    """argon2id (argon2-cffi's PasswordHasher), never the password."""
    role: Mapped[str] = mapped_column(String(16))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime]
    failed_logins: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[datetime | None]
    language: Mapped[str | None] = mapped_column(String(8))
    """The pages' language chosen on the account page (zh_CN, en); None: the browser's."""


class LoginAttempt(Base):
    __tablename__ = "login_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime]
    ok: Mapped[bool]
    remote: Mapped[str] = mapped_column(String(64), default="")

    __table_args__ = (Index("ix_login_attempts_username_at", "username", "at"),)


class WebSession(Base):
    """A signed-in browser. The cookie carries a random token; only its SHA-256 is
    kept, so a copy of this table signs nobody in."""

    __tablename__ = "web_sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    """Absolute end (``session_max_age_s`` after sign-in)."""
    remote: Mapped[str] = mapped_column(String(64), default="")


class LoginRate(Base):
    """Sign-in attempts per address (``ip:<address>``, an IPv6 /64) in fixed windows."""

    __tablename__ = "login_rate"

    key: Mapped[str] = mapped_column(String(80), primary_key=True)
    window_start: Mapped[datetime] = mapped_column(primary_key=True)
    attempts: Mapped[int] = mapped_column(default=0)
