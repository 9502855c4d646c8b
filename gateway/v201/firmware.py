"""L. Firmware management: FirmwareStatusNotification (L01)."""

from __future__ import annotations

from datetime import UTC, datetime

from gateway import events
from gateway.connection import StationConnection


async def firmware_status(conn: StationConnection, payload: dict, unique_id: str) -> dict:
    """Record and publish the update's progress, with the requestId of its UpdateFirmware."""
    await conn.services.store.record_event(conn.station_id, "FirmwareStatus", payload)
    await conn.services.events.publish(
        events.FirmwareStatus(
            conn.station_id, datetime.now(UTC), payload["status"], payload.get("requestId")
        )
    )
    return {}
