"""G. Availability: StatusNotification (G01) and Heartbeat (G02)."""

from __future__ import annotations

from datetime import UTC, datetime

from gateway import events
from gateway.connection import StationConnection
from gateway.timestamps import now_iso, parse


async def heartbeat(conn: StationConnection, payload: dict, unique_id: str) -> dict:
    """G02: answer the current time (the station may sync its clock to it)."""
    conn.services.recorder.touch(conn.station_id, datetime.now(UTC))
    return {"currentTime": now_iso()}


async def status_notification(conn: StationConnection, payload: dict, unique_id: str) -> dict:
    """G01: a connector's status (Available, Occupied, Reserved, Unavailable, Faulted).

    The `connectors` table keeps the last status per EVSE id (a 1.6 connector is a 2.0.1 EVSE
    in the neutral model; on a multi-connector EVSE the last report wins). The published event
    carries both ids.
    """
    at = parse(payload["timestamp"])
    evse_id, status = payload["evseId"], payload["connectorStatus"]
    await conn.services.bridge.connector_status(conn.station_id, evse_id, status, None, at)
    await conn.services.events.publish(
        events.ConnectorStatusChanged(
            conn.station_id, at, payload["connectorId"], status, None, evse_id=evse_id
        )
    )
    return {}
