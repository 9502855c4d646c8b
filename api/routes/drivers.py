"""Drivers and their credentials (id tokens / RFID cards)."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, status
from sqlmodel import select

from api.deps import OperatorDep, SessionDep
from api.schemas import DriverCreate, DriverPublic, TokenCreate, TokenPublic, TokenUpdate
from store.tables import Driver, IdToken

router = APIRouter(tags=["drivers"])


@router.post("/drivers", status_code=status.HTTP_201_CREATED)
def create_driver(body: DriverCreate, db: SessionDep, _: OperatorDep) -> DriverPublic:
    if db.exec(select(Driver).where(Driver.email == body.email)).first() is not None:
        raise HTTPException(status.HTTP_409_CONFLICT, "a driver with this email exists")
    driver = Driver(name=body.name, email=str(body.email))
    db.add(driver)
    db.flush()
    db.refresh(driver)
    return DriverPublic.model_validate(driver, from_attributes=True)


@router.get("/drivers")
def list_drivers(db: SessionDep, _: OperatorDep) -> list[DriverPublic]:
    drivers = db.exec(select(Driver).order_by(Driver.id)).all()
    return [DriverPublic.model_validate(d, from_attributes=True) for d in drivers]


@router.get("/drivers/{driver_id}")
def get_driver(driver_id: int, db: SessionDep, _: OperatorDep) -> DriverPublic:
    driver = db.get(Driver, driver_id)
    if driver is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "unknown driver")
    return DriverPublic.model_validate(driver, from_attributes=True)


@router.post("/drivers/{driver_id}/tokens", status_code=status.HTTP_201_CREATED)
def issue_token(driver_id: int, body: TokenCreate, db: SessionDep, _: OperatorDep) -> TokenPublic:
    """Issue a credential (e.g. an RFID card's idTag) to a driver."""
    if db.get(Driver, driver_id) is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "unknown driver")
    if db.exec(select(IdToken).where(IdToken.token == body.token)).first() is not None:
        raise HTTPException(status.HTTP_409_CONFLICT, "this token is already issued")
    token = IdToken(driver_id=driver_id, **body.model_dump())
    db.add(token)
    db.flush()
    db.refresh(token)
    return TokenPublic.model_validate(token, from_attributes=True)


@router.get("/tokens")
def list_tokens(db: SessionDep, _: OperatorDep) -> list[TokenPublic]:
    tokens = db.exec(select(IdToken).order_by(IdToken.id)).all()
    return [TokenPublic.model_validate(t, from_attributes=True) for t in tokens]


@router.patch("/tokens/{token}")
def update_token(token: str, body: TokenUpdate, db: SessionDep, _: OperatorDep) -> TokenPublic:
    """Block or unblock a credential, or change its expiry; effective at the next Authorize."""
    row = db.exec(select(IdToken).where(IdToken.token == token)).first()
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "unknown token")
    for field, value in body.model_dump(exclude_unset=True).items():
        setattr(row, field, value)
    db.add(row)
    db.flush()
    return TokenPublic.model_validate(row, from_attributes=True)
