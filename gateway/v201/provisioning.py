"""B. Provisioning: BootNotification (B01) and NotifyReport (B07/B08)."""

from __future__ import annotations

from datetime import UTC, datetime

from gateway import events
from gateway.connection import StationConnection
from gateway.device_model_listener import DeviceModelReport
from gateway.timestamps import now_iso

PENDING_INTERVAL_S = 60  # a Pending station boots again after this


async def boot_notification(conn: StationConnection, payload: dict, unique_id: str) -> dict:
    """B01.FR.02: store what the station says about itself; accept it if it is registered.

    The station already passed the handshake (id + password). A station still waiting in the
    operator inbox is answered Pending with an interval (B02.FR.01): it boots again then. An
    accepted one gets the heartbeat interval from the settings.
    """
    station = payload["chargingStation"]
    info = {
        "vendor": station.get("vendorName"),
        "model": station.get("model"),
        "serial_number": station.get("serialNumber"),
        "firmware_version": station.get("firmwareVersion"),
        "iccid": (station.get("modem") or {}).get("iccid"),
    }
    now = datetime.now(UTC)
    booted = await conn.services.store.record_boot(conn.station_id, info, now)
    registration = booted.registration or "Pending"
    conn.registration_status = registration
    await conn.services.events.publish(
        events.Booted(
            conn.station_id,
            now,
            info["vendor"],
            info["model"],
            info["firmware_version"],
            payload["reason"],
            holds_local_list=booted.holds_local_list,
        )
    )
    if registration != "Accepted":  # in the operator inbox: ask again in a minute
        return {"status": "Pending", "currentTime": now_iso(), "interval": PENDING_INTERVAL_S}
    return {
        "status": "Accepted",
        "currentTime": now_iso(),
        "interval": conn.services.settings.heartbeat_interval_s,
    }


async def notify_report(conn: StationConnection, payload: dict, unique_id: str) -> dict:
    """B07/B08: a device-model report part; its size is recorded (the frame itself is logged)."""
    await conn.services.store.record_event(
        conn.station_id,
        "NotifyReport",
        {
            "requestId": payload["requestId"],
            "seqNo": payload["seqNo"],
            "tbc": payload.get("tbc", False),
            "items": len(payload.get("reportData", [])),
        },
    )
    await conn.services.events.publish(  # stored as the station's device model (maintenance)
        DeviceModelReport(
            conn.station_id,
            datetime.now(UTC),
            payload["requestId"],
            payload["seqNo"],
            payload.get("tbc", False),
            payload.get("reportData", []),
        )
    )
    return {}
