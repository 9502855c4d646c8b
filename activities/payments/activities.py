"""Payment activities of the `ChargingSession` workflow: hold, settle, release, refund.

One pydantic model in and out each (`domain/payments.py`). All are idempotent per session (or
refund key); a provider outage raises a retryable error, a card refusal is an answer.
"""

from __future__ import annotations

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.payments.service import Payments, RefundRefused
from activities.payments.stripe_provider import StripeUnavailable
from domain.money import format_amount
from domain.payments import (
    HoldOutcome,
    HoldRequest,
    PaymentOutcome,
    RefundOutcome,
    RefundRequest,
    ReleaseRequest,
    SettleRequest,
    StaleGuestSweep,
    StaleGuestSweepResult,
)


class PaymentActivities:
    """Bound to a `Payments` service (ledger, and Stripe when configured) by the worker."""

    def __init__(self, payments: Payments) -> None:
        self.payments = payments

    @activity.defn
    def place_hold(self, request: HoldRequest) -> HoldOutcome:
        """At authorize: reserve money (card hold or ledger credit); `declined` refuses."""
        with _provider_errors():
            outcome = self.payments.place_hold(request)
        activity.logger.info(
            "hold for %s: %s %s", request.session_id, outcome.status, _money(outcome)
        )
        return outcome

    @activity.defn
    def settle_payment(self, request: SettleRequest) -> PaymentOutcome:
        """At stop: capture the rated amount (≤ hold), cancel at zero, charge any rest."""
        with _provider_errors():
            outcome = self.payments.settle(request)
        activity.logger.info(
            "settled %s: %s %s",
            request.session_id,
            outcome.status,
            format_amount(outcome.amount, request.currency),
        )
        return outcome

    @activity.defn
    def release_hold(self, request: ReleaseRequest) -> PaymentOutcome:
        """A session that never started (or was refused): give the hold back."""
        with _provider_errors():
            return self.payments.release(request)

    @activity.defn
    def release_stale_guest_holds(self, request: StaleGuestSweep) -> StaleGuestSweepResult:
        """Guest payments no session took up within the bound: released (run by AlertSweep)."""
        with _provider_errors():
            released = self.payments.release_stale_guests()
        if released:
            activity.logger.info("released %d guest payments no session took up", released)
        return StaleGuestSweepResult(released=released)

    @activity.defn
    def refund_payment(self, request: RefundRequest) -> RefundOutcome:
        """Refund part or all of a settled session (once per refund key)."""
        with _provider_errors():
            try:
                return self.payments.refund(request)
            except RefundRefused as refused:
                raise ApplicationError(
                    str(refused), type="RefundRefused", non_retryable=True
                ) from refused


class _provider_errors:
    """Stripe outages become retryable activity errors with a clear type."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind, value, traceback) -> bool:
        if isinstance(value, StripeUnavailable):
            raise ApplicationError(str(value), type="PaymentProviderUnavailable") from value
        return False


def _money(outcome: HoldOutcome) -> str:
    return format_amount(outcome.amount, outcome.currency)
