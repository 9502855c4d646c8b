"""Activities of the `ChargingSession` workflow: authorize a credential, record the session.

(Rating, payment and receipts are `activities/payments/` and `activities/receipts/`.)

Each is idempotent: retried after a crash or a timeout, it leaves the same result behind.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from sqlalchemy.dialects.postgresql import insert
from sqlmodel import Session, select
from temporalio import activity

from activities.payments.tariffs import resolve_tariff
from domain.access import ThrottlePolicy
from domain.authorization import TokenFacts, decide
from domain.session import (
    Authorization,
    AuthorizationStatus,
    AuthorizeRequest,
    PendingStart,
    SessionRecord,
    SessionState,
    StartedSession,
)
from domain.tariff import Tariff
from store.billing_tables import GuestPaymentRecord
from store.db import Database
from store.tables import ChargingSession, IdToken, Station, StationOutboxRow
from store.throttle import authorize_allowed, note_authorize
from store.token_policy import token_limits

log = logging.getLogger(__name__)


class SessionActivities:
    """Bound to the database (and the Authorize brute-force policy) by the worker."""

    def __init__(self, db: Database, authorize_policy: ThrottlePolicy | None = None):
        self.db = db
        # Per-station limit on refused idTags (someone cycling card ids at a charger).
        self.authorize_policy = authorize_policy

    @activity.defn
    def authorize_token(self, request: AuthorizeRequest) -> Authorization:
        """Look the credential up and decide whether it may charge."""
        if "\x00" in request.id_token:  # cannot be stored or looked up: never a valid token
            return Authorization(status=AuthorizationStatus.INVALID, id_token=request.id_token)
        now = datetime.now(UTC)
        station = request.station_id
        with self.db.session() as db:
            if station and self.authorize_policy and not authorize_allowed(db, station, now):
                activity.logger.warning("authorize at %s refused: too many unknown ids", station)
                return Authorization(status=AuthorizationStatus.INVALID, id_token=request.id_token)
            free = (
                station and db.exec(select(Station.free_vend).where(Station.id == station)).first()
            )
            if free:  # a free-vend station: whoever plugs in charges, nobody pays
                return Authorization(
                    status=AuthorizationStatus.ACCEPTED, id_token=request.id_token, free_vend=True
                )
            token = db.exec(select(IdToken).where(IdToken.token == request.id_token)).first()
            if token is None:
                guest = db.get(GuestPaymentRecord, request.id_token)
                # A paid ad-hoc session; or the one this session already took as its hold (the
                # decision is asked again when a worker replays the session after a crash).
                taken = guest is not None and guest.status == "used"
                mine = taken and request.session_id and guest.session_id == request.session_id
                if guest is not None and (guest.status == "held" or mine):
                    return Authorization(
                        status=AuthorizationStatus.ACCEPTED, id_token=request.id_token, guest=True
                    )
            facts = TokenFacts(known=token is not None)
            if token is not None:
                facts = TokenFacts(
                    known=True,
                    status=token.status,
                    expires_at=token.expires_at,
                    has_driver=token.driver_id is not None,
                    **token_limits(db, token),  # max concurrent sessions (access control)
                )
            status = decide(facts, now)
            if station and self.authorize_policy:
                note_authorize(db, station, facts.known, self.authorize_policy, now)
            activity.logger.info("authorize %s: %s", _mask(request.id_token), status)
            return Authorization(
                status=status,
                id_token=request.id_token,
                driver_id=token.driver_id if token else None,
                group_id=token.group_id if token else None,
                expires_at=token.expires_at if token else None,
            )

    @activity.defn
    def start_pending(self, query: PendingStart) -> PendingStart:
        """Is a start for this session waiting in the station outbox (Temporal was away when
        the charger was answered)? Then the session must not expire before it arrives."""
        with self.db.session() as db:
            found = db.exec(
                select(StationOutboxRow.id).where(
                    StationOutboxRow.session_id == query.session_id,
                    StationOutboxRow.kind == "start",
                    StationOutboxRow.delivered_at.is_(None),  # type: ignore[union-attr]
                )
            ).first()
        return PendingStart(session_id=query.session_id, pending=found is not None)

    @activity.defn
    def record_session(self, record: SessionRecord) -> StartedSession:
        """Create or update the session row; the tariff in force is snapshotted on creation."""
        if record.id_token and "\x00" in record.id_token:
            record = record.model_copy(update={"id_token": record.id_token.replace("\x00", "")})
        with self.db.session() as db:
            row = db.exec(
                select(ChargingSession)
                .where(ChargingSession.id == record.session_id)
                .with_for_update()
            ).first()
            if row is None:
                # Another writer may be creating it (the API writes a remote start's row before
                # answering): insert if absent, then take the row whoever wrote it.
                db.exec(  # type: ignore[call-overload]
                    insert(ChargingSession)
                    .values(
                        id=record.session_id,
                        station_id=record.station_id,
                        transaction_id=record.transaction_id,
                        state=record.state.value,
                        tariff={},
                    )
                    .on_conflict_do_nothing(index_elements=["id"])
                )
                row = db.exec(
                    select(ChargingSession)
                    .where(ChargingSession.id == record.session_id)
                    .with_for_update()
                ).one()
            if _stale(record, row):
                # An earlier write retried by a worker that lost the workflow task: the
                # workflow has moved on (e.g. to Completed); applying it would move it back.
                log.warning(
                    "ignored a stale write of %s (write %s, already at %s, state %s)",
                    record.session_id,
                    record.seq,
                    row.record_seq,
                    row.state,
                )
                return StartedSession(tariff=row.tariff)
            if not row.tariff or (record.started_at and row.started_at is None):
                # The tariff in force at the start, for this connector and driver.
                tariff = (
                    Tariff(name="Free vend", currency=_tariff_for(db, record.station_id).currency)
                    if record.free_vend
                    else _tariff_for(
                        db,
                        record.station_id,
                        record.connector_id,
                        record.driver_id,
                        record.id_token,
                    )
                )
                row.tariff = tariff.model_dump()
            for field, value in record.model_dump(exclude_none=True).items():
                if field in ("session_id", "free_vend", "seq"):
                    continue
                setattr(row, field, value.value if isinstance(value, SessionState) else value)
            if record.seq is not None:
                row.record_seq = record.seq
            row.updated_at = datetime.now(UTC)
            db.add(row)
            return StartedSession(tariff=row.tariff)


def _stale(record: SessionRecord, row: ChargingSession) -> bool:
    """The row already holds a later write of the workflow than this one."""
    return record.seq is not None and row.record_seq is not None and record.seq < row.record_seq


def _tariff_for(
    db: Session,
    station_id: str,
    connector_id: int | None = None,
    driver_id: int | None = None,
    id_token: str | None = None,
) -> Tariff:
    """The tariff in force: plan > driver group > connector > station > default (billing)."""
    return resolve_tariff(
        db, station_id, connector_id=connector_id, driver_id=driver_id, id_token=id_token
    )


def _mask(id_token: str) -> str:
    return id_token[:2] + "…" if len(id_token) > 2 else "…"
