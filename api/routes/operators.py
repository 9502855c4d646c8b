"""Operator accounts and API keys (admin only).

Operators sign in at `POST /auth/operators/token`; integrations send an API key in
`X-API-Key`. Both carry one role (admin, technician, support, analyst). A key is shown once,
at creation; only its SHA-256 is kept.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from fastapi import APIRouter, HTTPException, status
from fastapi.responses import Response
from pydantic import BaseModel, EmailStr, Field
from sqlalchemy import func
from sqlmodel import select

from api import login_sessions, security
from api.deps import PrincipalDep, RowId, SessionDep
from domain.access import PASSWORD_MAX, normalize_email, password_problem
from store.access_tables import ApiKey, Operator
from store.audit import audit

router = APIRouter(tags=["operators"])

OperatorRole = Literal["admin", "technician", "support", "analyst"]


class OperatorCreate(BaseModel):
    email: EmailStr
    name: str = Field(min_length=1, max_length=200)
    role: OperatorRole
    password: str = Field(max_length=PASSWORD_MAX)


class OperatorUpdate(BaseModel):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    role: OperatorRole | None = None
    active: bool | None = None
    password: str | None = Field(default=None, max_length=PASSWORD_MAX)


class OperatorPublic(BaseModel):
    id: int
    email: str
    name: str
    role: str
    active: bool
    created_at: datetime


class ApiKeyCreate(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    role: OperatorRole


class ApiKeyPublic(BaseModel):
    id: int
    name: str
    role: str
    prefix: str
    created_by: str
    created_at: datetime
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyPublic):
    key: str = Field(description="the key itself: shown only now")


@router.post("/operators", status_code=status.HTTP_201_CREATED)
def create_operator(body: OperatorCreate, db: SessionDep, who: PrincipalDep) -> OperatorPublic:
    problem = password_problem(body.password)
    if problem:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, problem)
    email = normalize_email(str(body.email))
    if db.exec(select(Operator).where(func.lower(Operator.email) == email)).first():
        raise HTTPException(status.HTTP_409_CONFLICT, "an operator with this email exists")
    operator = Operator(
        email=email,
        name=body.name,
        role=body.role,
        password_hash=security.hash_password(body.password),
        created_at=datetime.now(UTC),
    )
    db.add(operator)
    db.flush()
    audit(db, who.actor, "operator.create", f"operator:{operator.id}", {"role": body.role})
    return OperatorPublic.model_validate(operator, from_attributes=True)


@router.get("/operators")
def list_operators(db: SessionDep, _: PrincipalDep) -> list[OperatorPublic]:
    rows = db.exec(select(Operator).order_by(Operator.id)).all()
    return [OperatorPublic.model_validate(r, from_attributes=True) for r in rows]


@router.get("/operators/{operator_id}")
def get_operator(operator_id: RowId, db: SessionDep, _: PrincipalDep) -> OperatorPublic:
    operator = db.get(Operator, operator_id)
    if operator is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "unknown operator")
    return OperatorPublic.model_validate(operator, from_attributes=True)


@router.patch("/operators/{operator_id}")
def update_operator(
    operator_id: RowId, body: OperatorUpdate, db: SessionDep, who: PrincipalDep
) -> OperatorPublic:
    """Rename, change role, (de)activate or set a password; role, activity and password
    changes sign the operator out everywhere."""
    operator = db.get(Operator, operator_id)
    if operator is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "unknown operator")
    changes = body.model_dump(exclude_unset=True, exclude_none=True)
    password = changes.pop("password", None)
    if password is not None:
        problem = password_problem(password)
        if problem:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, problem)
        operator.password_hash = security.hash_password(password)
    for field, value in changes.items():
        setattr(operator, field, value)
    db.add(operator)
    if password is not None or {"role", "active"} & set(changes):
        login_sessions.revoke_sessions(db, kind="operator", subject_id=operator_id)
    detail = {**changes, **({"password": "changed"} if password else {})}
    audit(db, who.actor, "operator.update", f"operator:{operator_id}", detail)
    return OperatorPublic.model_validate(operator, from_attributes=True)


@router.post("/api-keys", status_code=status.HTTP_201_CREATED)
def create_api_key(body: ApiKeyCreate, db: SessionDep, who: PrincipalDep) -> ApiKeyCreated:
    """A new key for an integration, with a role; the response is the only time it is shown."""
    key = security.new_secret("ak_")
    row = ApiKey(
        name=body.name,
        role=body.role,
        prefix=key[:10],
        key_hash=security.secret_hash(key),
        created_by=who.actor,
        created_at=datetime.now(UTC),
    )
    db.add(row)
    db.flush()
    audit(db, who.actor, "api_key.create", f"api_key:{row.id}", {"role": body.role})
    return ApiKeyCreated(
        **ApiKeyPublic.model_validate(row, from_attributes=True).model_dump(), key=key
    )


@router.get("/api-keys")
def list_api_keys(db: SessionDep, _: PrincipalDep) -> list[ApiKeyPublic]:
    rows = db.exec(select(ApiKey).order_by(ApiKey.id)).all()
    return [ApiKeyPublic.model_validate(r, from_attributes=True) for r in rows]


@router.delete("/api-keys/{key_id}", status_code=status.HTTP_204_NO_CONTENT)
def revoke_api_key(key_id: RowId, db: SessionDep, who: PrincipalDep) -> Response:
    """Revoke a key; it stops working at once."""
    row = db.get(ApiKey, key_id)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "unknown API key")
    if row.revoked_at is None:
        row.revoked_at = datetime.now(UTC)
        db.add(row)
        audit(db, who.actor, "api_key.revoke", f"api_key:{key_id}")
    return Response(status_code=status.HTTP_204_NO_CONTENT)
