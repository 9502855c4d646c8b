"""Payments: routes holds, settlements, releases and refunds to the right provider.

The session's hold row decides who settles it; without a hold, a driver with a saved card
settles through Stripe (when configured), everyone else on the ledger. Used by the payment
activities and by the API (refunds, cards); every method is idempotent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlmodel import Session, select

from activities.payments import records
from activities.payments.ledger import LedgerProvider
from activities.payments.stripe_provider import StripeProvider, make_client
from activities.payments.tariffs import resolve_tariff
from domain.payments import (
    HoldOutcome,
    HoldRequest,
    PaymentOutcome,
    RefundOutcome,
    RefundRequest,
    ReleaseRequest,
    SettleRequest,
    hold_amount,
)
from runtime.settings import Settings
from store.billing_tables import DriverAccount, RefundRecord
from store.db import Database
from store.tables import Payment


class RefundRefused(Exception):
    """A refund that cannot be made (nothing settled, or more than what is left)."""


@dataclass(frozen=True)
class HoldPolicy:
    """How big a hold is: the price of this much charging, clamped to [floor, ceiling]."""

    energy_wh: int = 50_000
    duration_s: int = 4 * 3600
    floor: int = 1_000
    ceiling: int = 15_000
    guest_release_after_s: int = 900  # a guest payment no session took up is released then

    @classmethod
    def from_settings(cls, settings: Settings) -> HoldPolicy:
        return cls(
            energy_wh=settings.payment_hold_energy_wh,
            duration_s=settings.payment_hold_duration_s,
            floor=settings.payment_hold_min,
            ceiling=settings.payment_hold_max,
            guest_release_after_s=settings.guest_hold_release_after_s,
        )


class Payments:
    """The ledger always; Stripe when a key is configured."""

    def __init__(
        self,
        db: Database,
        ledger: LedgerProvider | None = None,
        stripe: StripeProvider | None = None,
        policy: HoldPolicy | None = None,
    ) -> None:
        self.db = db
        self.ledger = ledger or LedgerProvider()
        self.stripe = stripe
        self.policy = policy or HoldPolicy()

    @classmethod
    def from_settings(cls, db: Database, settings: Settings) -> Payments:
        ledger = LedgerProvider(settings.ledger_credit_limit)
        stripe = None
        if settings.stripe_api_key:
            client = make_client(
                settings.stripe_api_key,
                settings.stripe_api_base,
                settings.stripe_max_network_retries,
            )
            stripe = StripeProvider(client, ledger)
        return cls(db, ledger, stripe, HoldPolicy.from_settings(settings))

    # ---- holds ----------------------------------------------------------------------------

    def place_hold(self, request: HoldRequest) -> HoldOutcome:
        """Reserve money for a session (card hold, or ledger credit); idempotent per session."""
        with self.db.session() as db:
            existing = records.find(db, request.session_id, records.HOLD)
            if existing is not None and existing.status in ("held", "declined", "not_required"):
                return records.hold_outcome(existing)
            if request.guest_token:
                from activities.payments.guest import hold_for_guest

                return hold_for_guest(db, self._stripe(), request)
            tariff = resolve_tariff(
                db,
                request.station_id,
                connector_id=request.connector_id,
                driver_id=request.driver_id,
                group_id=request.group_id,
            )
            currency = request.currency or tariff.currency
            amount = request.amount
            if amount is None:
                amount = hold_amount(
                    tariff,
                    energy_wh=self.policy.energy_wh,
                    duration_s=self.policy.duration_s,
                    floor=self.policy.floor,
                    ceiling=self.policy.ceiling,
                )
            if amount == 0:
                row = records.put(
                    db,
                    request.session_id,
                    records.HOLD,
                    driver_id=request.driver_id,
                    provider=self.ledger.name,
                    amount=0,
                    currency=currency,
                    status="not_required",
                )
                return records.hold_outcome(row)
            if self._uses_card(db, request.driver_id):
                assert self.stripe is not None
                return self.stripe.place_hold(db, request, amount, currency)
            return self.ledger.place_hold(db, request, amount, currency)

    def settle(self, request: SettleRequest) -> PaymentOutcome:
        """Take the rated amount once: capture/cancel the hold, charge the rest if over it."""
        with self.db.session() as db:
            done = records.find(db, request.session_id, records.CHARGE)
            if done is not None and done.status in records.FINAL_CHARGE:
                return _outcome(done)
            hold = records.find(db, request.session_id, records.HOLD)
            if hold is not None and hold.status in ("declined", "not_required"):
                hold = None
            if hold is not None and hold.provider == StripeProvider.name:
                return self._stripe().settle(db, request, hold)
            if hold is None and self._uses_card(db, request.driver_id) and request.amount > 0:
                return self._stripe().settle(db, request, None)
            return self.ledger.settle(db, request, hold)

    def release(self, request: ReleaseRequest) -> PaymentOutcome:
        """Release a session's hold without charging (zombie or rejected sessions)."""
        with self.db.session() as db:
            hold = records.find(db, request.session_id, records.HOLD)
            if hold is None and self.stripe is not None:  # a guest's payment not yet adopted
                from activities.payments.guest import release_guest_of_session

                if release_guest_of_session(db, self.stripe, request.session_id):
                    return PaymentOutcome(
                        payment_id=0, status="released", provider=self.stripe.name, amount=0
                    )
            if hold is None or hold.status != "held":
                return PaymentOutcome(
                    payment_id=hold.id or 0 if hold else 0,
                    status="not_required" if hold is None else _released(hold.status),
                    provider=hold.provider if hold else self.ledger.name,
                    amount=0,
                    currency=hold.currency if hold else None,
                )
            if hold.provider == StripeProvider.name:
                return self._stripe().release(db, hold, request.reason)
            return self.ledger.release(db, hold, request.reason)

    def release_stale_guests(self) -> int:
        """Release guest payments no session took up within the policy's bound; how many."""
        if self.stripe is None:
            return 0
        from activities.payments.guest import release_stale_guest_payments

        bound = timedelta(seconds=self.policy.guest_release_after_s)
        with self.db.session() as db:
            return release_stale_guest_payments(db, self.stripe, bound)

    # ---- refunds --------------------------------------------------------------------------

    def refund(self, request: RefundRequest) -> RefundOutcome:
        """Refund part or all of a settled session once per `refund_key`."""
        with self.db.session() as db:
            record = _refund_record(db, request.refund_key)
            if record is not None and record.status == "succeeded":
                return _refund_outcome(record)
            charge = records.find(db, request.session_id, records.CHARGE)
            if charge is None or charge.status != "succeeded":
                raise RefundRefused("the session has no settled payment")
            left = charge.amount - charge.amount_refunded
            amount = request.amount or left
            if amount > left or amount <= 0:
                raise RefundRefused(f"at most {left} {charge.currency} can be refunded")
            request = request.model_copy(update={"amount": amount})
            if charge.provider == StripeProvider.name:
                outcome = self._stripe().refund(db, request, charge)
            else:
                outcome = self.ledger.refund(db, request, charge)
            if outcome.status != "succeeded":  # roll back; a retry with the key replays safely
                raise RefundRefused(outcome.failure_reason or "refund failed")
            charge.amount_refunded += outcome.amount
            db.add(charge)
            _store_refund(db, request, outcome, record)
            return outcome

    # ---- helpers --------------------------------------------------------------------------

    def _uses_card(self, db: Session, driver_id: int | None) -> bool:
        if self.stripe is None or driver_id is None:
            return False
        account = db.get(DriverAccount, driver_id)
        return account is not None and bool(account.default_payment_method)

    def _stripe(self) -> StripeProvider:
        if self.stripe is None:
            raise RuntimeError("Stripe is not configured (AMPFLOW_STRIPE_API_KEY)")
        return self.stripe


def _released(status: str) -> str:
    return "released" if status in ("released", "canceled", "expired") else "not_required"


def _outcome(row: Payment) -> PaymentOutcome:
    details = row.details or {}
    return PaymentOutcome(
        payment_id=row.id or 0,
        status=row.status,
        provider=row.provider,
        amount=row.amount,
        currency=row.currency,
        failure_reason=row.failure_reason,
        captured=int(details.get("captured", 0)),
        charged_rest=int(details.get("rest", 0)),
        ledger_amount=int(details.get("ledger", row.amount if row.provider == "ledger" else 0)),
        external_ids=list(details.get("intents", [])),
        card=records.card_of(row),
    )


def _refund_record(db: Session, key: str) -> RefundRecord | None:
    query = select(RefundRecord).where(RefundRecord.refund_key == key).with_for_update()
    return db.exec(query).first()


def _store_refund(
    db: Session, request: RefundRequest, outcome: RefundOutcome, record: RefundRecord | None
) -> None:
    record = record or RefundRecord(
        refund_key=request.refund_key,
        session_id=request.session_id,
        amount=outcome.amount,
        currency=outcome.currency,
        reason=request.reason,
        requested_by=request.requested_by,
        provider=outcome.provider,
        status=outcome.status,
    )
    record.amount = outcome.amount
    record.status = outcome.status
    record.external_ids = outcome.external_ids
    record.failure_reason = outcome.failure_reason
    db.add(record)


def _refund_outcome(record: RefundRecord) -> RefundOutcome:
    return RefundOutcome(
        session_id=record.session_id,
        refund_key=record.refund_key,
        status=record.status,
        amount=record.amount,
        currency=record.currency,
        provider=record.provider,
        external_ids=list(record.external_ids or []),
        failure_reason=record.failure_reason,
    )


__all__ = ["HoldPolicy", "Payments", "RefundRefused"]
