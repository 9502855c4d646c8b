"""Payments: saved cards, credit limits and statements, refunds, receipts (PDF, public links),
ad-hoc payment links per connector, and reconciliation. Includes the webhook and plan routes.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Header, HTTPException, Request, Response, status
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, EmailStr, Field
from sqlmodel import select

from activities.payments import guest, ledger, records
from activities.payments.guest_checkout import create_guest_checkout
from activities.payments.reconciliation import reconcile
from activities.payments.service import RefundRefused
from activities.payments.statements import monthly_statement
from activities.payments.stripe_provider import StripeUnavailable
from activities.receipts.activities import operator_of, receipt_pdf
from api.deps import OperatorDep, SessionDep, SettingsDep
from api.inputs import INT32_MAX, ConnectorId, RowId
from api.payments_service import payments_of
from api.routes import plans, webhooks
from domain.payments import (
    CardInfo,
    GuestCheckout,
    GuestPayment,
    ReconciliationReport,
    RefundOutcome,
    RefundRequest,
    Statement,
)
from store.audit import audit
from store.billing_tables import DriverAccount, RefundRecord
from store.tables import Driver, Payment, Receipt

router = APIRouter(tags=["payments"])
router.include_router(webhooks.router)
router.include_router(plans.router)


# ---- driver accounts --------------------------------------------------------------------


class CardSetup(BaseModel):
    payment_method: str | None = Field(
        default=None, description="confirm now with this PaymentMethod (terminals, tests)"
    )


class CardSetupOut(BaseModel):
    status: str
    setup_intent_id: str | None = None
    client_secret: str | None = None
    card: CardInfo | None = None
    failure_code: str | None = None


class AccountIn(BaseModel):
    credit_limit: int | None = Field(
        default=None, ge=0, le=INT32_MAX, description="null: unlimited"
    )


class AccountOut(BaseModel):
    driver_id: int
    credit_limit: int | None
    balance: int = Field(description="owed on the ledger (negative: prepaid credit)")
    reserved: int
    card: CardInfo | None


class TopUp(BaseModel):
    amount: int = Field(gt=0, le=INT32_MAX)
    currency: str = Field(default="EUR", pattern="^[A-Z]{3}$")
    reference: str = Field(min_length=1, max_length=100, description="dedupes the top-up")


def _driver(db, driver_id: int) -> Driver:
    driver = db.get(Driver, driver_id)
    if driver is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "unknown driver")
    return driver


@router.post("/drivers/{driver_id}/cards", status_code=status.HTTP_201_CREATED)
def setup_card(
    driver_id: RowId, body: CardSetup, request: Request, db: SessionDep, _: OperatorDep
) -> CardSetupOut:
    """Save a card for off-session charging (a Stripe SetupIntent)."""
    _driver(db, driver_id)
    service = payments_of(request)
    if service.stripe is None:
        raise HTTPException(status.HTTP_409_CONFLICT, "card payments are not configured")
    try:
        setup = service.stripe.start_card_setup(db, driver_id, body.payment_method)
    except StripeUnavailable as err:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(err)) from err
    account = db.get(DriverAccount, driver_id)
    card = None
    if account is not None and account.card_last4 and setup.get("status") == "succeeded":
        card = CardInfo(brand=account.card_brand, last4=account.card_last4, wallet=account.wallet)
    return CardSetupOut(
        status=setup.get("status", "failed"),
        setup_intent_id=setup.get("id"),
        client_secret=setup.get("client_secret"),
        card=card,
        failure_code=setup.get("failure_code"),
    )


@router.get("/drivers/{driver_id}/account")
def get_account(driver_id: RowId, request: Request, db: SessionDep, _: OperatorDep) -> AccountOut:
    _driver(db, driver_id)
    account = db.get(DriverAccount, driver_id)
    default = payments_of(request).ledger.default_credit_limit
    card = None
    if account is not None and account.card_last4:
        card = CardInfo(brand=account.card_brand, last4=account.card_last4, wallet=account.wallet)
    return AccountOut(
        driver_id=driver_id,
        credit_limit=ledger.credit_limit(db, driver_id, default),
        balance=ledger.balance(db, driver_id),
        reserved=ledger.reserved(db, driver_id),
        card=card,
    )


@router.put("/drivers/{driver_id}/account")
def set_account(
    driver_id: RowId, body: AccountIn, request: Request, db: SessionDep, who: OperatorDep
) -> AccountOut:
    """Set the driver's credit limit (0 with top-ups: prepaid)."""
    _driver(db, driver_id)
    account = db.get(DriverAccount, driver_id) or DriverAccount(driver_id=driver_id)
    account.credit_limit = body.credit_limit
    db.add(account)
    db.flush()
    return get_account(driver_id, request, db, who)


@router.post("/drivers/{driver_id}/top-ups", status_code=status.HTTP_201_CREATED)
def top_up(driver_id: RowId, body: TopUp, db: SessionDep, who: OperatorDep) -> dict:
    """Credit the driver's ledger (a prepaid top-up or a payment received), once per reference."""
    _driver(db, driver_id)
    entry = records.add_ledger_entry(
        db,
        f"top-up:{driver_id}:{body.reference}",
        driver_id=driver_id,
        kind="top_up",
        amount=-body.amount,
        currency=body.currency,
        description=f"top-up {body.reference} by {who}",
    )
    return {"entry_id": entry.id, "balance": ledger.balance(db, driver_id)}


@router.get("/drivers/{driver_id}/statement")
def driver_statement(
    driver_id: RowId,
    db: SessionDep,
    _: OperatorDep,
    month: str | None = None,
    currency: str = "EUR",
) -> Statement:
    """The driver's ledger for a calendar month (`YYYY-MM`, default: this month)."""
    _driver(db, driver_id)
    year, number = _month(month)
    return monthly_statement(db, driver_id, year, number, currency)


# ---- sessions: payments, refunds, receipts ------------------------------------------------


class PaymentRow(BaseModel):
    kind: str
    provider: str
    status: str
    amount: int
    amount_captured: int
    amount_refunded: int
    currency: str
    external_id: str | None
    card: CardInfo | None
    failure_reason: str | None


class RefundIn(BaseModel):
    amount: int | None = Field(
        default=None, gt=0, le=INT32_MAX, description="null: everything left"
    )
    reason: str = Field(min_length=1, max_length=500)
    refund_key: str | None = Field(default=None, max_length=100)


class SessionPayments(BaseModel):
    payments: list[PaymentRow]
    refunds: list[RefundOutcome]


@router.get("/sessions/{session_id}/payments")
def session_payments(session_id: str, db: SessionDep, _: OperatorDep) -> SessionPayments:
    rows = db.exec(select(Payment).where(Payment.session_id == session_id)).all()
    refunds = db.exec(select(RefundRecord).where(RefundRecord.session_id == session_id)).all()
    return SessionPayments(
        payments=[
            PaymentRow(
                **r.model_dump(
                    include={
                        "kind",
                        "provider",
                        "status",
                        "amount",
                        "amount_captured",
                        "amount_refunded",
                        "currency",
                        "external_id",
                        "failure_reason",
                    }
                ),
                card=records.card_of(r),
            )
            for r in rows
        ],
        refunds=[
            RefundOutcome(
                session_id=r.session_id,
                refund_key=r.refund_key,
                status=r.status,
                amount=r.amount,
                currency=r.currency,
                provider=r.provider,
                external_ids=list(r.external_ids or []),
                failure_reason=r.failure_reason,
            )
            for r in refunds
        ],
    )


@router.post("/sessions/{session_id}/refunds", status_code=status.HTTP_201_CREATED)
def refund_session(
    session_id: str,
    body: RefundIn,
    request: Request,
    who: OperatorDep,
    idempotency_key: Annotated[str | None, Header(max_length=100)] = None,
) -> RefundOutcome:
    """Refund part or all of a session's payment, with a reason. Send the same
    `Idempotency-Key` header (or `refund_key`) to retry safely."""
    key = body.refund_key or idempotency_key or uuid.uuid4().hex
    try:
        outcome = payments_of(request).refund(
            RefundRequest(
                session_id=session_id,
                refund_key=key,
                amount=body.amount,
                reason=body.reason,
                requested_by=who,
            )
        )
    except RefundRefused as err:
        raise HTTPException(status.HTTP_409_CONFLICT, str(err)) from err
    except StripeUnavailable as err:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(err)) from err
    with request.app.state.db.session() as db:  # who refunded what: the audit log
        audit(
            db,
            who,
            "payment.refund",
            f"session:{session_id}",
            {"amount": outcome.amount, "status": outcome.status, "reason": body.reason},
        )
    return outcome


@router.get("/sessions/{session_id}/receipt.pdf", response_class=Response)
def session_receipt_pdf(
    session_id: str, db: SessionDep, settings: SettingsDep, _: OperatorDep
) -> Response:
    """The session's receipt as PDF."""
    pdf = receipt_pdf(db, session_id, operator_of(settings))
    if pdf is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no receipt for this session (yet)")
    return _pdf(pdf, session_id)


@router.get("/payments/reconciliation")
def reconciliation(
    request: Request, db: SessionDep, _: OperatorDep, provider: bool = False
) -> ReconciliationReport:
    """Completed sessions vs settled payments; with `provider=true`, also Stripe's captures."""
    stripe = payments_of(request).stripe if provider else None
    return reconcile(db, stripe)


# ---- ad-hoc payment (no account) ----------------------------------------------------------


class GuestPayIn(BaseModel):
    email: EmailStr | None = None


class GuestStatus(BaseModel):
    token: str
    status: str  # created | held | used | released
    station_id: str
    connector_id: int
    amount: int
    currency: str
    session_id: str | None


@router.post("/pay/{station_id}/{connector_id}", status_code=status.HTTP_201_CREATED)
def create_payment_link(
    station_id: str,
    connector_id: ConnectorId,
    body: GuestPayIn,
    request: Request,
    db: SessionDep,
    settings: SettingsDep,
) -> GuestPayment:
    """Pay at this connector without an account: a card hold to confirm with the returned
    client secret (Stripe.js: card, Apple Pay, Google Pay); the token is the receipt link."""
    service = payments_of(request)
    if service.stripe is None:
        raise HTTPException(status.HTTP_409_CONFLICT, "card payments are not configured")
    try:
        return guest.create_guest_payment(
            db,
            service.stripe,
            station_id,
            connector_id,
            energy_wh=service.policy.energy_wh,
            duration_s=service.policy.duration_s,
            floor=service.policy.floor,
            ceiling=service.policy.ceiling,
            email=str(body.email) if body.email else None,
            public_url=settings.api_base_url,
        )
    except guest.GuestPaymentError as err:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(err)) from err


@router.post("/pay/{station_id}/{connector_id}/checkout", status_code=status.HTTP_201_CREATED)
def create_checkout(
    station_id: str,
    connector_id: ConnectorId,
    body: GuestPayIn,
    request: Request,
    db: SessionDep,
    settings: SettingsDep,
) -> GuestCheckout:
    """Pay at this connector without an account on Stripe's own checkout page: send the payer
    to `checkout_url`; Stripe brings them back to `guest_url`, which follows the session. The
    payment is a card hold, captured for what the session costs."""
    service = payments_of(request)
    if service.stripe is None:
        raise HTTPException(status.HTTP_409_CONFLICT, "card payments are not configured")
    try:
        return create_guest_checkout(
            db,
            service.stripe,
            station_id,
            connector_id,
            energy_wh=service.policy.energy_wh,
            duration_s=service.policy.duration_s,
            floor=service.policy.floor,
            ceiling=service.policy.ceiling,
            email=str(body.email) if body.email else None,
            public_url=settings.api_base_url,
        )
    except guest.GuestPaymentError as err:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(err)) from err
    except StripeUnavailable as err:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE, "the payment provider is unavailable"
        ) from err


@router.get("/pay/{token}")
def payment_link_status(token: str, request: Request, db: SessionDep) -> GuestStatus:
    """Whether the guest payment is authorised (`held`) and which session used it."""
    service = payments_of(request)
    if service.stripe is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "unknown payment token")
    try:
        row = guest.guest_status(db, service.stripe, token)
    except guest.GuestPaymentError as err:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(err)) from err
    return GuestStatus.model_validate(row, from_attributes=True)


@router.get("/receipts/{token}.pdf", response_class=Response)
def public_receipt_pdf(token: str, db: SessionDep, settings: SettingsDep) -> Response:
    """A receipt by its link token (guests have no account), as PDF."""
    receipt = _public_receipt(db, token)
    pdf = receipt_pdf(db, receipt.session_id, operator_of(settings))
    assert pdf is not None
    return _pdf(pdf, receipt.session_id)


@router.get("/receipts/{token}", response_class=HTMLResponse)
def public_receipt(token: str, db: SessionDep) -> HTMLResponse:
    """A receipt by its link token, as HTML."""
    return HTMLResponse(_public_receipt(db, token).html)


def _public_receipt(db, token: str) -> Receipt:
    receipt = db.exec(select(Receipt).where(Receipt.public_token == token)).first()
    if receipt is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no receipt for this link (yet)")
    return receipt


def _pdf(pdf: bytes, session_id: str) -> Response:
    return Response(
        pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="receipt-{session_id}.pdf"'},
    )


def _month(month: str | None) -> tuple[int, int]:
    if month is None:
        now = datetime.now(UTC)
        return now.year, now.month
    try:
        year, number = (int(part) for part in month.split("-"))
        datetime(year, number, 1)
    except ValueError as err:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "month: YYYY-MM") from err
    return year, number
