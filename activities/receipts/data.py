"""What a receipt says, gathered once at issue time and stored with it (`receipts.data`)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field
from sqlmodel import Session, select

from activities.payments import records
from domain.money import format_amount
from domain.rating import RatingResult
from store.billing_tables import GuestPaymentRecord
from store.tables import ChargingSession, Driver, MeterSample, Payment


class Operator(BaseModel):
    name: str = "Ampflow"
    address: str = ""
    vat_id: str = ""
    email: str = ""


class ReceiptLine(BaseModel):
    component: str
    label: str
    quantity: str
    unit_price: str
    amount: str
    amount_minor: int


class ReceiptTax(BaseModel):
    rate: str  # e.g. "20 %"
    net: str
    vat: str


class ReceiptData(BaseModel):
    """Everything printed on a receipt, already formatted."""

    number: int
    issued_at: datetime
    operator: Operator
    session_id: str
    station_id: str
    connector_id: int | None
    started_at: datetime | None
    stopped_at: datetime | None
    energy_kwh: str
    tariff_name: str
    currency: str
    lines: list[ReceiptLine]
    prices_include_vat: bool
    net: str
    taxes: list[ReceiptTax]
    total: str
    total_minor: int
    payment_method: str
    payment_status: str
    signed_meter_data: list[str] = Field(default_factory=list)
    email: str | None = None
    driver_name: str | None = None  # None for guests (and receipts issued before it was kept)
    public_token: str | None = None


def build_receipt_data(
    db: Session,
    row: ChargingSession,
    number: int,
    operator: Operator,
    issued_at: datetime,
    public_token: str | None,
) -> ReceiptData:
    rating = RatingResult.model_validate(row.cost or _empty(row))
    cur = rating.currency
    charge = records.find(db, row.id, records.CHARGE)
    hold = records.find(db, row.id, records.HOLD)
    return ReceiptData(
        number=number,
        issued_at=issued_at,
        operator=operator,
        session_id=row.id,
        station_id=row.station_id,
        connector_id=row.connector_id,
        started_at=row.started_at,
        stopped_at=row.stopped_at,
        energy_kwh=f"{(row.energy_wh or 0) // 1000}.{(row.energy_wh or 0) % 1000:03d}",
        tariff_name=str((row.tariff or {}).get("name", "")),
        currency=cur,
        lines=[
            ReceiptLine(
                component=line.component,
                label=_label(line.component, line.label),
                quantity=line.quantity,
                unit_price=_unit_price(line.component, line.unit_price, cur),
                amount=format_amount(line.amount, cur),
                amount_minor=line.amount,
            )
            for line in rating.lines
        ],
        prices_include_vat=rating.prices_include_vat,
        net=format_amount(rating.net, cur),
        taxes=[
            ReceiptTax(
                rate=f"{t.rate_bp / 100:g} %",
                net=format_amount(t.net, cur),
                vat=format_amount(t.vat, cur),
            )
            for t in (rating.taxes or [])
        ]
        or [
            ReceiptTax(
                rate=f"{rating.vat_rate_bp / 100:g} %",
                net=format_amount(rating.net, cur),
                vat=format_amount(rating.vat, cur),
            )
        ],
        total=format_amount(rating.total, cur),
        total_minor=rating.total,
        payment_method=_method(charge, hold),
        payment_status=charge.status if charge else "open",
        signed_meter_data=_signed_data(db, row.id),
        email=_email(db, row),
        driver_name=_driver_name(db, row),
        public_token=public_token,
    )


def _empty(row: ChargingSession) -> dict:
    return {
        "currency": row.currency or "EUR",
        "lines": [],
        "net": 0,
        "vat": 0,
        "total": 0,
        "vat_rate_bp": 0,
    }


def _label(component: str, label: str | None) -> str:
    names = {
        "energy": "Energy",
        "time": "Charging time",
        "session": "Session fee",
        "idle": "Idle fee",
        "adjustment": "Adjustment",
    }
    name = names.get(component, component.title())
    return f"{name} ({label})" if label else name


def _unit_price(component: str, price: int, currency: str) -> str:
    if component == "adjustment" or price == 0:
        return ""
    unit = {"energy": "/kWh", "time": "/h", "idle": "/h", "session": ""}.get(component, "")
    text = format_amount(price, currency) + unit
    if component in ("time", "idle") and price % 60 == 0:
        text += f" ({format_amount(price // 60, currency)}/min)"
    return text


def _method(charge: Payment | None, hold: Payment | None) -> str:
    card = records.card_of(charge) or records.card_of(hold)
    if card is not None:
        return card.describe()
    provider = (charge or hold).provider if (charge or hold) else None
    return {"ledger": "Account (invoiced monthly)", None: "none"}.get(provider, provider or "none")


def _signed_data(db: Session, session_id: str) -> list[str]:
    rows = db.exec(
        select(MeterSample.signed_data)
        .where(MeterSample.session_id == session_id, MeterSample.signed_data.is_not(None))  # type: ignore[union-attr]
        .order_by(MeterSample.timestamp)  # type: ignore[arg-type]
    ).all()
    return [r for r in rows if r]


def _driver_name(db: Session, row: ChargingSession) -> str | None:
    driver = db.get(Driver, row.driver_id) if row.driver_id is not None else None
    return driver.name if driver is not None else None


def _email(db: Session, row: ChargingSession) -> str | None:
    if row.driver_id is not None:
        driver = db.get(Driver, row.driver_id)
        if driver is not None:
            return driver.email
    guest = db.exec(
        select(GuestPaymentRecord).where(GuestPaymentRecord.session_id == row.id)
    ).first()
    return guest.email if guest else None
