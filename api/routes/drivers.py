"""Drivers and their credentials (RFID cards and other id tokens), for operators.

Credentials are issued (to a driver or as unassigned stock), assigned, blocked and unblocked,
given an expiry, a group (fleet cards of one group may stop each other's sessions) and a limit
of concurrent sessions. A change takes effect at the next Authorize and is pushed to the
stations that hold a local authorization list.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from fastapi import APIRouter, HTTPException, Query, status
from fastapi.responses import Response
from pydantic import BaseModel, Field
from sqlalchemy import func
from sqlmodel import Session, select

from api import login_sessions
from api.deps import ID_MAX, PrincipalDep, RowId, SessionDep, SettingsDep, TemporalDep
from api.inputs import UtcDateTime
from api.routes.local_lists import notify_list_change
from api.schemas import DriverCreate, DriverPublic, TokenPublic
from domain.access import ID_TAG_MAX, ID_TOKEN_MAX, IdTokenType, id_token_problem
from domain.roles import Role
from store.access_tables import DriverLogin, PasswordReset
from store.audit import audit
from store.tables import Driver, IdToken
from store.token_policy import max_concurrent, set_max_concurrent

router = APIRouter(tags=["drivers"])


class CredentialCreate(BaseModel):
    token: str = Field(
        min_length=1,
        max_length=ID_TOKEN_MAX,
        pattern=r"^[\x21-\x7e]+$",
        description=f"the idTag / idToken value: ≤ {ID_TAG_MAX} characters (eMAID ≤ 36)",
    )
    token_type: IdTokenType = IdTokenType.ISO14443
    expires_at: UtcDateTime | None = None
    group_id: str | None = Field(default=None, min_length=1, max_length=ID_TAG_MAX)
    max_concurrent_sessions: int | None = Field(default=None, ge=1, le=100)


class CredentialIssue(CredentialCreate):
    driver_id: int | None = Field(
        default=None, ge=1, le=ID_MAX, description="assign now, or later by PATCH"
    )


class CredentialUpdate(BaseModel):
    status: Literal["Accepted", "Blocked"] | None = None
    expires_at: UtcDateTime | None = None
    group_id: str | None = Field(default=None, min_length=1, max_length=ID_TAG_MAX)
    driver_id: int | None = Field(default=None, ge=1, le=ID_MAX)
    max_concurrent_sessions: int | None = Field(default=None, ge=1, le=100)


class CredentialPublic(TokenPublic):
    max_concurrent_sessions: int | None = None


# ---- drivers -------------------------------------------------------------------------------


@router.post("/drivers", status_code=status.HTTP_201_CREATED)
def create_driver(body: DriverCreate, db: SessionDep, who: PrincipalDep) -> DriverPublic:
    """Create a driver without a password (they activate the app by a password reset)."""
    email = str(body.email)
    if db.exec(select(Driver).where(func.lower(Driver.email) == email.lower())).first():
        raise HTTPException(status.HTTP_409_CONFLICT, "a driver with this email exists")
    driver = Driver(name=body.name, email=email)
    db.add(driver)
    db.flush()
    db.refresh(driver)
    audit(db, who.actor, "driver.create", f"driver:{driver.id}")
    return DriverPublic.model_validate(driver, from_attributes=True)


@router.get("/drivers")
def list_drivers(
    db: SessionDep,
    _: PrincipalDep,
    limit: int = Query(500, ge=1, le=5000),
    offset: int = Query(0, ge=0, le=ID_MAX),
) -> list[DriverPublic]:
    drivers = db.exec(select(Driver).order_by(Driver.id).offset(offset).limit(limit)).all()
    return [DriverPublic.model_validate(d, from_attributes=True) for d in drivers]


@router.get("/drivers/{driver_id}")
def get_driver(driver_id: RowId, db: SessionDep, _: PrincipalDep) -> DriverPublic:
    return DriverPublic.model_validate(_driver(db, driver_id), from_attributes=True)


@router.delete("/drivers/{driver_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_driver(
    driver_id: RowId,
    db: SessionDep,
    who: PrincipalDep,
    temporal: TemporalDep,
    settings: SettingsDep,
) -> Response:
    """Erase a driver's personal data (sessions stay, anonymous, for accounting)."""
    forget_driver(db, _driver(db, driver_id), who.actor)
    db.commit()
    await notify_list_change(db, temporal, settings, who.actor)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


def forget_driver(db: Session, driver: Driver, actor: str) -> None:
    """Anonymise the driver, drop their login and reset tokens, block their credentials."""
    assert driver.id is not None
    driver.name = "Deleted driver"
    driver.email = f"deleted-{driver.id}@deleted.invalid"
    db.add(driver)
    login = db.get(DriverLogin, driver.id)
    if login is not None:
        db.delete(login)
    for reset in db.exec(select(PasswordReset).where(PasswordReset.driver_id == driver.id)):
        db.delete(reset)
    for token in db.exec(select(IdToken).where(IdToken.driver_id == driver.id)):
        token.status = "Blocked"
        db.add(token)
    login_sessions.revoke_sessions(db, kind="driver", subject_id=driver.id)
    audit(db, actor, "driver.delete", f"driver:{driver.id}")


# ---- credentials ---------------------------------------------------------------------------


@router.post("/drivers/{driver_id}/tokens", status_code=status.HTTP_201_CREATED)
async def issue_token(
    driver_id: RowId,
    body: CredentialCreate,
    db: SessionDep,
    who: PrincipalDep,
    temporal: TemporalDep,
    settings: SettingsDep,
) -> CredentialPublic:
    """Issue a credential (e.g. an RFID card's idTag) to a driver."""
    _driver(db, driver_id)
    issued = _issue(db, CredentialIssue(driver_id=driver_id, **body.model_dump()), who.actor)
    db.commit()
    await notify_list_change(db, temporal, settings, who.actor)
    return issued


@router.post("/tokens", status_code=status.HTTP_201_CREATED)
async def issue_stock_token(
    body: CredentialIssue,
    db: SessionDep,
    who: PrincipalDep,
    temporal: TemporalDep,
    settings: SettingsDep,
) -> CredentialPublic:
    """Issue a credential, assigned to a driver or not (card stock)."""
    if body.driver_id is not None:
        _driver(db, body.driver_id)
    issued = _issue(db, body, who.actor)
    db.commit()
    await notify_list_change(db, temporal, settings, who.actor)
    return issued


@router.get("/tokens")
def list_tokens(
    db: SessionDep,
    _: PrincipalDep,
    driver_id: int | None = Query(None, ge=1, le=ID_MAX),
    group_id: str | None = Query(None, max_length=ID_TAG_MAX),
    token_status: Literal["Accepted", "Blocked"] | None = Query(None, alias="status"),
    limit: int = Query(1000, ge=1, le=10_000),
    offset: int = Query(0, ge=0, le=ID_MAX),
) -> list[CredentialPublic]:
    query = select(IdToken)
    if driver_id is not None:
        query = query.where(IdToken.driver_id == driver_id)
    if group_id is not None:
        query = query.where(IdToken.group_id == group_id)
    if token_status is not None:
        query = query.where(IdToken.status == token_status)
    rows = db.exec(query.order_by(IdToken.id).offset(offset).limit(limit)).all()
    return [_public(db, t) for t in rows]


@router.patch("/tokens/{token}")
async def update_token(
    token: str,
    body: CredentialUpdate,
    db: SessionDep,
    who: PrincipalDep,
    temporal: TemporalDep,
    settings: SettingsDep,
) -> CredentialPublic:
    """Block/unblock, (re)assign, set expiry, group or limit; effective at the next Authorize
    and pushed to stations holding a local list. Support may change the status only."""
    changes = body.model_dump(exclude_unset=True)
    if "status" in changes and changes["status"] is None:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "status cannot be null")
    if who.role == Role.SUPPORT and set(changes) - {"status"}:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "support may only block or unblock")
    row = db.exec(select(IdToken).where(IdToken.token == token)).first()
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "unknown token")
    if changes.get("driver_id") is not None:
        _driver(db, changes["driver_id"])
    limit = changes.pop("max_concurrent_sessions", ...)
    if limit is not ...:
        set_max_concurrent(db, row, limit)
    before = row.status
    for field, value in changes.items():
        setattr(row, field, value)
    db.add(row)
    action = "token.update"
    if changes.get("status") and changes["status"] != before:
        action = "token.block" if changes["status"] == "Blocked" else "token.unblock"
    detail = {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in changes.items()}
    if limit is not ...:
        detail["max_concurrent_sessions"] = limit
    audit(db, who.actor, action, f"id_token:{row.id}", detail)
    db.commit()
    await notify_list_change(db, temporal, settings, who.actor)
    return _public(db, row)


# ---- helpers -------------------------------------------------------------------------------


def _driver(db: Session, driver_id: int) -> Driver:
    driver = db.get(Driver, driver_id)
    if driver is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "unknown driver")
    return driver


def _issue(db: Session, body: CredentialIssue, actor: str) -> CredentialPublic:
    problem = id_token_problem(body.token, body.token_type)
    if problem:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, problem)
    if db.exec(select(IdToken).where(IdToken.token == body.token)).first() is not None:
        raise HTTPException(status.HTTP_409_CONFLICT, "this token is already issued")
    token = IdToken(
        token=body.token,
        token_type=body.token_type.value,
        driver_id=body.driver_id,
        group_id=body.group_id,
        expires_at=body.expires_at,
        created_at=datetime.now(UTC),
    )
    db.add(token)
    db.flush()
    if body.max_concurrent_sessions is not None:
        set_max_concurrent(db, token, body.max_concurrent_sessions)
    audit(
        db,
        actor,
        "token.issue",
        f"id_token:{token.id}",
        {"driver_id": body.driver_id, "token_type": token.token_type, "group_id": body.group_id},
    )
    return _public(db, token)


def _public(db: Session, token: IdToken) -> CredentialPublic:
    return CredentialPublic(
        **TokenPublic.model_validate(token, from_attributes=True).model_dump(),
        max_concurrent_sessions=max_concurrent(db, token.id) if token.id else None,
    )
