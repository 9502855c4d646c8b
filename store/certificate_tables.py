"""Station certificates the operator's CA signed, and CSRs it refused (migration 0013).

One row per SignCertificate a station sent: `status` is `Refused` (the CSR was not signed:
`detail` says why), `Issued` (signed, CertificateSigned sent or being sent), `Accepted` or
`Rejected` (the station's answer to CertificateSigned), or `Undelivered` (the station went away
or gave no valid answer).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Index, Text, text
from sqlmodel import Field, SQLModel

from store.columns import timestamp_field


class StationCertificate(SQLModel, table=True):
    __tablename__ = "station_certificates"
    __table_args__ = (Index("ix_station_certificates_station", "station_id", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    station_id: str = Field(max_length=48)
    certificate_type: str | None = Field(default=None, max_length=32)  # None: 1.6 or combined
    status: str = Field(max_length=16)
    detail: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    serial_number: str | None = Field(default=None, max_length=64)  # hex
    fingerprint_sha256: str | None = Field(default=None, max_length=64)
    subject: str | None = Field(default=None, max_length=512)
    not_before: datetime | None = timestamp_field(nullable=True)
    not_after: datetime | None = timestamp_field(nullable=True)
    certificate: str | None = Field(default=None, sa_column=Column(Text, nullable=True))  # PEM
    requested_at: datetime = timestamp_field(nullable=False, server_default=text("now()"))
    answered_at: datetime | None = timestamp_field(nullable=True)
