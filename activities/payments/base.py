"""The payment-provider interface the session activities charge through."""

from __future__ import annotations

from typing import Protocol

from sqlmodel import Session

from domain.session import ChargeRequest, PaymentOutcome


class PaymentDeclined(Exception):
    """The provider refused the payment for good (e.g. a card decline); do not retry."""


class PaymentProvider(Protocol):
    """Charges a rated session exactly once; safe to call again with the same request."""

    name: str

    def charge(self, db: Session, request: ChargeRequest) -> PaymentOutcome:
        """Charge `request.amount` for `request.session_id`; idempotent per session."""
        ...
