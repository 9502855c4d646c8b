"""Reports 2.0.1 chargers send after an operator's request (monitoring, display messages,
customer information, charging profiles, firmware publishing), assembled from their parts.

The request that asks for one is a station command (`get_monitoring_report`,
`get_display_messages`, `customer_information`, `get_charging_profiles`, `publish_firmware`);
its `request_id` names the report. Customer information is personal data: its own routes, for
support and admins only, and every read is audited.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from enum import StrEnum
from typing import Any

from fastapi import APIRouter, HTTPException, Query, status
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel
from sqlmodel import select

from api.deps import OperatorDep, SessionDep
from store.audit import audit
from store.report_tables import StationReport
from store.tables import Station

router = APIRouter(prefix="/stations/{station_id}/reports", tags=["operations"])
customer_router = APIRouter(
    prefix="/stations/{station_id}/customer-information", tags=["operations"]
)


class ReportKind(StrEnum):
    """The OCPP message that carries the report's parts."""

    MONITORING = "NotifyMonitoringReport"
    DISPLAY_MESSAGES = "NotifyDisplayMessages"
    CUSTOMER_INFORMATION = "NotifyCustomerInformation"
    CHARGING_PROFILES = "ReportChargingProfiles"
    FIRMWARE_PUBLISHING = "PublishFirmwareStatusNotification"


# Where each kind keeps its items in a part (assembled into one list).
_ITEMS = {
    ReportKind.MONITORING: "monitor",
    ReportKind.DISPLAY_MESSAGES: "messageInfo",
    ReportKind.CHARGING_PROFILES: "chargingProfile",
}


class ReportSummary(BaseModel):
    kind: ReportKind
    request_id: int | None
    parts: int
    complete: bool  # the last part said no more follow (tbc false)
    first_received_at: datetime
    last_received_at: datetime


class Report(ReportSummary):
    items: list[dict[str, Any]]  # monitors, display messages or charging profiles, in order
    text: str | None = None  # customer information, the parts' data joined
    statuses: list[str] = []  # firmware publishing: every status reported
    parts_data: list[dict[str, Any]]  # every part as the charger sent it


def _req(request_id: int) -> dict:
    return {"request_id": request_id}


def _known(db, station_id: str) -> None:
    if db.get(Station, station_id) is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "unknown station")


def _summary(kind: str, request_id: int | None, rows: list[StationReport]) -> dict:
    return {
        "kind": kind,
        "request_id": request_id,
        "parts": len(rows),
        "complete": not rows[-1].tbc,
        "first_received_at": rows[0].received_at,
        "last_received_at": rows[-1].received_at,
    }


@router.get("")
def list_reports(
    station_id: str,
    db: SessionDep,
    kind: ReportKind | None = None,
    limit: int = Query(50, ge=1, le=500),
) -> list[ReportSummary]:
    """The station's reports, newest first (one entry per kind and request id)."""
    _known(db, station_id)
    query = select(StationReport).where(StationReport.station_id == station_id)
    if kind is not None:
        query = query.where(StationReport.kind == kind.value)
    rows = db.exec(query.order_by(StationReport.id.desc()).limit(5000)).all()
    grouped: dict[tuple[str, int | None], list[StationReport]] = defaultdict(list)
    for row in reversed(rows):  # oldest first within a report
        grouped[(row.kind, row.request_id)].append(row)
    newest = sorted(grouped.items(), key=lambda kv: kv[1][-1].id or 0, reverse=True)
    return [ReportSummary(**_summary(k, r, parts)) for (k, r), parts in newest[:limit]]


def _assemble(db, station_id: str, kind: ReportKind, request_id: int) -> Report:
    rows = db.exec(
        select(StationReport)
        .where(
            StationReport.station_id == station_id,
            StationReport.kind == kind.value,
            StationReport.request_id == request_id,
        )
        .order_by(StationReport.seq_no, StationReport.id)
    ).all()
    if not rows:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such report from this station")
    items: list[dict] = []
    if kind in _ITEMS:
        for row in rows:
            items += row.data.get(_ITEMS[kind]) or []
    text = None
    if kind == ReportKind.CUSTOMER_INFORMATION:
        text = "".join(str(row.data.get("data", "")) for row in rows)
    statuses = [str(row.data.get("status")) for row in rows if row.data.get("status")]
    return Report(
        **_summary(kind.value, request_id, list(rows)),
        items=items,
        text=text,
        statuses=statuses,
        parts_data=[row.data for row in rows],
    )


@router.get("/{kind}/{request_id}")
def get_report(station_id: str, kind: ReportKind, request_id: int, db: SessionDep) -> Report:
    """One report, its parts in order and their items joined (customer information has its
    own route: personal data)."""
    if kind == ReportKind.CUSTOMER_INFORMATION:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            f"customer information is at /stations/{station_id}/customer-information/{request_id}",
        )
    _known(db, station_id)
    return _assemble(db, station_id, kind, request_id)


@customer_router.get("/{request_id}")
def get_customer_information(
    station_id: str, request_id: int, db: SessionDep, who: OperatorDep
) -> Report:
    """What the charger reported about a customer (N09), its parts joined in `text`; audited."""
    _known(db, station_id)
    report = _assemble(db, station_id, ReportKind.CUSTOMER_INFORMATION, request_id)
    audit(
        db,
        who,
        "station.customer_information.read",
        f"station:{station_id}",
        {"request_id": request_id},
    )
    return report


@customer_router.get("/{request_id}/text", response_class=PlainTextResponse)
def download_customer_information(
    station_id: str, request_id: int, db: SessionDep, who: OperatorDep
) -> PlainTextResponse:
    """The same as a text file to hand to the customer; audited."""
    _known(db, station_id)
    report = _assemble(db, station_id, ReportKind.CUSTOMER_INFORMATION, request_id)
    audit(
        db,
        who,
        "station.customer_information.download",
        f"station:{station_id}",
        {"request_id": request_id},
    )
    name = f"customer-information-{station_id}-{request_id}.txt"
    return PlainTextResponse(
        report.text or "", headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )
