"""Accounts: driver registration, sign-in (OAuth2 password and refresh grants), sign-out,
password change and reset.

Answers never tell whether an account exists: registration and reset requests are always
202 with the same body, failed sign-ins are always `invalid_grant`, lockouts count per e-mail
address whether or not it has an account, and unknown accounts still cost a password check.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from typing import Annotated
from urllib.parse import parse_qsl

from fastapi import APIRouter, BackgroundTasks, Depends, HTTPException, Request, status
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, EmailStr, Field, ValidationError
from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from api import login_sessions, security
from api.deps import PrincipalDep, SessionDep, SettingsDep
from api.login_sessions import TokenPair
from api.mailer import Mailer, get_mailer, send_quietly
from domain.access import PASSWORD_MAX, normalize_email, password_problem
from domain.roles import Principal, Role
from runtime.settings import Settings
from store import throttle
from store.access_tables import DriverLogin, Operator, PasswordReset, PendingRegistration
from store.audit import audit
from store.tables import Driver

router = APIRouter(prefix="/auth", tags=["auth"])

RESET_ACCEPTED = {
    "detail": "If an account uses this address, a reset code is being sent to it now (when no "
    "SMTP is configured, to the dev mailbox, GET /dev/mailbox): send it with a new password to "
    "POST /auth/password-reset/confirm before it expires. Requests are rate-limited; this answer "
    "is the same for every address."
}


class RegistrationAccepted(BaseModel):
    """What happens after `POST /auth/register`: the same answer for every address (whether it
    has an account or not), so the answer never tells who is registered."""

    detail: str
    next_steps: list[str]
    confirm: str = Field(description="the request that creates the account")
    code_valid_s: int = Field(description="how long the e-mailed code works")


MailerDep = Annotated[Mailer, Depends(get_mailer)]


# ---- request bodies ------------------------------------------------------------------------


class Registration(BaseModel):
    email: EmailStr
    password: str = Field(max_length=PASSWORD_MAX)
    name: str = Field(min_length=1, max_length=200)


class TokenRequest(BaseModel):
    """RFC 6749 §4.3 (password) and §6 (refresh_token) grants, form-encoded."""

    grant_type: str = Field(pattern="^(password|refresh_token)$")
    username: str | None = Field(default=None, max_length=320)
    password: str | None = Field(default=None, max_length=PASSWORD_MAX)
    refresh_token: str | None = Field(default=None, max_length=200)
    scope: str = ""


class RegistrationConfirm(BaseModel):
    token: str = Field(max_length=200, description="the code e-mailed by POST /auth/register")


class RefreshTokenBody(BaseModel):
    refresh_token: str = Field(max_length=200)


class PasswordChange(BaseModel):
    current_password: str = Field(max_length=PASSWORD_MAX)
    new_password: str = Field(max_length=PASSWORD_MAX)


class ResetRequest(BaseModel):
    email: EmailStr


class ResetConfirm(BaseModel):
    token: str = Field(max_length=200)
    new_password: str = Field(max_length=PASSWORD_MAX)


class WhoAmI(BaseModel):
    actor: str
    role: str
    kind: str
    subject_id: int | None


_FORM_SCHEMA = {
    "requestBody": {
        "required": True,
        "content": {
            "application/x-www-form-urlencoded": {
                "schema": {
                    "type": "object",
                    "required": ["grant_type"],
                    "properties": {
                        "grant_type": {"type": "string", "enum": ["password", "refresh_token"]},
                        "username": {"type": "string", "description": "the e-mail address"},
                        "password": {"type": "string", "format": "password"},
                        "refresh_token": {"type": "string"},
                        "scope": {"type": "string"},
                    },
                }
            }
        },
    }
}


async def token_form(request: Request) -> TokenRequest:
    """The token request, form-encoded (OAuth2) or as JSON; 422 when malformed."""
    raw = await request.body()
    try:
        if request.headers.get("content-type", "").startswith("application/json"):
            data = json.loads(raw or b"{}")
        else:
            data = dict(parse_qsl(raw.decode("utf-8"), keep_blank_values=True))
        return TokenRequest.model_validate(data)
    except (ValueError, ValidationError) as err:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, "malformed token request"
        ) from err


TokenForm = Annotated[TokenRequest, Depends(token_form)]


# ---- sign-in -------------------------------------------------------------------------------


@router.post(
    "/token",
    response_model=TokenPair,
    openapi_extra=_FORM_SCHEMA,
    responses={400: {"description": "invalid_grant"}, 429: {"description": "locked out"}},
)
def driver_token(form: TokenForm, request: Request, db: SessionDep, settings: SettingsDep):
    """Sign a driver in (`grant_type=password`, username = e-mail) or refresh a token pair."""
    return _grant(db, settings, form, _client_ip(request), "driver")


@router.post(
    "/operators/token",
    response_model=TokenPair,
    openapi_extra=_FORM_SCHEMA,
    responses={400: {"description": "invalid_grant"}, 429: {"description": "locked out"}},
)
def operator_token(form: TokenForm, request: Request, db: SessionDep, settings: SettingsDep):
    """Sign an operator in; the token's `role` claim carries their role."""
    return _grant(db, settings, form, _client_ip(request), "operator")


def _grant(
    db: Session, settings: Settings, form: TokenRequest, ip: str, kind: str
) -> TokenPair | JSONResponse:
    if form.grant_type == "refresh_token":
        result = login_sessions.refresh(db, settings, form.refresh_token or "")
        if isinstance(result, login_sessions.RefreshRefused):
            if result.reason == "reused":
                audit(db, "system", "auth.refresh_reused", f"auth_session:{result.session_id}")
            return _invalid_grant()
        return result
    return _password_grant(db, settings, form.username or "", form.password or "", ip, kind)


def _password_grant(
    db: Session, settings: Settings, username: str, password: str, ip: str, kind: str
) -> TokenPair | JSONResponse:
    """Each guess is counted (per account and per address) before its password is checked, and
    the count committed, so parallel guesses in any number of processes meet the limit."""
    now = datetime.now(UTC)
    email = normalize_email(username)
    account_key = _account_key(kind, email)
    ip_key = f"login:ip:{ip}"
    account = throttle.reserve(db, account_key, login_sessions.account_policy(settings), now)
    if not account.admitted:
        db.commit()
        return _locked(account.wait_s)
    by_ip = throttle.reserve(db, ip_key, login_sessions.ip_policy(settings), now)
    if not by_ip.admitted:
        db.rollback()  # the account's count is not taken: this guess is not evaluated
        return _locked(by_ip.wait_s)
    db.commit()  # counted before the slow check, visible to every other attempt
    subject_id, role, encoded = _find_account(db, kind, email)
    if not security.verify_password(password, encoded) or subject_id is None:
        return _invalid_grant()
    throttle.clear(db, account_key)
    throttle.release(db, ip_key, by_ip)
    if encoded and security.needs_rehash(encoded):
        _set_password(db, kind, subject_id, password)
    pair = login_sessions.start_session(db, settings, kind, subject_id, role)
    if kind == "operator":
        audit(db, f"operator:{subject_id}", "auth.sign_in", f"operator:{subject_id}")
    return pair


def _find_account(db: Session, kind: str, email: str) -> tuple[int | None, str, str | None]:
    """(subject id, role, password hash) of an active account; (None, "", None) otherwise."""
    if kind == "operator":
        op = db.exec(select(Operator).where(func.lower(Operator.email) == email)).first()
        if op is None or not op.active:
            return None, "", op.password_hash if op else None
        return op.id, op.role, op.password_hash
    row = db.exec(
        select(Driver, DriverLogin)
        .join(DriverLogin, DriverLogin.driver_id == Driver.id)  # type: ignore[arg-type]
        .where(func.lower(Driver.email) == email)
    ).first()
    if row is None:
        return None, "", None
    driver, login = row
    return driver.id, Role.DRIVER.value, login.password_hash


# ---- sign-out ------------------------------------------------------------------------------


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
def logout(body: RefreshTokenBody, db: SessionDep) -> Response:
    """End the sign-in session of a refresh token (its access tokens stop working at once)."""
    login_sessions.revoke_by_refresh_token(db, body.refresh_token)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/logout-all", status_code=status.HTTP_204_NO_CONTENT)
def logout_all(who: PrincipalDep, db: SessionDep) -> Response:
    """End every sign-in session of the caller's account."""
    kind, subject_id = _account_of(who)
    login_sessions.revoke_sessions(db, kind=kind, subject_id=subject_id)
    audit(db, who.actor, "auth.sign_out_everywhere", who.actor)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/me")
def whoami(who: PrincipalDep) -> WhoAmI:
    """Who the credentials belong to."""
    return WhoAmI(actor=who.actor, role=who.role.value, kind=who.kind, subject_id=who.subject_id)


# ---- passwords -----------------------------------------------------------------------------


def registration_accepted(settings: Settings) -> RegistrationAccepted:
    """The exact next steps of a registration, told the same way for every address."""
    minutes = settings.password_reset_ttl_s // 60
    base = settings.api_base_url
    where = (
        "an e-mail to the address you gave"
        if settings.smtp_host
        else "a message to the address you gave, kept in this server's dev mailbox (no SMTP is "
        "configured: an operator reads it at GET /dev/mailbox)"
    )
    return RegistrationAccepted(
        detail=f"No account exists yet. We are sending {where} now. It holds a confirmation "
        f"code: send it within {minutes} minutes to POST {base}/auth/register/confirm and the "
        f"account is created; then sign in at POST {base}/auth/token. If the address already "
        "has an account, the message says so instead: sign in, or reset the password.",
        next_steps=[
            "Open the message (subject 'Confirm your Ampflow account').",
            f'POST {base}/auth/register/confirm with {{"token": "<the code>"}} within '
            f"{minutes} minutes: the account is created (answer 204).",
            f"Sign in: POST {base}/auth/token (grant_type=password, your e-mail and password).",
            "No message, or the code expired: register again. Already have an account (the "
            f"message says so): sign in, or POST {base}/auth/password-reset.",
        ],
        confirm=f"POST {base}/auth/register/confirm",
        code_valid_s=settings.password_reset_ttl_s,
    )


@router.post("/register", status_code=status.HTTP_202_ACCEPTED)
def register(
    body: Registration,
    db: SessionDep,
    settings: SettingsDep,
    mailer: MailerDep,
    background: BackgroundTasks,
) -> RegistrationAccepted:
    """Ask for a driver account: a code is e-mailed to the address, and the account exists only
    once `POST /auth/register/confirm` presents it — registering an address does not make it
    yours, and an address an operator gives a driver or a card is never handed to whoever
    registered it first. An address that already has an account gets no second one (same
    answer); a driver created by an operator (no password) may confirm a registration, which
    proves the address, or activate the account with a password reset.
    """
    problem = password_problem(body.password)
    if problem:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, problem)
    email = normalize_email(str(body.email))
    password_hash = security.hash_password(body.password)  # also for known addresses: timing
    existing = db.exec(select(Driver).where(func.lower(Driver.email) == email)).first()
    if existing is not None and db.get(DriverLogin, existing.id) is not None:
        background.add_task(
            send_quietly,
            mailer,
            email,
            "Your Ampflow account",
            "Someone tried to register this address again. If it was you, sign in or ask "
            "for a password reset.",
        )
        return registration_accepted(settings)
    code = security.new_secret("rg_")
    now = datetime.now(UTC)
    db.add(
        PendingRegistration(
            token_hash=security.secret_hash(code),
            email=email,
            name=body.name,
            password_hash=password_hash,
            expires_at=now + timedelta(seconds=settings.password_reset_ttl_s),
            created_at=now,
        )
    )
    minutes = settings.password_reset_ttl_s // 60
    background.add_task(
        send_quietly,
        mailer,
        email,
        "Confirm your Ampflow account",
        f"Use this code within {minutes} minutes to confirm your account:\n\n{code}\n\n"
        f"POST {settings.api_base_url}/auth/register/confirm "
        '{"token": "<the code>"}\n\n'
        "If you did not ask for this, ignore this message: no account is created.",
    )
    return registration_accepted(settings)


@router.post("/register/confirm", status_code=status.HTTP_204_NO_CONTENT)
def confirm_registration(body: RegistrationConfirm, db: SessionDep) -> Response:
    """Create the account of a registration with the e-mailed code (proof of the address)."""
    now = datetime.now(UTC)
    pending = db.exec(
        select(PendingRegistration)
        .where(PendingRegistration.token_hash == security.secret_hash(body.token))
        .with_for_update()
    ).first()
    if pending is None or pending.used_at is not None or pending.expires_at <= now:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "invalid or expired code")
    pending.used_at = now
    db.add(pending)
    driver = db.exec(
        select(Driver).where(func.lower(Driver.email) == pending.email).with_for_update()
    ).first()
    if driver is not None and db.get(DriverLogin, driver.id) is not None:
        raise HTTPException(status.HTTP_409_CONFLICT, "already registered: sign in or reset")
    try:
        with db.begin_nested():
            if driver is None:  # the address is proven: the account is theirs
                driver = Driver(name=pending.name, email=pending.email)
                db.add(driver)
                db.flush()
            assert driver.id is not None
            login = DriverLogin(
                driver_id=driver.id, password_hash=pending.password_hash, created_at=now
            )
            login.updated_at = now
            db.add(login)
            db.flush()
    except IntegrityError as err:  # confirmed concurrently by the address's owner
        raise HTTPException(status.HTTP_409_CONFLICT, "already registered") from err
    audit(db, f"driver:{driver.id}", "driver.register", f"driver:{driver.id}")
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/password", status_code=status.HTTP_204_NO_CONTENT)
def change_password(
    body: PasswordChange, who: PrincipalDep, db: SessionDep, settings: SettingsDep
) -> Response:
    """Change the caller's password; their other sign-in sessions end."""
    kind, subject_id = _account_of(who)
    now = datetime.now(UTC)
    key = f"login:{kind}:{subject_id}:password"
    if not throttle.reserve(db, key, login_sessions.account_policy(settings), now).admitted:
        raise HTTPException(status.HTTP_429_TOO_MANY_REQUESTS, "too many attempts; try later")
    db.commit()  # counted before the check
    if not security.verify_password(body.current_password, _password_hash(db, kind, subject_id)):
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "the current password is wrong")
    throttle.clear(db, key)
    problem = password_problem(body.new_password)
    if problem:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, problem)
    _set_password(db, kind, subject_id, body.new_password)
    login_sessions.revoke_sessions(db, kind=kind, subject_id=subject_id, keep=who.session_id)
    audit(db, who.actor, "auth.password_change", who.actor)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/password-reset", status_code=status.HTTP_202_ACCEPTED)
def request_password_reset(
    body: ResetRequest,
    request: Request,
    db: SessionDep,
    settings: SettingsDep,
    mailer: MailerDep,
    background: BackgroundTasks,
) -> dict:
    """E-mail a reset token to a driver's address (when SMTP is configured); same answer always."""
    email = normalize_email(str(body.email))
    now = datetime.now(UTC)
    key = f"reset:{_digest(email)}"
    ip_key = f"reset:ip:{_client_ip(request)}"
    if not throttle.reserve(db, key, login_sessions.account_policy(settings), now).admitted:
        return RESET_ACCEPTED  # silently: no mail bombing
    if not throttle.reserve(db, ip_key, login_sessions.ip_policy(settings), now).admitted:
        db.rollback()
        return RESET_ACCEPTED
    db.commit()
    driver = db.exec(select(Driver).where(func.lower(Driver.email) == email)).first()
    if driver is None or driver.id is None:
        return RESET_ACCEPTED  # without SMTP the mail lands in the dev mailbox
    token = security.new_secret("pr_")
    db.add(
        PasswordReset(
            token_hash=security.secret_hash(token),
            driver_id=driver.id,
            expires_at=now + timedelta(seconds=settings.password_reset_ttl_s),
            created_at=now,
        )
    )
    audit(db, "anonymous", "auth.password_reset_requested", f"driver:{driver.id}")
    minutes = settings.password_reset_ttl_s // 60
    background.add_task(
        send_quietly,
        mailer,
        driver.email,
        "Reset your Ampflow password",
        f"Use this code within {minutes} minutes to choose a new password:\n\n{token}\n\n"
        f"POST {settings.api_base_url}/auth/password-reset/confirm "
        '{"token": "<the code>", "new_password": "..."}\n\n'
        "If you did not ask for this, ignore this message.",
    )
    return RESET_ACCEPTED


@router.post("/password-reset/confirm", status_code=status.HTTP_204_NO_CONTENT)
def confirm_password_reset(body: ResetConfirm, db: SessionDep) -> Response:
    """Set a new password with a reset token; every sign-in session of the account ends."""
    now = datetime.now(UTC)
    row = db.exec(
        select(PasswordReset)
        .where(PasswordReset.token_hash == security.secret_hash(body.token))
        .with_for_update()
    ).first()
    if row is None or row.used_at is not None or row.expires_at <= now:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "invalid or expired reset token")
    problem = password_problem(body.new_password)
    if problem:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, problem)
    row.used_at = now
    db.add(row)
    _set_password(db, "driver", row.driver_id, body.new_password)
    login_sessions.revoke_sessions(db, kind="driver", subject_id=row.driver_id)
    audit(db, f"driver:{row.driver_id}", "auth.password_reset", f"driver:{row.driver_id}")
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# ---- helpers -------------------------------------------------------------------------------


def _account_of(who: Principal) -> tuple[str, int]:
    """(kind, id) of a signed-in person; API keys have no password or sessions."""
    if who.kind not in ("driver", "operator") or who.subject_id is None:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "only signed-in people have this")
    return who.kind, who.subject_id


def _password_hash(db: Session, kind: str, subject_id: int) -> str | None:
    row = db.get(Operator if kind == "operator" else DriverLogin, subject_id)
    return row.password_hash if row else None


def _set_password(db: Session, kind: str, subject_id: int, password: str) -> None:
    encoded = security.hash_password(password)
    now = datetime.now(UTC)
    if kind == "operator":
        op = db.get(Operator, subject_id)
        assert op is not None
        op.password_hash = encoded
        db.add(op)
        return
    login = db.get(DriverLogin, subject_id)
    if login is None:
        login = DriverLogin(driver_id=subject_id, password_hash=encoded, created_at=now)
    login.password_hash, login.updated_at = encoded, now
    db.add(login)


def _invalid_grant() -> JSONResponse:
    return JSONResponse(
        {"error": "invalid_grant", "error_description": "invalid credentials"},
        status_code=status.HTTP_400_BAD_REQUEST,
    )


def _locked(seconds: float) -> JSONResponse:
    return JSONResponse(
        {"error": "too_many_attempts", "error_description": "too many attempts; try later"},
        status_code=status.HTTP_429_TOO_MANY_REQUESTS,
        headers={"Retry-After": str(int(seconds) + 1)},
    )


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:32]


def _account_key(kind: str, email: str) -> str:
    return f"login:{kind}:{_digest(email)}"


def _client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"
