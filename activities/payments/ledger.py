"""The default provider: a local ledger of amounts due per driver (no external service).

A driver's balance is the sum of their ledger entries (positive = owed). At authorize the
ledger checks the credit limit: balance + open reservations + the new hold must stay within it
(a prepaid driver has limit 0 and negative balance from top-ups). One entry per business key.
"""

from __future__ import annotations

from sqlalchemy import func
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import Session, select

from activities.payments import records
from domain.payments import (
    HoldOutcome,
    HoldRequest,
    RefundOutcome,
    RefundRequest,
    SettleRequest,
)
from domain.payments import PaymentOutcome as SettledOutcome
from domain.session import ChargeRequest, PaymentOutcome
from store.billing_tables import DriverAccount, LedgerEntry
from store.tables import Payment


class LedgerProvider:
    """Records what each driver owes; one ledger entry per session, never two."""

    name = "ledger"

    def __init__(self, default_credit_limit: int | None = None) -> None:
        self.default_credit_limit = default_credit_limit

    # ---- the one-step path (SessionActivities.charge_payment) -----------------------------

    def charge(self, db: Session, request: ChargeRequest) -> PaymentOutcome:
        status = "succeeded" if request.amount > 0 else "not_required"
        statement = (
            insert(Payment)
            .values(
                session_id=request.session_id,
                kind="charge",
                driver_id=request.driver_id,
                provider=self.name,
                amount=request.amount,
                currency=request.currency,
                status=status,
            )
            .on_conflict_do_nothing(constraint="uq_payments_session_kind")
        )
        db.exec(statement)  # type: ignore[call-overload]
        payment = db.exec(
            select(Payment).where(
                Payment.session_id == request.session_id, Payment.kind == "charge"
            )
        ).one()
        if payment.status == "succeeded" and payment.provider == self.name:
            self._owe(db, request.session_id, request.driver_id, payment.amount, request.currency)
        return PaymentOutcome(
            payment_id=payment.id or 0,
            status=payment.status,
            provider=payment.provider,
            amount=payment.amount,
            failure_reason=payment.failure_reason,
        )

    # ---- holds ----------------------------------------------------------------------------

    def place_hold(
        self, db: Session, request: HoldRequest, amount: int, currency: str
    ) -> HoldOutcome:
        """Reserve credit for the session (declined when over the driver's credit limit)."""
        existing = records.find(db, request.session_id, records.HOLD)
        if existing is not None and existing.status in ("held", "declined"):
            return records.hold_outcome(existing)
        if request.driver_id is None:
            return self._decline(db, request, amount, currency, "no_account", "no account")
        limit = credit_limit(db, request.driver_id, self.default_credit_limit)
        if limit is not None:
            used = balance(db, request.driver_id, currency) + reserved(
                db, request.driver_id, exclude_session=request.session_id
            )
            if used + amount > limit:
                reason = f"credit limit reached (available {max(limit - used, 0)})"
                return self._decline(db, request, amount, currency, "credit_limit", reason)
        row = records.put(
            db,
            request.session_id,
            records.HOLD,
            driver_id=request.driver_id,
            provider=self.name,
            amount=amount,
            currency=currency,
            status="held",
            failure_reason=None,
        )
        return records.hold_outcome(row)

    def _decline(
        self, db: Session, request: HoldRequest, amount: int, currency: str, code: str, reason: str
    ) -> HoldOutcome:
        row = records.put(
            db,
            request.session_id,
            records.HOLD,
            driver_id=request.driver_id,
            provider=self.name,
            amount=amount,
            currency=currency,
            status="declined",
            failure_reason=reason,
            details={"failure_code": code},
        )
        return records.hold_outcome(row)

    def settle(self, db: Session, request: SettleRequest, hold: Payment | None) -> SettledOutcome:
        """Record the rated amount as owed; the reservation ends."""
        if hold is not None and hold.status == "held":
            records.put(
                db,
                request.session_id,
                records.HOLD,
                **_same(hold),
                status="captured",
                amount_captured=min(request.amount, hold.amount),
            )
        if request.amount > 0:
            self._owe(db, request.session_id, request.driver_id, request.amount, request.currency)
        row = records.put(
            db,
            request.session_id,
            records.CHARGE,
            driver_id=request.driver_id,
            provider=self.name,
            amount=request.amount,
            currency=request.currency,
            status="succeeded" if request.amount > 0 else "not_required",
            amount_captured=request.amount,
        )
        return SettledOutcome(
            payment_id=row.id or 0,
            status=row.status,
            provider=self.name,
            amount=row.amount,
            currency=row.currency,
            ledger_amount=request.amount,
        )

    def release(self, db: Session, hold: Payment, reason: str) -> SettledOutcome:
        row = records.put(
            db,
            hold.session_id,
            records.HOLD,
            **_same(hold),
            status="released",
            failure_reason=reason,
        )
        return SettledOutcome(
            payment_id=row.id or 0,
            status="released",
            provider=self.name,
            amount=0,
            currency=row.currency,
        )

    def refund(self, db: Session, request: RefundRequest, charge: Payment) -> RefundOutcome:
        """A credit entry on the driver's ledger."""
        amount = request.amount or (charge.amount - charge.amount_refunded)
        records.add_ledger_entry(
            db,
            f"refund:{request.refund_key}",
            driver_id=charge.driver_id,
            session_id=request.session_id,
            kind="refund",
            amount=-amount,
            currency=charge.currency,
            description=request.reason,
        )
        return RefundOutcome(
            session_id=request.session_id,
            refund_key=request.refund_key,
            status="succeeded",
            amount=amount,
            currency=charge.currency,
            provider=self.name,
        )

    def _owe(
        self, db: Session, session_id: str, driver_id: int | None, amount: int, currency: str
    ) -> None:
        records.add_ledger_entry(
            db,
            f"{session_id}:session",
            driver_id=driver_id,
            session_id=session_id,
            kind="session",
            amount=amount,
            currency=currency,
            description=f"charging session {session_id}",
        )


def balance(db: Session, driver_id: int, currency: str | None = None) -> int:
    """What the driver owes (negative: prepaid credit left)."""
    query = select(func.coalesce(func.sum(LedgerEntry.amount), 0)).where(
        LedgerEntry.driver_id == driver_id
    )
    if currency:
        query = query.where(LedgerEntry.currency == currency)
    return int(db.exec(query).one())


def reserved(db: Session, driver_id: int, exclude_session: str | None = None) -> int:
    """Credit reserved by the driver's open ledger holds."""
    query = select(func.coalesce(func.sum(Payment.amount), 0)).where(
        Payment.driver_id == driver_id,
        Payment.kind == records.HOLD,
        Payment.provider == LedgerProvider.name,
        Payment.status == "held",
    )
    if exclude_session:
        query = query.where(Payment.session_id != exclude_session)
    return int(db.exec(query).one())


def credit_limit(db: Session, driver_id: int, default: int | None) -> int | None:
    account = db.get(DriverAccount, driver_id)
    if account is None:
        return default
    return account.credit_limit


def _same(row: Payment) -> dict:
    return {
        "driver_id": row.driver_id,
        "provider": row.provider,
        "amount": row.amount,
        "currency": row.currency,
    }
