"""Rate a stored session from its whole timeline, with its driver's plan allowance.

The timeline: the session's energy register readings (resets tolerated: a drop counts from
zero, as in `domain/energy.py`), start and stop values, and the idle intervals (given by the
workflow, else read from `connector_status_log`). Included plan energy used is recorded once per
session in `plan_usage`, under a lock on the subscription, so the monthly allowance is exact.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func
from sqlmodel import Session, select
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.payments.tariffs import active_subscription
from domain.energy import INTERVAL, REGISTER, cumulative_energy, sample_wh
from domain.payments import TimelineRateRequest
from domain.rating import (
    PlanPricing,
    RatingResult,
    SessionTimeline,
    StatusInterval,
    rate_timeline,
)
from domain.session import RatedSession
from domain.tariff import Tariff
from store.billing_tables import ConnectorStatusLog, PlanUsage
from store.db import Database
from store.tables import ChargingSession, MeterSample

# Idle for billing: the EV (not the station: SuspendedEVSE) stopped drawing, still plugged in.
IDLE_STATUSES = frozenset({"SuspendedEV", "Finishing", "Idle", "EVConnected"})


class RatingActivities:
    """`rate_session_timeline`: the richer replacement of `SessionActivities.rate_session`."""

    def __init__(self, db: Database) -> None:
        self.db = db

    @activity.defn
    def rate_session_timeline(self, request: TimelineRateRequest) -> RatedSession:
        """Price the session (bands, steps, idle fee, min/max, plan) and store the breakdown."""
        with self.db.session() as db:
            row = db.get(ChargingSession, request.session_id)
            if row is None:
                raise ApplicationError(
                    f"unknown session {request.session_id}", type="UnknownSession"
                )
            return rate_stored_session(db, row, request)


def rate_stored_session(
    db: Session, row: ChargingSession, request: TimelineRateRequest
) -> RatedSession:
    tariff = Tariff.model_validate(row.tariff)
    timeline = session_timeline(db, row, request)
    plan = _plan_pricing(db, row, tariff)
    rating = rate_timeline(tariff, timeline, plan)
    if plan is not None:
        _record_plan_usage(db, row, plan, rating)
    energy_wh = timeline.readings[-1].energy_wh if timeline.readings else 0
    duration_s = int((timeline.stopped_at - timeline.started_at).total_seconds())
    row.energy_wh, row.duration_s = energy_wh, max(duration_s, 0)
    row.cost = rating.model_dump(mode="json")
    row.total_amount, row.currency = rating.total, rating.currency
    db.add(row)
    return RatedSession(
        session_id=row.id, energy_wh=row.energy_wh, duration_s=row.duration_s, rating=rating
    )


def session_timeline(
    db: Session, row: ChargingSession, request: TimelineRateRequest
) -> SessionTimeline:
    """Cumulative session energy over time, and idle intervals."""
    start = row.started_at or row.created_at
    stop = row.stopped_at or start
    samples = db.exec(
        select(MeterSample)
        .where(
            MeterSample.session_id == row.id,
            MeterSample.measurand.in_([REGISTER, INTERVAL]),  # type: ignore[attr-defined]
            MeterSample.phase == "",
            MeterSample.signed_data.is_(None),  # type: ignore[union-attr]
        )
        .order_by(MeterSample.timestamp)  # type: ignore[arg-type]
    ).all()
    points = cumulative_energy(
        [(s.timestamp, s.measurand, sample_wh(s.value, s.unit)) for s in samples],
        start,
        stop,
        row.meter_start_wh,
        row.meter_stop_wh,
    )
    idle = [
        StatusInterval(start=i.start, end=i.end or stop, idle=True, status="idle")
        for i in request.idle
    ]
    if not request.idle:
        idle = _idle_from_log(db, row, start, stop)
    return SessionTimeline(started_at=start, stopped_at=stop, readings=points, statuses=idle)


def _idle_from_log(
    db: Session, row: ChargingSession, start: datetime, stop: datetime
) -> list[StatusInterval]:
    if row.connector_id is None:
        return []
    changes = db.exec(
        select(ConnectorStatusLog)
        .where(
            ConnectorStatusLog.station_id == row.station_id,
            ConnectorStatusLog.connector_id == row.connector_id,
            ConnectorStatusLog.at <= stop,
        )
        .order_by(ConnectorStatusLog.at)  # type: ignore[arg-type]
    ).all()
    spans: list[StatusInterval] = []
    for change, following in zip(changes, [*changes[1:], None], strict=False):
        end = following.at if following is not None else stop
        lo, hi = max(change.at, start), min(end, stop)
        if change.status in IDLE_STATUSES and hi > lo:
            spans.append(StatusInterval(start=lo, end=hi, idle=True, status=change.status))
    return spans


def _period(row: ChargingSession) -> str:
    moment = row.started_at or row.created_at
    return f"{moment.year:04d}-{moment.month:02d}"


def _plan_pricing(db: Session, row: ChargingSession, tariff: Tariff) -> PlanPricing | None:
    if tariff.plan is None or row.driver_id is None:
        return None
    subscription = active_subscription(db, row.driver_id, lock=True)
    if subscription is None or subscription.plan_id != tariff.plan.plan_id:
        return PlanPricing(terms=tariff.plan, included_wh_remaining=0)
    used = db.exec(
        select(func.coalesce(func.sum(PlanUsage.included_wh), 0)).where(
            PlanUsage.subscription_id == subscription.id,
            PlanUsage.period == _period(row),
            PlanUsage.session_id != row.id,  # a re-rating does not count itself
        )
    ).one()
    remaining = max(tariff.plan.included_wh - int(used), 0)
    return PlanPricing(terms=tariff.plan, included_wh_remaining=remaining)


def _record_plan_usage(
    db: Session, row: ChargingSession, plan: PlanPricing, rating: RatingResult
) -> None:
    subscription = active_subscription(db, row.driver_id or 0)
    if subscription is None or subscription.id is None:
        return
    usage = db.get(PlanUsage, row.id) or PlanUsage(
        session_id=row.id,
        subscription_id=subscription.id,
        driver_id=row.driver_id or 0,
        period=_period(row),
        included_wh=0,
    )
    usage.included_wh = rating.included_wh_used
    db.add(usage)
