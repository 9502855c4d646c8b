"""Ad-hoc (guest) payment through a connector's payment link, and reconciliation."""

from __future__ import annotations

import httpx
import stripe
from temporalio.testing import ActivityEnvironment

from activities.payments.activities import PaymentActivities
from activities.payments.reconciliation import reconcile
from activities.payments.service import Payments
from activities.receipts.activities import ReceiptActivities
from domain.payments import HoldRequest, HoldStatus, SettleRequest
from domain.session import ReceiptRequest
from runtime.settings import Settings
from store.tables import ChargingSession
from tests.billing.conftest import demo_driver_id, make_session, rate_stored, save_card
from tests.fakes.fake_stripe import FakeStripe


async def test_guest_pays_by_link_and_gets_a_receipt_link(
    billing_api: httpx.AsyncClient,
    payments: Payments,
    stripe_settings: Settings,
    stripe_client: stripe.StripeClient,
    fake: FakeStripe,
) -> None:
    link = await billing_api.post("/pay/DEMO-1/2", json={"email": "guest@example.com"})
    assert link.status_code == 201, link.text
    body = link.json()
    assert body["client_secret"].startswith(body["payment_intent_id"])
    assert body["amount"] == 2736 and body["status"] == "requires_payment_method"
    token = body["token"]
    assert len(token) <= 20  # usable as an OCPP idTag for the remote start
    assert (await billing_api.get(f"/pay/{token}")).json()["status"] == "created"

    # The payment page confirms it (Stripe.js); here with a Google Pay test card.
    stripe_client.v1.payment_intents.confirm(
        body["payment_intent_id"], params={"payment_method": "pm_card_visa_googlepay"}
    )
    assert (await billing_api.get(f"/pay/{token}")).json()["status"] == "held"

    env = ActivityEnvironment()
    activities = PaymentActivities(payments)
    hold = env.run(
        activities.place_hold,
        HoldRequest(session_id="guest-1", station_id="DEMO-1", connector_id=2, guest_token=token),
    )
    assert hold.status == HoldStatus.HELD and hold.card.wallet == "google_pay"
    reuse = env.run(
        activities.place_hold,
        HoldRequest(session_id="guest-2", station_id="DEMO-1", guest_token=token),
    )
    assert reuse.status == HoldStatus.DECLINED

    make_session(payments.db, "guest-1", driver_id=None, energy_wh=3_000, state="Completed")
    total = rate_stored(payments.db, "guest-1")
    settled = env.run(
        activities.settle_payment,
        SettleRequest(session_id="guest-1", driver_id=None, amount=total, currency="EUR"),
    )
    assert settled.status == "succeeded" and settled.captured == total
    assert fake.charges_captured_total(body["payment_intent_id"]) == total

    env.run(
        ReceiptActivities(payments.db, stripe_settings).issue_session_receipt,
        ReceiptRequest(session_id="guest-1"),
    )
    receipt = await billing_api.get(f"/receipts/{token}", headers={"X-API-Key": ""})
    assert receipt.status_code == 200 and "Google Pay" in receipt.text
    pdf = await billing_api.get(f"/receipts/{token}.pdf", headers={"X-API-Key": ""})
    assert pdf.content.startswith(b"%PDF")


def test_reconciliation_finds_missing_and_orphan_payments(
    payments: Payments, fake: FakeStripe
) -> None:
    driver = demo_driver_id(payments.db)
    save_card(payments, driver)
    for session_id in ("ok-1", "ok-2"):
        payments.place_hold(
            HoldRequest(session_id=session_id, station_id="DEMO-1", driver_id=driver)
        )
        make_session(payments.db, session_id, driver_id=driver, energy_wh=2_000, state="Completed")
        total = rate_stored(payments.db, session_id)
        payments.settle(
            SettleRequest(session_id=session_id, driver_id=driver, amount=total, currency="EUR")
        )
    with payments.db.session() as s:
        report = reconcile(s, payments.stripe)
    assert report.ok, report.issues
    assert report.provider_intents_checked == 2

    make_session(payments.db, "unpaid", driver_id=driver, energy_wh=1_000, state="Completed")
    rate_stored(payments.db, "unpaid")
    with payments.db.session() as s:
        s.get(ChargingSession, "ok-2").total_amount = 1  # the books disagree
    assert payments.stripe is not None
    payments.stripe.client.v1.payment_intents.create(  # a capture nobody knows about
        params={"amount": 700, "currency": "eur", "payment_method": "pm_card_visa", "confirm": True}
    )
    with payments.db.session() as s:
        report = reconcile(s, payments.stripe)
    kinds = sorted((i.kind, i.session_id) for i in report.issues)
    assert kinds == [
        ("amount_mismatch", "ok-2"),
        ("missing_payment", "unpaid"),
        ("orphan_capture", None),
    ]


async def test_unused_guest_payments_are_released(
    billing_api: httpx.AsyncClient, payments: Payments, fake: FakeStripe
) -> None:
    from datetime import timedelta

    from activities.payments.guest import release_stale_guest_payments

    link = (await billing_api.post("/pay/DEMO-1/1", json={})).json()
    assert payments.stripe is not None
    payments.stripe.client.v1.payment_intents.confirm(
        link["payment_intent_id"], params={"payment_method": "pm_card_visa"}
    )
    with payments.db.session() as s:
        assert release_stale_guest_payments(s, payments.stripe, timedelta(minutes=10)) == 0
        assert release_stale_guest_payments(s, payments.stripe, timedelta(seconds=-1)) == 1
    assert fake.payment_intents[link["payment_intent_id"]]["status"] == "canceled"
    assert (await billing_api.get(f"/pay/{link['token']}")).json()["status"] == "released"
