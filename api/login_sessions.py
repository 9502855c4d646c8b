"""Sign-in sessions: an access token (short-lived, signed) plus a rotating refresh token.

Each sign-in is an `auth_sessions` row; access tokens name it (`sid`) and are refused once it
is revoked, so signing out takes effect at once. A refresh token is single-use: refreshing
returns a new pair, and presenting a used one again (a stolen copy) revokes the session.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pydantic import BaseModel
from sqlalchemy import update
from sqlmodel import Session, select

from api import security
from domain.access import ThrottlePolicy
from runtime.settings import Settings
from store.access_tables import AuthSession, RefreshToken


class TokenPair(BaseModel):
    """The OAuth2 token response (RFC 6749 §5.1)."""

    access_token: str
    token_type: str = "bearer"
    expires_in: int
    refresh_token: str
    role: str


@dataclass(frozen=True, slots=True)
class RefreshRefused:
    reason: str  # unknown | expired | revoked | reused
    session_id: str | None = None


def start_session(
    db: Session, settings: Settings, kind: str, subject_id: int, role: str
) -> TokenPair:
    """Open a sign-in session and return its first token pair."""
    now = datetime.now(UTC)
    session = AuthSession(
        id=secrets.token_hex(16),
        subject_kind=kind,
        subject_id=subject_id,
        role=role,
        created_at=now,
        expires_at=now + timedelta(seconds=settings.refresh_token_ttl_s),
    )
    db.add(session)
    db.flush()
    return _pair(db, settings, session, now)


def refresh(db: Session, settings: Settings, refresh_token: str) -> TokenPair | RefreshRefused:
    """Trade a refresh token for a new pair (the old one is used up)."""
    now = datetime.now(UTC)
    row = db.exec(
        select(RefreshToken)
        .where(RefreshToken.token_hash == security.secret_hash(refresh_token))
        .with_for_update()
    ).first()
    if row is None:
        return RefreshRefused("unknown")
    session = db.get(AuthSession, row.session_id)
    if session is None or session.revoked_at is not None:
        return RefreshRefused("revoked", row.session_id)
    if row.used_at is not None:
        session.revoked_at = now
        db.add(session)
        return RefreshRefused("reused", session.id)
    if row.expires_at <= now or session.expires_at <= now:
        return RefreshRefused("expired", session.id)
    row.used_at = now
    db.add(row)
    return _pair(db, settings, session, now)


def revoke_by_refresh_token(db: Session, refresh_token: str) -> str | None:
    """Sign out the session a refresh token belongs to; returns its id (None: unknown)."""
    row = db.exec(
        select(RefreshToken).where(RefreshToken.token_hash == security.secret_hash(refresh_token))
    ).first()
    if row is None:
        return None
    revoke_sessions(db, session_ids=[row.session_id])
    return row.session_id


def revoke_sessions(
    db: Session,
    *,
    session_ids: list[str] | None = None,
    kind: str | None = None,
    subject_id: int | None = None,
    keep: str | None = None,
) -> None:
    """Revoke the given sessions, or every session of a subject (except `keep`)."""
    query = update(AuthSession).where(AuthSession.revoked_at.is_(None))  # type: ignore[union-attr]
    if session_ids is not None:
        query = query.where(AuthSession.id.in_(session_ids))  # type: ignore[attr-defined]
    else:
        assert kind is not None and subject_id is not None
        query = query.where(AuthSession.subject_kind == kind, AuthSession.subject_id == subject_id)
    if keep is not None:
        query = query.where(AuthSession.id != keep)
    db.exec(query.values(revoked_at=datetime.now(UTC)))  # type: ignore[call-overload]


def _pair(db: Session, settings: Settings, session: AuthSession, now: datetime) -> TokenPair:
    refresh_token = security.new_secret("rt_")
    db.add(
        RefreshToken(
            session_id=session.id,
            token_hash=security.secret_hash(refresh_token),
            expires_at=session.expires_at,
            created_at=now,
        )
    )
    access = security.issue_access_token(
        security.access_keys(settings),
        f"{session.subject_kind}:{session.subject_id}",
        session.role,
        session.id,
        settings.access_token_ttl_s,
        now=now.timestamp(),
    )
    return TokenPair(
        access_token=access,
        expires_in=settings.access_token_ttl_s,
        refresh_token=refresh_token,
        role=session.role,
    )


def account_policy(settings: Settings) -> ThrottlePolicy:
    """Sign-in (and password-check) failures allowed per account."""
    return ThrottlePolicy(
        max_failures=settings.login_max_failures,
        window_s=settings.login_window_s,
        lockout_s=settings.login_lockout_s,
    )


def ip_policy(settings: Settings) -> ThrottlePolicy:
    """Sign-in failures allowed per client address."""
    return ThrottlePolicy(
        max_failures=settings.login_ip_max_failures,
        window_s=settings.login_window_s,
        lockout_s=settings.login_lockout_s,
    )
