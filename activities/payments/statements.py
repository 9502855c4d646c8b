"""A driver's monthly ledger statement: opening balance, the month's lines, closing balance."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func
from sqlmodel import Session, select

from domain.payments import Statement, StatementLine
from store.billing_tables import LedgerEntry


def monthly_statement(
    db: Session, driver_id: int, year: int, month: int, currency: str = "EUR"
) -> Statement:
    """The driver's ledger lines of one calendar month (UTC), in order."""
    start = datetime(year, month, 1, tzinfo=UTC)
    end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
    mine = (LedgerEntry.driver_id == driver_id, LedgerEntry.currency == currency)
    opening = db.exec(
        select(func.coalesce(func.sum(LedgerEntry.amount), 0)).where(*mine, LedgerEntry.at < start)
    ).one()
    entries = db.exec(
        select(LedgerEntry)
        .where(*mine, LedgerEntry.at >= start, LedgerEntry.at < end)
        .order_by(LedgerEntry.at, LedgerEntry.id)  # type: ignore[arg-type]
    ).all()
    lines = [
        StatementLine(
            at=e.at,
            kind=e.kind,
            description=e.description,
            session_id=e.session_id,
            amount=e.amount,
        )
        for e in entries
    ]
    charges = sum(line.amount for line in lines if line.amount > 0)
    credits = -sum(line.amount for line in lines if line.amount < 0)
    return Statement(
        driver_id=driver_id,
        period=f"{year:04d}-{month:02d}",
        currency=currency,
        opening_balance=int(opening),
        lines=lines,
        charges=charges,
        credits=credits,
        closing_balance=int(opening) + charges - credits,
    )
