"""Ad-hoc payment without an account (EU AFIR): a connector's payment link.

1. `create_guest_payment` makes a manual-capture PaymentIntent for the connector's hold amount
   and returns its client secret (the payment page confirms it with Stripe.js: card, Apple Pay,
   Google Pay) and a token. The token is the receipt link and the session's id token.
2. Once authorised (`payment_intent.amount_capturable_updated` webhook, or polling
   `guest_status`), the lead's code remote-starts the connector with `id_token=token`.
3. `place_hold(HoldRequest(guest_token=token, ...))` adopts the PaymentIntent as the session's
   hold; `settle_payment` then captures like any other hold.

A guest who pays on Stripe's own checkout page (`guest_checkout.py`) has a Checkout Session
first and its PaymentIntent only once paid: `intent_of` finds it through the session.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import stripe as stripe_sdk
from sqlmodel import Session, select

from activities.payments.stripe_provider import StripeProvider, declined_hold
from activities.payments.tariffs import resolve_tariff
from domain.payments import GuestPayment, HoldOutcome, HoldRequest, hold_amount
from domain.tariff import Tariff
from store.billing_tables import GuestPaymentRecord
from store.tables import Station


class GuestPaymentError(Exception):
    """The payment link cannot be used (unknown station/connector or token)."""


def new_token() -> str:
    """A guest token: short enough for an OCPP idTag (≤ 20 characters), unguessable."""
    return "G" + secrets.token_hex(9)


def create_guest_payment(
    db: Session,
    stripe: StripeProvider,
    station_id: str,
    connector_id: int,
    *,
    energy_wh: int,
    duration_s: int,
    floor: int,
    ceiling: int,
    email: str | None = None,
    public_url: str = "",
) -> GuestPayment:
    """A PaymentIntent hold for a guest at this connector, to be confirmed by the payer."""
    tariff, amount = connector_hold(
        db, station_id, connector_id, energy_wh=energy_wh, duration_s=duration_s,
        floor=floor, ceiling=ceiling,
    )  # fmt: skip
    token = new_token()
    params: dict = {
        "amount": amount,
        "currency": tariff.currency.lower(),
        "capture_method": "manual",
        "payment_method_types": ["card"],
        "metadata": {
            "kind": "guest",
            "guest_token": token,
            "station_id": station_id,
            "connector_id": str(connector_id),
        },
    }
    if email:
        params["receipt_email"] = email
    intent = stripe.call(stripe.client.v1.payment_intents.create, key=f"guest:{token}", **params)
    db.add(
        GuestPaymentRecord(
            token=token,
            station_id=station_id,
            connector_id=connector_id,
            payment_intent_id=intent["id"],
            amount=intent["amount"],
            currency=tariff.currency,
            email=email,
        )
    )
    db.flush()
    return GuestPayment(
        token=token,
        station_id=station_id,
        connector_id=connector_id,
        payment_intent_id=intent["id"],
        client_secret=intent["client_secret"],
        amount=intent["amount"],
        currency=tariff.currency,
        status=intent["status"],
        receipt_url=f"{public_url}/receipts/{token}",
    )


def connector_hold(
    db: Session,
    station_id: str,
    connector_id: int,
    *,
    energy_wh: int,
    duration_s: int,
    floor: int,
    ceiling: int,
) -> tuple[Tariff, int]:
    """The tariff in force at this connector and the hold a guest pays there (minor units)."""
    station = db.get(Station, station_id)
    if station is None or not 1 <= connector_id <= station.connector_count:
        raise GuestPaymentError("unknown station or connector")
    tariff = resolve_tariff(db, station_id, connector_id=connector_id)
    amount = hold_amount(
        tariff, energy_wh=energy_wh, duration_s=duration_s, floor=floor, ceiling=ceiling
    )
    return tariff, max(amount, 50)


def intent_of(db: Session, stripe: StripeProvider, guest: GuestPaymentRecord) -> dict | None:
    """The guest's PaymentIntent; for a Checkout payment, found (and kept) through its Checkout
    Session once paid. None while nothing was paid."""
    if guest.payment_intent_id is None and guest.checkout_session_id:
        checkout = checkout_session(stripe, guest.checkout_session_id)
        intent_id = _id(checkout.get("payment_intent"))
        if intent_id is None:
            return None
        guest.payment_intent_id = intent_id
        db.add(guest)
    return stripe.intent(guest.payment_intent_id) if guest.payment_intent_id else None


def checkout_session(stripe: StripeProvider, checkout_id: str) -> dict[str, Any]:
    return stripe.call(stripe.client.v1.checkout.sessions.retrieve, checkout_id)


def guest_status(db: Session, stripe: StripeProvider, token: str) -> GuestPaymentRecord:
    """The guest payment, refreshed from Stripe (`held` once the payer has authorised it)."""
    guest = db.get(GuestPaymentRecord, token, with_for_update=True)
    if guest is None:
        raise GuestPaymentError("unknown payment token")
    if guest.status == "created":
        intent = intent_of(db, stripe, guest)
        if intent is not None and intent["status"] == "requires_capture":
            guest.status = "held"
            db.add(guest)
    return guest


def hold_for_guest(db: Session, stripe: StripeProvider, request: HoldRequest) -> HoldOutcome:
    """Adopt the guest's authorised PaymentIntent as the session's hold."""
    token = request.guest_token or ""
    guest = db.get(GuestPaymentRecord, token, with_for_update=True)
    if guest is None:
        return declined_hold(db, request, stripe.name, 0, "EUR", "unknown_token", "unknown token")
    if guest.session_id not in (None, request.session_id):
        return declined_hold(
            db, request, stripe.name, guest.amount, guest.currency, "used", "token already used"
        )
    intent = intent_of(db, stripe, guest)
    if intent is None or intent["status"] != "requires_capture":
        return declined_hold(
            db,
            request,
            stripe.name,
            guest.amount,
            guest.currency,
            "not_authorised",
            f"payment is {intent['status'] if intent else 'not made'}",
            external_id=guest.payment_intent_id,
        )
    guest.status, guest.session_id = "used", request.session_id
    db.add(guest)
    return stripe.record_hold(db, request.session_id, None, intent)


def release_stale_guest_payments(db: Session, stripe: StripeProvider, older_than: timedelta) -> int:
    """Cancel guest holds never used by a session (payer walked away); returns how many."""
    cutoff = datetime.now(UTC) - older_than
    stale = db.exec(
        select(GuestPaymentRecord)
        .where(
            GuestPaymentRecord.status.in_(["created", "held"]),  # type: ignore[attr-defined]
            GuestPaymentRecord.session_id.is_(None),  # type: ignore[union-attr]
            GuestPaymentRecord.created_at < cutoff,
        )
        .with_for_update(skip_locked=True)
    ).all()
    for guest in stale:
        _release(db, stripe, guest)
    return len(stale)


def _release(db: Session, stripe: StripeProvider, guest: GuestPaymentRecord) -> None:
    """Leave no hold open: a Checkout page not paid yet is expired (it can no longer be paid),
    an authorised PaymentIntent is cancelled."""
    if guest.payment_intent_id is None and guest.checkout_session_id:
        try:
            stripe.call(
                stripe.client.v1.checkout.sessions.expire,
                guest.checkout_session_id,
                key=f"guest:{guest.token}:expire",
            )
        except stripe_sdk.InvalidRequestError:
            pass  # not open any more: paid meanwhile (its intent is cancelled below) or expired
    intent = intent_of(db, stripe, guest)
    if intent is not None and intent["status"] not in ("canceled", "succeeded"):
        stripe.cancel(intent["id"], f"guest:{guest.token}:release")
    guest.status = "released"
    db.add(guest)


def release_guest_of_session(db: Session, stripe: StripeProvider, session_id: str) -> bool:
    """Cancel the guest payment a session was started for but never adopted as its hold (the
    remote start was refused, or the EV never started charging). True if there was one."""
    guest = db.exec(
        select(GuestPaymentRecord)
        .where(GuestPaymentRecord.session_id == session_id)
        .with_for_update()
    ).first()
    if guest is None or guest.status not in ("created", "held"):
        return False
    _release(db, stripe, guest)
    return True


def session_for_token(db: Session, token: str) -> str | None:
    guest = db.get(GuestPaymentRecord, token)
    return guest.session_id if guest else None


def _id(value: Any) -> str | None:
    """An expandable field's id (a string, or the expanded object's `id`)."""
    if isinstance(value, dict):
        return value.get("id")
    return value or None


__all__ = [
    "GuestPaymentError",
    "checkout_session",
    "connector_hold",
    "create_guest_payment",
    "guest_status",
    "hold_for_guest",
    "intent_of",
    "release_guest_of_session",
    "release_stale_guest_payments",
    "session_for_token",
]
