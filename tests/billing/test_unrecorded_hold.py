"""A hold the session workflow never recorded is still released when the session expires.

Found by the chaos suite: the Temporal server was SIGKILLed while an Authorize update ran. The
update's local activity had placed the card hold at the provider, but the workflow task that held
its result was never completed, so the restarted workflow knew only its start, waited for a
charger start that never came, and expired with the hold left `requires_capture`. Checked on the
payment side: the fake Stripe's own PaymentIntent."""

from __future__ import annotations

from ampflow.seed import DEMO_STATION
from domain.payments import HoldRequest
from domain.session import SessionInput, SessionState, SessionView
from tests.billing.conftest import demo_driver_id, save_card
from workflows import contract


async def test_a_hold_the_workflow_never_recorded_is_released_when_it_expires(
    seeded, payments, fake, stripe_settings, stripe_worker, temporal_client
):
    save_card(payments, demo_driver_id(seeded))
    session_id = contract.session_workflow_id(DEMO_STATION, "90001")
    # What the lost workflow task had done: the hold exists at the provider and in the store.
    placed = payments.place_hold(
        HoldRequest(
            session_id=session_id, station_id=DEMO_STATION, driver_id=demo_driver_id(seeded)
        )
    )
    assert placed.status.value == "held"
    (intent,) = fake.payment_intents.values()
    assert intent["status"] == "requires_capture"
    # What survived the crash: the workflow's start (update-with-start), without the update.
    handle = await temporal_client.start_workflow(
        contract.CHARGING_SESSION,
        SessionInput(
            session_id=session_id,
            station_id=DEMO_STATION,
            transaction_id="90001",
            authorization_timeout_s=2,
        ),
        id=session_id,
        task_queue=stripe_settings.task_queue,
        result_type=SessionView,
    )
    view = await handle.result()
    assert view.state == SessionState.EXPIRED
    assert fake.payment_intents[intent["id"]]["status"] == "canceled"  # released at the provider
    assert fake.charges_captured_total(intent["id"]) == 0
