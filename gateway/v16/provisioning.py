"""OCPP 1.6 BootNotification, Heartbeat, StatusNotification, DataTransfer, status reports."""

from __future__ import annotations

from datetime import UTC, datetime

from gateway import events
from gateway.certificates import handle_sign_certificate
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
            holds_local_list=booted.holds_local_list,
        )
    )
    if registration != "Accepted":  # in the operator inbox: ask again in a minute
        return {"status": "Pending", "currentTime": now_iso(), "interval": 60}
    return {
        "status": "Accepted",
        "currentTime": now_iso(),
        "interval": conn.services.settings.heartbeat_interval_s,
    }


async def heartbeat(conn: StationConnection, payload: dict, unique_id: str) -> dict:
    conn.services.recorder.touch(conn.station_id, datetime.now(UTC))
    return {"currentTime": now_iso()}


async def status_notification(conn: StationConnection, payload: dict, unique_id: str) -> dict:
    at = parse(payload["timestamp"]) if payload.get("timestamp") else datetime.now(UTC)
    error = payload.get("errorCode")
    error_code = None if error == "NoError" else error
    await conn.services.bridge.connector_status(
        conn.station_id, payload["connectorId"], payload["status"], error_code, at
    )
    await conn.services.events.publish(
        events.ConnectorStatusChanged(
            conn.station_id, at, payload["connectorId"], payload["status"], error_code
        )
    )
    return {}


# The 1.6 Plug & Charge whitepaper carries ISO 15118 messages (Get15118EVCertificate,
# GetCertificateStatus, Authorize, SignCertificate for V2G) in DataTransfer under this vendor id.
ISO15118_PNC_VENDOR = "org.openchargealliance.iso15118pnc"


async def data_transfer(conn: StationConnection, payload: dict, unique_id: str) -> dict:
    """No vendor extensions are registered yet; ISO 15118 Plug & Charge is refused as such
    (the vendor is known, the service is not offered) rather than as an unknown vendor."""
    if payload.get("vendorId") == ISO15118_PNC_VENDOR:
        return {"status": "Rejected"}
    return {"status": "UnknownVendorId"}


async def diagnostics_status(conn: StationConnection, payload: dict, unique_id: str) -> dict:
    await conn.services.store.record_event(conn.station_id, "DiagnosticsStatus", payload)
    await conn.services.events.publish(
        events.DiagnosticsStatus(conn.station_id, datetime.now(UTC), payload["status"])
    )
    return {}


async def firmware_status(conn: StationConnection, payload: dict, unique_id: str) -> dict:
    await conn.services.store.record_event(conn.station_id, "FirmwareStatus", payload)
    await conn.services.events.publish(
        events.FirmwareStatus(conn.station_id, datetime.now(UTC), payload["status"])
    )
    return {}


# OCPP 1.6 security extension (Improved security for OCPP 1.6-J).


async def log_status(conn: StationConnection, payload: dict, unique_id: str) -> dict:
    await conn.services.store.record_event(conn.station_id, "LogStatus", payload)
    await conn.services.events.publish(
        events.DiagnosticsStatus(
            conn.station_id, datetime.now(UTC), payload["status"], payload.get("requestId")
        )
    )
    return {}


async def signed_firmware_status(conn: StationConnection, payload: dict, unique_id: str) -> dict:
    await conn.services.store.record_event(conn.station_id, "SignedFirmwareStatus", payload)
    await conn.services.events.publish(
        events.FirmwareStatus(
            conn.station_id, datetime.now(UTC), payload["status"], payload.get("requestId")
        )
    )
    return {}


async def security_event(conn: StationConnection, payload: dict, unique_id: str) -> dict:
    await conn.services.store.record_event(conn.station_id, "SecurityEvent", payload)
    return {}


async def sign_certificate(conn: StationConnection, payload: dict, unique_id: str) -> dict:
    """The operator's CA signs the CSR (CN = this station's identity, a sound key); the
    certificate follows in CertificateSigned once this answer is sent (`gateway/certificates.py`).
    1.6 has no reason field: why a CSR was refused is in the station's certificate list."""
    refusal = await handle_sign_certificate(conn, payload["csr"], None, unique_id)
    return {"status": "Accepted" if refusal is None else "Rejected"}
