"""Subscription plans: a monthly fee (Stripe Subscription, or a ledger entry per month) and
plan pricing (energy price or discount, included energy per month, waived session fee).

The plan's pricing reaches sessions through the tariff snapshot (`tariffs.resolve_tariff`);
included energy used is tracked per session in `plan_usage` (`rating.py`).
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func
from sqlmodel import Session, select

from activities.payments import records
from activities.payments.stripe_provider import StripeProvider
from activities.payments.tariffs import active_subscription
from store.billing_tables import DriverAccount, Plan, PlanSubscription, PlanUsage


class PlanError(Exception):
    """A plan operation that cannot be done (unknown plan, none active, ...)."""


def period_of(moment: datetime) -> str:
    return f"{moment.year:04d}-{moment.month:02d}"


def create_plan(db: Session, stripe: StripeProvider | None, plan: Plan) -> Plan:
    """Store a plan; with Stripe, also its product and monthly recurring price."""
    db.add(plan)
    db.flush()
    if stripe is not None and plan.monthly_fee > 0:
        product = stripe.call(
            stripe.client.v1.products.create,
            key=f"plan-{plan.id}:product",
            name=f"Charging plan {plan.name}",
            metadata={"plan_id": str(plan.id)},
        )
        price = stripe.call(
            stripe.client.v1.prices.create,
            key=f"plan-{plan.id}:price",
            product=product["id"],
            currency=plan.currency.lower(),
            unit_amount=plan.monthly_fee,
            recurring={"interval": "month"},
        )
        plan.stripe_price_id = price["id"]
        db.add(plan)
        db.flush()
    return plan


def subscribe(
    db: Session, stripe: StripeProvider | None, driver_id: int, plan_id: int
) -> PlanSubscription:
    """Put the driver on the plan (ending any other), billed by card or on the ledger."""
    plan = db.get(Plan, plan_id)
    if plan is None or not plan.active:
        raise PlanError("unknown or inactive plan")
    current = active_subscription(db, driver_id, lock=True)
    if current is not None:
        if current.plan_id == plan_id:
            return current
        cancel(db, stripe, driver_id)
    account = db.get(DriverAccount, driver_id)
    by_card = (
        stripe is not None
        and plan.stripe_price_id is not None
        and account is not None
        and account.default_payment_method is not None
    )
    subscription = PlanSubscription(
        driver_id=driver_id, plan_id=plan_id, provider="stripe" if by_card else "ledger"
    )
    db.add(subscription)
    db.flush()
    if by_card:
        assert stripe is not None and account is not None
        remote = stripe.call(
            stripe.client.v1.subscriptions.create,
            key=f"plan-subscription-{subscription.id}",
            customer=account.stripe_customer_id,
            items=[{"price": plan.stripe_price_id}],
            default_payment_method=account.default_payment_method,
            metadata={"driver_id": str(driver_id), "plan_id": str(plan_id)},
        )
        subscription.external_id = remote["id"]
        subscription.status = (
            "active" if remote["status"] in ("active", "trialing") else "incomplete"
        )
    else:
        charge_monthly_fee(db, subscription, plan, period_of(datetime.now(UTC)))
    db.add(subscription)
    db.flush()
    return subscription


def cancel(db: Session, stripe: StripeProvider | None, driver_id: int) -> PlanSubscription:
    """End the driver's active plan now (the Stripe subscription too)."""
    subscription = active_subscription(db, driver_id, lock=True)
    if subscription is None:
        raise PlanError("the driver has no active plan")
    if subscription.provider == "stripe" and subscription.external_id and stripe is not None:
        remote = stripe.call(stripe.client.v1.subscriptions.retrieve, subscription.external_id)
        if remote["status"] != "canceled":
            stripe.call(stripe.client.v1.subscriptions.cancel, subscription.external_id)
    subscription.status = "canceled"
    subscription.canceled_at = datetime.now(UTC)
    db.add(subscription)
    db.flush()
    return subscription


def charge_monthly_fee(
    db: Session, subscription: PlanSubscription, plan: Plan, period: str
) -> None:
    """The plan's fee for `period` on the driver's ledger (once per subscription and month)."""
    if plan.monthly_fee <= 0:
        return
    records.add_ledger_entry(
        db,
        f"plan-fee:{subscription.id}:{period}",
        driver_id=subscription.driver_id,
        kind="plan_fee",
        amount=plan.monthly_fee,
        currency=plan.currency,
        description=f"plan {plan.name} {period}",
    )


def bill_ledger_plans(db: Session, period: str) -> int:
    """Charge every active ledger subscription's fee for `period`; returns how many."""
    subscriptions = db.exec(
        select(PlanSubscription).where(
            PlanSubscription.status == "active", PlanSubscription.provider == "ledger"
        )
    ).all()
    for subscription in subscriptions:
        plan = db.get(Plan, subscription.plan_id)
        if plan is not None:
            charge_monthly_fee(db, subscription, plan, period)
    return len(subscriptions)


def usage(db: Session, driver_id: int, period: str) -> dict:
    """The included energy of the driver's plan for `period`: allowance, used, remaining."""
    subscription = active_subscription(db, driver_id)
    if subscription is None:
        raise PlanError("the driver has no active plan")
    plan = db.get(Plan, subscription.plan_id)
    assert plan is not None
    used = int(
        db.exec(
            select(func.coalesce(func.sum(PlanUsage.included_wh), 0)).where(
                PlanUsage.subscription_id == subscription.id, PlanUsage.period == period
            )
        ).one()
    )
    return {
        "plan_id": plan.id,
        "plan": plan.name,
        "period": period,
        "included_wh": plan.included_wh,
        "used_wh": used,
        "remaining_wh": max(plan.included_wh - used, 0),
    }
