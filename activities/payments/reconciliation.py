"""Reconciliation: every completed session has exactly one settled payment (or ledger entry),
and every captured amount belongs to a session — in our books and, with Stripe, at Stripe."""

from __future__ import annotations

from collections import defaultdict

from sqlmodel import Session, select

from activities.payments import records
from activities.payments.stripe_provider import StripeProvider
from domain.payments import ReconciliationIssue, ReconciliationReport
from store.billing_tables import LedgerEntry
from store.tables import ChargingSession, Payment

COMPLETED = ("Completed", "NeedsReview")
SETTLED = ("succeeded", "not_required")


def reconcile(db: Session, stripe: StripeProvider | None = None) -> ReconciliationReport:
    """Check the books; with `stripe`, also compare captures made at Stripe."""
    sessions = {s.id: s for s in db.exec(select(ChargingSession)).all()}
    payments = db.exec(select(Payment)).all()
    charges: dict[str, list[Payment]] = defaultdict(list)
    for payment in payments:
        if payment.kind == records.CHARGE:
            charges[payment.session_id].append(payment)
    issues: list[ReconciliationIssue] = []
    for session in sessions.values():
        if session.state not in COMPLETED:
            continue
        settled = [p for p in charges.get(session.id, []) if p.status in SETTLED]
        if not settled:
            issues.append(_issue("missing_payment", session.id, "no settled payment"))
        elif len(settled) > 1:
            issues.append(_issue("duplicate_payment", session.id, f"{len(settled)} payments"))
        elif (session.total_amount or 0) != settled[0].amount:
            issues.append(
                _issue(
                    "amount_mismatch",
                    session.id,
                    f"rated {session.total_amount}, settled {settled[0].amount}",
                )
            )
    for payment in payments:
        if payment.amount_captured > 0 and payment.session_id not in sessions:
            issues.append(_issue("orphan_capture", payment.session_id, f"{payment.kind} captured"))
    ledger_sessions = db.exec(
        select(LedgerEntry.session_id).where(LedgerEntry.kind == "session")
    ).all()
    for session_id in ledger_sessions:
        if session_id is not None and session_id not in sessions:
            issues.append(_issue("orphan_ledger_entry", session_id, "no such session"))
    checked = 0
    if stripe is not None:
        checked, found = _stripe_captures(db, stripe, sessions, payments)
        issues += found
    return ReconciliationReport(
        sessions_checked=len(sessions),
        payments_checked=len(payments),
        provider_intents_checked=checked,
        issues=issues,
    )


def _stripe_captures(
    db: Session,
    stripe: StripeProvider,
    sessions: dict[str, ChargingSession],
    payments: list[Payment],
) -> tuple[int, list[ReconciliationIssue]]:
    """Each captured PaymentIntent at Stripe must be a known session's hold or rest charge."""
    known = {p.external_id: p for p in payments if p.external_id and p.kind != records.CHARGE}
    issues: list[ReconciliationIssue] = []
    checked, after = 0, None
    while True:
        params = {"limit": 100, **({"starting_after": after} if after else {})}
        page = stripe.call(stripe.client.v1.payment_intents.list, **params)
        for intent in page.get("data", []):
            checked += 1
            received = intent.get("amount_received") or 0
            session_id = (intent.get("metadata") or {}).get("session_id")
            if received == 0:
                continue
            row = known.get(intent["id"])
            if row is None or session_id not in sessions:
                issues.append(_issue("orphan_capture", session_id, f"{intent['id']} at Stripe"))
            elif row.amount_captured != received:
                issues.append(
                    _issue(
                        "capture_mismatch",
                        session_id,
                        f"{intent['id']}: Stripe {received}, books {row.amount_captured}",
                    )
                )
        if not page.get("has_more") or not page.get("data"):
            return checked, issues
        after = page["data"][-1]["id"]


def _issue(kind: str, session_id: str | None, detail: str) -> ReconciliationIssue:
    return ReconciliationIssue(kind=kind, session_id=session_id, detail=detail)
