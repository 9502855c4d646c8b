"""Helpers for tests driving a simulated OCPP 2.0.1 station (shared with tests/conformance)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from sqlmodel import select

from ampflow.seed import DEMO_STATION
from ampflow.simulator_v201 import SimulatedChargingStation, StationModel, connect
from gateway import events
from store.db import Database
from store.tables import ChargingSession, Payment, Receipt, StationEvent
from tests.conftest import DEMO_PASSWORD


@contextlib.asynccontextmanager
async def booted_station(
    url: str, model: StationModel | None = None
) -> AsyncIterator[SimulatedChargingStation]:
    """DEMO-1 connected over `ocpp2.0.1` and booted (Accepted)."""
    async with connect(url, DEMO_STATION, DEMO_PASSWORD, model) as station:
        boot = await station.boot()
        assert boot.status == "Accepted"
        yield station


def sessions(db: Database) -> list[ChargingSession]:
    with db.session() as s:
        return list(s.exec(select(ChargingSession)).all())


def payments_for(db: Database, session_id: str) -> list[Payment]:
    """The session's charges (payment holds taken at authorization are not charges)."""
    query = select(Payment).where(Payment.session_id == session_id, Payment.kind == "charge")
    with db.session() as s:
        return list(s.exec(query).all())


def receipts_for(db: Database, session_id: str) -> list[Receipt]:
    with db.session() as s:
        return list(s.exec(select(Receipt).where(Receipt.session_id == session_id)).all())


def station_events(db: Database, kind: str) -> list[StationEvent]:
    with db.session() as s:
        query = select(StationEvent).where(StationEvent.kind == kind).order_by(StationEvent.id)
        return list(s.exec(query).all())


class EventLog:
    """Collects the gateway's published station events (subscribe it to `services.events`)."""

    def __init__(self) -> None:
        self.events: list[events.StationEvent] = []

    def __call__(self, event: events.StationEvent) -> None:
        self.events.append(event)

    def of(self, kind: type) -> list:
        return [e for e in self.events if isinstance(e, kind)]
