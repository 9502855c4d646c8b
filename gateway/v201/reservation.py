"""H. Reservation: ReservationStatusUpdate, a reservation expired or was removed."""

from __future__ import annotations

from gateway.connection import StationConnection


async def reservation_status(conn: StationConnection, payload: dict, unique_id: str) -> dict:
    await conn.services.store.record_event(conn.station_id, "ReservationStatusUpdate", payload)
    return {}
