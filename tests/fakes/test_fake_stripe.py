"""Drive FakeStripe with the real ``stripe`` SDK to prove it speaks Stripe's API."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
import stripe

from .fake_stripe import FakeStripe, parse_form

KEY = "sk_test_ampflow"


@pytest.fixture
def fake() -> Iterator[FakeStripe]:
    with FakeStripe() as server:
        yield server
        assert server.internal_errors == []


@pytest.fixture
def client(fake: FakeStripe) -> stripe.StripeClient:
    return stripe.StripeClient(KEY, base_addresses={"api": fake.url}, max_network_retries=0)


@pytest.fixture
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the SDK's retry back-off (>= 0.5 s by default) negligible."""
    monkeypatch.setattr(stripe.HTTPClient, "INITIAL_DELAY", 0.01)
    monkeypatch.setattr(stripe.HTTPClient, "MAX_DELAY", 0.02)


def _hold(client: stripe.StripeClient, amount: int = 5000, **extra: Any) -> stripe.PaymentIntent:
    """A confirmed manual-capture PaymentIntent (an authorization hold)."""
    customer = client.v1.customers.create(params={"email": "driver@example.com"})
    params: dict[str, Any] = {
        "amount": amount,
        "currency": "eur",
        "customer": customer.id,
        "payment_method": "pm_card_visa",
        "capture_method": "manual",
        "confirm": True,
        "metadata": {"session": "sess-1"},
        **extra,
    }
    return client.v1.payment_intents.create(params=params)


def _raw(fake: FakeStripe, path: str, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(fake.url + path, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_parse_form_nested_keys() -> None:
    pairs = [
        ("metadata[session]", "x"),
        ("metadata[0]", "zero"),
        ("payment_method_types[]", "card"),
        ("payment_method_types[]", "link"),
        ("expand[0]", "latest_charge"),
        ("items[0][price]", "price_1"),
        ("items[1][price]", "price_2"),
        ("items[1][quantity]", "3"),
        ("amount", "100"),
    ]
    assert parse_form(pairs) == {
        "metadata": {"session": "x", "0": "zero"},
        "payment_method_types": ["card", "link"],
        "expand": ["latest_charge"],
        "items": [{"price": "price_1"}, {"price": "price_2", "quantity": "3"}],
        "amount": "100",
    }


def test_authentication_is_required(fake: FakeStripe) -> None:
    status, body = _raw(fake, "/v1/customers", {})
    assert status == 401
    assert body["error"]["type"] == "invalid_request_error"
    status, _ = _raw(fake, "/v1/customers", {"Authorization": f"Bearer {KEY}"})
    assert status == 200
    live = stripe.StripeClient("sk_live_nope", base_addresses={"api": fake.url})
    with pytest.raises(stripe.AuthenticationError):
        live.v1.customers.list()


def test_manual_capture_hold_then_partial_capture(
    fake: FakeStripe, client: stripe.StripeClient
) -> None:
    pi = _hold(client, amount=5000, expand=["latest_charge"])
    assert pi.status == "requires_capture"
    assert pi.amount_capturable == 5000
    assert pi.amount_received == 0
    assert pi.latest_charge.captured is False  # expanded Charge object
    assert pi.metadata["session"] == "sess-1"
    assert fake.charges_captured_total(pi.id) == 0

    captured = client.v1.payment_intents.capture(pi.id, params={"amount_to_capture": 3120})
    assert captured.status == "succeeded"
    assert captured.amount_received == 3120
    assert captured.amount_capturable == 0
    charge = client.v1.charges.retrieve(captured.latest_charge)
    assert (charge.amount, charge.amount_captured, charge.captured) == (5000, 3120, True)
    assert charge.amount_refunded == 5000 - 3120  # uncaptured remainder is released
    assert charge.refunded is False
    assert fake.charges_captured_total(pi.id) == 3120
    types = [e["type"] for e in fake.events_of_type("payment_intent.*")]
    assert types == [
        "payment_intent.created",
        "payment_intent.amount_capturable_updated",
        "payment_intent.succeeded",
    ]


def test_capture_more_than_authorized_is_rejected(client: stripe.StripeClient) -> None:
    pi = _hold(client, amount=2000)
    with pytest.raises(stripe.InvalidRequestError) as excinfo:
        client.v1.payment_intents.capture(pi.id, params={"amount_to_capture": 2001})
    assert excinfo.value.code == "amount_too_large"
    assert client.v1.payment_intents.retrieve(pi.id).status == "requires_capture"


def test_decline_raises_card_error(fake: FakeStripe, client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.CardError) as excinfo:
        client.v1.payment_intents.create(
            params={
                "amount": 1500,
                "currency": "eur",
                "payment_method": "pm_card_chargeDeclined",
                "confirm": True,
            }
        )
    err = excinfo.value
    assert err.http_status == 402
    assert err.code == "card_declined"
    assert err.error is not None
    assert err.error.decline_code == "generic_decline"
    assert err.json_body is not None
    assert err.json_body["error"]["type"] == "card_error"
    pi_id = err.error.payment_intent.id
    pi = client.v1.payment_intents.retrieve(pi_id)
    assert pi.status == "requires_payment_method"
    assert pi.payment_method is None
    assert pi.last_payment_error is not None
    assert pi.last_payment_error.code == "card_declined"
    assert fake.charges[pi.latest_charge]["status"] == "failed"
    assert [e["data"]["object"]["id"] for e in fake.events_of_type("*.payment_failed")] == [pi_id]

    with pytest.raises(stripe.CardError) as excinfo:
        client.v1.payment_intents.confirm(
            pi_id, params={"payment_method": "pm_card_insufficientFunds"}
        )
    assert excinfo.value.error is not None
    assert excinfo.value.error.decline_code == "insufficient_funds"
    # A new, good card on the same PaymentIntent succeeds.
    pi = client.v1.payment_intents.confirm(pi_id, params={"payment_method": "pm_card_visa"})
    assert pi.status == "succeeded"
    assert pi.amount_received == 1500


def test_authentication_required_off_session(fake: FakeStripe, client: stripe.StripeClient) -> None:
    customer = client.v1.customers.create()
    pm = client.v1.payment_methods.attach(
        "pm_card_authenticationRequired", params={"customer": customer.id}
    )
    base = {"amount": 4000, "currency": "eur", "customer": customer.id, "payment_method": pm.id}
    with pytest.raises(stripe.CardError) as excinfo:
        client.v1.payment_intents.create(
            params={**base, "confirm": True, "off_session": True, "capture_method": "manual"}
        )
    assert excinfo.value.code == "authentication_required"
    assert excinfo.value.error is not None
    assert excinfo.value.error.payment_intent.status == "requires_payment_method"

    on_session = client.v1.payment_intents.create(
        params={**base, "confirm": True, "capture_method": "manual"}
    )
    assert on_session.status == "requires_action"
    assert on_session.next_action is not None
    assert on_session.next_action.type == "use_stripe_sdk"
    assert fake.complete_action(on_session.id)["status"] == "requires_capture"
    charge = client.v1.charges.retrieve(
        client.v1.payment_intents.retrieve(on_session.id).latest_charge
    )
    assert charge.payment_method_details.card.three_d_secure.result == "authenticated"


def test_capture_from_wrong_state_is_unexpected_state(client: stripe.StripeClient) -> None:
    unconfirmed = client.v1.payment_intents.create(params={"amount": 1000, "currency": "usd"})
    assert unconfirmed.status == "requires_payment_method"
    with pytest.raises(stripe.InvalidRequestError) as excinfo:
        client.v1.payment_intents.capture(unconfirmed.id)
    assert excinfo.value.http_status == 400
    assert excinfo.value.code == "payment_intent_unexpected_state"

    pi = _hold(client)
    client.v1.payment_intents.capture(pi.id)
    for call in (
        lambda: client.v1.payment_intents.capture(pi.id),
        lambda: client.v1.payment_intents.cancel(pi.id),
        lambda: client.v1.payment_intents.increment_authorization(pi.id, params={"amount": 9000}),
    ):
        with pytest.raises(stripe.InvalidRequestError) as excinfo:
            call()
        assert excinfo.value.code == "payment_intent_unexpected_state"


def test_cancel_releases_hold(fake: FakeStripe, client: stripe.StripeClient) -> None:
    pi = _hold(client, amount=3000)
    canceled = client.v1.payment_intents.cancel(pi.id, params={"cancellation_reason": "abandoned"})
    assert (canceled.status, canceled.cancellation_reason) == ("canceled", "abandoned")
    assert canceled.amount_capturable == 0
    charge = fake.charges[pi.latest_charge]
    assert (charge["refunded"], charge["amount_refunded"], charge["captured"]) == (
        True,
        3000,
        False,
    )
    assert fake.charges_captured_total(pi.id) == 0
    assert len(fake.events_of_type("payment_intent.canceled")) == 1


def test_increment_authorization(client: stripe.StripeClient) -> None:
    eligible = {
        "payment_method_options": {"card": {"request_incremental_authorization": "if_available"}}
    }
    pi = _hold(client, amount=2000, **eligible)
    pi = client.v1.payment_intents.increment_authorization(pi.id, params={"amount": 3500})
    assert (pi.amount, pi.amount_capturable, pi.status) == (3500, 3500, "requires_capture")
    with pytest.raises(stripe.InvalidRequestError):  # must grow
        client.v1.payment_intents.increment_authorization(pi.id, params={"amount": 3000})
    assert client.v1.payment_intents.capture(pi.id).amount_received == 3500

    not_requested = _hold(client, amount=2000)
    with pytest.raises(stripe.InvalidRequestError) as excinfo:
        client.v1.payment_intents.increment_authorization(not_requested.id, params={"amount": 3000})
    assert "not eligible" in str(excinfo.value.user_message)

    declining = _hold(
        client, amount=2000, **{**eligible, "payment_method": "pm_card_incrementDeclined"}
    )
    with pytest.raises(stripe.CardError) as card_exc:
        client.v1.payment_intents.increment_authorization(declining.id, params={"amount": 3000})
    assert card_exc.value.code == "card_declined"
    still = client.v1.payment_intents.retrieve(declining.id)
    assert (still.amount, still.status) == (2000, "requires_capture")


def test_idempotent_replay_returns_same_payment_intent(
    fake: FakeStripe, client: stripe.StripeClient
) -> None:
    params = {"amount": 2500, "currency": "eur", "metadata": {"session": "s1"}}
    options: stripe.RequestOptions = {"idempotency_key": "create-s1"}
    first = client.v1.payment_intents.create(params=params, options=options)
    second = client.v1.payment_intents.create(params=dict(params), options=options)
    assert second.id == first.id
    assert len(fake.payment_intents) == 1
    assert second.last_response is not None
    assert second.last_response.headers.get("Idempotent-Replayed") == "true"
    assert first.last_response is not None
    assert "Idempotent-Replayed" not in first.last_response.headers
    assert [r.idempotency_key for r in fake.requests] == ["create-s1", "create-s1"]
    assert [e["replayed"] for e in fake.request_log] == [False, True]

    with pytest.raises(stripe.IdempotencyError) as excinfo:
        client.v1.payment_intents.create(params={**params, "amount": 2600}, options=options)
    assert excinfo.value.http_status == 400
    assert len(fake.payment_intents) == 1


def test_idempotent_replay_of_card_error(fake: FakeStripe, client: stripe.StripeClient) -> None:
    params = {
        "amount": 900,
        "currency": "eur",
        "payment_method": "pm_card_chargeDeclined",
        "confirm": True,
    }
    codes = []
    for _ in range(2):
        with pytest.raises(stripe.CardError) as excinfo:
            client.v1.payment_intents.create(params=params, options={"idempotency_key": "k"})
        codes.append((excinfo.value.code, excinfo.value.error.payment_intent.id))
    assert codes[0] == codes[1]
    assert len(fake.payment_intents) == 1


def test_lost_capture_response_and_sdk_retry_captures_once(
    fake: FakeStripe, fast_retries: None
) -> None:
    retrying = stripe.StripeClient(KEY, base_addresses={"api": fake.url}, max_network_retries=2)
    pi = _hold(retrying, amount=4200)
    capture_path = f"/v1/payment_intents/{pi.id}/capture"
    fake.fail_next(capture_path, status=500, after_processing=True)

    captured = retrying.v1.payment_intents.capture(pi.id, params={"amount_to_capture": 4000})

    assert captured.status == "succeeded"
    assert captured.amount_received == 4000
    attempts = [r for r in fake.requests if r.path == capture_path]
    assert len(attempts) == 2  # the lost response, then the SDK's retry
    assert attempts[0].idempotency_key == attempts[1].idempotency_key
    assert [e["status"] for e in fake.request_log if e["path"] == capture_path] == [500, 200]
    assert fake.charges_captured_total(pi.id) == 4000
    assert len(fake.events_of_type("charge.captured")) == 1
    assert len(fake.events_of_type("payment_intent.succeeded")) == 1


def test_lost_response_without_sdk_retry_then_manual_retry(
    fake: FakeStripe, client: stripe.StripeClient
) -> None:
    pi = _hold(client, amount=1000)
    fake.fail_next("/v1/payment_intents/", after_processing=True, method="POST")
    with pytest.raises(stripe.APIError) as excinfo:
        client.v1.payment_intents.capture(pi.id, options={"idempotency_key": "cap-1"})
    assert excinfo.value.http_status == 500
    # The capture happened even though the client saw a 500 ...
    assert fake.payment_intents[pi.id]["status"] == "succeeded"
    # ... so the same key replays the success, while a fresh key hits the state guard.
    replay = client.v1.payment_intents.capture(pi.id, options={"idempotency_key": "cap-1"})
    assert replay.status == "succeeded"
    with pytest.raises(stripe.InvalidRequestError) as state_exc:
        client.v1.payment_intents.capture(pi.id, options={"idempotency_key": "cap-2"})
    assert state_exc.value.code == "payment_intent_unexpected_state"
    assert fake.charges_captured_total(pi.id) == 1000


def test_failure_before_processing_applies_nothing(
    fake: FakeStripe, client: stripe.StripeClient, fast_retries: None
) -> None:
    fake.fail_next("/v1/customers", status=503, count=2)
    for _ in range(2):
        with pytest.raises(stripe.APIError):
            client.v1.customers.create(params={"email": "x@example.com"})
    assert fake.customers == {}
    assert client.v1.customers.create(params={"email": "x@example.com"}).email == "x@example.com"

    # A dropped connection (status=0) is retried by the SDK with the same key.
    retrying = stripe.StripeClient(KEY, base_addresses={"api": fake.url}, max_network_retries=1)
    fake.fail_next("/v1/customers", status=0, after_processing=True)
    customer = retrying.v1.customers.create(params={"email": "y@example.com"})
    assert [c["email"] for c in fake.customers.values()].count("y@example.com") == 1
    assert fake.customers[customer.id]["email"] == "y@example.com"


def test_refunds_partial_then_rest_then_over_refund(
    fake: FakeStripe, client: stripe.StripeClient
) -> None:
    pi = client.v1.payment_intents.create(
        params={
            "amount": 2000,
            "currency": "eur",
            "payment_method": "pm_card_visa",
            "confirm": True,
        }
    )
    assert pi.status == "succeeded"
    assert pi.capture_method == "automatic_async"
    partial = client.v1.refunds.create(
        params={"payment_intent": pi.id, "amount": 500, "reason": "requested_by_customer"}
    )
    assert (partial.amount, partial.status, partial.reason) == (
        500,
        "succeeded",
        "requested_by_customer",
    )
    assert partial.charge == pi.latest_charge
    charge = client.v1.charges.retrieve(pi.latest_charge)
    assert (charge.amount_refunded, charge.refunded) == (500, False)

    with pytest.raises(stripe.InvalidRequestError) as excinfo:
        client.v1.refunds.create(params={"payment_intent": pi.id, "amount": 1501})
    assert excinfo.value.code == "amount_too_large"

    rest = client.v1.refunds.create(params={"charge": pi.latest_charge})
    assert rest.amount == 1500
    charge = client.v1.charges.retrieve(pi.latest_charge)
    assert (charge.amount_refunded, charge.refunded) == (2000, True)
    assert fake.refunded_total(pi.id) == 2000

    with pytest.raises(stripe.InvalidRequestError) as excinfo:
        client.v1.refunds.create(params={"payment_intent": pi.id, "amount": 1})
    assert excinfo.value.code == "charge_already_refunded"
    listed = client.v1.refunds.list(params={"payment_intent": pi.id})
    assert [r.id for r in listed.data] == [rest.id, partial.id]
    assert len(fake.events_of_type("charge.refunded")) == 2
    assert client.v1.refunds.retrieve(partial.id).amount == 500


def test_refund_cannot_exceed_partially_captured_amount(client: stripe.StripeClient) -> None:
    pi = _hold(client, amount=5000)
    with pytest.raises(stripe.InvalidRequestError):  # uncaptured: cancel instead
        client.v1.refunds.create(params={"payment_intent": pi.id})
    client.v1.payment_intents.capture(pi.id, params={"amount_to_capture": 1200})
    with pytest.raises(stripe.InvalidRequestError) as excinfo:
        client.v1.refunds.create(params={"payment_intent": pi.id, "amount": 1201})
    assert excinfo.value.code == "amount_too_large"
    assert client.v1.refunds.create(params={"payment_intent": pi.id}).amount == 1200


def test_setup_intent_attach_and_wallet_cards(
    fake: FakeStripe, client: stripe.StripeClient
) -> None:
    customer = client.v1.customers.create(params={"name": "Ada"})
    seti = client.v1.setup_intents.create(
        params={
            "customer": customer.id,
            "payment_method": "pm_card_visa_applepay",
            "payment_method_types": ["card"],
            "confirm": True,
            "usage": "off_session",
        }
    )
    assert seti.status == "succeeded"
    assert seti.id.startswith("seti_")
    pm = client.v1.payment_methods.retrieve(seti.payment_method)
    assert pm.customer == customer.id
    assert pm.card.wallet is not None
    assert pm.card.wallet.type == "apple_pay"
    assert (pm.card.brand, pm.card.last4) == ("visa", "4242")
    assert isinstance(pm.card.exp_month, int) and isinstance(pm.card.exp_year, int)

    google = client.v1.payment_methods.create(
        params={"type": "card", "card": {"token": "tok_visa_googlepay"}}
    )
    assert google.customer is None
    assert google.card.wallet.type == "google_pay"
    client.v1.payment_methods.attach(google.id, params={"customer": customer.id})
    plain = client.v1.payment_methods.attach("pm_card_mastercard", params={"customer": customer.id})
    assert plain.card.wallet is None
    assert plain.card.brand == "mastercard"

    listed = client.v1.customers.payment_methods.list(customer.id, params={"type": "card"})
    assert {p.id for p in listed.data} == {pm.id, google.id, plain.id}
    updated = client.v1.customers.update(
        customer.id, params={"invoice_settings": {"default_payment_method": pm.id}}
    )
    assert updated.invoice_settings.default_payment_method == pm.id

    client.v1.payment_methods.detach(pm.id)
    assert fake.customers[customer.id]["invoice_settings"]["default_payment_method"] is None
    with pytest.raises(stripe.InvalidRequestError):  # detached methods cannot be reused
        client.v1.payment_methods.attach(pm.id, params={"customer": customer.id})

    declined = client.v1.setup_intents.create(params={"customer": customer.id})
    assert declined.status == "requires_payment_method"
    with pytest.raises(stripe.CardError):
        client.v1.setup_intents.confirm(
            declined.id, params={"payment_method": "pm_card_chargeDeclined"}
        )
    assert client.v1.setup_intents.retrieve(declined.id).last_setup_error.code == "card_declined"

    # A saved card can be charged off-session.
    pi = client.v1.payment_intents.create(
        params={
            "amount": 1000,
            "currency": "eur",
            "customer": customer.id,
            "payment_method": google.id,
            "off_session": True,
            "confirm": True,
        }
    )
    assert pi.status == "succeeded"


def test_subscription_create_and_cancel(fake: FakeStripe, client: stripe.StripeClient) -> None:
    product = client.v1.products.create(params={"name": "Charging flat rate"})
    price = client.v1.prices.create(
        params={
            "product": product.id,
            "currency": "eur",
            "unit_amount": 1999,
            "recurring": {"interval": "month"},
        }
    )
    assert price.type == "recurring"
    assert client.v1.prices.retrieve(price.id).unit_amount == 1999
    assert client.v1.products.retrieve(product.id).name == "Charging flat rate"
    customer = client.v1.customers.create()
    with pytest.raises(stripe.InvalidRequestError):  # no payment method to bill
        client.v1.subscriptions.create(
            params={"customer": customer.id, "items": [{"price": price.id}]}
        )

    pm = client.v1.payment_methods.attach("pm_card_visa", params={"customer": customer.id})
    sub = client.v1.subscriptions.create(
        params={
            "customer": customer.id,
            "items": [{"price": price.id, "quantity": 2}],
            "default_payment_method": pm.id,
            "metadata": {"plan": "flat"},
        }
    )
    assert sub.id.startswith("sub_")
    assert sub.status == "active"
    assert sub["items"].data[0].price.id == price.id
    assert sub["items"].data[0].quantity == 2
    assert client.v1.subscriptions.retrieve(sub.id).metadata["plan"] == "flat"

    canceled = client.v1.subscriptions.cancel(sub.id)
    assert canceled.status == "canceled"
    assert canceled.canceled_at is not None
    assert client.v1.subscriptions.retrieve(sub.id).status == "canceled"
    assert [e["type"] for e in fake.events_of_type("customer.subscription.*")] == [
        "customer.subscription.created",
        "customer.subscription.deleted",
    ]


def test_events_list_and_retrieve(fake: FakeStripe, client: stripe.StripeClient) -> None:
    pi = _hold(client)
    events = client.v1.events.list(params={"type": "payment_intent.amount_capturable_updated"})
    assert len(events.data) == 1
    event = client.v1.events.retrieve(events.data[0].id)
    assert event.data.object.id == pi.id
    assert event.data.object.status == "requires_capture"
    assert event.request.idempotency_key is not None


def test_webhook_signature_verifies(fake: FakeStripe, client: stripe.StripeClient) -> None:
    pi = client.v1.payment_intents.create(
        params={"amount": 700, "currency": "usd", "payment_method": "pm_card_visa", "confirm": True}
    )
    (succeeded,) = fake.events_of_type("payment_intent.succeeded")
    secret = "whsec_test_secret"
    payload, header = fake.signed_event(succeeded["id"], secret)
    event = stripe.Webhook.construct_event(payload, header, secret)
    assert event.type == "payment_intent.succeeded"
    assert event.data.object.id == pi.id

    assert FakeStripe.sign_event(payload, secret, timestamp=1) != header
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(payload, header, "whsec_wrong")
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(payload + b" ", header, secret)


def test_validation_matches_stripe(client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as excinfo:
        client.v1.payment_intents.create(
            params={"amount": 1000, "currency": "eur", "amount_to_capture": 5}  # type: ignore[typeddict-unknown-key]
        )
    assert (excinfo.value.code, excinfo.value.param) == ("parameter_unknown", "amount_to_capture")
    with pytest.raises(stripe.InvalidRequestError) as excinfo:
        client.v1.payment_intents.create(params={"amount": 49, "currency": "eur"})
    assert excinfo.value.code == "amount_too_small"
    with pytest.raises(stripe.InvalidRequestError) as excinfo:
        client.v1.payment_intents.retrieve("pi_missing")
    assert (excinfo.value.http_status, excinfo.value.code) == (404, "resource_missing")


def test_list_pagination(client: stripe.StripeClient) -> None:
    ids = [client.v1.customers.create(params={"name": f"c{i}"}).id for i in range(5)]
    page = client.v1.customers.list(params={"limit": 2})
    assert [c.id for c in page.data] == ids[::-1][:2]
    assert page.has_more is True
    assert [c.id for c in page.auto_paging_iter()] == ids[::-1]


def test_reset_clears_state(fake: FakeStripe, client: stripe.StripeClient) -> None:
    _hold(client)
    fake.fail_next("/v1/customers")
    assert fake.payment_intents and fake.events and fake.requests
    fake.reset()
    assert (fake.payment_intents, fake.events, fake.requests) == ({}, [], [])
    assert client.v1.customers.create().id.startswith("cus_")  # failure rule was cleared


def test_a_slow_answer_times_out_on_the_client_after_the_work_is_done(
    fake: FakeStripe,
) -> None:
    impatient = stripe.StripeClient(
        KEY,
        base_addresses={"api": fake.url},
        max_network_retries=0,
        http_client=stripe.RequestsClient(timeout=0.2),
    )
    fake.fail_next("/v1/customers", status=0, after_processing=True, delay_s=1.0)
    with pytest.raises(stripe.APIConnectionError):
        impatient.v1.customers.create(params={"email": "slow@example.com"})
    assert [c["email"] for c in fake.customers.values()] == ["slow@example.com"]


def test_faults_and_records_over_http(fake: FakeStripe, client: stripe.StripeClient) -> None:
    rule = {"path_prefix": "/v1/payment_intents", "status": 500, "method": "POST"}
    request = urllib.request.Request(
        f"{fake.url}/_fake/fail", data=json.dumps(rule).encode(), method="POST"
    )
    with urllib.request.urlopen(request) as answer:
        assert json.load(answer) == {"ok": True}
    with pytest.raises(stripe.APIError):
        _hold(client)
    pi = _hold(client, amount=1234)
    with urllib.request.urlopen(f"{fake.url}/_fake/records") as answer:
        records = json.load(answer)
    assert records["payment_intents"][pi.id]["amount"] == 1234
    assert [r["status"] for r in records["requests"] if r["path"] == "/v1/payment_intents"] == [
        500,
        200,
    ]
    event = fake.events_of_type("payment_intent.amount_capturable_updated")[-1]
    with urllib.request.urlopen(f"{fake.url}/_fake/events/{event['id']}") as answer:
        assert answer.read() == fake.event_payload(event["id"])
