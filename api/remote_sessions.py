"""Starting a session from outside the charger: the app, an operator, or a guest payment.

One behaviour for every caller: a station that cannot take a remote start now (offline, not
accepted into service) is refused at once with a plain 409 message; otherwise the session
workflow is started, its row exists before the caller is answered (so `GET /sessions/{id}` and
`GET /me/sessions/{id}` follow it at once), and the answer is 202 with the id to follow. Whether
the charger then accepts, refuses or never answers shows in the session's state and reason.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from fastapi import HTTPException, status
from psycopg.errors import LockNotAvailable
from pydantic import BaseModel, Field
from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from sqlmodel import Session
from temporalio.client import Client
from temporalio.common import SearchAttributePair, TypedSearchAttributes

from domain.authorization import TokenFacts, decide
from domain.payments import PaymentEvent
from domain.session import AuthorizationStatus, RemoteStart, SessionInput
from runtime.settings import Settings
from store.billing_tables import GuestPaymentRecord
from store.db import Database
from store.tables import IdToken, Station
from workflows import contract

log = logging.getLogger(__name__)


class RemoteStartAccepted(BaseModel):
    """A remote start under way: the session to follow."""

    session_id: str
    transaction_id: str
    follow: str = Field(description="where to follow the session (state, energy, cost)")


def refuse_if_unreachable(station: Station) -> None:
    """A plain 409 when the station cannot take a remote start now."""
    if station.registration_status != "Accepted":
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"Station {station.id} is not in service ({station.registration_status.lower()}); "
            "no session was started.",
        )
    if not station.connected:
        seen = (
            f"last seen {station.last_seen_at:%Y-%m-%d %H:%M} UTC"
            if station.last_seen_at
            else "never seen online"
        )
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"Station {station.id} is offline ({seen}); no session was started. "
            "Try again once it is back online.",
        )


_CANNOT_CHARGE = {
    AuthorizationStatus.BLOCKED: "is blocked",
    AuthorizationStatus.EXPIRED: "has expired",
    AuthorizationStatus.NO_CREDIT: "is not assigned to a driver, so nobody could be billed",
}


def refuse_if_card_cannot_charge(token: IdToken, station: Station) -> None:
    """A plain 409 for a card the session would refuse anyway (the one rule,
    `domain.authorization.decide`); a free-vend station takes any card."""
    if station.free_vend:
        return
    facts = TokenFacts(
        known=True,
        status=token.status,
        expires_at=token.expires_at,
        has_driver=token.driver_id is not None,
    )
    reason = _CANNOT_CHARGE.get(decide(facts, datetime.now(UTC)))
    if reason:
        raise HTTPException(
            status.HTTP_409_CONFLICT, f"Card {token.token} {reason}; no session was started."
        )


async def start_remote_session(
    db: Session,
    temporal: Client,
    settings: Settings,
    station_id: str,
    connector_id: int | None,
    id_token: str,
    requested_by: str,
    driver_id: int | None = None,
) -> tuple[str, str]:
    """Start a `ChargingSession` that asks the charger to start; returns (session id, tx id).

    The session's row is written here too (Pending), so it can be followed before the
    workflow's first write; the workflow's writes complete it."""
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
            [
                SearchAttributePair(contract.STATION_ID, station_id),
                SearchAttributePair(contract.SESSION_KIND, contract.KIND_SESSION),
            ]
        ),
        static_summary=f"Remote start at {station_id}",
    )
    db.exec(  # type: ignore[call-overload]
        text(
            "INSERT INTO sessions (id, station_id, connector_id, transaction_id, id_token, "
            "driver_id, state, tariff) VALUES (:id, :station, :connector, :tx, :token, :driver, "
            "'Pending', '{}'::jsonb) ON CONFLICT (id) DO NOTHING"
        ),
        params={
            "id": session_id,
            "station": station_id,
            "connector": connector_id,
            "tx": str(number),
            "token": id_token,
            "driver": driver_id,
        },
    )
    return session_id, str(number)


def guest_payment_sink(
    db: Database, temporal: Client, settings: Settings
) -> Callable[[PaymentEvent], Awaitable[None]]:
    """Payment events from webhooks: an authorised guest payment starts its connector."""

    async def deliver(event: PaymentEvent) -> None:
        if event.type != "guest_authorized" or not event.guest_token:
            return
        for _ in range(GUEST_LOCK_TRIES):
            try:
                return await _start_guest(db, temporal, settings, event.guest_token)
            except GuestPaymentBusy:  # another delivery is starting it: see what it did
                await asyncio.sleep(GUEST_LOCK_WAIT_S)
        raise GuestPaymentBusy(f"guest payment {event.guest_token} stayed locked")

    return deliver


class GuestPaymentBusy(Exception):
    """The guest payment's row is locked by another transaction."""


GUEST_LOCK_TRIES, GUEST_LOCK_WAIT_S = 150, 0.1


async def _start_guest(db: Database, temporal: Client, settings: Settings, token: str) -> None:
    """Start the guest's connector unless done already. The row is locked while the start is
    under way (webhooks and the payer's return may race; the AlertSweep releases payments no
    session took up), without waiting: this runs on the event loop, and a blocking wait there
    would also stop the holder from finishing."""
    with db.session() as session:
        try:
            guest = session.get(GuestPaymentRecord, token, with_for_update={"nowait": True})
        except OperationalError as err:
            if isinstance(err.orig, LockNotAvailable):
                raise GuestPaymentBusy(token) from err
            raise
        if guest is None or guest.session_id is not None:
            return  # unknown, or already started (webhooks can arrive twice)
        if guest.status == "released":
            log.info("guest payment %s was released before its webhook", token)
            return
        if guest.status != "held":  # e.g. a Checkout paid but its hold not authorised
            log.info("guest payment %s is %s: not started", token, guest.status)
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
    log.info("guest payment %s started %s", token, session_id)
