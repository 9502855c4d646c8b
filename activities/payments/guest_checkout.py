"""A guest pays on Stripe's own checkout page (Stripe Checkout) instead of ours.

`create_guest_checkout` makes a Checkout Session (mode `payment`) whose PaymentIntent is a
manual-capture hold, like the payment link's: the same metadata (`kind=guest`, the token), so
`payment_intent.amount_capturable_updated` and `checkout.session.completed` both name the guest
payment. Stripe sends the payer back to `/guest/{token}`; from there on it is the payment
link's flow (`guest.py`): the authorised hold starts the connector once, becomes the session's
hold, and is captured or released like any other.
"""

from __future__ import annotations

import time

from sqlmodel import Session

from activities.payments.guest import connector_hold, new_token
from activities.payments.stripe_provider import StripeProvider
from domain.payments import GuestCheckout
from store.billing_tables import GuestPaymentRecord

CHECKOUT_OPEN_S = 30 * 60  # the shortest a Checkout Session may stay open (Stripe: 30 min-24 h)


def create_guest_checkout(
    db: Session,
    stripe: StripeProvider,
    station_id: str,
    connector_id: int,
    *,
    energy_wh: int,
    duration_s: int,
    floor: int,
    ceiling: int,
    public_url: str,
    email: str | None = None,
) -> GuestCheckout:
    """A Checkout Session for a guest's hold at this connector; the payer goes to its url."""
    tariff, amount = connector_hold(
        db, station_id, connector_id, energy_wh=energy_wh, duration_s=duration_s,
        floor=floor, ceiling=ceiling,
    )  # fmt: skip
    token = new_token()
    guest_url = f"{public_url}/guest/{token}"
    metadata = {
        "kind": "guest",
        "guest_token": token,
        "station_id": station_id,
        "connector_id": str(connector_id),
    }
    what = f"Charging at {station_id}, connector {connector_id}"
    params: dict = {
        "mode": "payment",
        "line_items": [
            {
                "quantity": 1,
                "price_data": {
                    "currency": tariff.currency.lower(),
                    "unit_amount": amount,
                    "product_data": {
                        "name": f"{what}: card hold",
                        "description": "You pay only for the energy you charge; "
                        "the rest of the hold is released.",
                    },
                },
            }
        ],
        "payment_intent_data": {
            "capture_method": "manual",
            "description": what,
            "metadata": metadata,
        },
        "metadata": metadata,
        "client_reference_id": token,
        "success_url": f"{guest_url}?checkout={{CHECKOUT_SESSION_ID}}",
        "cancel_url": guest_url,
        "expires_at": int(time.time()) + CHECKOUT_OPEN_S + 60,
    }
    if email:
        params["customer_email"] = email
        params["payment_intent_data"]["receipt_email"] = email
    checkout = stripe.call(
        stripe.client.v1.checkout.sessions.create, key=f"guest:{token}:checkout", **params
    )
    db.add(
        GuestPaymentRecord(
            token=token,
            station_id=station_id,
            connector_id=connector_id,
            checkout_session_id=checkout["id"],
            amount=amount,
            currency=tariff.currency,
            email=email,
        )
    )
    db.flush()
    return GuestCheckout(
        token=token,
        station_id=station_id,
        connector_id=connector_id,
        checkout_session_id=checkout["id"],
        checkout_url=checkout["url"],
        guest_url=guest_url,
        amount=amount,
        currency=tariff.currency,
        receipt_url=f"{public_url}/receipts/{token}",
    )


def checkout_url(stripe: StripeProvider, guest: GuestPaymentRecord) -> str | None:
    """Where the payer can still pay this guest payment (None: paid, expired or no Checkout)."""
    if not guest.checkout_session_id or guest.status != "created":
        return None
    checkout = stripe.call(stripe.client.v1.checkout.sessions.retrieve, guest.checkout_session_id)
    return checkout.get("url") if checkout.get("status") == "open" else None


__all__ = ["CHECKOUT_OPEN_S", "checkout_url", "create_guest_checkout"]
