"""Station certificates the operator's CA signed (SignCertificate -> CertificateSigned), CSRs it
refused, and the operator's request for a new one (`gateway/certificates.py`)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import BaseModel
from sqlmodel import select

from api.deps import OperatorDep, SessionDep, SettingsDep, TemporalDep
from api.routes.commands import CommandRequest, send_command
from domain.commands import CommandRecord
from store.certificate_tables import StationCertificate
from store.tables import Station

router = APIRouter(prefix="/stations/{station_id}/certificates", tags=["operations"])


class CertificateOut(BaseModel):
    id: int
    certificate_type: str | None  # None: 1.6, or a 2.0.1 combined certificate
    status: str  # Refused | Issued | Accepted | Rejected | Undelivered
    detail: str | None
    serial_number: str | None
    fingerprint_sha256: str | None
    subject: str | None
    not_before: datetime | None
    not_after: datetime | None
    certificate: str | None  # PEM
    requested_at: datetime
    answered_at: datetime | None


class RenewRequest(BaseModel):
    certificate_type: Literal["ChargingStationCertificate", "V2GCertificate", "Combined"] = (
        "ChargingStationCertificate"
    )
    timeout_s: float = 30.0


@router.get("")
def list_certificates(
    station_id: str, db: SessionDep, limit: int = Query(50, ge=1, le=500)
) -> list[CertificateOut]:
    """The station's certificate requests, newest first: what was signed and how the station
    answered, or why its CSR was refused."""
    if db.get(Station, station_id) is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "unknown station")
    rows = db.exec(
        select(StationCertificate)
        .where(StationCertificate.station_id == station_id)
        .order_by(StationCertificate.id.desc())  # type: ignore[union-attr]
        .limit(limit)
    ).all()
    return [CertificateOut.model_validate(row, from_attributes=True) for row in rows]


@router.post("/renew", responses={409: {"description": "station offline"}})
async def renew_certificate(
    station_id: str,
    body: RenewRequest,
    db: SessionDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    who: OperatorDep,
) -> CommandRecord:
    """Ask the station for a new CSR (2.0.1 TriggerMessage SignChargingStationCertificate /
    SignV2GCertificate / SignCombinedCertificate, 1.6 ExtendedTriggerMessage
    SignChargePointCertificate); the certificate it then gets is listed here. Audited as
    `station.renew_certificate`."""
    request = CommandRequest(
        name="renew_certificate",
        params={"certificate_type": body.certificate_type},
        timeout_s=min(max(body.timeout_s, 1.0), 300.0),
    )
    return await send_command(station_id, request, db, temporal, settings, who)
