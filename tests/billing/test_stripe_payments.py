"""Stripe flows through the payments service against the fake Stripe server (real SDK)."""

from __future__ import annotations

import pytest

from activities.payments import records
from activities.payments.service import Payments, RefundRefused
from activities.payments.stripe_provider import StripeUnavailable
from domain.payments import HoldRequest, HoldStatus, RefundRequest, ReleaseRequest, SettleRequest
from tests.billing.conftest import demo_driver_id, save_card
from tests.fakes.fake_stripe import FakeStripe


def _hold(payments: Payments, session_id: str, driver_id: int | None, amount: int | None = None):
    return payments.place_hold(
        HoldRequest(
            session_id=session_id,
            station_id="DEMO-1",
            connector_id=1,
            driver_id=driver_id,
            amount=amount,
        )
    )


def _settle(payments: Payments, session_id: str, driver_id: int | None, amount: int):
    return payments.settle(
        SettleRequest(session_id=session_id, driver_id=driver_id, amount=amount, currency="EUR")
    )


def _captures(fake: FakeStripe) -> list:
    return [r for r in fake.requests if r.method == "POST" and r.path.endswith("/capture")]


def test_hold_sized_from_tariff_then_capture_less(payments: Payments, fake: FakeStripe) -> None:
    driver = demo_driver_id(payments.db)
    setup = save_card(payments, driver)
    assert setup["status"] == "succeeded"

    hold = _hold(payments, "s-1", driver)
    # Demo tariff: 50 kWh * 0.35 + 4 h * 1.20 + 0.50 = 22.80 net, + 20 % VAT = 27.36.
    assert (hold.status, hold.amount, hold.currency) == (HoldStatus.HELD, 2736, "EUR")
    assert hold.card is not None and (hold.card.brand, hold.card.last4) == ("visa", "4242")
    intent = fake.payment_intents[hold.external_id]
    assert intent["status"] == "requires_capture"
    assert intent["capture_method"] == "manual"
    assert intent["metadata"]["session_id"] == "s-1"

    assert _hold(payments, "s-1", driver) == hold  # idempotent: no second intent
    assert len(fake.payment_intents) == 1

    settled = _settle(payments, "s-1", driver, 1234)
    assert (settled.status, settled.captured, settled.charged_rest) == ("succeeded", 1234, 0)
    assert fake.charges_captured_total(hold.external_id) == 1234
    again = _settle(payments, "s-1", driver, 1234)
    assert again.status == "succeeded" and again.payment_id == settled.payment_id
    assert len(_captures(fake)) == 1
    capture = _captures(fake)[0]
    assert capture.idempotency_key == "s-1:capture"


def test_decline_refuses_the_hold(payments: Payments, fake: FakeStripe) -> None:
    driver = demo_driver_id(payments.db)
    save_card(payments, driver, "pm_card_chargeCustomerFail")  # saves, then every charge fails
    hold = _hold(payments, "s-dec", driver)
    assert hold.status == HoldStatus.DECLINED
    assert hold.failure_code == "generic_decline"
    assert "declined" in (hold.failure_reason or "").lower()
    assert _hold(payments, "s-dec", driver).status == HoldStatus.DECLINED
    assert fake.charges_captured_total(hold.external_id or "") == 0


def test_over_the_hold_captures_it_and_charges_the_rest(
    payments: Payments, fake: FakeStripe
) -> None:
    driver = demo_driver_id(payments.db)
    save_card(payments, driver)
    hold = _hold(payments, "s-over", driver, amount=1000)
    settled = _settle(payments, "s-over", driver, 2500)
    assert (settled.status, settled.captured, settled.charged_rest) == ("succeeded", 1000, 1500)
    rest_id = settled.external_ids[1]
    assert fake.charges_captured_total(hold.external_id) == 1000
    assert fake.charges_captured_total(rest_id) == 1500
    assert fake.payment_intents[rest_id]["metadata"]["kind"] == "rest"
    _settle(payments, "s-over", driver, 2500)
    assert len(fake.payment_intents) == 2


def test_expired_hold_charges_everything_to_the_saved_card(
    payments: Payments, fake: FakeStripe
) -> None:
    driver = demo_driver_id(payments.db)
    save_card(payments, driver)
    hold = _hold(payments, "s-exp", driver)
    fake.expire_authorization(hold.external_id)
    settled = _settle(payments, "s-exp", driver, 1800)
    assert (settled.captured, settled.charged_rest) == (0, 1800)
    with payments.db.session() as s:
        assert records.find(s, "s-exp", records.HOLD).status == "expired"


def test_zero_amount_cancels_the_hold(payments: Payments, fake: FakeStripe) -> None:
    driver = demo_driver_id(payments.db)
    save_card(payments, driver)
    hold = _hold(payments, "s-zero", driver)
    settled = _settle(payments, "s-zero", driver, 0)
    assert settled.status == "not_required"
    assert fake.payment_intents[hold.external_id]["status"] == "canceled"
    assert fake.charges_captured_total(hold.external_id) == 0


def test_release_hold_of_a_zombie_session(payments: Payments, fake: FakeStripe) -> None:
    driver = demo_driver_id(payments.db)
    save_card(payments, driver)
    hold = _hold(payments, "s-zombie", driver)
    released = payments.release(ReleaseRequest(session_id="s-zombie"))
    assert released.status == "released"
    assert fake.payment_intents[hold.external_id]["status"] == "canceled"
    assert payments.release(ReleaseRequest(session_id="s-zombie")).status == "released"


def test_lost_capture_response_never_captures_twice(payments: Payments, fake: FakeStripe) -> None:
    driver = demo_driver_id(payments.db)
    save_card(payments, driver)
    hold = _hold(payments, "s-lost", driver)
    path = f"/v1/payment_intents/{hold.external_id}/capture"
    # Every attempt of this call (the first and the SDK's two retries) loses its response.
    fake.fail_next(path, status=500, count=3, after_processing=True)
    with pytest.raises(StripeUnavailable):
        _settle(payments, "s-lost", driver, 2000)
    assert fake.charges_captured_total(hold.external_id) == 2000  # it did happen
    settled = _settle(payments, "s-lost", driver, 2000)  # the activity's retry
    assert (settled.status, settled.captured) == ("succeeded", 2000)
    assert fake.charges_captured_total(hold.external_id) == 2000
    assert {r.idempotency_key for r in _captures(fake)} == {"s-lost:capture"}
    assert len(fake.events_of_type("charge.captured")) == 1


def test_lost_rest_charge_response_never_charges_twice(
    payments: Payments, fake: FakeStripe
) -> None:
    driver = demo_driver_id(payments.db)
    save_card(payments, driver)
    hold = _hold(payments, "s-lost-rest", driver)
    fake.expire_authorization(hold.external_id)
    fake.fail_next("/v1/payment_intents", status=500, count=3, after_processing=True, method="POST")
    with pytest.raises(StripeUnavailable):
        _settle(payments, "s-lost-rest", driver, 3000)
    settled = _settle(payments, "s-lost-rest", driver, 3000)
    assert settled.charged_rest == 3000
    rests = [p for p in fake.payment_intents.values() if p["metadata"].get("kind") == "rest"]
    assert len(rests) == 1
    assert fake.charges_captured_total(rests[0]["id"]) == 3000


def test_refunds_partial_then_rest_then_too_much(payments: Payments, fake: FakeStripe) -> None:
    driver = demo_driver_id(payments.db)
    save_card(payments, driver)
    hold = _hold(payments, "s-ref", driver, amount=1000)
    _settle(payments, "s-ref", driver, 1600)  # 1000 from the hold + 600 rest
    first = payments.refund(
        RefundRequest(session_id="s-ref", refund_key="r1", amount=700, reason="broken cable")
    )
    assert (first.status, first.amount) == ("succeeded", 700)
    again = payments.refund(
        RefundRequest(session_id="s-ref", refund_key="r1", amount=700, reason="broken cable")
    )
    assert again == first
    rest = payments.refund(RefundRequest(session_id="s-ref", refund_key="r2", reason="goodwill"))
    assert rest.amount == 900
    total = sum(fake.refunded_total(i) for i in fake.payment_intents)
    assert total == 1600
    assert fake.refunded_total(hold.external_id) == 1000
    with pytest.raises(RefundRefused):
        payments.refund(RefundRequest(session_id="s-ref", refund_key="r3", reason="again"))


def test_lost_hold_response_is_replayed_not_duplicated(
    payments: Payments, fake: FakeStripe
) -> None:
    driver = demo_driver_id(payments.db)
    save_card(payments, driver)
    # The first create is applied but its answer lost; the SDK retries with the same key.
    fake.fail_next("/v1/payment_intents", status=500, after_processing=True, method="POST")
    hold = _hold(payments, "s-hold-lost", driver)
    assert hold.status == HoldStatus.HELD
    assert len(fake.payment_intents) == 1
    creates = [r for r in fake.requests if r.method == "POST" and r.path == "/v1/payment_intents"]
    assert {r.idempotency_key for r in creates} == {"s-hold-lost:hold"}
    assert len(creates) == 2


def test_activities_answer_a_decline_and_retry_an_outage(payments: Payments, fake: FakeStripe):
    from temporalio.exceptions import ApplicationError
    from temporalio.testing import ActivityEnvironment

    from activities.payments.activities import PaymentActivities

    driver = demo_driver_id(payments.db)
    save_card(payments, driver, "pm_card_insufficientFunds")  # SetupIntent declines: no card
    activities = PaymentActivities(payments)
    env = ActivityEnvironment()
    request = HoldRequest(session_id="a-1", station_id="DEMO-1", driver_id=driver)
    assert payments.stripe is not None
    with payments.db.session() as s:  # save a card that declines every charge instead
        payments.stripe.start_card_setup(s, driver, "pm_card_chargeCustomerFail")
    declined = env.run(activities.place_hold, request)
    assert declined.status == HoldStatus.DECLINED

    fake.fail_next("/v1/payment_intents", status=503, count=3)
    with pytest.raises(ApplicationError) as raised:
        env.run(
            activities.place_hold,
            HoldRequest(session_id="a-2", station_id="DEMO-1", driver_id=driver),
        )
    assert raised.value.type == "PaymentProviderUnavailable"
    assert not raised.value.non_retryable
