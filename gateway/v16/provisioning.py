"""OCPP 1.6 BootNotification, Heartbeat, StatusNotification, DataTransfer, status reports."""

from __future__ import annotations

from datetime import UTC, datetime

from gateway.connection import StationConnection
from gateway.timestamps import now_iso, parse


async def boot_notification(conn: StationConnection, payload: dict, unique_id: str) -> dict:
    """Store what the station says about itself and accept it (it passed the handshake)."""
    info = {
        "vendor": payload.get("chargePointVendor"),
        "model": payload.get("chargePointModel"),
        "serial_number": payload.get("chargePointSerialNumber")
        or payload.get("chargeBoxSerialNumber"),
        "firmware_version": payload.get("firmwareVersion"),
        "iccid": payload.get("iccid"),
    }
    await conn.services.store.record_boot(conn.station_id, info, datetime.now(UTC))
    return {
        "status": "Accepted",
        "currentTime": now_iso(),
        "interval": conn.services.settings.heartbeat_interval_s,
    }


async def heartbeat(conn: StationConnection, payload: dict, unique_id: str) -> dict:
    await conn.services.store.touch(conn.station_id, datetime.now(UTC))
    return {"currentTime": now_iso()}


async def status_notification(conn: StationConnection, payload: dict, unique_id: str) -> dict:
    at = parse(payload["timestamp"]) if payload.get("timestamp") else datetime.now(UTC)
    error = payload.get("errorCode")
    await conn.services.store.record_status(
        conn.station_id,
        payload["connectorId"],
        payload["status"],
        None if error == "NoError" else error,
        at,
    )
    return {}


async def data_transfer(conn: StationConnection, payload: dict, unique_id: str) -> dict:
    """No vendor extensions are registered yet."""
    return {"status": "UnknownVendorId"}


async def diagnostics_status(conn: StationConnection, payload: dict, unique_id: str) -> dict:
    await conn.services.store.record_event(conn.station_id, "DiagnosticsStatus", payload)
    return {}


async def firmware_status(conn: StationConnection, payload: dict, unique_id: str) -> dict:
    await conn.services.store.record_event(conn.station_id, "FirmwareStatus", payload)
    return {}
