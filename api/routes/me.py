"""The driver's own API (`/me`): profile, credentials, stations, sessions, receipts.

Everything is scoped to the signed-in driver: another driver's session is answered 404,
exactly like one that does not exist. The app starts and stops sessions remotely with the
driver's internal Central idToken (`APP-` + random), created on first use.
"""

from __future__ import annotations

import logging
import secrets
import string
from datetime import UTC, datetime

from fastapi import APIRouter, HTTPException, Query, status
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, Field
from sqlmodel import Session, select
from temporalio.client import Client
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.service import RPCError

from activities.receipts.activities import operator_of, receipt_pdf
from api import login_sessions, security
from api.deps import ID_MAX, DriverDep, RowId, SessionDep, SettingsDep, TemporalDep
from api.remote_sessions import RemoteStartAccepted, refuse_if_unreachable, start_remote_session
from api.routes.drivers import forget_driver
from api.routes.local_lists import notify_list_change
from api.routes.locations import location_out
from domain.access import APP_TOKEN_PREFIX, ID_TAG_MAX, PASSWORD_MAX, IdTokenType, may_stop
from domain.commands import CommandRecord, StationCommand
from domain.locations import Coordinates, OpeningTimes, format_percent, format_price, gross
from domain.roles import Principal
from runtime.settings import Settings
from store import throttle
from store.access_tables import DriverLogin
from store.audit import audit
from store.tables import (
    ChargingSession,
    Connector,
    ConnectorSpec,
    Driver,
    IdToken,
    Location,
    Receipt,
    Station,
    Tariff,
)
from workflows import contract

router = APIRouter(prefix="/me", tags=["me (drivers)"])
log = logging.getLogger(__name__)

_RUNNING = {"Authorized", "Charging", "Stopped"}
_STARTABLE = {"Available", "Preparing", "Unknown"}


class Profile(BaseModel):
    id: int
    name: str
    email: str
    created_at: datetime


class ProfileUpdate(BaseModel):
    name: str | None = Field(default=None, min_length=1, max_length=200)


class AccountDeletion(BaseModel):
    password: str = Field(max_length=PASSWORD_MAX)


class MyCredential(BaseModel):
    id: int
    token: str = Field(description="the card's idTag (the app credential is masked)")
    token_type: str
    status: str
    group_id: str | None
    expires_at: datetime | None
    app: bool


class PriceView(BaseModel):
    """The tariff's prices as the driver pays them: with VAT, in the currency."""

    tariff_id: int | None
    name: str
    currency: str
    energy: str | None = Field(description="per kWh, e.g. `0.42 EUR`")
    time: str | None = Field(description="per hour of charging")
    session_fee: str | None = Field(description="once per session")
    idle: str | None = Field(description="per hour plugged in without charging, after the grace")
    idle_grace_minutes: int
    vat: str = Field(description="the VAT included, e.g. `20 %`")
    varies: bool = Field(
        description="true: other prices apply at some times, days or amounts (see a session's "
        "cost); the prices above are the standard ones"
    )
    summary: str = Field(description="one line for the app, e.g. `0.42 EUR/kWh + 0.60 EUR`")


class ConnectorState(BaseModel):
    connector_id: int
    status: str
    updated_at: datetime | None
    standard: str | None = Field(None, description="OCPI ConnectorType, e.g. IEC_62196_T2")
    format: str | None = Field(None, description="SOCKET or CABLE")
    power_type: str | None = Field(None, description="AC_1_PHASE, AC_3_PHASE, DC, ...")
    max_power_kw: float | None = Field(None, description="the connector's maximum power")


class StationView(BaseModel):
    id: str
    name: str = Field(description="the location's name (the station id when not placed)")
    location: LocationView | None
    connected: bool
    connectors: list[ConnectorState]
    price: PriceView | None


class LocationView(BaseModel):
    """Where the station stands (OCPI Location fields)."""

    id: str
    name: str
    address: str | None
    city: str | None
    postal_code: str | None
    country: str | None
    coordinates: Coordinates | None
    time_zone: str | None
    parking_type: str | None
    opening_times: OpeningTimes | None


StationView.model_rebuild()


class StartRequest(BaseModel):
    station_id: str = Field(max_length=48)
    connector_id: int = Field(ge=1, le=32)


class RemoteOutcome(BaseModel):
    station_id: str
    outcome: str = Field(description="ok | offline | rejected | timeout | not_supported | error")
    status: str | None = Field(description="the station's answer (Accepted, Rejected)")
    detail: str | None = None


class MySession(BaseModel):
    id: str
    station_id: str
    connector_id: int | None
    state: str
    started_at: datetime | None
    stopped_at: datetime | None
    energy_wh: int | None
    duration_s: int | None
    total_amount: int | None
    currency: str | None
    stop_reason: str | None
    has_receipt: bool = False


class LiveState(BaseModel):
    state: str
    energy_wh: int = 0
    power_w: float | None = None
    cost_so_far: int = 0
    currency: str | None = None


class MySessionDetail(MySession):
    cost: dict | None
    live: LiveState | None


# ---- profile -------------------------------------------------------------------------------


@router.get("")
def profile(me: DriverDep, db: SessionDep) -> Profile:
    return Profile.model_validate(_driver(db, me), from_attributes=True)


@router.patch("")
def update_profile(body: ProfileUpdate, me: DriverDep, db: SessionDep) -> Profile:
    """Change the display name (the e-mail address is the sign-in name and stays)."""
    driver = _driver(db, me)
    if body.name is not None:
        driver.name = body.name
        db.add(driver)
        audit(db, me.actor, "driver.update", me.actor, {"fields": ["name"]})
    return Profile.model_validate(driver, from_attributes=True)


@router.delete("", status_code=status.HTTP_204_NO_CONTENT)
async def delete_account(
    body: AccountDeletion,
    me: DriverDep,
    db: SessionDep,
    temporal: TemporalDep,
    settings: SettingsDep,
) -> Response:
    """Delete the account: personal data is erased, cards are blocked, sessions stay anonymous."""
    login = db.get(DriverLogin, me.driver_id)
    now = datetime.now(UTC)
    key = f"login:driver:{me.driver_id}:password"
    if not throttle.reserve(db, key, login_sessions.account_policy(settings), now).admitted:
        raise HTTPException(status.HTTP_429_TOO_MANY_REQUESTS, "too many attempts; try later")
    db.commit()  # counted before the check
    if not security.verify_password(body.password, login.password_hash if login else None):
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "the password is wrong")
    throttle.clear(db, key)
    forget_driver(db, _driver(db, me), me.actor)
    db.commit()
    await notify_list_change(db, temporal, settings, me.actor)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# ---- credentials ---------------------------------------------------------------------------


@router.get("/tokens")
def my_tokens(me: DriverDep, db: SessionDep) -> list[MyCredential]:
    rows = db.exec(select(IdToken).where(IdToken.driver_id == me.driver_id).order_by(IdToken.id))
    return [_credential(t) for t in rows]


@router.post("/tokens/{token_id}/block")
async def block_my_token(
    token_id: RowId, me: DriverDep, db: SessionDep, temporal: TemporalDep, settings: SettingsDep
) -> MyCredential:
    """Block a lost card at once (support unblocks it)."""
    token = db.get(IdToken, token_id)
    if token is None or token.driver_id != me.driver_id:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "unknown credential")
    if token.status != "Blocked":
        token.status = "Blocked"
        db.add(token)
        audit(db, me.actor, "token.block", f"id_token:{token.id}", {"by": "driver"})
        db.commit()
        await notify_list_change(db, temporal, settings, me.actor)
    return _credential(token)


# ---- stations ------------------------------------------------------------------------------


@router.get("/stations")
def stations(
    me: DriverDep,
    db: SessionDep,
    limit: int = Query(100, ge=1, le=1000),
    offset: int = Query(0, ge=0, le=ID_MAX),
) -> list[StationView]:
    """Stations with their location, live connector availability and kind, and their price
    (with VAT, formatted in the currency)."""
    rows = db.exec(select(Station).order_by(Station.id).offset(offset).limit(limit)).all()
    default = _default_tariff(db)
    return [_station_view(db, s, default) for s in rows]


@router.get("/stations/{station_id}")
def station(station_id: str, me: DriverDep, db: SessionDep) -> StationView:
    row = db.get(Station, station_id)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "unknown station")
    return _station_view(db, row, _default_tariff(db))


# ---- sessions ------------------------------------------------------------------------------


@router.post(
    "/sessions",
    status_code=status.HTTP_202_ACCEPTED,
    responses={409: {"description": "the station is offline, or the connector busy"}},
)
async def start_session(
    body: StartRequest, me: DriverDep, db: SessionDep, temporal: TemporalDep, settings: SettingsDep
) -> RemoteStartAccepted:
    """Start charging on the connector with the app credential (the same behaviour as the
    operators' `POST /sessions`): 409 with a plain message when the station is offline or the
    connector busy; else 202 with the session to follow at `GET /me/sessions/{id}`."""
    station_row = db.get(Station, body.station_id)
    if station_row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "unknown station")
    connector = db.get(Connector, (body.station_id, body.connector_id))
    if connector is None and body.connector_id > station_row.connector_count:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "unknown connector")
    if connector is not None and connector.status not in _STARTABLE:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"Connector {body.connector_id} is busy ({connector.status}); choose a free one.",
        )
    token = _app_token(db, me)
    if token.status != "Accepted":
        raise HTTPException(status.HTTP_409_CONFLICT, "Your app credential is blocked.")
    refuse_if_unreachable(station_row)
    audit(db, me.actor, "session.remote_start", f"station:{body.station_id}", body.model_dump())
    session_id, number = await start_remote_session(
        db,
        temporal,
        settings,
        body.station_id,
        body.connector_id,
        token.token,
        me.actor,
        driver_id=me.driver_id,
    )
    return RemoteStartAccepted(
        session_id=session_id, transaction_id=number, follow=f"/me/sessions/{session_id}"
    )


@router.get("/sessions")
def my_sessions(
    me: DriverDep,
    db: SessionDep,
    limit: int = Query(50, ge=1, le=500),
    offset: int = Query(0, ge=0, le=ID_MAX),
) -> list[MySession]:
    """The driver's sessions, newest first."""
    rows = db.exec(
        select(ChargingSession)
        .where(ChargingSession.driver_id == me.driver_id)
        .order_by(ChargingSession.created_at.desc())  # type: ignore[attr-defined]
        .offset(offset)
        .limit(limit)
    ).all()
    receipts = set(
        db.exec(
            select(Receipt.session_id).where(
                Receipt.session_id.in_([r.id for r in rows])  # type: ignore[attr-defined]
            )
        ).all()
    )
    return [_my_session(r, r.id in receipts) for r in rows]


@router.get("/sessions/{session_id}")
async def my_session(
    session_id: str, me: DriverDep, db: SessionDep, temporal: TemporalDep
) -> MySessionDetail:
    """One session with, while it runs, its live energy, power and cost."""
    row = _own_session(db, me, session_id)
    has_receipt = db.exec(select(Receipt.id).where(Receipt.session_id == row.id)).first()
    live = await _live(temporal, row) if row.state in _RUNNING else None
    return MySessionDetail(
        **_my_session(row, has_receipt is not None).model_dump(), cost=row.cost, live=live
    )


@router.post(
    "/sessions/{session_id}/stop",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=RemoteOutcome,
)
async def stop_session(
    session_id: str, me: DriverDep, db: SessionDep, temporal: TemporalDep, settings: SettingsDep
):
    """Ask the charger to stop (RemoteStop): the driver's own session, or one started by a card
    of a group the driver holds a card of (fleet cards)."""
    row = db.get(ChargingSession, session_id)
    if row is None or not _may_stop(db, me, row):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "unknown session")
    if row.state != "Charging":
        raise HTTPException(status.HTTP_409_CONFLICT, f"the session is {row.state}")
    audit(db, me.actor, "session.remote_stop", f"session:{row.id}")
    db.commit()
    params = {"transaction_id": row.transaction_id}
    return await _command(temporal, settings, me, row.station_id, "remote_stop", params)


@router.get("/sessions/{session_id}/receipt", response_class=HTMLResponse)
def my_receipt(session_id: str, me: DriverDep, db: SessionDep) -> HTMLResponse:
    row = _own_session(db, me, session_id)
    receipt = db.exec(select(Receipt).where(Receipt.session_id == row.id)).first()
    if receipt is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no receipt for this session (yet)")
    return HTMLResponse(receipt.html)


@router.get("/sessions/{session_id}/receipt.pdf", response_class=Response)
def my_receipt_pdf(
    session_id: str, me: DriverDep, db: SessionDep, settings: SettingsDep
) -> Response:
    """The receipt of one of the driver's sessions as PDF (another driver's: 404)."""
    row = _own_session(db, me, session_id)
    pdf = receipt_pdf(db, row.id, operator_of(settings))
    if pdf is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no receipt for this session (yet)")
    return Response(
        pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="receipt-{row.id}.pdf"'},
    )


# ---- helpers -------------------------------------------------------------------------------


def _driver(db: Session, me: Principal) -> Driver:
    driver = db.get(Driver, me.driver_id)
    if driver is None:  # deleted meanwhile
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "the account no longer exists")
    return driver


def _credential(token: IdToken) -> MyCredential:
    app = token.token.startswith(APP_TOKEN_PREFIX) and token.token_type == IdTokenType.CENTRAL
    assert token.id is not None
    return MyCredential(
        id=token.id,
        token=APP_TOKEN_PREFIX + "…" if app else token.token,
        token_type=token.token_type,
        status=token.status,
        group_id=token.group_id,
        expires_at=token.expires_at,
        app=app,
    )


def _app_token(db: Session, me: Principal) -> IdToken:
    """The driver's app credential (a Central idToken ≤ 20 characters), created on first use."""
    login = db.get(DriverLogin, me.driver_id)
    if login is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "the account no longer exists")
    if login.app_token_id is not None:
        token = db.get(IdToken, login.app_token_id)
        if token is not None:
            return token
    alphabet = string.ascii_uppercase + string.digits
    tail = "".join(secrets.choice(alphabet) for _ in range(ID_TAG_MAX - len(APP_TOKEN_PREFIX)))
    token = IdToken(
        token=APP_TOKEN_PREFIX + tail,
        token_type=IdTokenType.CENTRAL.value,
        driver_id=me.driver_id,
        created_at=datetime.now(UTC),
    )
    db.add(token)
    db.flush()
    login.app_token_id = token.id
    db.add(login)
    audit(db, me.actor, "token.issue", f"id_token:{token.id}", {"token_type": "Central"})
    return token


def _default_tariff(db: Session) -> Tariff | None:
    query = select(Tariff).where(Tariff.is_default).order_by(Tariff.id.desc())  # type: ignore[attr-defined]
    return db.exec(query).first()


def _station_view(db: Session, station_row: Station, default: Tariff | None) -> StationView:
    """The station as a driver sees it: where, which connectors (status and kind), what price."""
    statuses = {
        c.connector_id: c
        for c in db.exec(select(Connector).where(Connector.station_id == station_row.id)).all()
    }
    specs = {
        s.connector_id: s
        for s in db.exec(
            select(ConnectorSpec).where(ConnectorSpec.station_id == station_row.id)
        ).all()
    }
    numbers = sorted({n for n in (*statuses, *specs) if n > 0})
    tariff = db.get(Tariff, station_row.tariff_id) if station_row.tariff_id else default
    location = db.get(Location, station_row.location_id) if station_row.location_id else None
    return StationView(
        id=station_row.id,
        name=location.name if location else station_row.id,
        location=_location_view(location) if location else None,
        connected=station_row.connected,
        connectors=[_connector_state(n, statuses.get(n), specs.get(n)) for n in numbers],
        price=_price_view(tariff) if tariff else None,
    )


def _location_view(location: Location) -> LocationView:
    out = location_out(location)
    return LocationView.model_validate(out.model_dump(exclude={"station_ids", "updated_at"}))


def _connector_state(
    number: int, status_row: Connector | None, spec: ConnectorSpec | None
) -> ConnectorState:
    power = spec.max_electric_power if spec else None
    return ConnectorState(
        connector_id=number,
        status=status_row.status if status_row else "Unknown",
        updated_at=status_row.updated_at if status_row else None,
        standard=spec.standard if spec else None,
        format=spec.format if spec else None,
        power_type=spec.power_type if spec else None,
        max_power_kw=round(power / 1000, 1) if power else None,
    )


def _price_view(tariff: Tariff) -> PriceView:
    def shown(price: int) -> str | None:
        if not price:
            return None
        return format_price(gross(price, tariff.vat_rate_bp, tariff.prices_include_vat), cur)

    cur = tariff.currency
    energy, time_, fee = (
        shown(tariff.energy_price_per_kwh),
        shown(tariff.time_price_per_hour),
        shown(tariff.session_fee),
    )
    idle = shown(tariff.idle_price_per_hour)
    parts = [f"{energy}/kWh" if energy else "", f"{time_}/h" if time_ else "", fee or ""]
    summary = " + ".join(p for p in parts if p) or f"free ({cur})"
    if idle:
        summary += f"; idle {idle}/h after {tariff.idle_grace_minutes} min"
    return PriceView(
        tariff_id=tariff.id,
        name=tariff.name,
        currency=cur,
        energy=energy,
        time=time_,
        session_fee=fee,
        idle=idle,
        idle_grace_minutes=tariff.idle_grace_minutes,
        vat=format_percent(tariff.vat_rate_bp),
        varies=bool(tariff.elements or tariff.min_price or tariff.max_price),
        summary=summary,
    )


def _my_session(row: ChargingSession, has_receipt: bool) -> MySession:
    return MySession.model_validate(
        {**row.model_dump(exclude={"cost", "tariff"}), "has_receipt": has_receipt}
    )


def _own_session(db: Session, me: Principal, session_id: str) -> ChargingSession:
    row = db.get(ChargingSession, session_id)
    if row is None or row.driver_id is None or row.driver_id != me.driver_id:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "unknown session")
    return row


def _may_stop(db: Session, me: Principal, row: ChargingSession) -> bool:
    assert me.driver_id is not None
    group = None
    if row.id_token:
        token = db.exec(select(IdToken).where(IdToken.token == row.id_token)).first()
        group = token.group_id if token else None
    groups = set(
        db.exec(
            select(IdToken.group_id).where(
                IdToken.driver_id == me.driver_id,
                IdToken.status == "Accepted",
                IdToken.group_id.is_not(None),  # type: ignore[union-attr]
            )
        ).all()
    )
    return may_stop(row.driver_id, group, me.driver_id, groups)  # type: ignore[arg-type]


async def _live(temporal: Client, row: ChargingSession) -> LiveState | None:
    try:
        view = await temporal.get_workflow_handle(row.id).query(contract.QUERY_STATE)
    except RPCError as err:
        log.info("live state of %s unavailable: %s", row.id, err)
        return None
    data = view if isinstance(view, dict) else view.model_dump()
    return LiveState.model_validate(data)


# What a driver reads (the station's own error text goes to the operators' command log).
_PLAIN = {
    "ok": "The station took the request.",
    "offline": "The station is offline; try again once it is back online.",
    "rejected": "The station refused the request.",
    "timeout": "The station did not answer in time; the request may still take effect.",
    "not_supported": "This station cannot do that.",
    "error": "Something went wrong on our side; please try again.",
}
_HTTP = {
    "ok": status.HTTP_202_ACCEPTED,
    "offline": status.HTTP_409_CONFLICT,
    "rejected": status.HTTP_409_CONFLICT,
    "timeout": status.HTTP_504_GATEWAY_TIMEOUT,
    "not_supported": status.HTTP_409_CONFLICT,
    "error": status.HTTP_502_BAD_GATEWAY,
}


async def _command(
    temporal: Client, settings: Settings, me: Principal, station_id: str, name: str, params: dict
) -> JSONResponse:
    """Run a station command for the driver and answer with its outcome."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
    record: CommandRecord = await temporal.execute_workflow(
        contract.STATION_COMMAND,
        StationCommand(
            station_id=station_id, name=name, params=params, requested_by=me.actor, timeout_s=30
        ),
        id=contract.command_workflow_id(station_id, name, stamp),
        task_queue=settings.task_queue,
        search_attributes=TypedSearchAttributes(
            [SearchAttributePair(contract.STATION_ID, station_id)]
        ),
        result_type=CommandRecord,
    )
    refused = record.outcome == "ok" and record.status not in (None, "Accepted")
    outcome = "rejected" if refused else record.outcome
    result = RemoteOutcome(
        station_id=station_id,
        outcome=outcome,
        status=record.status,
        detail=_PLAIN.get(outcome, _PLAIN["error"]),
    )
    code = status.HTTP_409_CONFLICT if refused else _HTTP.get(record.outcome, 502)
    return JSONResponse(result.model_dump(), status_code=code)
