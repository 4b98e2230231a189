"""Coordinators, supervisors and administrators: passwords, sign-in with lockout, sessions.

Passwords are hashed with Argon2id; a session token is random and only its SHA-256 is stored, so a
leaked database cannot be replayed as sessions. Repeated failures lock the account for a while.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from ticket_core import audit
from ticket_core.models import AuthSession, MemberRole, Role, UnitMember, User, utcnow

_hasher = PasswordHasher()
# A known hash to verify against when the username does not exist, so both paths cost the same.
_DUMMY_HASH = _hasher.hash("tawasul-not-a-password")

MAX_FAILURES = 5
LOCKOUT = timedelta(minutes=15)
SESSION_TTL = timedelta(hours=12)


class LoginFailed(Exception):
    """Wrong username or password, or the account is locked or inactive; ``reason`` is for logs."""

    def __init__(self, reason: str, *, locked_until: datetime | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.locked_until = locked_until


def hash_password(password: str) -> str:
    if len(password) < 10:
        raise ValueError("a password needs at least 10 characters")
    return _hasher.hash(password)


@dataclass(frozen=True)
class Principal:
    """The signed-in person as the API sees them: who, what role, which units."""

    user_id: int
    username: str
    name_ar: str
    name_en: str
    role: Role
    unit_ids: frozenset[int]  # units they belong to (scope is computed from these)
    head_of: frozenset[int]
    session_id: str
    csrf_token: str


def authenticate(session: Session, username: str, password: str, *, now: datetime | None = None) -> User:
    """Check credentials, counting failures and locking the account after MAX_FAILURES."""
    now = now or utcnow()
    user = session.execute(select(User).where(User.username == username)).scalar_one_or_none()
    if user is None or user.password_hash is None or not user.is_active:
        _verify(_DUMMY_HASH, password)
        raise LoginFailed("unknown user, no password set, or inactive")
    if user.locked_until is not None and user.locked_until > now:
        raise LoginFailed("locked", locked_until=user.locked_until)
    if not _verify(user.password_hash, password):
        user.failed_logins += 1
        if user.failed_logins >= MAX_FAILURES:
            user.locked_until = now + LOCKOUT
            user.failed_logins = 0
            audit.record(session, "user.locked", actor=f"user:{user.id}", reason=f"{MAX_FAILURES} failed sign-ins")
        raise LoginFailed(
            "wrong password", locked_until=user.locked_until if user.locked_until and user.locked_until > now else None
        )
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = now
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    return user


def _verify(hashed: str, password: str) -> bool:
    try:
        return _hasher.verify(hashed, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def token_id(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def open_session(session: Session, user: User, *, now: datetime | None = None) -> tuple[str, AuthSession]:
    """A new session for ``user``; returns the token (shown once) and the stored row."""
    now = now or utcnow()
    token = secrets.token_urlsafe(32)
    row = AuthSession(
        id=token_id(token),
        user_id=user.id,
        csrf_token=secrets.token_urlsafe(24),
        created_at=now,
        expires_at=now + SESSION_TTL,
        last_seen_at=now,
    )
    session.add(row)
    audit.record(session, "user.login", actor=f"user:{user.id}")
    return token, row


def resolve_session(session: Session, token: str, *, now: datetime | None = None) -> Principal | None:
    """The principal behind a token, or None if unknown, expired, or the person was deactivated."""
    now = now or utcnow()
    row = session.execute(
        select(AuthSession, User).join(User, User.id == AuthSession.user_id).where(AuthSession.id == token_id(token))
    ).first()
    if row is None:
        return None
    auth, user = row
    if auth.expires_at <= now or not user.is_active:
        return None
    memberships = session.execute(
        select(UnitMember.unit_id, UnitMember.role).where(UnitMember.user_id == user.id)
    ).all()
    return Principal(
        user_id=user.id,
        username=user.username,
        name_ar=user.name_ar,
        name_en=user.name_en,
        role=user.role,
        unit_ids=frozenset(unit for unit, _ in memberships),
        head_of=frozenset(unit for unit, role in memberships if role is MemberRole.HEAD),
        session_id=auth.id,
        csrf_token=auth.csrf_token,
    )


def close_session(session: Session, session_id: str) -> None:
    session.execute(delete(AuthSession).where(AuthSession.id == session_id))


def set_password(session: Session, username: str, password: str) -> None:
    hashed = hash_password(password)
    result = session.execute(
        update(User).where(User.username == username).values(password_hash=hashed, failed_logins=0, locked_until=None)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise LookupError(f"no user {username!r}")
    session.execute(
        delete(AuthSession).where(
            AuthSession.user_id == select(User.id).where(User.username == username).scalar_subquery()
        )
    )
