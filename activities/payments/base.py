"""The payment-provider interface: holds at authorize, settlement at stop, releases, refunds.

Every method is idempotent per business identity (session id + step): called again after a
crash or a lost response, it leaves the same result behind and never moves money twice.
`charge` is the older one-step path (`SessionActivities.charge_payment`), kept until the
workflow switches to holds.
"""

from __future__ import annotations

from typing import Protocol

from sqlmodel import Session

from domain.payments import (
    HoldOutcome,
    HoldRequest,
    RefundOutcome,
    RefundRequest,
    SettleRequest,
)
from domain.payments import PaymentOutcome as SettledOutcome
from domain.session import ChargeRequest, PaymentOutcome
from store.tables import Payment


class PaymentDeclined(Exception):
    """The provider refused the payment for good (e.g. a card decline); do not retry."""


class PaymentProvider(Protocol):
    """Charges a rated session exactly once; safe to call again with the same request."""

    name: str

    def charge(self, db: Session, request: ChargeRequest) -> PaymentOutcome:
        """Charge `request.amount` for `request.session_id`; idempotent per session."""
        ...


class HoldingProvider(Protocol):
    """A provider that reserves money first and settles the rated amount later."""

    name: str

    def place_hold(
        self, db: Session, request: HoldRequest, amount: int, currency: str
    ) -> HoldOutcome:
        """Reserve `amount` for the session; a refusal is a `declined` outcome, not an error."""
        ...

    def settle(self, db: Session, request: SettleRequest, hold: Payment | None) -> SettledOutcome:
        """Take the rated amount: from the hold, and beyond it if needed; release the rest."""
        ...

    def release(self, db: Session, hold: Payment, reason: str) -> SettledOutcome:
        """Give the held money back without charging."""
        ...

    def refund(self, db: Session, request: RefundRequest, charge: Payment) -> RefundOutcome:
        """Give back part or all of a settled payment."""
        ...
