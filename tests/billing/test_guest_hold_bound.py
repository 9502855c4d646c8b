"""Every guest hold ends captured or released within a bound (issue 12, defect 3).

A guest pays by link; the webhook that would start the session never reaches us (Temporal was
down and the provider gave up redelivering, or the driver walked away before the charger
started). Nothing else will ever touch that hold, so the AlertSweep releases a guest payment no
session took up `guest_hold_release_after_s` after the link was made. Found by the Temporal
outage chaos test (`tests/chaos/test_temporal_outage.py`): the hold stayed `requires_capture`.
Checked at the fake Stripe, not in our rows.
"""

from __future__ import annotations

import httpx
import stripe

from domain.alerts import SweepInput
from store.billing_tables import GuestPaymentRecord
from tests.billing.conftest import STRIPE_KEY
from tests.fakes.fake_stripe import FakeStripe
from tests.helpers import eventually
from workers.session_worker import build_worker


async def test_a_paid_guest_link_no_session_took_up_is_released_by_the_sweep(
    billing_api: httpx.AsyncClient, stripe_settings, fake: FakeStripe, seeded, temporal_client
) -> None:
    client = stripe.StripeClient(STRIPE_KEY, base_addresses={"api": fake.url})
    settings = stripe_settings.model_copy(
        update={"guest_hold_release_after_s": 2, "alert_sweep_interval_s": 1}
    )
    used = (await billing_api.post("/pay/DEMO-1/1", json={})).json()
    stale = (await billing_api.post("/pay/DEMO-1/1", json={})).json()
    for link in (used, stale):
        client.v1.payment_intents.confirm(
            link["payment_intent_id"], params={"payment_method": "pm_card_visa"}
        )
    with seeded.session() as s:  # a session took this one up (its hold is the session's now)
        s.get(GuestPaymentRecord, used["token"]).session_id = "session-DEMO-1-777"
    assert fake.payment_intents[stale["payment_intent_id"]]["status"] == "requires_capture"

    async with build_worker(temporal_client, seeded, settings.task_queue, settings=settings):
        handle = await temporal_client.start_workflow(
            "AlertSweep",
            SweepInput(),
            id=f"guest-sweep-{settings.task_queue}",
            task_queue=settings.task_queue,
        )
        try:
            await eventually(
                lambda: fake.payment_intents[stale["payment_intent_id"]]["status"] == "canceled",
                timeout=30,
            )
        finally:
            await handle.terminate("test over")
    assert fake.payment_intents[used["payment_intent_id"]]["status"] == "requires_capture"
    assert (await billing_api.get(f"/pay/{stale['token']}")).json()["status"] == "released"
