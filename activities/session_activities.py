"""Activities of the `ChargingSession` workflow: authorize, record, rate, charge, receipt.

Each is idempotent: retried after a crash or a timeout, it leaves the same result behind.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy import text
from sqlmodel import Session, select
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.payments.base import PaymentDeclined, PaymentProvider
from activities.payments.tariffs import resolve_tariff
from domain.access import ThrottlePolicy
from domain.authorization import TokenFacts, decide
from domain.energy import INTERVAL, REGISTER, EnergyReading, delivered_energy
from domain.money import format_amount
from domain.rating import Consumption, RatingResult, rate
from domain.session import (
    Authorization,
    AuthorizationStatus,
    AuthorizeRequest,
    ChargeRequest,
    PaymentOutcome,
    RatedSession,
    RateRequest,
    ReceiptIssued,
    ReceiptRequest,
    SessionRecord,
    SessionState,
    StartedSession,
)
from domain.tariff import Tariff
from store.billing_tables import GuestPaymentRecord
from store.db import Database
from store.tables import ChargingSession, IdToken, MeterSample, Payment, Receipt, Station
from store.throttle import authorize_allowed, note_authorize
from store.token_policy import token_limits

_TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(["html"]),
)


class SessionActivities:
    """Bound to a database and a payment provider by the worker."""

    def __init__(
        self,
        db: Database,
        payments: PaymentProvider,
        operator_name: str = "Ampflow",
        authorize_policy: ThrottlePolicy | None = None,
    ):
        self.db = db
        self.payments = payments
        self.operator_name = operator_name
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
                if guest is not None and guest.status == "held":  # a paid ad-hoc session
                    return Authorization(
                        status=AuthorizationStatus.ACCEPTED, id_token=request.id_token, guest=True
                    )
            facts = TokenFacts(known=token is not None)
            if token is not None:
                facts = TokenFacts(
                    known=True,
                    status=token.status,
                    expires_at=token.expires_at,
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
    def record_session(self, record: SessionRecord) -> StartedSession:
        """Create or update the session row; the tariff in force is snapshotted on creation."""
        if record.id_token and "\x00" in record.id_token:
            record = record.model_copy(update={"id_token": record.id_token.replace("\x00", "")})
        with self.db.session() as db:
            row = db.get(ChargingSession, record.session_id)
            if row is None:
                row = ChargingSession(
                    id=record.session_id,
                    station_id=record.station_id,
                    transaction_id=record.transaction_id,
                    state=record.state.value,
                    tariff={},
                )
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
                if field in ("session_id", "free_vend"):
                    continue
                setattr(row, field, value.value if isinstance(value, SessionState) else value)
            row.updated_at = datetime.now(UTC)
            db.add(row)
            return StartedSession(tariff=row.tariff)

    @activity.defn
    def rate_session(self, request: RateRequest) -> RatedSession:
        """Price the session from its stored timeline with the tariff snapshot."""
        with self.db.session() as db:
            row = _session(db, request.session_id)
            energy_wh = _energy_wh(db, row)
            duration_s = 0
            if row.started_at and row.stopped_at:
                duration_s = max(int((row.stopped_at - row.started_at).total_seconds()), 0)
            rating = rate(
                Tariff.model_validate(row.tariff),
                Consumption(energy_wh=energy_wh, duration_s=duration_s),
            )
            row.energy_wh = energy_wh
            row.duration_s = duration_s
            row.cost = rating.model_dump()
            row.total_amount = rating.total
            row.currency = rating.currency
            db.add(row)
            return RatedSession(
                session_id=row.id, energy_wh=energy_wh, duration_s=duration_s, rating=rating
            )

    @activity.defn
    def charge_payment(self, request: ChargeRequest) -> PaymentOutcome:
        """Charge the rated total through the configured provider (once per session)."""
        with self.db.session() as db:
            try:
                outcome = self.payments.charge(db, request)
            except PaymentDeclined as declined:
                raise ApplicationError(
                    str(declined), type="PaymentDeclined", non_retryable=True
                ) from declined
            activity.logger.info(
                "payment for %s: %s %s",
                request.session_id,
                outcome.status,
                format_amount(outcome.amount, request.currency),
            )
            return outcome

    @activity.defn
    def issue_receipt(self, request: ReceiptRequest) -> ReceiptIssued:
        """Store the session's receipt with the next gap-free number (once per session)."""
        with self.db.session() as db:
            existing = db.exec(select(Receipt).where(Receipt.session_id == request.session_id))
            receipt = existing.first()
            if receipt is not None:
                return ReceiptIssued(receipt_number=receipt.number, session_id=request.session_id)
            row = _session(db, request.session_id)
            number = _next_receipt_number(db)
            rating = RatingResult.model_validate(row.cost)
            payment = db.exec(select(Payment).where(Payment.session_id == row.id)).first()
            html = _TEMPLATES.get_template("receipt.html").render(
                number=number,
                operator=self.operator_name,
                session=row,
                energy_kwh=f"{(row.energy_wh or 0) / 1000:.3f}",
                lines=[
                    {**line.model_dump(), "amount": format_amount(line.amount, rating.currency)}
                    for line in rating.lines
                ],
                net=format_amount(rating.net, rating.currency),
                vat=format_amount(rating.vat, rating.currency),
                vat_rate=f"{rating.vat_rate_bp / 100:g}",
                total=format_amount(rating.total, rating.currency),
                payment=f"{payment.provider} ({payment.status})" if payment else "none",
            )
            db.add(
                Receipt(
                    session_id=row.id,
                    number=number,
                    total=rating.total,
                    currency=rating.currency,
                    html=html,
                )
            )
            return ReceiptIssued(receipt_number=number, session_id=row.id)


def _session(db: Session, session_id: str) -> ChargingSession:
    row = db.get(ChargingSession, session_id)
    if row is None:
        raise ApplicationError(f"unknown session {session_id}", type="UnknownSession")
    return row


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


def _energy_wh(db: Session, row: ChargingSession) -> int:
    """Energy delivered, from the whole stored timeline (see domain/energy.py for the rule)."""
    samples = db.exec(
        select(MeterSample).where(
            MeterSample.session_id == row.id,
            MeterSample.measurand.in_([REGISTER, INTERVAL]),  # type: ignore[attr-defined]
            MeterSample.phase == "",
            MeterSample.signed_data.is_(None),  # type: ignore[union-attr]
        )
    ).all()
    readings = [
        EnergyReading(
            timestamp=s.timestamp,
            measurand=s.measurand,
            value_wh=s.value * 1000 if s.unit == "kWh" else s.value,
        )
        for s in samples
    ]
    return delivered_energy(readings, row.meter_start_wh, row.meter_stop_wh).energy_wh


def _next_receipt_number(db: Session) -> int:
    """Allocate the next receipt number inside the caller's transaction (gap-free)."""
    db.exec(  # type: ignore[call-overload]
        text(
            "INSERT INTO receipt_counters (name, last_number) VALUES ('receipts', 0) "
            "ON CONFLICT (name) DO NOTHING"
        )
    )
    result = db.exec(  # type: ignore[call-overload]
        text(
            "UPDATE receipt_counters SET last_number = last_number + 1 "
            "WHERE name = 'receipts' RETURNING last_number"
        )
    )
    return int(result.scalar_one())


def _mask(id_token: str) -> str:
    return id_token[:2] + "…" if len(id_token) > 2 else "…"
