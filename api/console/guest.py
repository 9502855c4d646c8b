"""Charging without an account (the QR code on a charger): the price before paying, the payment,
the start, the session followed live on a stream of that session only, and the receipt.

`/charge/{station}/{connector}` is what the QR code opens; `/guest/{token}` follows one payment.
With a Stripe test key (`sk_test_…`: the fake Stripe of the tests, or Stripe's test mode) the
page pays with a test card through `POST /guest/{token}/pay`, which then does what Stripe's
webhook does (the authorised payment starts the connector). Stripe's own checkout for live keys
is not built yet: without a test key the page says so.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import stripe
from fastapi import APIRouter, HTTPException, Path, Request, status
from pydantic import BaseModel
from sqlmodel import select
from starlette.concurrency import run_in_threadpool
from temporalio.service import RPCError

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
TEST_CARDS = {"visa": "Visa 4242 (succeeds)", "chargeDeclined": "Visa 0002 (declined)"}
ConnectorPath = Annotated[int, Path(ge=1, le=32)]


def _test_mode(request: Request) -> bool:
    key = request.app.state.settings.stripe_api_key or ""
    return key.startswith("sk_test_")


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
    payment = await api.get(f"/pay/{seg(token)}")
    return page(
        request,
        "guest.html",
        caller,
        title="Your charging session",
        payment=payment,
        token=token,
        test_mode=_test_mode(request),
        cards=TEST_CARDS,
        view=await _guest_view(request, token),
    )


class TestCard(BaseModel):
    card: Literal["visa", "chargeDeclined"] = "visa"


@api_router.post("/guest/{token}/pay")
async def pay_with_test_card(token: str, body: TestCard, request: Request) -> dict[str, Any]:
    """Test mode only (a `sk_test_` key): confirm the guest's payment with a Stripe test card,
    then start the connector as the `payment_intent.amount_capturable_updated` webhook would."""
    provider = payments_of(request).stripe
    if provider is None or not _test_mode(request):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "test payments are off")
    db = request.app.state.db

    def confirm() -> str:
        with db.session() as session:
            guest = session.get(GuestPaymentRecord, token)
            if guest is None:
                raise HTTPException(status.HTTP_404_NOT_FOUND, "unknown payment token")
            if guest.status != "created":
                raise HTTPException(status.HTTP_409_CONFLICT, f"this payment is {guest.status}")
            try:
                provider.call(
                    provider.client.v1.payment_intents.confirm,
                    guest.payment_intent_id,
                    payment_method=f"pm_card_{body.card}",
                )
            except stripe.CardError as err:
                raise HTTPException(
                    status.HTTP_402_PAYMENT_REQUIRED, f"The card was declined: {err.user_message}"
                ) from err
            from activities.payments import guest as guests

            guests.guest_status(session, provider, token)
            session.commit()
            return guest.payment_intent_id

    intent = await run_in_threadpool(confirm)
    event = PaymentEvent(
        event_id=f"test-card:{token}",
        type="guest_authorized",
        provider_type="payment_intent.amount_capturable_updated",
        guest_token=token,
        external_id=intent,
    )
    await request.app.state.payment_event_sink(event)
    return {"token": token, "status": "held"}


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
