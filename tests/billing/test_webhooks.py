"""Stripe webhooks: signature on the raw body, de-duplication by event id, local effects."""

from __future__ import annotations

import time

import httpx
import pytest
from sqlmodel import select

from activities.payments import records
from activities.payments.service import Payments
from activities.payments.webhooks import WebhookRejected, handle_stripe_webhook
from domain.payments import HoldRequest, PaymentEvent, SettleRequest
from store.billing_tables import ProviderEvent
from tests.billing.conftest import WEBHOOK_SECRET, demo_driver_id, save_card
from tests.fakes.fake_stripe import FakeStripe


def _expired_hold(payments: Payments, fake: FakeStripe) -> tuple[str, dict]:
    driver = demo_driver_id(payments.db)
    save_card(payments, driver)
    hold = payments.place_hold(HoldRequest(session_id="w-1", station_id="DEMO-1", driver_id=driver))
    fake.expire_authorization(hold.external_id)
    (event,) = [
        e
        for e in fake.events_of_type("payment_intent.canceled")
        if e["data"]["object"]["id"] == hold.external_id
    ]
    return hold.external_id or "", event


async def test_signed_event_is_applied_once_and_handed_to_the_sink(
    billing_api: httpx.AsyncClient, payments: Payments, fake: FakeStripe
) -> None:
    heard: list[PaymentEvent] = []
    billing_api.app.state.payment_event_sink = heard.append  # type: ignore[attr-defined]
    intent_id, event = _expired_hold(payments, fake)
    payload, signature = fake.signed_event(event["id"], WEBHOOK_SECRET)
    headers = {"Stripe-Signature": signature, "Content-Type": "application/json"}

    first = await billing_api.post("/webhooks/stripe", content=payload, headers=headers)
    assert first.status_code == 200, first.text
    assert first.json()["duplicate"] is False
    assert first.json()["event"]["type"] == "hold_expired"
    second = await billing_api.post("/webhooks/stripe", content=payload, headers=headers)
    assert second.json()["duplicate"] is True

    assert [(e.type, e.session_id, e.external_id) for e in heard] == [
        ("hold_expired", "w-1", intent_id)
    ]
    with payments.db.session() as s:
        assert records.find(s, "w-1", records.HOLD).status == "expired"
        stored = s.exec(select(ProviderEvent)).all()
        assert [(e.id, e.session_id) for e in stored] == [(event["id"], "w-1")]


async def test_bad_signature_or_tampered_body_is_rejected(
    billing_api: httpx.AsyncClient, payments: Payments, fake: FakeStripe
) -> None:
    _, event = _expired_hold(payments, fake)
    payload, signature = fake.signed_event(event["id"], WEBHOOK_SECRET)
    wrong = FakeStripe.sign_event(payload, "whsec_someone_else")
    for body, header in ((payload, wrong), (payload + b" ", signature), (payload, None)):
        headers = {"Stripe-Signature": header} if header else {}
        response = await billing_api.post("/webhooks/stripe", content=body, headers=headers)
        assert response.status_code == 400
    with payments.db.session() as s:
        assert s.exec(select(ProviderEvent)).all() == []
        assert records.find(s, "w-1", records.HOLD).status == "held"


async def test_signature_dated_in_the_future_is_rejected(
    billing_api: httpx.AsyncClient, payments: Payments, fake: FakeStripe
) -> None:
    """A valid signature whose timestamp lies ahead beyond a small tolerance is refused (the
    SDK only refuses old ones, so it could be replayed for as long as it lies ahead)."""
    _, event = _expired_hold(payments, fake)
    payload = fake.event_payload(event["id"])
    for ahead in (3600, 10 * 365 * 86400):
        header = FakeStripe.sign_event(payload, WEBHOOK_SECRET, int(time.time()) + ahead)
        headers = {"Stripe-Signature": header, "Content-Type": "application/json"}
        response = await billing_api.post("/webhooks/stripe", content=payload, headers=headers)
        assert response.status_code == 400, response.text
    with payments.db.session() as s:
        assert s.exec(select(ProviderEvent)).all() == []
    slightly = FakeStripe.sign_event(payload, WEBHOOK_SECRET, int(time.time()) + 5)  # skew
    headers = {"Stripe-Signature": slightly, "Content-Type": "application/json"}
    response = await billing_api.post("/webhooks/stripe", content=payload, headers=headers)
    assert response.status_code == 200, response.text


def test_settlement_after_an_expiry_webhook_charges_the_saved_card(
    payments: Payments, fake: FakeStripe
) -> None:
    _, event = _expired_hold(payments, fake)
    payload, signature = fake.signed_event(event["id"], WEBHOOK_SECRET)
    result = handle_stripe_webhook(payments.db, payload, signature, WEBHOOK_SECRET, payments.stripe)
    assert result.event is not None and result.event.type == "hold_expired"
    driver = demo_driver_id(payments.db)
    settled = payments.settle(
        SettleRequest(session_id="w-1", driver_id=driver, amount=900, currency="EUR")
    )
    assert (settled.captured, settled.charged_rest) == (0, 900)
    with pytest.raises(WebhookRejected):
        handle_stripe_webhook(payments.db, payload, "t=1,v1=00", WEBHOOK_SECRET)


def test_setup_intent_webhook_saves_the_card(payments: Payments, fake: FakeStripe) -> None:
    driver = demo_driver_id(payments.db)
    assert payments.stripe is not None
    with payments.db.session() as s:
        setup = payments.stripe.start_card_setup(s, driver)  # the app confirms it later
    assert setup["status"] == "requires_payment_method"
    client = payments.stripe.client
    client.v1.setup_intents.confirm(
        setup["id"], params={"payment_method": "pm_card_visa_googlepay"}
    )
    (event,) = fake.events_of_type("setup_intent.succeeded")
    payload, signature = fake.signed_event(event["id"], WEBHOOK_SECRET)
    result = handle_stripe_webhook(payments.db, payload, signature, WEBHOOK_SECRET, payments.stripe)
    assert result.event is not None and result.event.type == "card_saved"
    hold = payments.place_hold(HoldRequest(session_id="gp", station_id="DEMO-1", driver_id=driver))
    assert hold.card is not None and hold.card.wallet == "google_pay"


def test_guest_authorisation_event_carries_the_token(payments: Payments, fake: FakeStripe) -> None:
    from activities.payments.guest import create_guest_payment

    assert payments.stripe is not None
    with payments.db.session() as s:
        link = create_guest_payment(
            s, payments.stripe, "DEMO-1", 1, energy_wh=0, duration_s=0, floor=1000, ceiling=2000
        )
    payments.stripe.client.v1.payment_intents.confirm(
        link.payment_intent_id, params={"payment_method": "pm_card_visa"}
    )
    (event,) = fake.events_of_type("payment_intent.amount_capturable_updated")
    payload, signature = fake.signed_event(event["id"], WEBHOOK_SECRET)
    result = handle_stripe_webhook(payments.db, payload, signature, WEBHOOK_SECRET, payments.stripe)
    assert result.event is not None
    assert (result.event.type, result.event.guest_token) == ("guest_authorized", link.token)
