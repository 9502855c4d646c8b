"""Tariffs: the prices sessions are rated with."""

from __future__ import annotations

from fastapi import APIRouter, status
from sqlmodel import select, update

from api.deps import OperatorDep, SessionDep
from api.schemas import TariffCreate, TariffPublic
from store.tables import Tariff

router = APIRouter(prefix="/tariffs", tags=["tariffs"])


@router.post("", status_code=status.HTTP_201_CREATED)
def create_tariff(body: TariffCreate, db: SessionDep, _: OperatorDep) -> TariffPublic:
    """Create a tariff; `is_default` makes it the one used by stations without their own."""
    if body.is_default:
        db.exec(update(Tariff).values(is_default=False))  # type: ignore[call-overload]
    tariff = Tariff(**body.model_dump())
    db.add(tariff)
    db.flush()
    db.refresh(tariff)
    return TariffPublic.model_validate(tariff, from_attributes=True)


@router.get("")
def list_tariffs(db: SessionDep, _: OperatorDep) -> list[TariffPublic]:
    tariffs = db.exec(select(Tariff).order_by(Tariff.id)).all()
    return [TariffPublic.model_validate(t, from_attributes=True) for t in tariffs]
