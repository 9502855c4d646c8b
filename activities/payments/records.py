"""Payment rows: one per (session, kind) — `hold`, `charge` (the settlement) and `rest`."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects.postgresql import insert
from sqlmodel import Session, select

from domain.payments import CardInfo, HoldOutcome, HoldStatus
from store.billing_tables import LedgerEntry
from store.tables import Payment

HOLD, CHARGE, REST = "hold", "charge", "rest"
FINAL_CHARGE = ("succeeded", "not_required", "failed")


def find(db: Session, session_id: str, kind: str) -> Payment | None:
    """The session's payment row of this kind, locked for the rest of the transaction."""
    query = select(Payment).where(Payment.session_id == session_id, Payment.kind == kind)
    return db.exec(query.with_for_update()).first()


def put(db: Session, session_id: str, kind: str, **values: Any) -> Payment:
    """Insert or update the session's row of this kind; returns it fresh."""
    statement = (
        insert(Payment)
        .values(session_id=session_id, kind=kind, **values)
        .on_conflict_do_update(constraint="uq_payments_session_kind", set_=values)
    )
    db.exec(statement)  # type: ignore[call-overload]
    row = db.exec(
        select(Payment)
        .where(Payment.session_id == session_id, Payment.kind == kind)
        .execution_options(populate_existing=True)
    ).one()
    return row


def card_of(row: Payment | None) -> CardInfo | None:
    if row is None or not (row.card_brand or row.card_last4):
        return None
    return CardInfo(brand=row.card_brand, last4=row.card_last4, wallet=row.wallet)


def card_columns(card: CardInfo | None) -> dict[str, Any]:
    if card is None:
        return {}
    return {"card_brand": card.brand, "card_last4": card.last4, "wallet": card.wallet}


def add_ledger_entry(
    db: Session,
    key: str,
    *,
    driver_id: int | None,
    kind: str,
    amount: int,
    currency: str,
    session_id: str | None = None,
    description: str = "",
) -> LedgerEntry:
    """Write a ledger line once per business key (a repeat returns the first one)."""
    statement = (
        insert(LedgerEntry)
        .values(
            entry_key=key,
            driver_id=driver_id,
            session_id=session_id,
            kind=kind,
            amount=amount,
            currency=currency,
            description=description,
        )
        .on_conflict_do_nothing(index_elements=["entry_key"])
    )
    db.exec(statement)  # type: ignore[call-overload]
    return db.exec(select(LedgerEntry).where(LedgerEntry.entry_key == key)).one()


def hold_outcome(row: Payment) -> HoldOutcome:
    """A hold row as the activity's answer."""
    status = {"held": HoldStatus.HELD, "not_required": HoldStatus.NOT_REQUIRED}
    return HoldOutcome(
        session_id=row.session_id,
        status=status.get(row.status, HoldStatus.DECLINED),
        provider=row.provider,
        amount=row.amount,
        currency=row.currency,
        payment_id=row.id,
        external_id=row.external_id,
        failure_code=(row.details or {}).get("failure_code"),
        failure_reason=row.failure_reason,
        card=card_of(row),
    )
