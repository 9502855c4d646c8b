"""Plans: included energy tracked exactly across sessions, fees on the ledger or by Stripe."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
from sqlmodel import select

from activities.payments import ledger, plans
from activities.payments.service import Payments
from store.billing_tables import LedgerEntry, Plan
from tests.billing.conftest import demo_driver_id, make_session, rate_stored, save_card
from tests.fakes.fake_stripe import FakeStripe


def _plan(payments: Payments, **fields) -> int:
    with payments.db.session() as s:
        plan = plans.create_plan(
            s,
            payments.stripe,
            Plan(
                name="Commuter",
                monthly_fee=999,
                included_wh=10_000,
                session_fee_waived=True,
                **fields,
            ),
        )
        return plan.id or 0


def test_included_energy_crossing_the_allowance(ledger_payments: Payments) -> None:
    db = ledger_payments.db
    driver = demo_driver_id(db)
    plan_id = _plan(ledger_payments)
    with db.session() as s:
        subscription = plans.subscribe(s, None, driver, plan_id)
        assert subscription.provider == "ledger"
        assert ledger.balance(s, driver) == 999  # this month's fee

    # Demo tariff 0.35/kWh + 1.20/h (+ 0.50 fee, waived by the plan), 20 % VAT.
    make_session(db, "p-a", driver_id=driver, energy_wh=6_000)
    # 6 kWh all included; 1 h = 120; net 120, VAT 24 -> 144.
    assert rate_stored(db, "p-a") == 144
    make_session(db, "p-b", driver_id=driver, energy_wh=7_000)
    # 4 kWh left included; 3 kWh * 35 = 105; + 120 time; net 225, VAT 45 -> 270.
    assert rate_stored(db, "p-b") == 270
    assert rate_stored(db, "p-b") == 270  # re-rating counts its own usage once
    make_session(db, "p-c", driver_id=driver, energy_wh=1_000)
    # Allowance used up: 35 + 120 = 155 net, VAT 31 -> 186.
    assert rate_stored(db, "p-c") == 186
    with db.session() as s:
        usage = plans.usage(s, driver, "2026-03")
    assert (usage["used_wh"], usage["remaining_wh"]) == (10_000, 0)


def test_plan_fee_billing_run_is_once_per_month(ledger_payments: Payments) -> None:
    driver = demo_driver_id(ledger_payments.db)
    plan_id = _plan(ledger_payments)
    with ledger_payments.db.session() as s:
        plans.subscribe(s, None, driver, plan_id)
        now = datetime.now(UTC)
        this_month = plans.period_of(now)
        assert plans.bill_ledger_plans(s, this_month) == 1
        assert plans.bill_ledger_plans(s, "2099-01") == 1
        plans.bill_ledger_plans(s, "2099-01")
        fees = s.exec(select(LedgerEntry).where(LedgerEntry.kind == "plan_fee")).all()
        assert sorted(f.entry_key.rsplit(":", 1)[1] for f in fees) == sorted(
            ["2099-01", this_month]
        )
        plans.cancel(s, None, driver)
        assert plans.bill_ledger_plans(s, "2099-02") == 0


def test_plan_billed_by_stripe_subscription(payments: Payments, fake: FakeStripe) -> None:
    driver = demo_driver_id(payments.db)
    save_card(payments, driver)
    plan_id = _plan(payments)
    with payments.db.session() as s:
        subscription = plans.subscribe(s, payments.stripe, driver, plan_id)
    assert (subscription.provider, subscription.status) == ("stripe", "active")
    remote = fake.subscriptions[subscription.external_id]
    assert remote["items"]["data"][0]["price"]["unit_amount"] == 999
    with payments.db.session() as s:
        plans.cancel(s, payments.stripe, driver)
    assert fake.subscriptions[subscription.external_id]["status"] == "canceled"


async def test_plan_api(billing_api: httpx.AsyncClient) -> None:
    created = await billing_api.post(
        "/plans", json={"name": "Flex", "monthly_fee": 0, "energy_discount_bp": 1000}
    )
    assert created.status_code == 201, created.text
    plan = created.json()
    listed = await billing_api.get("/plans")
    assert [p["name"] for p in listed.json()] == ["Flex"]
    on = await billing_api.post("/drivers/1/plan", json={"plan_id": plan["id"]})
    assert on.status_code == 201 and on.json()["status"] == "active"
    usage = await billing_api.get("/drivers/1/plan/usage")
    assert usage.json()["plan"] == "Flex"
    off = await billing_api.delete("/drivers/1/plan")
    assert off.json()["status"] == "canceled"
