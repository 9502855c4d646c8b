"""guest payments through Stripe Checkout: the Checkout Session of a guest payment

A guest who pays on Stripe's hosted checkout page has a Checkout Session first; its
PaymentIntent exists only once the payer has paid, so `payment_intent_id` may be empty until
then. `checkout_session_id` links the guest payment to its Checkout Session.

Revision ID: 0014_guest_checkout
Revises: 0013_station_certificates
"""

import sqlalchemy as sa
from alembic import op

revision = "0014_guest_checkout"
down_revision = "0013_station_certificates"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.alter_column("guest_payments", "payment_intent_id", existing_type=sa.String(), nullable=True)
    op.add_column(
        "guest_payments", sa.Column("checkout_session_id", sa.String(length=255), nullable=True)
    )
    op.create_unique_constraint(
        "uq_guest_payments_checkout", "guest_payments", ["checkout_session_id"]
    )


def downgrade() -> None:
    op.drop_constraint("uq_guest_payments_checkout", "guest_payments", type_="unique")
    op.drop_column("guest_payments", "checkout_session_id")
    op.execute("DELETE FROM guest_payments WHERE payment_intent_id IS NULL")
    op.alter_column(
        "guest_payments", "payment_intent_id", existing_type=sa.String(), nullable=False
    )
