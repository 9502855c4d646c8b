"""A. Security: SecurityEventNotification (A04) and SignCertificate (A02/A03)."""

from __future__ import annotations

import logging

from gateway.connection import StationConnection
from gateway.v201.common import status_info

log = logging.getLogger(__name__)


async def security_event(conn: StationConnection, payload: dict, unique_id: str) -> dict:
    """A04: record a security event (e.g. FirmwareUpdated, InvalidCsmsCertificate)."""
    log.warning("%s security event %s", conn.station_id, payload["type"])
    await conn.services.store.record_event(conn.station_id, "SecurityEvent", payload)
    return {}


async def sign_certificate(conn: StationConnection, payload: dict, unique_id: str) -> dict:
    """A02/A03: there is no certificate authority behind this CSMS yet, so the CSR is refused.

    Rejected is the honest answer (the station keeps its current certificate); the request is
    recorded so an operator sees that a station asked.
    """
    await conn.services.store.record_event(
        conn.station_id,
        "SignCertificateRejected",
        {"certificateType": payload.get("certificateType", "ChargingStationCertificate")},
    )
    return {
        "status": "Rejected",
        "statusInfo": status_info("NoCertificateAuthority", "this CSMS does not sign CSRs yet"),
    }
