"""Station certificates, both OCPP versions: SignCertificate -> CertificateSigned (2.0.1 A02/A03,
1.6 security whitepaper use cases A02/A03), signed by the operator's CA (`runtime/station_ca.py`).

The CSR is checked and signed while the station waits for its SignCertificate answer (a local
CA signs in well under a millisecond): `Accepted` only when a certificate exists. The
CertificateSigned CALL follows once that answer is on the wire; the station's answer to it is
recorded in `station_certificates`. A CSR for another station's identity, a weak key or a
broken signature is answered `Rejected` (2.0.1 with a reason) and recorded as `Refused`.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from gateway.connection import CommandError, StationConnection
from gateway.protocol import OCPP16
from runtime.station_ca import CsrRefused, SignedCertificate, check_csr, sign_csr, station_ca

log = logging.getLogger(__name__)

MAX_CHAIN_CHARS = 10_000  # CertificateSignedRequest.certificateChain, both versions
_ANSWER_TIMEOUT_S = 30.0

_INSERT = (
    "INSERT INTO station_certificates (station_id, certificate_type, status, detail, "
    "serial_number, fingerprint_sha256, subject, not_before, not_after, certificate) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id"
)
_ANSWERED = (
    "UPDATE station_certificates SET status = %s, detail = %s, answered_at = %s WHERE id = %s"
)


async def handle_sign_certificate(
    conn: StationConnection, csr_pem: str, certificate_type: str | None, unique_id: str
) -> CsrRefused | None:
    """Sign the station's CSR and send CertificateSigned after this CALL is answered.

    Returns None when the answer is Accepted, else why it is refused."""
    try:
        csr = check_csr(csr_pem, conn.station_id)
        try:
            ca = station_ca(conn.services.settings)
        except (OSError, ValueError) as err:
            log.error("%s: the station CA cannot be loaded: %s", conn.station_id, err)
            raise CsrRefused("NoCA", "the CSMS's certificate authority is unavailable") from err
        signed = sign_csr(ca, csr, certificate_type)
        if len(signed.chain_pem) > MAX_CHAIN_CHARS:
            raise CsrRefused("ChainTooLong", "the certificate chain exceeds 10000 characters")
    except CsrRefused as refusal:
        log.warning("%s: CSR refused: %s", conn.station_id, refusal.detail)
        await _record_refusal(conn, certificate_type, refusal)
        return refusal
    row_id = await _record_issued(conn, certificate_type, signed)
    log.info(
        "%s: certificate %s signed (%s)",
        conn.station_id,
        signed.serial_hex,
        certificate_type or "no type",
    )
    conn.after_answer(unique_id, lambda: _deliver(conn, certificate_type, signed, row_id))
    return None


async def _deliver(
    conn: StationConnection, certificate_type: str | None, signed: SignedCertificate, row_id: int
) -> None:
    """CertificateSigned, and the station's answer recorded."""
    payload: dict = {"certificateChain": signed.chain_pem}
    if conn.version != OCPP16 and certificate_type:
        payload["certificateType"] = certificate_type  # A02.FR.14: echo the type
    try:
        answer = await conn.call("CertificateSigned", payload, timeout_s=_ANSWER_TIMEOUT_S)
    except CommandError as err:
        status, detail = "Undelivered", str(err)
    except asyncio.CancelledError:
        await _answered(conn, row_id, "Undelivered", "the gateway stopped")
        raise
    else:
        status = answer["status"]
        info = answer.get("statusInfo") or {}
        detail = " ".join(str(info[k]) for k in ("reasonCode", "additionalInfo") if info.get(k))
    log.info("%s: CertificateSigned %s -> %s", conn.station_id, signed.serial_hex, status)
    await _answered(conn, row_id, status, detail or None)
    await conn.services.store.record_event(
        conn.station_id,
        "CertificateSigned",
        {"serialNumber": signed.serial_hex, "status": status, "detail": detail or None},
    )


async def _answered(conn: StationConnection, row_id: int, status: str, detail: str | None) -> None:
    async with conn.services.store.fast.connection() as db:
        await db.execute(_ANSWERED, (status, detail, datetime.now(UTC), row_id))


async def _record_issued(
    conn: StationConnection, certificate_type: str | None, signed: SignedCertificate
) -> int:
    cert = signed.certificate
    leaf_pem = signed.chain_pem.split("-----END CERTIFICATE-----", 1)[0]
    async with conn.services.store.fast.connection() as db:
        cur = await db.execute(
            _INSERT,
            (
                conn.station_id,
                certificate_type,
                "Issued",
                None,
                signed.serial_hex,
                signed.fingerprint_sha256,
                cert.subject.rfc4514_string()[:512],
                cert.not_valid_before_utc,
                cert.not_valid_after_utc,
                leaf_pem + "-----END CERTIFICATE-----\n",
            ),
        )
        row = await cur.fetchone()
    assert row is not None
    return row[0]


async def _record_refusal(
    conn: StationConnection, certificate_type: str | None, refusal: CsrRefused
) -> None:
    detail = f"{refusal.reason}: {refusal.detail}"
    async with conn.services.store.fast.connection() as db:
        await db.execute(
            _INSERT,
            (conn.station_id, certificate_type, "Refused", detail[:2000], *([None] * 6)),
        )
    await conn.services.store.record_event(
        conn.station_id,
        "SignCertificateRejected",
        {"certificateType": certificate_type, "reason": refusal.reason},
    )


# Neutral command `renew_certificate` (params: `certificate_type` ChargingStationCertificate,
# the default, | V2GCertificate | Combined; 2.0.1 only for the last two): the station is asked to
# send a new CSR (2.0.1 A02 TriggerMessage, 1.6 ExtendedTriggerMessage).
_TRIGGERS_201 = {
    "ChargingStationCertificate": "SignChargingStationCertificate",
    "V2GCertificate": "SignV2GCertificate",
    "Combined": "SignCombinedCertificate",
}


def renew_certificate_16(params: dict) -> tuple[str, dict]:
    kind = params.get("certificate_type", "ChargingStationCertificate")
    if kind != "ChargingStationCertificate":
        raise ValueError("1.6 stations have one certificate (ChargingStationCertificate)")
    return "ExtendedTriggerMessage", {"requestedMessage": "SignChargePointCertificate"}


def renew_certificate_201(params: dict) -> tuple[str, dict]:
    kind = params.get("certificate_type", "ChargingStationCertificate")
    if kind not in _TRIGGERS_201:
        raise ValueError(f"certificate_type must be one of {', '.join(_TRIGGERS_201)}")
    return "TriggerMessage", {"requestedMessage": _TRIGGERS_201[kind]}
