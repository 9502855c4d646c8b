"""Billing tables: driver accounts, ledger, refunds, provider events, plans, guest payments.

Money in integer minor units with a currency; energy in Wh. Created by migration 0003_billing.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Index, UniqueConstraint, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from store.columns import timestamp_field


class DriverAccount(SQLModel, table=True):
    """A driver's billing account: credit limit (ledger) and saved card (Stripe)."""

    __tablename__ = "driver_accounts"

    driver_id: int = Field(primary_key=True, foreign_key="drivers.id")
    credit_limit: int | None = None  # None: unlimited; 0 with top-ups: prepaid
    currency: str = Field(default="EUR", max_length=3)
    stripe_customer_id: str | None = None
    default_payment_method: str | None = None
    card_brand: str | None = None
    card_last4: str | None = None
    wallet: str | None = None
    created_at: datetime = timestamp_field(nullable=False, server_default=text("now()"))


class LedgerEntry(SQLModel, table=True):
    """One line of a driver's ledger; positive = owed by the driver, negative = credit."""

    __tablename__ = "ledger_entries"
    __table_args__ = (Index("ix_ledger_entries_driver", "driver_id", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    entry_key: str = Field(unique=True, max_length=200)  # business identity: never twice
    driver_id: int | None = None
    session_id: str | None = Field(default=None, max_length=120, index=True)
    kind: str  # session | rest | refund | plan_fee | top_up | adjustment
    amount: int
    currency: str = Field(max_length=3)
    description: str = ""
    at: datetime = timestamp_field(nullable=False, server_default=text("now()"))


class RefundRecord(SQLModel, table=True):
    """An operator's refund of a session payment, with its reason."""

    __tablename__ = "refunds"

    id: int | None = Field(default=None, primary_key=True)
    refund_key: str = Field(unique=True, max_length=200)
    session_id: str = Field(max_length=120, index=True)
    amount: int
    currency: str = Field(max_length=3)
    reason: str
    requested_by: str
    provider: str
    status: str  # pending | succeeded | failed
    external_ids: list = Field(default_factory=list, sa_column=Column(JSONB, nullable=False))
    failure_reason: str | None = None
    created_at: datetime = timestamp_field(nullable=False, server_default=text("now()"))


class ProviderEvent(SQLModel, table=True):
    """A verified webhook event, stored once by its id (de-duplication)."""

    __tablename__ = "payment_events"

    id: str = Field(primary_key=True, max_length=255)
    provider: str = "stripe"
    type: str
    session_id: str | None = Field(default=None, max_length=120, index=True)
    payload: dict = Field(default_factory=dict, sa_column=Column(JSONB, nullable=False))
    received_at: datetime = timestamp_field(nullable=False, server_default=text("now()"))


class GroupTariff(SQLModel, table=True):
    """A driver group's tariff (id_tokens.group_id), overriding station and connector tariffs."""

    __tablename__ = "group_tariffs"

    group_id: str = Field(primary_key=True, max_length=36)
    tariff_id: int = Field(foreign_key="tariffs.id")


class Plan(SQLModel, table=True):
    """A subscription plan: monthly fee and plan pricing."""

    __tablename__ = "plans"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True)
    currency: str = Field(default="EUR", max_length=3)
    monthly_fee: int = 0  # gross, minor units
    tariff_id: int | None = Field(default=None, foreign_key="tariffs.id")  # overrides all others
    energy_price_per_kwh: int | None = None
    energy_discount_bp: int = 0
    included_wh: int = 0  # per calendar month
    session_fee_waived: bool = False
    stripe_price_id: str | None = None
    active: bool = True
    created_at: datetime = timestamp_field(nullable=False, server_default=text("now()"))


class PlanSubscription(SQLModel, table=True):
    """A driver on a plan; at most one active per driver."""

    __tablename__ = "plan_subscriptions"
    __table_args__ = (
        Index(
            "uq_plan_subscriptions_active_driver",
            "driver_id",
            unique=True,
            postgresql_where=text("status = 'active'"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    driver_id: int = Field(foreign_key="drivers.id", index=True)
    plan_id: int = Field(foreign_key="plans.id")
    status: str = "active"  # active | canceled | incomplete
    provider: str  # ledger | stripe
    external_id: str | None = None  # the Stripe subscription id
    started_at: datetime = timestamp_field(nullable=False, server_default=text("now()"))
    canceled_at: datetime | None = timestamp_field(nullable=True)


class PlanUsage(SQLModel, table=True):
    """Included energy a session used from its driver's monthly allowance (one row a session)."""

    __tablename__ = "plan_usage"
    __table_args__ = (Index("ix_plan_usage_period", "subscription_id", "period"),)

    session_id: str = Field(primary_key=True, max_length=120)
    subscription_id: int = Field(foreign_key="plan_subscriptions.id")
    driver_id: int
    period: str = Field(max_length=7)  # YYYY-MM
    included_wh: int
    at: datetime = timestamp_field(nullable=False, server_default=text("now()"))


class GuestPaymentRecord(SQLModel, table=True):
    """An ad-hoc payment started from a connector's payment link."""

    __tablename__ = "guest_payments"
    __table_args__ = (
        UniqueConstraint("payment_intent_id", name="uq_guest_payments_intent"),
        UniqueConstraint("checkout_session_id", name="uq_guest_payments_checkout"),
    )

    token: str = Field(primary_key=True, max_length=36)
    station_id: str = Field(max_length=48)
    connector_id: int
    # Paid on Stripe Checkout: the PaymentIntent is known once the payer has paid (0014).
    payment_intent_id: str | None = None
    checkout_session_id: str | None = Field(default=None, max_length=255)
    amount: int
    currency: str = Field(max_length=3)
    status: str = "created"  # created | held | used | released
    email: str | None = None
    session_id: str | None = Field(default=None, max_length=120, index=True)
    created_at: datetime = timestamp_field(nullable=False, server_default=text("now()"))


class ConnectorStatusLog(SQLModel, table=True):
    """Connector status changes over time (for idle periods); written by a gateway listener."""

    __tablename__ = "connector_status_log"
    __table_args__ = (Index("ix_connector_status_log", "station_id", "connector_id", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    station_id: str = Field(max_length=48)
    connector_id: int
    status: str
    at: datetime = timestamp_field(nullable=False)
