"""Tariffs: the prices sessions are rated with, where they apply, and price previews."""

from __future__ import annotations

from copy import copy
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import BaseModel, Field, ValidationError, create_model
from sqlmodel import select, update

from activities.payments.tariffs import resolve_tariff
from api.deps import OperatorDep, RowId, SessionDep
from api.inputs import INT32_MAX, ConnectorId, Money, PositiveId, Price, UtcDateTime
from api.schemas import TariffCreate
from domain.money import format_amount
from domain.rating import RatingResult, preview
from domain.tariff import Tariff as TariffModel
from domain.tariff import TariffElement
from store.audit import audit
from store.billing_tables import GroupTariff
from store.tables import Connector, Station, Tariff

router = APIRouter(tags=["tariffs"])


class TariffBody(TariffCreate):
    """A tariff: the flat prices (the fallback) plus OCPI-like elements and fees."""

    idle_price_per_hour: Price = Field(default=0, description="idle fee, minor units/hour")
    idle_grace_minutes: int = Field(default=0, ge=0, le=10_080)
    idle_fee_cap: Money | None = None
    min_price: Money | None = None
    max_price: Money | None = None
    time_basis: str = Field(default="session", pattern="^(session|charging)$")
    energy_step_wh: int = Field(default=1, ge=1, le=1_000_000)
    time_step_s: int = Field(default=1, ge=1, le=86_400)
    time_zone: str = "UTC"
    elements: list[TariffElement] = Field(default_factory=list)
    hold_amount: Money | None = None


class TariffOut(TariffBody):
    id: int


def _all_optional(model: type[BaseModel], name: str, doc: str) -> type[BaseModel]:
    """`model` with every field optional (absent: unchanged), its constraints kept."""
    fields: dict[str, Any] = {}
    for field_name, info in model.model_fields.items():
        optional = copy(info)
        optional.default, optional.default_factory = None, None
        fields[field_name] = (info.annotation | None, optional)
    return create_model(name, __doc__=doc, **fields)


TariffPatch = _all_optional(
    TariffBody,
    "TariffPatch",
    "The fields to change; those left out keep their value, null clears an optional limit.",
)


class PricePreview(BaseModel):
    """What a session would cost; lines in the order energy, time, session, other."""

    tariff_id: int | None
    tariff_name: str
    energy_wh: int
    duration_s: int
    idle_s: int
    started_at: datetime
    rating: RatingResult
    prices: dict[str, str] = Field(description="the tariff's flat prices, per kWh/hour/minute")


class TariffAssignment(BaseModel):
    tariff_id: PositiveId | None


def _check(body: TariffBody) -> TariffModel:
    try:
        return TariffModel.model_validate(body.model_dump())
    except ValueError as err:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(err)) from err


def _out(row: Tariff) -> TariffOut:
    return TariffOut.model_validate(row, from_attributes=True)


@router.post("/tariffs", status_code=status.HTTP_201_CREATED)
def create_tariff(body: TariffBody, db: SessionDep, _: OperatorDep) -> TariffOut:
    """Create a tariff; `is_default` makes it the one used by stations without their own."""
    _check(body)
    if body.is_default:
        db.exec(update(Tariff).values(is_default=False))  # type: ignore[call-overload]
    values = body.model_dump(mode="json")
    tariff = Tariff(**values)
    db.add(tariff)
    db.flush()
    db.refresh(tariff)
    return _out(tariff)


@router.get("/tariffs")
def list_tariffs(db: SessionDep, _: OperatorDep) -> list[TariffOut]:
    return [_out(t) for t in db.exec(select(Tariff).order_by(Tariff.id)).all()]


@router.get("/tariffs/{tariff_id}")
def get_tariff(tariff_id: RowId, db: SessionDep, _: OperatorDep) -> TariffOut:
    row = db.get(Tariff, tariff_id)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "unknown tariff")
    return _out(row)


@router.patch("/tariffs/{tariff_id}")
def edit_tariff(
    tariff_id: RowId,
    body: TariffPatch,  # type: ignore[valid-type]
    db: SessionDep,
    who: OperatorDep,
) -> TariffOut:
    """Change a tariff's prices or terms. Sessions keep the tariff they were rated with (a
    snapshot taken when they start), so only sessions starting afterwards pay the new prices."""
    row = db.get(Tariff, tariff_id, with_for_update=True)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "unknown tariff")
    before = _out(row).model_dump(mode="json", exclude={"id"})
    changes = body.model_dump(exclude_unset=True)  # type: ignore[attr-defined]
    try:
        merged = TariffBody.model_validate({**before, **changes})
    except ValidationError as err:
        detail = err.errors(include_url=False, include_context=False, include_input=False)
        for item in detail:
            item["loc"] = ("body", *item["loc"])
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail) from err
    _check(merged)
    if row.is_default and not merged.is_default:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            "this is the default tariff: make another tariff the default instead",
        )
    after = merged.model_dump(mode="json")
    changed = {k: {"from": before[k], "to": v} for k, v in after.items() if before[k] != v}
    if merged.is_default and not row.is_default:
        db.exec(update(Tariff).values(is_default=False))  # type: ignore[call-overload]
    for key, value in after.items():
        setattr(row, key, value)
    db.add(row)
    audit(db, who, "tariff.edit", f"tariff:{tariff_id}", {"changed": changed})
    db.flush()
    db.refresh(row)
    return _out(row)


@router.get("/tariffs/{tariff_id}/preview")
def preview_tariff(
    tariff_id: RowId,
    db: SessionDep,
    energy_wh: int = Query(..., ge=0, le=10_000_000),
    duration_s: int = Query(..., ge=0, le=30 * 86_400),
    idle_s: int = Query(0, ge=0, le=30 * 86_400),
    start: UtcDateTime | None = None,
) -> PricePreview:
    """The price of `energy_wh` charged over `duration_s` from `start`, then `idle_s` idle."""
    row = db.get(Tariff, tariff_id)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "unknown tariff")
    return _preview(
        TariffModel.model_validate(row, from_attributes=True), energy_wh, duration_s, idle_s, start
    )


@router.get("/stations/{station_id}/price-preview")
def station_price_preview(
    station_id: str,
    db: SessionDep,
    energy_wh: int = Query(..., ge=0, le=10_000_000),
    duration_s: int = Query(..., ge=0, le=30 * 86_400),
    idle_s: int = Query(0, ge=0, le=30 * 86_400),
    start: UtcDateTime | None = None,
    connector_id: int | None = Query(None, ge=0, le=INT32_MAX),
) -> PricePreview:
    """What a driver would pay at this station (and connector) for such a session."""
    if db.get(Station, station_id) is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "unknown station")
    tariff = resolve_tariff(db, station_id, connector_id=connector_id)
    return _preview(tariff, energy_wh, duration_s, idle_s, start)


@router.put("/stations/{station_id}/connectors/{connector_id}/tariff")
def assign_connector_tariff(
    station_id: str,
    connector_id: ConnectorId,
    body: TariffAssignment,
    db: SessionDep,
    _: OperatorDep,
) -> TariffAssignment:
    """Give a connector its own tariff (null: the station's again)."""
    station = db.get(Station, station_id)
    if station is None or not 1 <= connector_id <= station.connector_count:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "unknown station or connector")
    if body.tariff_id is not None and db.get(Tariff, body.tariff_id) is None:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "unknown tariff_id")
    connector = db.get(Connector, (station_id, connector_id)) or Connector(
        station_id=station_id, connector_id=connector_id
    )
    connector.tariff_id = body.tariff_id
    db.add(connector)
    return body


@router.put("/tariff-groups/{group_id}")
def assign_group_tariff(
    group_id: str, body: TariffAssignment, db: SessionDep, _: OperatorDep
) -> TariffAssignment:
    """Give a driver group (id token `group_id`) its own tariff, over station and connector."""
    existing = db.get(GroupTariff, group_id)
    if body.tariff_id is None:
        if existing is not None:
            db.delete(existing)
        return body
    if db.get(Tariff, body.tariff_id) is None:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "unknown tariff_id")
    row = existing or GroupTariff(group_id=group_id, tariff_id=body.tariff_id)
    row.tariff_id = body.tariff_id
    db.add(row)
    return body


def _preview(
    tariff: TariffModel, energy_wh: int, duration_s: int, idle_s: int, start: datetime | None
) -> PricePreview:
    start = start or datetime.now(UTC)
    if start.tzinfo is None:
        start = start.replace(tzinfo=UTC)
    return PricePreview(
        tariff_id=tariff.id,
        tariff_name=tariff.name,
        energy_wh=energy_wh,
        duration_s=duration_s,
        idle_s=idle_s,
        started_at=start,
        rating=preview(tariff, energy_wh, duration_s, start, idle_s),
        prices=_display_prices(tariff),
    )


def _display_prices(tariff: TariffModel) -> dict[str, str]:
    cur = tariff.currency
    basis = "incl. VAT" if tariff.prices_include_vat else "excl. VAT"
    shown = {"basis": f"{basis} {tariff.vat_rate_bp / 100:g} %"}
    if tariff.energy_price_per_kwh:
        shown["energy"] = f"{format_amount(tariff.energy_price_per_kwh, cur)}/kWh"
    for name, per_hour in (
        ("time", tariff.time_price_per_hour),
        ("idle", tariff.idle_price_per_hour),
    ):
        if per_hour:
            text = f"{format_amount(per_hour, cur)}/h"
            if per_hour % 60 == 0:
                text += f" ({format_amount(per_hour // 60, cur)}/min)"
            shown[name] = text
    if tariff.idle_price_per_hour and tariff.idle_grace_minutes:
        shown["idle"] += f" after {tariff.idle_grace_minutes} min"
    if tariff.session_fee:
        shown["session"] = format_amount(tariff.session_fee, cur)
    return shown
