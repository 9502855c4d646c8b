"""A guest who pays on Stripe's own checkout page (the fake Stripe's local one here): the
Checkout Session is a manual-capture hold naming the guest payment; once paid, Stripe's webhooks
(`checkout.session.completed`, `payment_intent.amount_capturable_updated`, each delivered twice)
and the payer's return to `/guest/{token}` start the connector exactly once; the hold becomes the
session's and is captured for what it cost. A checkout nobody pays, or paid after its payment was
released, leaves no hold open."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlmodel import select

from activities.payments.guest import release_stale_guest_payments
from activities.payments.service import Payments
from ampflow.seed import DEMO_STATION
from chargers.script import scripted
from domain.payments import PaymentEvent
from domain.session import SessionState, SessionView
from store.billing_tables import GuestPaymentRecord
from store.tables import ChargingSession
from tests.billing.conftest import WEBHOOK_SECRET
from tests.conftest import DEMO_PASSWORD
from tests.fakes.fake_stripe import FakeStripe
from tests.helpers import eventually


async def _checkout(api, connector: int = 1, email: str | None = "guest@example.com") -> dict:
    answer = await api.post(f"/pay/{DEMO_STATION}/{connector}/checkout", json={"email": email})
    assert answer.status_code == 201, answer.text
    return answer.json()


async def _deliver(api, fake: FakeStripe, event_type: str) -> None:
    (event,) = fake.events_of_type(event_type)
    body, signature = fake.signed_event(event["id"], WEBHOOK_SECRET)
    answer = await api.post(
        "/webhooks/stripe", content=body, headers={"Stripe-Signature": signature}
    )
    assert answer.status_code == 200, answer.text


def _sessions_of(db, token: str) -> list[ChargingSession]:
    with db.session() as s:
        return list(s.exec(select(ChargingSession).where(ChargingSession.id_token == token)))


async def test_the_checkout_session_is_a_manual_capture_hold_naming_the_guest(
    stripe_api, fake: FakeStripe
):
    checkout = await _checkout(stripe_api)
    assert checkout["guest_url"].endswith(f"/guest/{checkout['token']}")
    assert checkout["checkout_url"].startswith(fake.url)  # the provider's page, not ours
    session = fake.checkout_sessions[checkout["checkout_session_id"]]
    assert session["mode"] == "payment" and session["amount_total"] == checkout["amount"]
    assert session["metadata"]["guest_token"] == checkout["token"]
    assert session["success_url"].startswith(checkout["guest_url"])
    assert "{CHECKOUT_SESSION_ID}" in session["success_url"]
    assert session["customer_email"] == "guest@example.com"
    assert session["payment_intent"] is None  # nothing is held before the payer pays
    status = await stripe_api.get(f"/pay/{checkout['token']}")
    assert status.json()["status"] == "created"
    unknown = await stripe_api.post("/pay/NOPE/1/checkout", json={})
    assert unknown.status_code == 404

    fake.pay_checkout(checkout["checkout_session_id"], "visa")
    intent = fake.payment_intents[fake.checkout_sessions[checkout["checkout_session_id"]]
                                  ["payment_intent"]]  # fmt: skip
    assert intent["capture_method"] == "manual" and intent["status"] == "requires_capture"
    assert intent["metadata"]["guest_token"] == checkout["token"]
    assert (await stripe_api.get(f"/pay/{checkout['token']}")).json()["status"] == "held"


async def test_webhooks_twice_and_the_return_start_the_connector_once_and_capture_it(
    seeded, fake, stripe_worker, stripe_api, gateway_url, temporal_client
):
    checkout = await _checkout(stripe_api)
    token = checkout["token"]
    async with scripted(gateway_url, DEMO_STATION, DEMO_PASSWORD) as cp:
        fake.pay_checkout(checkout["checkout_session_id"], "visa")
        for kind in ("checkout.session.completed", "payment_intent.amount_capturable_updated"):
            await _deliver(stripe_api, fake, kind)
            await _deliver(stripe_api, fake, kind)  # Stripe may deliver an event twice
        page = await stripe_api.get(f"/guest/{token}?checkout={checkout['checkout_session_id']}")
        assert page.status_code == 200, page.text
        sessions = await eventually(lambda: _sessions_of(seeded, token) or None)
        await eventually(lambda: cp.transaction_id)
        await cp.meter(4_000, minutes=30)
        await cp.stop_transaction()
        handle = temporal_client.get_workflow_handle(sessions[0].id, result_type=SessionView)
        view = await handle.result()
    assert view.state == SessionState.COMPLETED and view.total
    assert len(_sessions_of(seeded, token)) == 1  # started once
    with seeded.session() as s:
        guest = s.get(GuestPaymentRecord, token)
        assert guest.status == "used" and guest.session_id == sessions[0].id
        intent_id = guest.payment_intent_id
    assert fake.payment_intents[intent_id]["status"] == "succeeded"
    assert fake.charges_captured_total(intent_id) == view.total
    assert len(fake.payment_intents) == 1


async def test_a_refused_start_releases_the_checkout_hold(
    seeded, fake, stripe_worker, stripe_api, gateway_url, temporal_client
):
    checkout = await _checkout(stripe_api)
    async with scripted(gateway_url, DEMO_STATION, DEMO_PASSWORD) as cp:
        cp.accept_remote_start = False  # e.g. the connector is faulted
        fake.pay_checkout(checkout["checkout_session_id"], "visa")
        await _deliver(stripe_api, fake, "checkout.session.completed")
        sessions = await eventually(lambda: _sessions_of(seeded, checkout["token"]) or None)
        handle = temporal_client.get_workflow_handle(sessions[0].id, result_type=SessionView)
        assert (await handle.result()).state == SessionState.EXPIRED
    (intent,) = fake.payment_intents.values()
    assert intent["status"] == "canceled"
    assert fake.charges_captured_total(intent["id"]) == 0


async def test_an_unpaid_checkout_is_expired_when_its_payment_is_released(
    stripe_api, payments: Payments, fake: FakeStripe
):
    checkout = await _checkout(stripe_api)
    assert payments.stripe is not None
    with payments.db.session() as s:
        assert release_stale_guest_payments(s, payments.stripe, timedelta(0)) == 1
        s.commit()
    session = fake.checkout_sessions[checkout["checkout_session_id"]]
    assert session["status"] == "expired"  # the payer can no longer pay it
    assert fake.payment_intents == {}
    assert (await stripe_api.get(f"/pay/{checkout['token']}")).json()["status"] == "released"
    page = await stripe_api.get(f"/guest/{checkout['token']}")
    assert "not completed in time" in page.text


async def test_a_checkout_paid_as_its_payment_is_released_is_cancelled(
    stripe_api, payments: Payments, fake: FakeStripe
):
    checkout = await _checkout(stripe_api)
    fake.pay_checkout(checkout["checkout_session_id"], "visa")  # paid, but never started
    assert payments.stripe is not None
    with payments.db.session() as s:
        assert release_stale_guest_payments(s, payments.stripe, timedelta(0)) == 1
        s.commit()
    (intent,) = fake.payment_intents.values()
    assert intent["status"] == "canceled"  # the hold is not left open
    await _deliver(stripe_api, fake, "checkout.session.completed")  # arrives late: no start
    with payments.db.session() as s:
        guest = s.get(GuestPaymentRecord, checkout["token"])
        assert guest.status == "released" and guest.session_id is None


async def test_stripe_expiring_an_unpaid_checkout_releases_the_payment(
    stripe_api, payments: Payments, fake: FakeStripe
):
    checkout = await _checkout(stripe_api)
    assert payments.stripe is not None
    payments.stripe.client.v1.checkout.sessions.expire(checkout["checkout_session_id"])
    await _deliver(stripe_api, fake, "checkout.session.expired")
    with payments.db.session() as s:
        assert s.get(GuestPaymentRecord, checkout["token"]).status == "released"


async def test_the_e_mail_given_on_the_checkout_page_gets_the_receipt(
    billing_api, fake: FakeStripe
):
    billing_api.app.state.payment_event_sink = lambda event: None  # no start here
    checkout = await _checkout(billing_api, email=None)
    fake.pay_checkout(checkout["checkout_session_id"], "visa", email="payer@example.com")
    await _deliver(billing_api, fake, "checkout.session.completed")
    with billing_api.app.state.db.session() as s:
        guest = s.get(GuestPaymentRecord, checkout["token"])
        assert (guest.status, guest.email) == ("held", "payer@example.com")


async def test_the_webhook_and_the_return_at_once_start_one_session(
    seeded, fake, stripe_worker, stripe_api, gateway_url
):
    """Both deliveries on one event loop at the same moment: the second must not wait for the
    row lock on the loop (the first holds it while it starts the session: that hung the API)."""
    checkout = await _checkout(stripe_api)
    token = checkout["token"]
    async with scripted(gateway_url, DEMO_STATION, DEMO_PASSWORD) as cp:
        fake.pay_checkout(checkout["checkout_session_id"], "visa")
        assert (await stripe_api.get(f"/pay/{token}")).json()["status"] == "held"
        sink = stripe_api.app.state.payment_event_sink
        event = PaymentEvent(
            type="guest_authorized", provider_type="test", guest_token=token, event_id="e-1"
        )
        await asyncio.gather(sink(event), sink(event.model_copy(update={"event_id": "e-2"})))
        await eventually(lambda: cp.transaction_id)
    assert len(_sessions_of(seeded, token)) == 1
