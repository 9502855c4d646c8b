"""Provider webhooks: `POST /webhooks/stripe`, verified on the raw body, stored once.

The resulting `PaymentEvent` is handed to `app.state.payment_event_sink` (a sync or async
callable the lead connects, e.g. to signal the session workflow); without one it is only stored.
"""

from __future__ import annotations

import inspect
import logging
import time
from typing import Annotated

from fastapi import APIRouter, Header, HTTPException, Request, status
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from activities.payments.webhooks import WebhookRejected, handle_stripe_webhook
from api.payments_service import payments_of
from domain.payments import PaymentEvent

router = APIRouter(tags=["webhooks"])
FUTURE_TOLERANCE_S = 60  # clock skew allowed for a signature's timestamp
log = logging.getLogger(__name__)


class WebhookAck(BaseModel):
    received: bool = True
    event_id: str
    duplicate: bool
    event: PaymentEvent | None = None


@router.post("/webhooks/stripe")
async def stripe_webhook(
    request: Request,
    stripe_signature: Annotated[str | None, Header(alias="Stripe-Signature")] = None,
) -> WebhookAck:
    """Stripe events (holds expiring, guest payments authorised, cards saved, refunds...)."""
    settings = request.app.state.settings
    if not settings.stripe_webhook_secret:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "webhooks are not configured")
    if _from_the_future(stripe_signature, time.time()):
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "invalid webhook: timestamp in the future")
    payload = await request.body()

    provider = payments_of(request).stripe
    try:
        result = await run_in_threadpool(
            handle_stripe_webhook,
            request.app.state.db,
            payload,
            stripe_signature,
            settings.stripe_webhook_secret,
            provider,
        )
    except WebhookRejected as err:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, f"invalid webhook: {err}") from err
    if result.event is not None:
        await _deliver(request, result.event)
    return WebhookAck(event_id=result.event_id, duplicate=result.duplicate, event=result.event)


def _from_the_future(header: str | None, now: float) -> bool:
    """True if the Stripe-Signature header's timestamp lies beyond `FUTURE_TOLERANCE_S` ahead
    (the SDK refuses only old ones: a signature dated ahead would be replayable for long)."""
    for part in (header or "").split(","):
        name, _, value = part.strip().partition("=")
        if name == "t":
            try:
                return int(value) > now + FUTURE_TOLERANCE_S
            except ValueError:
                return False  # malformed: the signature check refuses it
    return False


async def _deliver(request: Request, event: PaymentEvent) -> None:
    sink = getattr(request.app.state, "payment_event_sink", None)
    if sink is None:
        return
    try:
        outcome = sink(event)
        if inspect.isawaitable(outcome):
            await outcome
    except Exception as err:  # e.g. a guest's session could not be started: Stripe redelivers
        log.warning("payment event sink failed on %s: %s", event.event_id, err)
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE, "could not act on the event yet; redeliver"
        ) from err
