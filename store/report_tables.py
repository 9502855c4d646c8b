"""Reports a 2.0.1 charger sends in parts after an operator's request (migration 0011).

`station_reports` keeps every part as received: NotifyMonitoringReport (N02), NotifyDisplayMessages
(O04), NotifyCustomerInformation (N09), ReportChargingProfiles (K09) and
PublishFirmwareStatusNotification (L03, local controllers). A report is the station, the kind and
the request id the operator's command carried; parts are ordered by `seq_no` (`tbc`: more follow).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Index, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from store.columns import timestamp_field


class StationReport(SQLModel, table=True):
    """One part of a report a charger sent."""

    __tablename__ = "station_reports"
    __table_args__ = (Index("ix_station_reports_request", "station_id", "kind", "request_id"),)

    id: int | None = Field(default=None, primary_key=True)
    station_id: str = Field(max_length=48)
    kind: str = Field(max_length=48)  # the OCPP action that carried it
    request_id: int | None = None
    seq_no: int | None = None
    tbc: bool = False
    data: dict = Field(default_factory=dict, sa_column=Column(JSONB, nullable=False))
    received_at: datetime = timestamp_field(nullable=False, server_default=text("now()"))
