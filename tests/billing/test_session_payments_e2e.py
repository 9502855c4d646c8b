"""Payments through the whole session workflow, with the real stripe SDK against the fake Stripe:
a saved card's hold captured once, a declined card refused at Authorize, and an ad-hoc guest
payment (payment link → webhook → remote start → capture) capped by its hold."""

from __future__ import annotations

import httpx
from sqlmodel import select

from ampflow.seed import DEMO_STATION, DEMO_TAG
from api.main import create_app
from chargers.script import scripted
from domain.session import SessionState
from store.billing_tables import GuestPaymentRecord
from store.tables import Payment
from tests.billing.conftest import WEBHOOK_SECRET, demo_driver_id, save_card
from tests.conftest import DEMO_PASSWORD
from tests.helpers import eventually, session_result
from workers.session_worker import build_worker


def charge_rows(db, session_id: str) -> list[Payment]:
    with db.session() as s:
        return list(s.exec(select(Payment).where(Payment.session_id == session_id)).all())


async def test_saved_card_hold_is_captured_once(
    seeded, payments, fake, stripe_worker, gateway_url, temporal_client
):
    save_card(payments, demo_driver_id(seeded))
    async with scripted(gateway_url, DEMO_STATION, DEMO_PASSWORD) as cp:
        assert (await cp.authorize(DEMO_TAG))["status"] == "Accepted"
        holds = [pi for pi in fake.payment_intents.values() if pi["status"] == "requires_capture"]
        assert len(holds) == 1
        await cp.start_transaction(DEMO_TAG)
        await cp.meter(4000, minutes=20)
        await cp.stop_transaction()
    view = await session_result(temporal_client, DEMO_STATION, cp.transaction_id)
    assert view.state == SessionState.COMPLETED
    intent = holds[0]["id"]
    assert fake.charges_captured_total(intent) == view.total
    assert fake.payment_intents[intent]["status"] == "succeeded"
    rows = {p.kind: p for p in charge_rows(seeded, view.session_id)}
    assert rows["charge"].amount == view.total and rows["charge"].provider == "stripe"


async def test_declined_card_is_refused_at_authorize(
    seeded, payments, fake, stripe_worker, gateway_url, temporal_client
):
    save_card(
        payments, demo_driver_id(seeded), card="pm_card_chargeCustomerFail"
    )  # saves, then declines
    async with scripted(gateway_url, DEMO_STATION, DEMO_PASSWORD) as cp:
        info = await cp.authorize(DEMO_TAG)
    assert info["status"] == "Blocked"  # 1.6 has no NoCredit
    assert all(pi["status"] != "succeeded" for pi in fake.payment_intents.values())


async def test_guest_payment_link_starts_charges_and_captures(
    seeded,
    fake,
    stripe_settings,
    stripe_worker,
    stripe_api,
    gateway_url,
    temporal_client,
    stripe_client,
):
    link = await stripe_api.post(f"/pay/{DEMO_STATION}/1", json={})
    assert link.status_code == 201, link.text
    guest = link.json()
    # The driver's phone confirms the card payment (Stripe.js in real life).
    stripe_client.v1.payment_intents.confirm(
        guest["payment_intent_id"], params={"payment_method": "pm_card_visa"}
    )
    async with scripted(gateway_url, DEMO_STATION, DEMO_PASSWORD) as cp:
        event = fake.events_of_type("payment_intent.amount_capturable_updated")[-1]
        body, signature = fake.signed_event(event["id"], WEBHOOK_SECRET)
        delivered = await stripe_api.post(
            "/webhooks/stripe", content=body, headers={"Stripe-Signature": signature}
        )
        assert delivered.status_code == 200, delivered.text
        await eventually(lambda: cp.transaction_id is not None)
        assert cp.id_tag == guest["token"]
        await cp.meter(2500, minutes=15)
        await cp.stop_transaction()
    view = await session_result(temporal_client, DEMO_STATION, cp.transaction_id)
    assert view.state == SessionState.COMPLETED
    assert fake.charges_captured_total(guest["payment_intent_id"]) == view.total
    with seeded.session() as s:
        assert s.get(GuestPaymentRecord, guest["token"]).session_id == view.session_id


async def test_hold_smaller_than_the_bill_then_refund_and_no_double_capture(
    seeded,
    payments,
    fake,
    stripe_settings,
    temporal_client,
    database_url,
    gateway_url,
    stripe_api,
):
    """A hold that runs out mid-session: the hold is captured and the rest charged to the card;
    the capture's response is lost once (the SDK retries with the same key: one capture); then
    an operator refunds part of it."""
    stripe_settings.payment_hold_min = stripe_settings.payment_hold_max = 100  # 1.00 EUR hold
    save_card(payments, demo_driver_id(seeded))
    worker = build_worker(
        temporal_client,
        seeded,
        stripe_settings.task_queue,
        settings=stripe_settings,
    )
    async with worker:
        async with scripted(gateway_url, DEMO_STATION, DEMO_PASSWORD) as cp:
            await cp.start_transaction(DEMO_TAG)
            hold = next(
                pi for pi in fake.payment_intents.values() if pi["status"] == "requires_capture"
            )
            assert hold["amount"] == 100
            fake.fail_next(
                f"/v1/payment_intents/{hold['id']}/capture", status=500, after_processing=True
            )
            await cp.meter(12_000, minutes=60)
            await cp.stop_transaction()
        view = await session_result(temporal_client, DEMO_STATION, cp.transaction_id)
    assert view.state == SessionState.COMPLETED and view.total > 100
    captures = [r for r in fake.requests if r[1].endswith(f"{hold['id']}/capture")]
    assert len({key for _, _, key in captures}) == 1  # retried with the same idempotency key
    assert fake.charges_captured_total(hold["id"]) == 100
    rest = [
        pi
        for pi in fake.payment_intents.values()
        if pi["id"] != hold["id"] and pi["status"] == "succeeded"
    ]
    assert [pi["amount_received"] for pi in rest] == [view.total - 100]

    refund = await stripe_api.post(
        f"/sessions/{view.session_id}/refunds",
        json={"amount": 150, "reason": "connector fault"},
        headers={"Idempotency-Key": "r-1"},
    )
    assert refund.status_code == 201, refund.text
    assert refund.json()["amount"] == 150
    again = await stripe_api.post(
        f"/sessions/{view.session_id}/refunds",
        json={"amount": 150, "reason": "connector fault"},
        headers={"Idempotency-Key": "r-1"},
    )
    assert again.json()["amount"] == 150
    assert sum(r["amount"] for r in fake.refunds.values()) == 150  # refunded once


async def test_hold_of_a_session_that_never_starts_is_released(
    seeded, payments, fake, settings, stripe_worker, gateway_url, temporal_client
):
    settings.authorization_timeout_s = 2  # the gateway's sessions give up on a start quickly
    save_card(payments, demo_driver_id(seeded))
    async with scripted(gateway_url, DEMO_STATION, DEMO_PASSWORD) as cp:
        assert (await cp.authorize(DEMO_TAG))["status"] == "Accepted"
    hold = next(iter(fake.payment_intents.values()))
    assert hold["status"] == "requires_capture"

    def released() -> bool:
        return fake.payment_intents[hold["id"]]["status"] == "canceled"

    await eventually(released, timeout=30)
    assert fake.charges_captured_total(hold["id"]) == 0


async def test_guest_session_is_stopped_before_its_hold_runs_out(
    seeded, fake, stripe_settings, temporal_client, database_url, gateway_url, stripe_client
):
    """A guest has no card on file beyond the hold: the session stops remotely at the hold."""
    stripe_settings.payment_hold_min = stripe_settings.payment_hold_max = 200
    worker = build_worker(
        temporal_client,
        seeded,
        stripe_settings.task_queue,
        settings=stripe_settings,
    )
    app = create_app(stripe_settings, database_url, temporal=temporal_client)
    async with worker, app.router.lifespan_context(app):
        api = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api")
        guest = (await api.post(f"/pay/{DEMO_STATION}/1", json={})).json()
        assert guest["amount"] == 200
        stripe_client.v1.payment_intents.confirm(
            guest["payment_intent_id"], params={"payment_method": "pm_card_visa"}
        )
        async with scripted(gateway_url, DEMO_STATION, DEMO_PASSWORD) as cp:
            event = fake.events_of_type("payment_intent.amount_capturable_updated")[-1]
            body, signature = fake.signed_event(event["id"], WEBHOOK_SECRET)
            await api.post(
                "/webhooks/stripe", content=body, headers={"Stripe-Signature": signature}
            )
            await eventually(lambda: cp.transaction_id is not None)
            for _ in range(6):  # 1 kWh every 10 minutes: 0.35 EUR + time each, over the hold
                await cp.meter(1000, minutes=10)
                if "RemoteStopTransaction" in cp.actions_received():
                    break
            await eventually(lambda: "RemoteStopTransaction" in cp.actions_received())
            view = await session_result(temporal_client, DEMO_STATION, cp.transaction_id)
        await api.aclose()
    assert view.stop_reason == "Remote"
    assert fake.charges_captured_total(guest["payment_intent_id"]) == min(view.total, 200)
