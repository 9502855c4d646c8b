"""`issue_session_receipt`: the next gap-free number, the receipt's data, HTML and (on demand) PDF,
and an e-mail to the driver (or guest) when SMTP is configured.

The number and the receipt are written in one transaction (gap-free, once per session). The
e-mail goes out after that commit and is marked sent; a crash in between may send it twice,
never zero times.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

from sqlalchemy import text
from sqlmodel import Session, select
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.receipts.data import Operator, ReceiptData, build_receipt_data
from activities.receipts.mail import send_receipt, smtp_configured
from activities.receipts.render import render_html, render_pdf
from domain.session import ReceiptIssued, ReceiptRequest
from runtime.settings import Settings
from store.billing_tables import GuestPaymentRecord
from store.db import Database
from store.tables import ChargingSession, Receipt


def operator_of(settings: Settings) -> Operator:
    return Operator(
        name=settings.operator_name,
        address=settings.operator_address,
        vat_id=settings.operator_vat_id,
        email=settings.operator_email,
    )


class ReceiptActivities:
    """Bound to the database and settings (operator details, SMTP) by the worker."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings

    @activity.defn
    def issue_session_receipt(self, request: ReceiptRequest) -> ReceiptIssued:
        """Issue the session's receipt once; e-mail it if SMTP is set up."""
        with self.db.session() as db:
            receipt = issue(db, request.session_id, operator_of(self.settings))
            data = ReceiptData.model_validate(receipt.data)
            to = None if receipt.emailed_to else data.email
            html = receipt.html
        if to and smtp_configured(self.settings):
            send_receipt(self.settings, to, data, html, render_pdf(data))
            with self.db.session() as db:
                row = db.get(Receipt, receipt.id)
                if row is not None:
                    row.emailed_to = to
                    db.add(row)
            activity.logger.info("receipt %s e-mailed", data.number)
        return ReceiptIssued(receipt_number=data.number, session_id=request.session_id)


def issue(db: Session, session_id: str, operator: Operator) -> Receipt:
    """The session's receipt, created with the next number if it has none (or no data yet)."""
    receipt = db.exec(
        select(Receipt).where(Receipt.session_id == session_id).with_for_update()
    ).first()
    if receipt is not None and receipt.data:
        return receipt
    row = db.get(ChargingSession, session_id)
    if row is None:
        raise ApplicationError(f"unknown session {session_id}", type="UnknownSession")
    number = receipt.number if receipt is not None else next_receipt_number(db)
    token = _public_token(db, session_id)
    data = build_receipt_data(db, row, number, operator, datetime.now(UTC), token)
    html = render_html(data)
    if receipt is None:
        receipt = Receipt(
            session_id=session_id,
            number=number,
            total=data.total_minor,
            currency=data.currency,
            html=html,
        )
    receipt.html, receipt.data, receipt.public_token = html, data.model_dump(mode="json"), token
    db.add(receipt)
    db.flush()
    return receipt


def receipt_pdf(db: Session, session_id: str, operator: Operator) -> bytes | None:
    """The PDF of an issued receipt (None if the session has no receipt yet)."""
    receipt = db.exec(select(Receipt).where(Receipt.session_id == session_id)).first()
    if receipt is None:
        return None
    if not receipt.data:
        receipt = issue(db, session_id, operator)
    return render_pdf(ReceiptData.model_validate(receipt.data))


def next_receipt_number(db: Session) -> int:
    """Allocate the next receipt number inside the caller's transaction (gap-free)."""
    db.exec(  # type: ignore[call-overload]
        text(
            "INSERT INTO receipt_counters (name, last_number) VALUES ('receipts', 0) "
            "ON CONFLICT (name) DO NOTHING"
        )
    )
    result = db.exec(  # type: ignore[call-overload]
        text(
            "UPDATE receipt_counters SET last_number = last_number + 1 "
            "WHERE name = 'receipts' RETURNING last_number"
        )
    )
    return int(result.scalar_one())


def _public_token(db: Session, session_id: str) -> str:
    guest = db.exec(
        select(GuestPaymentRecord).where(GuestPaymentRecord.session_id == session_id)
    ).first()
    return guest.token if guest is not None else secrets.token_urlsafe(18)
