"""Stations: register, list, inspect, and page through their OCPP message log."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import BaseModel, Field
from sqlmodel import Session, select

from api.deps import OperatorDep, PrincipalDep, SessionDep, SettingsDep
from api.inputs import ID_MAX, PositiveId
from api.redaction import shown_frame
from api.schemas import (
    ConnectorPublic,
    MessagePublic,
    StationCreate,
    StationCreated,
    StationPublic,
)
from domain.credentials import generate_station_password, hash_station_password
from runtime.station_keys import station_keys
from store.audit import audit
from store.tables import Connector, OcppMessage, Station, Tariff

router = APIRouter(prefix="/stations", tags=["stations"])


def _public(db: Session, station: Station) -> StationPublic:
    connectors = db.exec(
        select(Connector).where(Connector.station_id == station.id).order_by(Connector.connector_id)
    ).all()
    fields = {name: getattr(station, name, None) for name in StationPublic.model_fields}
    fields["ocpp_versions"] = [v for v in station.ocpp_versions.split(",") if v]
    fields["connectors"] = [
        ConnectorPublic.model_validate(c, from_attributes=True) for c in connectors
    ]
    return StationPublic(**fields)


@router.post("", status_code=status.HTTP_201_CREATED)
def register_station(
    body: StationCreate, db: SessionDep, settings: SettingsDep, _: OperatorDep
) -> StationCreated:
    """Register a station; it may connect at `/ocpp/{id}` with Basic auth `id:password`.

    Without a password (security profiles 1 and 2) one is generated and returned in this
    answer only; it is stored as a keyed hash and cannot be read back.
    """
    if db.get(Station, body.id) is not None:
        raise HTTPException(status.HTTP_409_CONFLICT, f"station {body.id} already exists")
    if body.tariff_id is not None and db.get(Tariff, body.tariff_id) is None:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "unknown tariff_id")
    unknown = set(body.ocpp_versions) - {"ocpp1.6", "ocpp2.0.1"}
    if unknown or not body.ocpp_versions:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "ocpp_versions: ocpp1.6/2.0.1")
    generated = None
    if body.password is None and body.security_profile < 3:
        generated = generate_station_password()
    password = body.password or generated
    station = Station(
        id=body.id,
        password_hash=hash_station_password(password, station_keys(settings)) if password else None,
        connector_count=body.connector_count,
        ocpp_versions=",".join(body.ocpp_versions),
        security_profile=body.security_profile,
        tariff_id=body.tariff_id,
    )
    db.add(station)
    db.flush()
    return StationCreated(**_public(db, station).model_dump(), password=generated)


@router.get("")
def list_stations(
    db: SessionDep,
    _: OperatorDep,
    registration: str | None = Query(None, description="Accepted, Pending (the inbox), Rejected"),
    limit: int = Query(100, ge=1, le=1000),
    offset: int = Query(0, ge=0, le=ID_MAX),
) -> list[StationPublic]:
    query = select(Station)
    if registration:
        query = query.where(Station.registration_status == registration)
    stations = db.exec(query.order_by(Station.id).offset(offset).limit(limit)).all()
    return [_public(db, s) for s in stations]


class RegistrationDecision(BaseModel):
    connector_count: int | None = Field(default=None, ge=1, le=32)
    tariff_id: PositiveId | None = None


@router.post("/{station_id}/approve")
def approve_station(
    station_id: str, db: SessionDep, _: OperatorDep, body: RegistrationDecision | None = None
) -> StationPublic:
    """Accept a station from the inbox; its next BootNotification is answered Accepted."""
    station = _pending_or_404(db, station_id)
    station.registration_status = "Accepted"
    if body is not None:
        station.connector_count = body.connector_count or station.connector_count
        station.tariff_id = body.tariff_id or station.tariff_id
    db.add(station)
    db.flush()
    return _public(db, station)


@router.post("/{station_id}/reject")
def reject_station(station_id: str, db: SessionDep, _: OperatorDep) -> StationPublic:
    """Reject a station from the inbox; its next connection attempts are refused (403)."""
    station = _pending_or_404(db, station_id)
    station.registration_status = "Rejected"
    db.add(station)
    db.flush()
    return _public(db, station)


class PendingNextBoot(BaseModel):
    pending: bool = Field(description="true: answer the next BootNotification Pending")


class PendingNextBootState(BaseModel):
    station_id: str
    pending_next_boot: bool
    registration_status: str


@router.put("/{station_id}/pending-next-boot")
def set_pending_next_boot(
    station_id: str, body: PendingNextBoot, db: SessionDep, who: OperatorDep
) -> PendingNextBootState:
    """Answer the station's next BootNotification `Pending` (OCPP 1.6 §4.2, 2.0.1 B02), e.g. to
    configure it before it may charge: at that boot it joins the inbox (registration Pending,
    `GET /stations?registration=Pending`); while Pending, the CSMS may query and configure it
    (GetConfiguration/ChangeConfiguration, GetVariables/SetVariables, GetBaseReport,
    TriggerMessage) but not start or stop transactions, and the station's own messages other
    than BootNotification, Heartbeat and StatusNotification are answered `SecurityError`.
    `POST /stations/{id}/approve` accepts it at the boot after. `pending: false` withdraws a mark
    the station has not used yet. Only for an Accepted station (409 otherwise)."""
    station = db.get(Station, station_id)
    if station is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "unknown station")
    if station.registration_status != "Accepted":
        raise HTTPException(status.HTTP_409_CONFLICT, f"station is {station.registration_status}")
    station.pending_next_boot = body.pending
    db.add(station)
    audit(db, who, "station.pending_next_boot", f"station:{station_id}", {"pending": body.pending})
    db.flush()
    return PendingNextBootState(
        station_id=station.id,
        pending_next_boot=station.pending_next_boot,
        registration_status=station.registration_status,
    )


def _pending_or_404(db: Session, station_id: str) -> Station:
    station = db.get(Station, station_id)
    if station is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "unknown station")
    if station.registration_status != "Pending":
        raise HTTPException(status.HTTP_409_CONFLICT, f"station is {station.registration_status}")
    return station


@router.get("/{station_id}")
def get_station(station_id: str, db: SessionDep, _: OperatorDep) -> StationPublic:
    station = db.get(Station, station_id)
    if station is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "unknown station")
    return _public(db, station)


@router.get("/{station_id}/messages")
def station_messages(
    station_id: str,
    db: SessionDep,
    caller: PrincipalDep,
    after_id: int = Query(0, ge=0, le=ID_MAX, description="return messages with id > after_id"),
    limit: int = Query(100, ge=1, le=1000),
    order: Literal["asc", "desc"] = Query("asc", description="desc: newest first"),
    before_id: int | None = Query(None, ge=1, le=ID_MAX, description="only ids < before_id"),
    action: str | None = Query(None, max_length=60, description="only this OCPP action"),
    direction: Literal["in", "out"] | None = Query(None, description="in: from the station"),
) -> list[MessagePublic]:
    """The station's OCPP frames in order; page with `after_id` = the last id you saw (or,
    newest first with `order=desc`, `before_id` = the last id you saw). Station passwords are
    redacted; one-time upload URLs shown only to roles that send commands."""
    query = select(OcppMessage).where(OcppMessage.station_id == station_id)
    query = query.where(OcppMessage.id > after_id)
    if before_id is not None:
        query = query.where(OcppMessage.id < before_id)
    if action:
        query = query.where(OcppMessage.action == action)
    if direction:
        query = query.where(OcppMessage.direction == direction)
    newest_first = OcppMessage.id.desc() if order == "desc" else OcppMessage.id  # type: ignore[union-attr]
    rows = db.exec(query.order_by(newest_first).limit(limit)).all()
    messages = [MessagePublic.model_validate(r, from_attributes=True) for r in rows]
    for message in messages:
        message.payload = shown_frame(message.payload, caller)
    return messages
