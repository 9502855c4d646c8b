"""Charging sessions: list, detail (energy, duration, cost, payment, receipt, live state)."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, status
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field
from sqlmodel import select
from temporalio.service import RPCError

from api.deps import OperatorDep, SessionDep, SettingsDep, TemporalDep
from api.inputs import ID_MAX, INT32_MAX, UtcDateTime
from api.remote_sessions import (
    RemoteStartAccepted,
    refuse_if_card_cannot_charge,
    refuse_if_unreachable,
    start_remote_session,
)
from api.schemas import PaymentPublic, ReceiptPublic, SessionDetail, SessionPublic
from domain.session import StopCommand
from store.tables import ChargingSession, IdToken, Payment, Receipt, Station
from workflows import contract

router = APIRouter(prefix="/sessions", tags=["sessions"])
log = logging.getLogger(__name__)

_RUNNING = {"Authorized", "Pending", "Charging", "Stopped"}


class RemoteStartRequest(BaseModel):
    station_id: str
    connector_id: int | None = Field(default=None, ge=0, le=INT32_MAX)
    id_token: str = Field(min_length=1, max_length=36)


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    responses={409: {"description": "the station is offline or not in service"}},
)
async def start_session(
    body: RemoteStartRequest,
    db: SessionDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    who: OperatorDep,
) -> RemoteStartAccepted:
    """Start a session remotely (the same behaviour as `POST /me/sessions`): 409 at once when the
    station is offline; else 202 with the session id, then the session asks the charger to start
    (RemoteStartTransaction / RequestStartTransaction) and waits for the EV."""
    station = db.get(Station, body.station_id)
    if station is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "unknown station")
    if body.connector_id is not None and body.connector_id > station.connector_count:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "no such connector")
    token = db.exec(select(IdToken).where(IdToken.token == body.id_token)).first()
    if token is None:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "unknown id_token")
    refuse_if_unreachable(station)
    refuse_if_card_cannot_charge(token, station)
    session_id, number = await start_remote_session(
        db,
        temporal,
        settings,
        body.station_id,
        body.connector_id,
        body.id_token,
        who,
        driver_id=token.driver_id,
    )
    return RemoteStartAccepted(
        session_id=session_id, transaction_id=number, follow=f"/sessions/{session_id}"
    )


class StopSessionRequest(BaseModel):
    reason: str = Field(default="Remote", max_length=40)


@router.post("/{session_id}/stop", status_code=status.HTTP_202_ACCEPTED)
async def stop_session(
    session_id: str,
    db: SessionDep,
    temporal: TemporalDep,
    who: OperatorDep,
    body: StopSessionRequest | None = None,
) -> dict:
    """Ask the charger to stop the session (RemoteStopTransaction / RequestStopTransaction)."""
    row = db.get(ChargingSession, session_id)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "unknown session")
    if row.state not in ("Pending", "Charging"):
        raise HTTPException(status.HTTP_409_CONFLICT, f"session is {row.state}")
    command = StopCommand(requested_by=who, reason=(body.reason if body else "Remote"))
    await temporal.get_workflow_handle(session_id).signal(contract.SIGNAL_REQUEST_STOP, command)
    return {"session_id": session_id, "stop": "requested"}


@router.get("")
def list_sessions(
    db: SessionDep,
    _: OperatorDep,
    station_id: str | None = None,
    state: str | None = None,
    limit: int = Query(100, ge=1, le=1000),
    offset: int = Query(0, ge=0, le=ID_MAX),
    driver_id: int | None = Query(None, ge=1, le=ID_MAX),
    started_from: Annotated[UtcDateTime | None, Query(description="started at or after")] = None,
    started_to: Annotated[UtcDateTime | None, Query(description="started before")] = None,
) -> list[SessionPublic]:
    """Newest first; filter by station, state, driver or start time."""
    query = select(ChargingSession)
    if station_id:
        query = query.where(ChargingSession.station_id == station_id)
    if state:
        query = query.where(ChargingSession.state == state)
    if driver_id is not None:
        query = query.where(ChargingSession.driver_id == driver_id)
    if started_from is not None:
        query = query.where(ChargingSession.started_at >= started_from)  # type: ignore[operator]
    if started_to is not None:
        query = query.where(ChargingSession.started_at < started_to)  # type: ignore[operator]
    query = query.order_by(ChargingSession.created_at.desc()).offset(offset).limit(limit)
    return [SessionPublic.model_validate(s, from_attributes=True) for s in db.exec(query).all()]


@router.get("/{session_id}")
async def get_session(
    session_id: str, request: Request, db: SessionDep, temporal: TemporalDep, _: OperatorDep
) -> SessionDetail:
    row = db.get(ChargingSession, session_id)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "unknown session")
    payment = db.exec(
        select(Payment).where(Payment.session_id == session_id, Payment.kind == "charge")
    ).first()
    receipt = db.exec(select(Receipt).where(Receipt.session_id == session_id)).first()
    live = None
    if row.state in _RUNNING:
        try:
            view = await temporal.get_workflow_handle(session_id).query(contract.QUERY_STATE)
            live = view if isinstance(view, dict) else dict(view)
        except RPCError as err:
            log.info("live state of %s unavailable: %s", session_id, err)
    return SessionDetail(
        **SessionPublic.model_validate(row, from_attributes=True).model_dump(),
        meter_start_wh=row.meter_start_wh,
        meter_stop_wh=row.meter_stop_wh,
        tariff=row.tariff,
        cost=row.cost,
        payment=PaymentPublic.model_validate(payment, from_attributes=True) if payment else None,
        receipt=ReceiptPublic(
            number=receipt.number,
            total=receipt.total,
            currency=receipt.currency,
            issued_at=receipt.issued_at,
            url=str(request.url_for("session_receipt", session_id=session_id)),
        )
        if receipt
        else None,
        live=live,
    )


@router.get("/{session_id}/receipt", response_class=HTMLResponse, name="session_receipt")
def session_receipt(session_id: str, db: SessionDep, _: OperatorDep) -> HTMLResponse:
    """The receipt as HTML."""
    receipt = db.exec(select(Receipt).where(Receipt.session_id == session_id)).first()
    if receipt is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no receipt for this session (yet)")
    return HTMLResponse(receipt.html)
