"""N. Diagnostics: LogStatusNotification (N01) and NotifyEvent (monitoring events)."""

from __future__ import annotations

from datetime import UTC, datetime

from gateway import events
from gateway.connection import StationConnection


async def log_status(conn: StationConnection, payload: dict, unique_id: str) -> dict:
    """Record and publish a log upload's progress, with the requestId of its GetLog."""
    await conn.services.store.record_event(conn.station_id, "LogStatus", payload)
    await conn.services.events.publish(
        events.DiagnosticsStatus(
            conn.station_id, datetime.now(UTC), payload["status"], payload.get("requestId")
        )
    )
    return {}


async def notify_event(conn: StationConnection, payload: dict, unique_id: str) -> dict:
    """Device-model events (monitor triggers, problems), recorded compactly."""
    compact = [
        {
            "eventId": item["eventId"],
            "timestamp": item["timestamp"],
            "trigger": item["trigger"],
            "component": item["component"]["name"],
            "variable": item["variable"]["name"],
            "actualValue": item["actualValue"],
            "cleared": item.get("cleared", False),
            **({"evse": item["component"]["evse"]} if "evse" in item["component"] else {}),
        }
        for item in payload["eventData"]
    ]
    await conn.services.store.record_event(
        conn.station_id,
        "NotifyEvent",
        {"seqNo": payload["seqNo"], "tbc": payload.get("tbc", False), "events": compact},
    )
    return {}
