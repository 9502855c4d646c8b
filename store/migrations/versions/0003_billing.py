"""billing: tariff elements and idle fees, connector tariffs, payment holds and card details,
receipt data, driver accounts, ledger, refunds, payment events, plans, guest payments,
connector status log

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def _now(name: str = "created_at") -> sa.Column:
    return sa.Column(
        name, sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
    )


def _int(name: str, default: int | None = None) -> sa.Column:
    if default is None:
        return sa.Column(name, sa.Integer(), nullable=True)
    return sa.Column(name, sa.Integer(), nullable=False, server_default=str(default))


def upgrade() -> None:
    for column in (
        _int("idle_price_per_hour", 0),
        _int("idle_grace_minutes", 0),
        _int("idle_fee_cap"),
        _int("min_price"),
        _int("max_price"),
        sa.Column("time_basis", sa.String(), nullable=False, server_default="session"),
        _int("energy_step_wh", 1),
        _int("time_step_s", 1),
        sa.Column("time_zone", sa.String(), nullable=False, server_default="UTC"),
        sa.Column(
            "elements", postgresql.JSONB(), nullable=False, server_default=sa.text("'[]'::jsonb")
        ),
        _int("hold_amount"),
    ):
        op.add_column("tariffs", column)
    op.add_column(
        "connectors",
        sa.Column("tariff_id", sa.Integer(), sa.ForeignKey("tariffs.id"), nullable=True),
    )
    for column in (
        _int("amount_captured", 0),
        _int("amount_refunded", 0),
        sa.Column("payment_method_id", sa.String(), nullable=True),
        sa.Column("card_brand", sa.String(), nullable=True),
        sa.Column("card_last4", sa.String(), nullable=True),
        sa.Column("wallet", sa.String(), nullable=True),
        sa.Column(
            "details", postgresql.JSONB(), nullable=False, server_default=sa.text("'{}'::jsonb")
        ),
    ):
        op.add_column("payments", column)
    op.add_column("receipts", sa.Column("data", postgresql.JSONB(), nullable=True))
    op.add_column("receipts", sa.Column("public_token", sa.String(length=64), nullable=True))
    op.add_column("receipts", sa.Column("emailed_to", sa.String(), nullable=True))
    op.create_unique_constraint("uq_receipts_public_token", "receipts", ["public_token"])

    op.create_table(
        "driver_accounts",
        sa.Column("driver_id", sa.Integer(), sa.ForeignKey("drivers.id"), primary_key=True),
        _int("credit_limit"),
        sa.Column("currency", sa.String(length=3), nullable=False, server_default="EUR"),
        sa.Column("stripe_customer_id", sa.String(), nullable=True),
        sa.Column("default_payment_method", sa.String(), nullable=True),
        sa.Column("card_brand", sa.String(), nullable=True),
        sa.Column("card_last4", sa.String(), nullable=True),
        sa.Column("wallet", sa.String(), nullable=True),
        _now(),
    )
    op.create_table(
        "ledger_entries",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("entry_key", sa.String(length=200), nullable=False, unique=True),
        sa.Column("driver_id", sa.Integer(), nullable=True),
        sa.Column("session_id", sa.String(length=120), nullable=True),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("amount", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("description", sa.String(), nullable=False, server_default=""),
        _now("at"),
    )
    op.create_index("ix_ledger_entries_driver", "ledger_entries", ["driver_id", "at"])
    op.create_index("ix_ledger_entries_session_id", "ledger_entries", ["session_id"])
    op.create_table(
        "refunds",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("refund_key", sa.String(length=200), nullable=False, unique=True),
        sa.Column("session_id", sa.String(length=120), nullable=False),
        sa.Column("amount", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("reason", sa.String(), nullable=False),
        sa.Column("requested_by", sa.String(), nullable=False),
        sa.Column("provider", sa.String(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("external_ids", postgresql.JSONB(), nullable=False),
        sa.Column("failure_reason", sa.String(), nullable=True),
        _now(),
    )
    op.create_index("ix_refunds_session_id", "refunds", ["session_id"])
    op.create_table(
        "payment_events",
        sa.Column("id", sa.String(length=255), primary_key=True),
        sa.Column("provider", sa.String(), nullable=False),
        sa.Column("type", sa.String(), nullable=False),
        sa.Column("session_id", sa.String(length=120), nullable=True),
        sa.Column("payload", postgresql.JSONB(), nullable=False),
        _now("received_at"),
    )
    op.create_index("ix_payment_events_session_id", "payment_events", ["session_id"])
    op.create_table(
        "group_tariffs",
        sa.Column("group_id", sa.String(length=36), primary_key=True),
        sa.Column("tariff_id", sa.Integer(), sa.ForeignKey("tariffs.id"), nullable=False),
    )
    op.create_table(
        "plans",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(), nullable=False, unique=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        _int("monthly_fee", 0),
        sa.Column("tariff_id", sa.Integer(), sa.ForeignKey("tariffs.id"), nullable=True),
        _int("energy_price_per_kwh"),
        _int("energy_discount_bp", 0),
        _int("included_wh", 0),
        sa.Column("session_fee_waived", sa.Boolean(), nullable=False, server_default="false"),
        sa.Column("stripe_price_id", sa.String(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False, server_default="true"),
        _now(),
    )
    op.create_table(
        "plan_subscriptions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("driver_id", sa.Integer(), sa.ForeignKey("drivers.id"), nullable=False),
        sa.Column("plan_id", sa.Integer(), sa.ForeignKey("plans.id"), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("provider", sa.String(), nullable=False),
        sa.Column("external_id", sa.String(), nullable=True),
        _now("started_at"),
        sa.Column("canceled_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_plan_subscriptions_driver_id", "plan_subscriptions", ["driver_id"])
    op.create_index(
        "uq_plan_subscriptions_active_driver",
        "plan_subscriptions",
        ["driver_id"],
        unique=True,
        postgresql_where=sa.text("status = 'active'"),
    )
    op.create_table(
        "plan_usage",
        sa.Column("session_id", sa.String(length=120), primary_key=True),
        sa.Column(
            "subscription_id",
            sa.Integer(),
            sa.ForeignKey("plan_subscriptions.id"),
            nullable=False,
        ),
        sa.Column("driver_id", sa.Integer(), nullable=False),
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("included_wh", sa.Integer(), nullable=False),
        _now("at"),
    )
    op.create_index("ix_plan_usage_period", "plan_usage", ["subscription_id", "period"])
    op.create_table(
        "guest_payments",
        sa.Column("token", sa.String(length=36), primary_key=True),
        sa.Column("station_id", sa.String(length=48), nullable=False),
        sa.Column("connector_id", sa.Integer(), nullable=False),
        sa.Column("payment_intent_id", sa.String(), nullable=False),
        sa.Column("amount", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("email", sa.String(), nullable=True),
        sa.Column("session_id", sa.String(length=120), nullable=True),
        _now(),
        sa.UniqueConstraint("payment_intent_id", name="uq_guest_payments_intent"),
    )
    op.create_index("ix_guest_payments_session_id", "guest_payments", ["session_id"])
    op.create_table(
        "connector_status_log",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("station_id", sa.String(length=48), nullable=False),
        sa.Column("connector_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(
        "ix_connector_status_log", "connector_status_log", ["station_id", "connector_id", "at"]
    )


def downgrade() -> None:
    for table in (
        "connector_status_log",
        "guest_payments",
        "plan_usage",
        "plan_subscriptions",
        "plans",
        "group_tariffs",
        "payment_events",
        "refunds",
        "ledger_entries",
        "driver_accounts",
    ):
        op.drop_table(table)
    op.drop_constraint("uq_receipts_public_token", "receipts")
    for column in ("emailed_to", "public_token", "data"):
        op.drop_column("receipts", column)
    for column in (
        "details",
        "wallet",
        "card_last4",
        "card_brand",
        "payment_method_id",
        "amount_refunded",
        "amount_captured",
    ):
        op.drop_column("payments", column)
    op.drop_column("connectors", "tariff_id")
    for column in (
        "hold_amount",
        "elements",
        "time_zone",
        "time_step_s",
        "energy_step_wh",
        "max_price",
        "min_price",
        "time_basis",
        "idle_fee_cap",
        "idle_grace_minutes",
        "idle_price_per_hour",
    ):
        op.drop_column("tariffs", column)
