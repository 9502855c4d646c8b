"""A session's price from what was stored before the charger was answered (ADR-005): the tariff
snapshot, the meter samples and the connector statuses the session received, in their order.

The gateway runs it when a charger ends a transaction, to tell the charger the final price
(2.0.1 `totalCost`, 1.6 `FinalCost`) without waiting on Temporal. It rates with the same
function and the same inputs as the workflow's settlement (`activities/payments/rating.py`),
so the two agree to the cent; sessions it cannot price that way (a plan allowance shared with
other sessions) get no price from it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from domain.energy import cumulative_energy
from domain.rating import RatingResult, SessionTimeline, StatusInterval, rate_timeline
from domain.session import ConnectorStatusUpdate, IdleInterval
from domain.tariff import Tariff

# Connector states in which a car is plugged in but not drawing energy (1.6 and 2.0.1 names),
# and the part of them the driver pays for (the car's doing; SuspendedEVSE is the station's).
# The session workflow tracks idle time with these sets.
IDLE_STATUSES = frozenset({"SuspendedEV", "SuspendedEVSE", "Finishing", "Idle", "EVConnected"})
EV_IDLE_STATUSES = IDLE_STATUSES - {"SuspendedEVSE"}


@dataclass(frozen=True, slots=True)
class StoredSession:
    """What the store holds of a session when its charger ends it."""

    tariff: Tariff
    started_at: datetime
    stopped_at: datetime
    meter_start_wh: int | None
    meter_stop_wh: int | None
    samples: list[tuple[datetime, str, int]]  # (timestamp, measurand, Wh)
    statuses: list[ConnectorStatusUpdate]  # in the order the session received them


def idle_intervals(statuses: Iterable[ConnectorStatusUpdate]) -> list[IdleInterval]:
    """Idle spans as the session workflow tracks them, status by status."""
    spans: list[IdleInterval] = []
    for update in statuses:
        open_span = spans[-1] if spans and spans[-1].end is None else None
        if open_span is not None and open_span.status != update.status:
            open_span.end = update.timestamp
            open_span = None
        if update.status in IDLE_STATUSES and open_span is None:
            spans.append(IdleInterval(start=update.timestamp, status=update.status))
    return [span for span in spans if span.status in EV_IDLE_STATUSES]


def final_price(session: StoredSession) -> RatingResult | None:
    """The session's price, or None when it depends on more than the session (a plan)."""
    if session.tariff.plan is not None:
        return None
    stop = max(session.stopped_at, session.started_at)
    readings = cumulative_energy(
        session.samples, session.started_at, stop, session.meter_start_wh, session.meter_stop_wh
    )
    idle = [
        StatusInterval(start=span.start, end=span.end or stop, idle=True, status="idle")
        for span in idle_intervals(session.statuses)
    ]
    timeline = SessionTimeline(
        started_at=session.started_at, stopped_at=stop, readings=readings, statuses=idle
    )
    return rate_timeline(session.tariff, timeline)
