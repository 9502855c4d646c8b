"""Stripe webhooks: verify the signature on the raw body, store each event once, apply it.

`handle_stripe_webhook` returns the `PaymentEvent` the workflows should hear about (or None);
the API route hands it to the callback the lead connects (e.g. a signal to the session).
Storing the event and applying it share one transaction: a failure stores nothing and Stripe's
redelivery tries again; a redelivered event that was applied is recognised by its id and skipped.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import stripe
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import Session, select

from activities.payments import records
from activities.payments.stripe_provider import StripeProvider
from domain.payments import PaymentEvent
from store.billing_tables import DriverAccount, GuestPaymentRecord, PlanSubscription, ProviderEvent
from store.db import Database


class WebhookRejected(Exception):
    """The payload or its signature is not valid."""


@dataclass(frozen=True)
class WebhookResult:
    event_id: str
    type: str
    duplicate: bool
    event: PaymentEvent | None


def verify(payload: bytes, signature: str | None, secret: str) -> dict[str, Any]:
    """The event, if `signature` (the Stripe-Signature header) signs exactly `payload`."""
    try:
        event = stripe.Webhook.construct_event(payload, signature, secret)
    except (ValueError, stripe.SignatureVerificationError) as err:
        raise WebhookRejected(str(err)) from err
    return event.to_dict()


def handle_stripe_webhook(
    db: Database,
    payload: bytes,
    signature: str | None,
    secret: str,
    provider: StripeProvider | None = None,
) -> WebhookResult:
    """Verify, de-duplicate by event id, store and apply one delivery."""
    event = verify(payload, signature, secret)
    with db.session() as session:
        if not _store(session, event):
            # A redelivery: acting on it again is harmless and may be what is missing (a guest
            # payment whose session could not be started the first time, e.g. Temporal down).
            return WebhookResult(event["id"], event["type"], True, _guest_authorized(event))
        applied = apply_event(session, event, provider)
    return WebhookResult(event["id"], event["type"], False, applied)


GUEST_PAID = ("payment_intent.amount_capturable_updated", "checkout.session.completed")


def _guest_authorized(event: dict[str, Any]) -> PaymentEvent | None:
    """The guest payment an event says is authorised (a PaymentIntent's hold, or a Checkout
    Session paid; the sink starts the connector once, whichever comes first)."""
    obj = (event.get("data") or {}).get("object") or {}
    meta = obj.get("metadata") or {}
    if event["type"] not in GUEST_PAID or meta.get("kind") != "guest":
        return None
    checkout = event["type"] == "checkout.session.completed"
    return PaymentEvent(
        type="guest_authorized",
        amount=obj.get("amount_total") if checkout else obj.get("amount"),
        guest_token=meta.get("guest_token"),
        event_id=event["id"],
        provider_type=event["type"],
        at=datetime.fromtimestamp(event.get("created") or 0, UTC),
        external_id=_intent_id(obj.get("payment_intent")) if checkout else obj.get("id"),
    )


def _intent_id(value: Any) -> str | None:
    return value.get("id") if isinstance(value, dict) else value


def _guest_paid(db: Session, event: dict[str, Any], provider: StripeProvider | None):
    """A guest's PaymentIntent authorised (directly, or through Stripe Checkout): `held`."""
    authorized = _guest_authorized(event)
    if authorized is None:
        return None
    guest = db.get(GuestPaymentRecord, authorized.guest_token, with_for_update=True)
    if guest is None:
        return authorized  # the sink ignores unknown tokens
    if guest.payment_intent_id is None and authorized.external_id:
        guest.payment_intent_id = authorized.external_id
        db.add(guest)
    obj = event["data"]["object"]
    if event["type"] == "checkout.session.completed" and not guest.email:
        guest.email = (obj.get("customer_details") or {}).get("email") or None  # for the receipt
        db.add(guest)
    if event["type"] == "checkout.session.completed" and provider is not None:
        # Paid on Checkout: the hold is there once its PaymentIntent can be captured.
        intent = provider.intent(authorized.external_id or "")
        if intent["status"] != "requires_capture":
            return None
    if guest.status == "created":
        guest.status = "held"
        db.add(guest)
    return authorized


def _store(db: Session, event: dict[str, Any]) -> bool:
    obj = (event.get("data") or {}).get("object") or {}
    statement = (
        insert(ProviderEvent)
        .values(
            id=event["id"],
            provider="stripe",
            type=event["type"],
            session_id=(obj.get("metadata") or {}).get("session_id"),
            payload=event,
        )
        .on_conflict_do_nothing(index_elements=["id"])
        .returning(ProviderEvent.id)
    )
    return db.exec(statement).first() is not None  # type: ignore[call-overload]


def apply_event(
    db: Session, event: dict[str, Any], provider: StripeProvider | None
) -> PaymentEvent | None:
    """Bring local state in line with the event; the workflow-facing event, if any."""
    kind = event["type"]
    obj = (event.get("data") or {}).get("object") or {}
    meta = obj.get("metadata") or {}
    at = datetime.fromtimestamp(event.get("created") or 0, UTC)
    base = {"event_id": event["id"], "provider_type": kind, "at": at, "external_id": obj.get("id")}
    session_id = meta.get("session_id")
    if kind == "payment_intent.canceled" and meta.get("kind") == "hold" and session_id:
        expired = obj.get("cancellation_reason") == "automatic"
        _mark_hold(db, session_id, obj["id"], "expired" if expired else "canceled")
        name = "hold_expired" if expired else "hold_canceled"
        return PaymentEvent(type=name, session_id=session_id, amount=obj.get("amount"), **base)
    if kind in GUEST_PAID and meta.get("kind") == "guest":
        return _guest_paid(db, event, provider)
    if kind == "checkout.session.expired" and meta.get("kind") == "guest":
        guest = db.get(GuestPaymentRecord, meta.get("guest_token"), with_for_update=True)
        if guest is not None and guest.status == "created" and guest.payment_intent_id is None:
            guest.status = "released"  # never paid: nothing is held
            db.add(guest)
        return None
    if kind == "payment_intent.payment_failed":
        return PaymentEvent(type="payment_failed", session_id=session_id, **base)
    if kind == "payment_intent.succeeded" and session_id:
        return PaymentEvent(
            type="captured", session_id=session_id, amount=obj.get("amount_received"), **base
        )
    if kind == "charge.refunded":
        return PaymentEvent(
            type="refunded",
            session_id=session_id,
            amount=obj.get("amount_refunded"),
            **{**base, "external_id": obj.get("payment_intent")},
        )
    if kind == "setup_intent.succeeded" and meta.get("driver_id") and provider is not None:
        driver_id = int(meta["driver_id"])
        account = db.get(DriverAccount, driver_id)
        if account is not None and obj.get("payment_method"):
            provider.save_card(db, driver_id, obj["payment_method"])
        return PaymentEvent(type="card_saved", driver_id=driver_id, **base)
    if kind in ("customer.subscription.deleted", "customer.subscription.updated"):
        _sync_subscription(db, obj)
        return None
    return None


def _mark_hold(db: Session, session_id: str, intent_id: str, status: str) -> None:
    hold = records.find(db, session_id, records.HOLD)
    if hold is not None and hold.external_id == intent_id and hold.status == "held":
        hold.status = status
        db.add(hold)


def _sync_subscription(db: Session, obj: dict[str, Any]) -> None:
    row = db.exec(
        select(PlanSubscription).where(PlanSubscription.external_id == obj.get("id"))
    ).first()
    if row is None:
        return
    if obj.get("status") == "canceled" and row.status != "canceled":
        row.status = "canceled"
        row.canceled_at = datetime.now(UTC)
        db.add(row)


__all__ = ["WebhookRejected", "WebhookResult", "handle_stripe_webhook", "verify"]
