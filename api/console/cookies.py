"""The browser's sign-in: an HttpOnly, SameSite session cookie and its CSRF token.

The cookie names a sign-in session (`auth_sessions`, the same rows as bearer tokens) and carries
an HMAC of its id under the access-token key, so it cannot be forged; signing out revokes the
session. A request authenticated by the cookie that changes state must send the session's CSRF
token (header `X-CSRF-Token`, or the form field `csrf_token` on the console's own forms).
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime

from sqlmodel import Session
from starlette.requests import Request
from starlette.responses import Response

from api import security
from domain.roles import Principal, Role
from runtime.settings import Settings
from store.access_tables import AuthSession

COOKIE = "ampflow_session"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _mac(settings: Settings, label: str, value: str) -> str:
    key = security.access_keys(settings).signing
    return hmac.new(key, f"{label}:{value}".encode(), hashlib.sha256).hexdigest()


def cookie_value(settings: Settings, session_id: str) -> str:
    return f"{session_id}.{_mac(settings, 'console-cookie', session_id)}"


def session_id_of(settings: Settings, value: str) -> str | None:
    """The sign-in session a cookie names, if its MAC is ours."""
    session_id, _, mac = value.partition(".")
    expected = _mac(settings, "console-cookie", session_id)
    return session_id if session_id and security.same_secret(mac, expected) else None


def csrf_token(settings: Settings, session_id: str) -> str:
    """The CSRF token of a sign-in session (stable for the session, unknown to other sites)."""
    return _mac(settings, "console-csrf", session_id)[:40]


def csrf_ok(settings: Settings, session_id: str, given: str | None) -> bool:
    return given is not None and security.same_secret(given, csrf_token(settings, session_id))


def principal(request: Request, db: Session, settings: Settings, value: str) -> Principal | None:
    """The caller a session cookie names, or None (forged, expired, revoked, or a state change
    without the CSRF header: the console's own forms check their field themselves)."""
    session_id = session_id_of(settings, value)
    if session_id is None:
        return None
    row = db.get(AuthSession, session_id)
    if row is None or row.revoked_at is not None or row.expires_at <= datetime.now(UTC):
        return None
    if request.method not in SAFE_METHODS and not csrf_ok(
        settings, session_id, request.headers.get(CSRF_HEADER)
    ):
        request.state.csrf_failed = True
        return None
    return Principal(
        role=Role(row.role), kind=row.subject_kind, subject_id=row.subject_id, session_id=row.id
    )


def set_cookie(response: Response, settings: Settings, session_id: str, max_age: int) -> None:
    response.set_cookie(
        COOKIE,
        cookie_value(settings, session_id),
        max_age=max_age,
        path="/",
        httponly=True,
        samesite="lax",
        secure=settings.api_base_url.startswith("https://"),
    )


def clear_cookie(response: Response) -> None:
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="lax")
