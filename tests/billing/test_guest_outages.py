"""A guest who paid by link is not lost to an outage (found by the chaos suite).

- The gateway's fallback decision (Temporal late) accepts the guest token of a session the
  payment already started, even before the payment's status was refreshed from Stripe.
- A webhook whose session could not be started (Temporal down) is answered 503, so Stripe
  delivers it again, and the redelivery starts the session.
"""

from __future__ import annotations

from ampflow.seed import DEMO_STATION
from domain.session import AuthorizationStatus
from gateway.fallback import FallbackDecisions
from gateway.station_store import StationStore
from store.billing_tables import GuestPaymentRecord
from tests.billing.conftest import WEBHOOK_SECRET


async def test_the_fallback_accepts_a_guest_whose_paid_session_was_started(seeded, database_url):
    with seeded.session() as s:
        s.add(
            GuestPaymentRecord(
                token="GUEST-1",
                station_id=DEMO_STATION,
                connector_id=1,
                payment_intent_id="pi_guest_1",
                amount=2000,
                currency="EUR",
                status="created",  # not refreshed from Stripe yet
                session_id=f"session-{DEMO_STATION}-7",
            )
        )
        s.commit()
    store = StationStore(database_url)
    await store.open()
    try:
        decision = await FallbackDecisions(store).decide(DEMO_STATION, "GUEST-1")
        unknown = await FallbackDecisions(store).decide(DEMO_STATION, "GUEST-2")
    finally:
        await store.close()
    assert decision.status == AuthorizationStatus.ACCEPTED and decision.guest
    assert unknown.status == AuthorizationStatus.INVALID


async def test_a_guest_webhook_is_redelivered_until_its_session_starts(
    seeded, fake, stripe_api, stripe_client
):
    link = (await stripe_api.post(f"/pay/{DEMO_STATION}/1", json={})).json()
    stripe_client.v1.payment_intents.confirm(
        link["payment_intent_id"], params={"payment_method": "pm_card_visa"}
    )
    event = fake.events_of_type("payment_intent.amount_capturable_updated")[-1]
    body, signature = fake.signed_event(event["id"], WEBHOOK_SECRET)
    app_state = stripe_api.app.state
    real_sink, delivered = app_state.payment_event_sink, []

    async def down(event):  # Temporal is down: the session cannot be started
        raise RuntimeError("Temporal unavailable")

    app_state.payment_event_sink = down
    first = await stripe_api.post(
        "/webhooks/stripe", content=body, headers={"Stripe-Signature": signature}
    )
    assert first.status_code == 503  # Stripe will deliver it again

    async def up(event):
        delivered.append(event)
        await real_sink(event)

    app_state.payment_event_sink = up
    again = await stripe_api.post(
        "/webhooks/stripe", content=body, headers={"Stripe-Signature": signature}
    )
    assert again.status_code == 200 and again.json()["duplicate"] is True
    assert [e.guest_token for e in delivered] == [link["token"]]
    with seeded.session() as s:
        assert s.get(GuestPaymentRecord, link["token"]).session_id is not None
