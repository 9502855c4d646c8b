"""The fake Stripe's Checkout Sessions and hosted page, driven by the real `stripe` SDK and plain
HTTP (the payer's browser), and its webhook delivery, verified as Stripe's SDK verifies."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
import stripe

from tests.fakes.fake_stripe import FakeStripe

SECRET = "whsec_fake_checkout"


@pytest.fixture
def fake() -> Iterator[FakeStripe]:
    with FakeStripe() as server:
        yield server
        assert server.internal_errors == []


@pytest.fixture
def client(fake: FakeStripe) -> stripe.StripeClient:
    return stripe.StripeClient("sk_test_checkout", base_addresses={"api": fake.url},
                               max_network_retries=0)  # fmt: skip


def _params(**extra) -> dict:
    return {
        "mode": "payment",
        "line_items": [
            {
                "quantity": 1,
                "price_data": {"currency": "eur", "unit_amount": 2500,
                               "product_data": {"name": "Charging hold"}},
            }
        ],
        "payment_intent_data": {"capture_method": "manual", "metadata": {"guest_token": "G1"}},
        "success_url": "http://shop.example/back?cs={CHECKOUT_SESSION_ID}",
        "cancel_url": "http://shop.example/cancel",
        **extra,
    }  # fmt: skip


def test_pay_on_the_page_completes_the_session_with_a_held_intent(fake, client):
    session = client.v1.checkout.sessions.create(params=_params(customer_email="a@b.example"))
    assert session.status == "open" and session.payment_intent is None
    assert session.url.startswith(f"{fake.url}/checkout/pay/cs_test_")
    page = httpx.get(session.url)
    assert page.status_code == 200 and "25.00" in page.text and "a@b.example" in page.text

    declined = httpx.post(session.url, data={"card": "chargeDeclined"})
    assert declined.status_code == 200 and "declined" in declined.text
    assert client.v1.checkout.sessions.retrieve(session.id).status == "open"
    paid = httpx.post(session.url, data={"card": "visa", "email": "a@b.example"})
    assert paid.status_code == 303
    assert paid.headers["location"] == f"http://shop.example/back?cs={session.id}"

    done = client.v1.checkout.sessions.retrieve(session.id)
    assert (done.status, done.payment_status, done.url) == ("complete", "unpaid", None)
    intent = client.v1.payment_intents.retrieve(done.payment_intent)
    assert intent.status == "requires_capture" and intent.metadata["guest_token"] == "G1"
    assert len(fake.payment_intents) == 1  # the declined attempt and the payment: one intent
    assert [e["type"] for e in fake.events_of_type("checkout.*")] == ["checkout.session.completed"]
    assert "complete" in httpx.get(session.url).text  # the page cannot be paid twice


@pytest.mark.parametrize(
    "extra",
    [
        {"mode": "subscription"},
        {"line_items": []},
        {"success_url": ""},
        {"payment_method_types": ["card"]},  # not a parameter of the SDK's SessionCreateParams
        {"payment_intent_data": {"capture_method": "later"}},
        {"payment_intent_data": {"confirm": "true"}},
        {"expires_at": int(time.time()) + 60},  # Stripe: at least 30 minutes
    ],
    ids=repr,
)
def test_invalid_sessions_are_refused(client, extra):
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.checkout.sessions.create(params=_params(**extra))


def test_too_small_an_amount_is_refused(client):
    items = [{"quantity": 1, "price_data": {"currency": "eur", "unit_amount": 10,
                                            "product_data": {"name": "x"}}}]  # fmt: skip
    with pytest.raises(stripe.InvalidRequestError, match="at least"):
        client.v1.checkout.sessions.create(params=_params(line_items=items))


def test_only_an_open_session_expires_and_an_expired_one_cannot_be_paid(fake, client):
    session = client.v1.checkout.sessions.create(params=_params())
    assert client.v1.checkout.sessions.expire(session.id).status == "expired"
    with pytest.raises(stripe.InvalidRequestError, match="open"):
        client.v1.checkout.sessions.expire(session.id)
    assert "expired" in httpx.post(session.url, data={"card": "visa"}).text
    assert fake.payment_intents == {}
    assert httpx.get(f"{fake.url}/checkout/pay/cs_test_nope").status_code == 404


class _Endpoint(BaseHTTPRequestHandler):
    answers: list[int] = []
    received: list[tuple[bytes, str]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append((body, self.headers["Stripe-Signature"]))
        self.send_response(type(self).answers.pop(0) if type(self).answers else 200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args) -> None:
        """Quiet."""


def test_webhooks_are_signed_in_order_and_retried(fake, client):
    _Endpoint.answers, _Endpoint.received = [503], []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Endpoint)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        fake.send_webhooks(f"http://127.0.0.1:{server.server_address[1]}/hook", SECRET)
        session = client.v1.checkout.sessions.create(params=_params())
        client.v1.checkout.sessions.expire(session.id)
        deadline = time.monotonic() + 10
        while len(fake.webhook_deliveries) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        server.shutdown()
    assert [(d["type"], d["status"]) for d in fake.webhook_deliveries] == [
        ("checkout.session.expired", 503),
        ("checkout.session.expired", 200),
    ]
    body, signature = _Endpoint.received[-1]
    event = stripe.Webhook.construct_event(body, signature, SECRET)
    assert event["data"]["object"]["id"] == session.id
    assert json.loads(body)["type"] == "checkout.session.expired"
