"""Starting a session from outside the charger: the app, an operator, or a guest payment."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from sqlalchemy import text
from sqlmodel import Session
from temporalio.client import Client
from temporalio.common import SearchAttributePair, TypedSearchAttributes

from domain.payments import PaymentEvent
from domain.session import RemoteStart, SessionInput
from runtime.settings import Settings
from store.billing_tables import GuestPaymentRecord
from store.db import Database
from workflows import contract

log = logging.getLogger(__name__)


async def start_remote_session(
    db: Session,
    temporal: Client,
    settings: Settings,
    station_id: str,
    connector_id: int | None,
    id_token: str,
    requested_by: str,
) -> tuple[str, str]:
    """Start a `ChargingSession` that asks the charger to start; returns (session id, tx id)."""
    number = db.exec(text("SELECT nextval('session_number_seq')")).scalar_one()  # type: ignore
    session_id = contract.session_workflow_id(station_id, number)
    await temporal.start_workflow(
        contract.CHARGING_SESSION,
        SessionInput(
            session_id=session_id,
            station_id=station_id,
            transaction_id=str(number),
            remote_start=RemoteStart(
                id_token=id_token, connector_id=connector_id, requested_by=requested_by
            ),
            **settings.session_guards(),
        ),
        id=session_id,
        task_queue=settings.task_queue,
        search_attributes=TypedSearchAttributes(
            [SearchAttributePair(contract.STATION_ID, station_id)]
        ),
        static_summary=f"Remote start at {station_id}",
    )
    return session_id, str(number)


def guest_payment_sink(
    db: Database, temporal: Client, settings: Settings
) -> Callable[[PaymentEvent], Awaitable[None]]:
    """Payment events from webhooks: an authorised guest payment starts its connector."""

    async def deliver(event: PaymentEvent) -> None:
        if event.type != "guest_authorized" or not event.guest_token:
            return
        with db.session() as session:
            # Locked: the AlertSweep releases guest payments no session took up in time.
            guest = session.get(GuestPaymentRecord, event.guest_token, with_for_update=True)
            if guest is None or guest.session_id is not None:
                return  # unknown, or already started (webhooks can arrive twice)
            if guest.status == "released":
                log.info("guest payment %s was released before its webhook", event.guest_token)
                return
            session_id, _ = await start_remote_session(
                session,
                temporal,
                settings,
                guest.station_id,
                guest.connector_id,
                guest.token,
                "guest",
            )
            guest.session_id = session_id
            session.add(guest)
        log.info("guest payment %s started %s", event.guest_token, session_id)

    return deliver
