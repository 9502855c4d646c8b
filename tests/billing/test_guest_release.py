"""A guest's payment-link hold never stays open: a remote start the charger refuses, or a car
that never starts charging, releases it (checked on the payment side, the fake Stripe's own
PaymentIntent). Before, it stayed `requires_capture` until the card network dropped it."""

from __future__ import annotations

from ampflow.seed import DEMO_STATION
from chargers.script import scripted
from domain.session import SessionState, SessionView
from store.billing_tables import GuestPaymentRecord
from tests.billing.conftest import WEBHOOK_SECRET
from tests.conftest import DEMO_PASSWORD
from tests.helpers import eventually


async def _paid_guest(stripe_api, stripe_client) -> dict:
    link = await stripe_api.post(f"/pay/{DEMO_STATION}/1", json={})
    assert link.status_code == 201, link.text
    guest = link.json()
    stripe_client.v1.payment_intents.confirm(
        guest["payment_intent_id"], params={"payment_method": "pm_card_visa"}
    )
    return guest


async def _webhook(stripe_api, fake) -> None:
    event = fake.events_of_type("payment_intent.amount_capturable_updated")[-1]
    body, signature = fake.signed_event(event["id"], WEBHOOK_SECRET)
    delivered = await stripe_api.post(
        "/webhooks/stripe", content=body, headers={"Stripe-Signature": signature}
    )
    assert delivered.status_code == 200, delivered.text


def _guest_session(db, token: str) -> str | None:
    with db.session() as s:
        return s.get(GuestPaymentRecord, token).session_id


async def test_a_refused_remote_start_releases_the_guest_hold(
    seeded,
    fake,
    stripe_worker,
    stripe_api,
    gateway_url,
    temporal_client,
    stripe_client,
):
    guest = await _paid_guest(stripe_api, stripe_client)
    async with scripted(gateway_url, DEMO_STATION, DEMO_PASSWORD) as cp:
        cp.accept_remote_start = False  # e.g. the connector is faulted
        await _webhook(stripe_api, fake)
        session_id = await eventually(lambda: _guest_session(seeded, guest["token"]))
        handle = temporal_client.get_workflow_handle(session_id, result_type=SessionView)
        view = await handle.result()
    assert view.state == SessionState.EXPIRED
    intent = fake.payment_intents[guest["payment_intent_id"]]
    assert intent["status"] == "canceled"  # released at the payment provider
    assert fake.charges_captured_total(guest["payment_intent_id"]) == 0


async def test_a_guest_whose_car_never_starts_is_released(
    seeded,
    fake,
    stripe_settings,
    stripe_worker,
    stripe_api,
    gateway_url,
    temporal_client,
    stripe_client,
):
    stripe_settings.authorization_timeout_s = 3  # the EV never draws: the session expires
    guest = await _paid_guest(stripe_api, stripe_client)
    async with scripted(gateway_url, DEMO_STATION, DEMO_PASSWORD) as cp:
        cp.start_after_remote_start = False  # accepted, but no transaction follows
        await _webhook(stripe_api, fake)
        session_id = await eventually(lambda: _guest_session(seeded, guest["token"]))
        handle = temporal_client.get_workflow_handle(session_id, result_type=SessionView)
        view = await handle.result()
    assert view.state == SessionState.EXPIRED
    assert fake.payment_intents[guest["payment_intent_id"]]["status"] == "canceled"
