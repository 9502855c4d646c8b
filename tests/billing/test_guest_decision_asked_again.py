"""A guest's token decision asked again by the same session stays Accepted.

Found by the 30-minute chaos run (seed 2026): a worker was SIGKILLed after a guest session had
decided (Accepted) and taken the guest's payment as its hold, but before the workflow task was
saved. The next worker ran the decision again; the payment was now `used`, the answer became
Invalid, the session was refused although the charger was charging, and the card hold was never
released. The decision is now the same for the session that took the payment.
"""

from __future__ import annotations

from temporalio.testing import ActivityEnvironment

from activities.session_activities import SessionActivities
from domain.session import AuthorizationStatus, AuthorizeRequest
from store.billing_tables import GuestPaymentRecord


def _decide(db, session_id: str | None) -> AuthorizationStatus:
    request = AuthorizeRequest(id_token="G-GUEST-1", station_id="DEMO-1", session_id=session_id)
    return ActivityEnvironment().run(SessionActivities(db).authorize_token, request).status


def test_the_session_that_took_a_guest_payment_is_answered_the_same_again(seeded):
    with seeded.session() as s:
        s.add(
            GuestPaymentRecord(
                token="G-GUEST-1",
                station_id="DEMO-1",
                connector_id=1,
                payment_intent_id="pi_guest_1",
                amount=15_000,
                currency="EUR",
                status="held",
            )
        )
    assert _decide(seeded, "session-DEMO-1-7") == AuthorizationStatus.ACCEPTED
    with seeded.session() as s:  # the session took the payment as its hold
        guest = s.get(GuestPaymentRecord, "G-GUEST-1")
        guest.status, guest.session_id = "used", "session-DEMO-1-7"
    assert _decide(seeded, "session-DEMO-1-7") == AuthorizationStatus.ACCEPTED  # asked again
    assert _decide(seeded, "session-DEMO-1-8") == AuthorizationStatus.INVALID  # anyone else
    assert _decide(seeded, None) == AuthorizationStatus.INVALID
