"""Charging without an account (the QR code on a charger): the price before paying, the payment,
the start, the session followed live on a stream of that session only, and the receipt.

`/charge/{station}/{connector}` is what the QR code opens; `/guest/{token}` follows one payment.
The payer pays on Stripe's own checkout page (`POST /pay/{station}/{connector}/checkout`; with
`ampflow dev --fake-stripe` and in tests, the fake Stripe's local page), which sends them back to
`/guest/{token}`. The webhook (`checkout.session.completed`) starts the connector; the return to
this page does too if it comes first (the start happens once, whichever is first).
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Request, status
from sqlmodel import select
from starlette.concurrency import run_in_threadpool
from temporalio.service import RPCError

from activities.payments.guest_checkout import checkout_url
from api.console.inner import Api, seg
from api.console.render import page
from api.console.streams import RUNNING, session_stream, view_of
from api.deps import PrincipalDep
from api.routes.payments import payments_of
from domain.payments import PaymentEvent
from store.billing_tables import GuestPaymentRecord
from store.tables import ChargingSession, Receipt
from workflows import contract

router = APIRouter(include_in_schema=False)
api_router = APIRouter(tags=["payments"])
ConnectorPath = Annotated[int, Path(ge=1, le=32)]
log = logging.getLogger(__name__)


@router.get("/charge/{station_id}/{connector_id}")
async def charge_page(
    request: Request, station_id: str, connector_id: ConnectorPath, caller: PrincipalDep
):
    api = Api(request, caller)
    price = await api.get(
        f"/stations/{seg(station_id)}/price-preview",
        connector_id=connector_id,
        energy_wh=20_000,
        duration_s=3600,
    )
    return page(
        request,
        "charge.html",
        caller,
        title=f"Charge at {station_id}",
        station_id=station_id,
        connector_id=connector_id,
        price=price,
        rating=price["rating"],
        payments=payments_of(request).stripe is not None,
    )


@router.get("/guest/{token}")
async def guest_page(request: Request, token: str, caller: PrincipalDep):
    api = Api(request, caller)
    payment = await api.get(f"/pay/{seg(token)}")  # refreshed from Stripe: `held` once paid
    pay_url = await _after_checkout(request, token)
    return page(
        request,
        "guest.html",
        caller,
        title="Your charging session",
        payment=payment,
        token=token,
        pay_url=pay_url,
        view=await _guest_view(request, token),
    )


async def _after_checkout(request: Request, token: str) -> str | None:
    """For a payment on Stripe Checkout: where to pay while it is open; once paid and not yet
    started, start the connector as the webhook does (the start happens once)."""
    provider = payments_of(request).stripe
    if provider is None:
        return None

    def read() -> tuple[str | None, str | None]:
        with request.app.state.db.session() as db:
            guest = db.get(GuestPaymentRecord, token)
            if guest is None or not guest.checkout_session_id:
                return None, None
            if guest.status == "held" and guest.session_id is None:
                return None, guest.payment_intent_id
            return checkout_url(provider, guest), None

    pay_url, paid_intent = await run_in_threadpool(read)
    if paid_intent is not None:
        event = PaymentEvent(
            event_id=f"checkout-return:{token}",
            type="guest_authorized",
            provider_type="checkout.session.completed",
            guest_token=token,
            external_id=paid_intent,
        )
        try:
            await request.app.state.payment_event_sink(event)
        except Exception as err:  # e.g. Temporal unreachable: Stripe's webhook tries again
            log.warning("guest %s: start after checkout failed: %s", token, err)
    return pay_url


@api_router.get("/guest/{token}/live")
async def guest_live(token: str, request: Request):
    """The guest's session, live (Server-Sent Events): this payment's session only."""
    await _guest_view(request, token)  # 404 before the stream starts
    return session_stream(request, lambda: _guest_view(request, token))


async def _guest_view(request: Request, token: str) -> dict[str, Any]:
    def read() -> tuple[GuestPaymentRecord, ChargingSession | None, bool]:
        with request.app.state.db.session() as db:
            guest = db.get(GuestPaymentRecord, token)
            if guest is None:
                raise HTTPException(status.HTTP_404_NOT_FOUND, "unknown payment token")
            row = db.get(ChargingSession, guest.session_id) if guest.session_id else None
            receipt = db.exec(select(Receipt.id).where(Receipt.public_token == token)).first()
            return guest, row, receipt is not None

    guest, row, has_receipt = await run_in_threadpool(read)
    if row is None:
        waiting = {"created": "Waiting for your payment", "held": "Starting the charger…"}
        return {
            "session_id": guest.session_id,
            "state": waiting.get(guest.status, guest.status),
            "running": False,
            "final": guest.status == "released",
            "payment": guest.status,
        }
    detail: dict[str, Any] = {
        "id": row.id,
        "state": row.state,
        "energy_wh": row.energy_wh,
        "total_amount": row.total_amount,
        "currency": row.currency or guest.currency,
        "started_at": row.started_at,
        "stopped_at": row.stopped_at,
    }
    if row.state in RUNNING:
        try:
            live = await request.app.state.temporal.get_workflow_handle(row.id).query(
                contract.QUERY_STATE
            )
            detail["live"] = live if isinstance(live, dict) else live.model_dump(mode="json")
        except RPCError:
            pass
    receipt = f"/receipts/{seg(token)}" if has_receipt else None
    view = view_of(detail, receipt_url=receipt, receipt_pdf_url=receipt and receipt + ".pdf")
    return {**view, "payment": guest.status}
