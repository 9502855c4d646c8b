"""A. Security: SecurityEventNotification (A04) and SignCertificate (A02/A03); M. the ISO 15118
contract-certificate messages, refused in their own words (Plug & Charge is not offered yet)."""

from __future__ import annotations

import logging

from gateway.certificates import handle_sign_certificate
from gateway.connection import StationConnection
from gateway.v201.common import status_info

log = logging.getLogger(__name__)


async def security_event(conn: StationConnection, payload: dict, unique_id: str) -> dict:
    """A04: record a security event (e.g. FirmwareUpdated, InvalidCsmsCertificate)."""
    log.warning("%s security event %s", conn.station_id, payload["type"])
    await conn.services.store.record_event(conn.station_id, "SecurityEvent", payload)
    return {}


async def sign_certificate(conn: StationConnection, payload: dict, unique_id: str) -> dict:
    """A02/A03: the operator's CA signs the CSR (CN = this station's identity, a sound key); the
    certificate follows in CertificateSigned once this answer is sent (`gateway/certificates.py`).
    A V2GCertificate (the station's ISO 15118 server certificate) is signed by the same CA."""
    refusal = await handle_sign_certificate(
        conn, payload["csr"], payload.get("certificateType"), unique_id
    )
    if refusal is None:
        return {"status": "Accepted"}
    return {"status": "Rejected", "statusInfo": status_info(refusal.reason, refusal.detail)}


_NO_PLUG_AND_CHARGE = "ISO 15118 Plug & Charge (contract certificates, OCSP) is not offered"


async def get_15118_ev_certificate(conn: StationConnection, payload: dict, unique_id: str) -> dict:
    """M01/M02: no contract-certificate service behind this CSMS: Failed, with no EXI answer for
    the EV (the schema requires the field; empty says there is none)."""
    return {
        "status": "Failed",
        "statusInfo": status_info("NotSupported", _NO_PLUG_AND_CHARGE),
        "exiResponse": "",
    }


async def get_certificate_status(conn: StationConnection, payload: dict, unique_id: str) -> dict:
    """M06: no OCSP is queried for the station: Failed (ocspResult may be left out then)."""
    return {"status": "Failed", "statusInfo": status_info("NotSupported", _NO_PLUG_AND_CHARGE)}
