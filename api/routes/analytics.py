"""Analytics over any period, per site / station / connector: JSON, CSV and charts.

Every query takes `from` and `to` (ISO 8601; without an offset they are read in `tz`, default
`report_time_zone`), and optionally `site`, `station_id` (repeatable) and `connector_id`. The
definitions (what counts as a session, charging, available, …) are in `domain/analytics.py`.
Also here: the maintenance windows excluded from uptime, and the sites that group stations.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import APIRouter, Depends, HTTPException, Query, Response, status
from pydantic import BaseModel, Field, model_validator
from sqlalchemy import Connection, delete
from sqlmodel import select

from api.deps import OperatorDep, SessionDep, SettingsDep
from domain.analytics import (
    CHARTS,
    TABLES,
    Bucket,
    FailureRow,
    HeatmapCell,
    RevenueRow,
    RevenueTotal,
    Scope,
    SessionSummary,
    UptimeRow,
    UsageRow,
    UtilizationRow,
    render_chart,
    to_csv,
)
from store import analytics_queries as q
from store.monitoring_tables import MaintenanceWindow, StationSite

router = APIRouter(tags=["analytics"])

_MAX_SPAN = timedelta(days=3 * 366)
_CHART_TYPES = {"png": "image/png", "svg": "image/svg+xml"}


def scope_of(
    db: SessionDep,
    settings: SettingsDep,
    start: Annotated[datetime, Query(alias="from", description="start (inclusive)")],
    end: Annotated[datetime, Query(alias="to", description="end (exclusive)")],
    site: str | None = None,
    station_id: Annotated[list[str] | None, Query()] = None,
    connector_id: int | None = None,
    tz: str | None = None,
) -> Scope:
    """The analytics scope of a request (422 on a bad period or time zone)."""
    zone_name = tz or settings.report_time_zone
    try:
        zone = ZoneInfo(zone_name)
    except (ZoneInfoNotFoundError, ValueError) as err:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "unknown time zone") from err
    start, end = (t if t.tzinfo else t.replace(tzinfo=zone) for t in (start, end))
    if not start < end <= start + _MAX_SPAN:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, "need from < to, at most three years apart"
        )
    stations = station_id
    if site is not None:
        members = q.stations_of_site(db.connection(), site)
        stations = [s for s in members if s in station_id] if station_id else members
    return Scope(
        start=start,
        end=end,
        time_zone=zone_name,
        station_ids=stations,
        connector_id=connector_id,
    )


ScopeDep = Annotated[Scope, Depends(scope_of)]


def table_rows(conn: Connection, name: str, scope: Scope, bucket: Bucket) -> list[BaseModel]:
    """The rows of one analytics table (by its name in `TABLES`)."""
    match name:
        case "usage":
            return list(q.usage(conn, scope, bucket))
        case "heatmap":
            return list(q.heatmap(conn, scope))
        case "summary":
            return [q.summary(conn, scope)]
        case "revenue":
            return list(q.revenue(conn, scope))
        case "revenue-totals":
            return list(q.revenue_totals(conn, scope))
        case "session-failures":
            return list(q.session_failures(conn, scope))
        case "auth-failures":
            return list(q.auth_failures(conn, scope))
        case "utilization":
            return [UtilizationRow.of(t) for t in q.connector_time(conn, scope)]
        case "uptime":
            return [UptimeRow.of(t) for t in q.connector_time(conn, scope)]
    raise HTTPException(status.HTTP_404_NOT_FOUND, f"no analytics table {name!r}")


@router.get("/analytics/usage")
def usage(
    db: SessionDep, scope: ScopeDep, _: OperatorDep, bucket: Bucket = Bucket.DAY
) -> list[UsageRow]:
    """Sessions, energy (Wh) and duration (s) per day / week / month."""
    return q.usage(db.connection(), scope, bucket)


@router.get("/analytics/heatmap")
def heatmap(db: SessionDep, scope: ScopeDep, _: OperatorDep) -> list[HeatmapCell]:
    """Sessions and energy by weekday (1 = Monday) × hour of their start."""
    return q.heatmap(db.connection(), scope)


@router.get("/analytics/summary")
def summary(db: SessionDep, scope: ScopeDep, _: OperatorDep) -> SessionSummary:
    """Sessions, energy, and the average session energy and duration."""
    return q.summary(db.connection(), scope)


class RevenueReport(BaseModel):
    components: list[RevenueRow]
    totals: list[RevenueTotal]


@router.get("/analytics/revenue")
def revenue(db: SessionDep, scope: ScopeDep, _: OperatorDep) -> RevenueReport:
    """Rated amounts by currency and component, and net / VAT / total per currency."""
    conn = db.connection()
    return RevenueReport(components=q.revenue(conn, scope), totals=q.revenue_totals(conn, scope))


class FailureReport(BaseModel):
    sessions: list[FailureRow]
    authorizations: list[FailureRow]


@router.get("/analytics/failures")
def failures(db: SessionDep, scope: ScopeDep, _: OperatorDep) -> FailureReport:
    """Failed sessions by cause and refused authorizations by status, with rates."""
    conn = db.connection()
    return FailureReport(
        sessions=q.session_failures(conn, scope), authorizations=q.auth_failures(conn, scope)
    )


@router.get("/analytics/utilization")
def utilization(db: SessionDep, scope: ScopeDep, _: OperatorDep) -> list[UtilizationRow]:
    """Share of observed time each connector was charging / occupied."""
    return [UtilizationRow.of(t) for t in q.connector_time(db.connection(), scope)]


@router.get("/analytics/uptime")
def uptime(db: SessionDep, scope: ScopeDep, _: OperatorDep) -> list[UptimeRow]:
    """Availability per connector: online and not faulted, maintenance windows excluded."""
    return [UptimeRow.of(t) for t in q.connector_time(db.connection(), scope)]


@router.get(
    "/analytics/{table}.csv",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}},
)
def table_csv(
    table: str, db: SessionDep, scope: ScopeDep, _: OperatorDep, bucket: Bucket = Bucket.DAY
) -> Response:
    """Any analytics table as CSV: usage, heatmap, summary, revenue, revenue-totals,
    session-failures, auth-failures, utilization, uptime."""
    if table not in TABLES:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no analytics table {table!r}")
    rows = table_rows(db.connection(), table, scope, bucket)
    filename = f"{table}_{scope.start:%Y%m%d}_{scope.end:%Y%m%d}.csv"
    return Response(
        to_csv(TABLES[table], rows),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@router.get(
    "/analytics/charts/{chart}.{fmt}",
    response_class=Response,
    responses={200: {"content": {"image/png": {}, "image/svg+xml": {}}}},
)
def chart(
    chart: str,
    fmt: str,
    db: SessionDep,
    scope: ScopeDep,
    _: OperatorDep,
    bucket: Bucket = Bucket.DAY,
) -> Response:
    """A chart as PNG or SVG: usage, heatmap, utilization, uptime, revenue."""
    if chart not in CHARTS or fmt not in _CHART_TYPES:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such chart (or format)")
    rows = table_rows(db.connection(), chart, scope, bucket)
    return Response(render_chart(chart, rows, fmt), media_type=_CHART_TYPES[fmt])


# ---- maintenance windows (time excluded from uptime) ---------------------------------------


class WindowIn(BaseModel):
    station_id: str | None = Field(default=None, max_length=48, description="None: all")
    connector_id: int | None = Field(default=None, ge=1, description="None: all of the station")
    starts_at: datetime
    ends_at: datetime
    reason: str = Field(default="", max_length=500)

    @model_validator(mode="after")
    def _check(self) -> WindowIn:
        if self.starts_at.tzinfo is None or self.ends_at.tzinfo is None:
            raise ValueError("starts_at and ends_at need a UTC offset")
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        if self.connector_id is not None and self.station_id is None:
            raise ValueError("a connector needs its station_id")
        return self


class WindowOut(WindowIn):
    id: int
    created_by: str
    created_at: datetime


@router.post("/maintenance-windows", status_code=status.HTTP_201_CREATED)
def create_window(body: WindowIn, db: SessionDep, who: OperatorDep) -> WindowOut:
    """Plan a maintenance window: its time is excluded from availability."""
    row = MaintenanceWindow(**body.model_dump(), created_by=who)
    db.add(row)
    db.flush()
    db.refresh(row)
    return WindowOut.model_validate(row, from_attributes=True)


@router.get("/maintenance-windows")
def list_windows(db: SessionDep, _: OperatorDep, station_id: str | None = None) -> list[WindowOut]:
    query = select(MaintenanceWindow).order_by(MaintenanceWindow.starts_at.desc())
    if station_id:
        query = query.where(MaintenanceWindow.station_id == station_id)
    return [WindowOut.model_validate(w, from_attributes=True) for w in db.exec(query).all()]


@router.delete("/maintenance-windows/{window_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_window(window_id: int, db: SessionDep, _: OperatorDep) -> None:
    row = db.get(MaintenanceWindow, window_id)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "unknown maintenance window")
    db.delete(row)


# ---- sites ---------------------------------------------------------------------------------


class SiteIn(BaseModel):
    station_ids: list[str] = Field(max_length=10_000)


class SiteOut(BaseModel):
    site_id: str
    station_ids: list[str]


@router.get("/sites")
def list_sites(db: SessionDep, _: OperatorDep) -> list[SiteOut]:
    """Sites and their stations (an analytics scope: `?site=`)."""
    sites: dict[str, list[str]] = {}
    rows = db.exec(select(StationSite).order_by(StationSite.site_id, StationSite.station_id))
    for row in rows.all():
        sites.setdefault(row.site_id, []).append(row.station_id)
    return [SiteOut(site_id=site, station_ids=ids) for site, ids in sites.items()]


@router.put("/sites/{site_id}")
def put_site(site_id: str, body: SiteIn, db: SessionDep, _: OperatorDep) -> SiteOut:
    """Set the stations of a site (a station belongs to one site: it moves here)."""
    if not 0 < len(site_id) <= 64:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "site_id: 1 to 64 characters")
    db.exec(delete(StationSite).where(StationSite.site_id == site_id))  # type: ignore[call-overload]
    stations = sorted(set(body.station_ids))
    if stations:
        db.exec(delete(StationSite).where(StationSite.station_id.in_(stations)))  # type: ignore
    db.flush()
    db.add_all(StationSite(station_id=s, site_id=site_id) for s in stations)
    return SiteOut(site_id=site_id, station_ids=stations)
