"""Payment models: one model in and one out for every payment activity, and pure helpers.

Amounts are integer minor units; currencies ISO 4217 upper case.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field

from domain.money import vat_of_net
from domain.rating import preview
from domain.session import IdleInterval
from domain.session import PaymentOutcome as SessionPaymentOutcome
from domain.tariff import Tariff


class HoldStatus(StrEnum):
    HELD = "held"  # money reserved (card authorisation, or ledger credit reserved)
    DECLINED = "declined"  # refused: do not start charging
    NOT_REQUIRED = "not_required"  # nothing to reserve (free tariff)


class CardInfo(BaseModel):
    """How a payment was made: brand, last four digits and wallet (apple_pay, google_pay...)."""

    brand: str | None = None
    last4: str | None = None
    wallet: str | None = None

    def describe(self) -> str:
        text = " ".join(p for p in ((self.brand or "card").title(), f"•••• {self.last4}") if p)
        if self.wallet:
            text += f" ({self.wallet.replace('_', ' ').title()})"
        return text


class HoldRequest(BaseModel):
    """Reserve money for a session about to start (at authorize).

    `amount` None: sized from the tariff in force for the station/connector/driver.
    `guest_token`: an ad-hoc (no account) payment made through a connector's payment link.
    """

    session_id: str
    station_id: str
    driver_id: int | None = None
    group_id: str | None = None
    connector_id: int | None = None
    amount: int | None = Field(default=None, ge=0)
    currency: str | None = None
    guest_token: str | None = None


class HoldOutcome(BaseModel):
    session_id: str
    status: HoldStatus
    provider: str
    amount: int
    currency: str
    payment_id: int | None = None
    external_id: str | None = None  # e.g. the PaymentIntent id
    failure_code: str | None = None  # e.g. card_declined / insufficient_funds / credit_limit
    failure_reason: str | None = None
    card: CardInfo | None = None


class SettleRequest(BaseModel):
    """Settle a rated session: capture (≤ hold), cancel when zero, charge the rest if over."""

    session_id: str
    driver_id: int | None = None
    amount: int = Field(ge=0)
    currency: str


class PaymentOutcome(SessionPaymentOutcome):
    """The settled payment; `status`: succeeded | failed | not_required | released."""

    currency: str | None = None
    captured: int = 0  # taken from the hold
    charged_rest: int = 0  # charged beyond the hold (saved card)
    ledger_amount: int = 0  # recorded as owed on the ledger
    external_ids: list[str] = Field(default_factory=list)
    card: CardInfo | None = None


class ReleaseRequest(BaseModel):
    """Release a hold without charging (a session that never started, or was rejected)."""

    session_id: str
    reason: str = "abandoned"


class StaleGuestSweep(BaseModel):
    """Release guest payments no session took up within the policy's bound."""


class StaleGuestSweepResult(BaseModel):
    released: int = 0  # guest payments released by this sweep


class RefundRequest(BaseModel):
    """Refund part (`amount`) or all (None) of a session's payment; `refund_key` dedupes."""

    session_id: str
    refund_key: str = Field(min_length=1, max_length=100)
    amount: int | None = Field(default=None, gt=0)
    reason: str = Field(min_length=1, max_length=500)
    requested_by: str = "operator"


class RefundOutcome(BaseModel):
    session_id: str
    refund_key: str
    status: str  # succeeded | failed
    amount: int
    currency: str
    provider: str
    external_ids: list[str] = Field(default_factory=list)
    failure_reason: str | None = None


class PaymentEvent(BaseModel):
    """A provider event (webhook) as the workflows see it."""

    event_id: str
    type: str  # e.g. hold_expired, payment_failed, refunded, card_saved, captured
    provider_type: str  # e.g. payment_intent.canceled
    session_id: str | None = None
    driver_id: int | None = None
    external_id: str | None = None
    amount: int | None = None
    at: datetime | None = None
    guest_token: str | None = None  # guest_authorized: remote-start with this id token


class GuestPayment(BaseModel):
    """An ad-hoc payment through a connector's payment link (no account, EU AFIR)."""

    token: str  # also the receipt link token and the session's id token for a remote start
    station_id: str
    connector_id: int
    payment_intent_id: str
    client_secret: str
    amount: int
    currency: str
    status: str
    receipt_url: str | None = None


class GuestCheckout(BaseModel):
    """A guest payment on the payment provider's own checkout page (Stripe Checkout)."""

    token: str  # as in GuestPayment: the receipt link token and the session's id token
    station_id: str
    connector_id: int
    checkout_session_id: str
    checkout_url: str  # the provider's page; it returns the payer to `guest_url`
    guest_url: str
    amount: int
    currency: str
    receipt_url: str | None = None


def hold_amount(
    tariff: Tariff,
    *,
    energy_wh: int,
    duration_s: int,
    floor: int,
    ceiling: int,
) -> int:
    """The amount to pre-authorise for a session at this tariff.

    The tariff's own `hold_amount` if set; else the price of a typical long session
    (`energy_wh` charged over `duration_s`) clamped to [floor, ceiling] and to the tariff's
    maximum price (plus VAT on a net tariff). 0 for a free tariff.
    """
    if tariff.hold_amount is not None:
        return tariff.hold_amount
    estimate = preview(tariff, energy_wh, duration_s).total
    if estimate == 0:
        return 0
    amount = min(max(estimate, floor), ceiling)
    if tariff.max_price is not None:
        most = tariff.max_price
        if not tariff.prices_include_vat:
            most += vat_of_net(tariff.max_price, tariff.vat_rate_bp)
        amount = min(amount, most)
    return amount


class TimelineRateRequest(BaseModel):
    """Rate a session from its stored timeline; `idle` as tracked by the workflow."""

    session_id: str
    idle: list[IdleInterval] = Field(default_factory=list)


class StatementLine(BaseModel):
    at: datetime
    kind: str
    description: str
    session_id: str | None = None
    amount: int


class Statement(BaseModel):
    """A driver's ledger for one calendar month (UTC): positive amounts are owed."""

    driver_id: int
    period: str  # YYYY-MM
    currency: str
    opening_balance: int
    lines: list[StatementLine]
    charges: int
    credits: int
    closing_balance: int


class ReconciliationIssue(BaseModel):
    kind: str  # missing_payment | duplicate_payment | amount_mismatch | orphan_capture | ...
    session_id: str | None = None
    detail: str


class ReconciliationReport(BaseModel):
    """Every completed session has exactly one settled payment; every capture has a session."""

    sessions_checked: int
    payments_checked: int
    provider_intents_checked: int = 0
    issues: list[ReconciliationIssue] = Field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.issues
