"""What the CSMS recorded, read back for assertions: sessions, charges, receipts, station
events (store), and the gateway's published station events (`EventLog`)."""

from __future__ import annotations

from sqlmodel import select

from gateway import events
from store.db import Database
from store.tables import ChargingSession, Payment, Receipt, StationEvent


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
