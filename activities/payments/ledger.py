"""The default provider: a local ledger of amounts due per driver (no external service)."""

from __future__ import annotations

from sqlalchemy.dialects.postgresql import insert
from sqlmodel import Session, select

from domain.session import ChargeRequest, PaymentOutcome
from store.tables import Payment


class LedgerProvider:
    """Records what each driver owes; one ledger entry per session, never two."""

    name = "ledger"

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
        return PaymentOutcome(
            payment_id=payment.id or 0,
            status=payment.status,
            provider=payment.provider,
            amount=payment.amount,
            failure_reason=payment.failure_reason,
        )
