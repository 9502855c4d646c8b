"""Analytics over any period, per site / station / connector: JSON, CSV and charts.

Every query takes `from` and `to` (ISO 8601; without an offset they are read in `tz`, default
`report_time_zone`; both optional: `to` defaults to now and `from` to 30 days before `to`), and
optionally `site`, `station_id` (repeatable) and `connector_id`. Connector time (utilization,
uptime) counts only up to now. The definitions (what counts as a session, charging, available,
…) are in `domain/analytics.py`. Also here: the maintenance windows excluded from uptime, and
the sites that group stations (a site is a location, `api/routes/locations.py`).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import APIRouter, Depends, HTTPException, Query, Response, status
from pydantic import BaseModel, Field, model_validator
from sqlalchemy import Connection, update
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session, select

from api.deps import OperatorDep, SessionDep, SettingsDep
from api.inputs import EARLIEST, ID_MAX, RowId, utc
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
from domain.locations import LOCATION_ID
from store import analytics_queries as q
from store.audit import audit
from store.monitoring_tables import MaintenanceWindow
from store.tables import Location, Station

router = APIRouter(tags=["analytics"])

_MAX_SPAN = timedelta(days=3 * 366)
DEFAULT_PERIOD = timedelta(days=30)
_CHART_TYPES = {"png": "image/png", "svg": "image/svg+xml"}
_known_zones: set[str] = set()  # zones PostgreSQL has accepted


def clock() -> datetime:
    """Now (a dependency: tests fix it)."""
    return datetime.now(UTC)


ClockDep = Annotated[datetime, Depends(clock)]


def _unprocessable(detail: str) -> HTTPException:
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail)


def time_zone(db: Session, name: str) -> ZoneInfo:
    """The zone of `name` if both Python and PostgreSQL know it (422 otherwise)."""
    try:
        zone = ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as err:
        raise _unprocessable(f"unknown time zone {name!r}") from err
    if name not in _known_zones:
        try:
            with db.begin_nested():
                db.connection().exec_driver_sql("SELECT now() AT TIME ZONE %(tz)s", {"tz": name})
        except DBAPIError as err:
            raise _unprocessable(f"time zone {name!r} is unknown to the database") from err
        _known_zones.add(name)
    return zone


def instant(name: str, value: str, zone: ZoneInfo) -> datetime:
    """An ISO 8601 date-time (or date) in UTC, read in `zone` without an offset; within the
    years `api.inputs` allows (1900–9000), so no later arithmetic overflows."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as err:
        raise _unprocessable(
            f"{name}: not an ISO 8601 date-time (e.g. 2026-03-01T00:00:00Z)"
        ) from err
    try:
        return utc(parsed if parsed.tzinfo else parsed.replace(tzinfo=zone))
    except ValueError as err:
        raise _unprocessable(f"{name}: {err}") from err


def scope_of(
    db: SessionDep,
    settings: SettingsDep,
    now: ClockDep,
    start: Annotated[
        str | None,
        Query(
            alias="from",
            max_length=64,
            description="start, inclusive (ISO 8601; without an offset: in `tz`). "
            "Default: 30 days before `to`.",
            json_schema_extra={"format": "date-time"},
        ),
    ] = None,
    end: Annotated[
        str | None,
        Query(
            alias="to",
            max_length=64,
            description="end, exclusive (ISO 8601; without an offset: in `tz`). Default: now.",
            json_schema_extra={"format": "date-time"},
        ),
    ] = None,
    site: Annotated[str | None, Query(max_length=64, description="a site's stations")] = None,
    station_id: Annotated[list[str] | None, Query(description="repeatable")] = None,
    connector_id: Annotated[int | None, Query(ge=0, le=ID_MAX)] = None,
    tz: Annotated[
        str | None,
        Query(
            max_length=64,
            description="IANA time zone of buckets and of times without an offset "
            "(default: `AMPFLOW_REPORT_TIME_ZONE`)",
        ),
    ] = None,
) -> Scope:
    """The analytics scope of a request (422 on a bad period or time zone); the period is the
    last 30 days when `from` and `to` are left out."""
    zone_name = tz or settings.report_time_zone
    zone = time_zone(db, zone_name)
    until = instant("to", end, zone) if end is not None else now.astimezone(UTC)
    if start is not None:
        since = instant("from", start, zone)
    elif until - EARLIEST >= DEFAULT_PERIOD:
        since = until - DEFAULT_PERIOD
    else:
        raise _unprocessable(f"from: 30 days before `to` is before {EARLIEST:%Y}")
    if not since < until or until - since > _MAX_SPAN:
        raise _unprocessable("need from < to, at most three years apart")
    stations = station_id
    if site is not None:
        members = q.stations_of_site(db.connection(), site)
        stations = [s for s in members if s in station_id] if station_id else members
    return Scope(
        start=since,
        end=until,
        time_zone=zone_name,
        station_ids=stations,
        connector_id=connector_id,
        now=now,
    )


ScopeDep = Annotated[Scope, Depends(scope_of)]


def period_label(scope: Scope) -> str:
    """`YYYYMMDD_YYYYMMDD` of the period in its time zone (for file names)."""
    zone = ZoneInfo(scope.time_zone)
    return f"{scope.start.astimezone(zone):%Y%m%d}_{scope.end.astimezone(zone):%Y%m%d}"


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
    """Sessions started per day / week / month, and the energy (Wh) and duration (s) of those
    that ended (a running session counts as started, not in energy or duration)."""
    return q.usage(db.connection(), scope, bucket)


@router.get("/analytics/heatmap")
def heatmap(db: SessionDep, scope: ScopeDep, _: OperatorDep) -> list[HeatmapCell]:
    """Sessions started and energy of those ended, by weekday (1 = Monday) × hour of start."""
    return q.heatmap(db.connection(), scope)


@router.get("/analytics/summary")
def summary(db: SessionDep, scope: ScopeDep, _: OperatorDep) -> SessionSummary:
    """Sessions started, ended and still open; energy, duration and their averages over the
    ended sessions only."""
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
    """Share of observed time each connector was charging / occupied (observed: from the
    connector's first status until now, within the period). Charging: 1.6 status Charging, or a
    2.0.1 transaction's chargingState Charging."""
    return [UtilizationRow.of(t) for t in q.connector_time(db.connection(), scope)]


@router.get("/analytics/uptime")
def uptime(db: SessionDep, scope: ScopeDep, _: OperatorDep) -> list[UptimeRow]:
    """Availability per connector: online and not faulted, maintenance windows excluded; time
    after now is not observed."""
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
    filename = f"{table}_{period_label(scope)}.csv"
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
    connector_id: int | None = Field(
        default=None, ge=1, le=ID_MAX, description="None: all of the station"
    )
    starts_at: datetime
    ends_at: datetime
    reason: str = Field(default="", max_length=500)

    @model_validator(mode="after")
    def _check(self) -> WindowIn:
        if self.starts_at.tzinfo is None or self.ends_at.tzinfo is None:
            raise ValueError("starts_at and ends_at need a UTC offset")
        self.starts_at, self.ends_at = utc(self.starts_at), utc(self.ends_at)
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
def delete_window(window_id: RowId, db: SessionDep, _: OperatorDep) -> None:
    row = db.get(MaintenanceWindow, window_id)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "unknown maintenance window")
    db.delete(row)


# ---- sites ---------------------------------------------------------------------------------
# A site is a location (`/locations`, `api/routes/locations.py`); `?site=` takes its id. These two
# routes are the grouping view of the same entity.


class SiteIn(BaseModel):
    station_ids: list[str] = Field(max_length=10_000)


class SiteOut(BaseModel):
    site_id: str = Field(description="the location's id")
    station_ids: list[str]


@router.get("/sites")
def list_sites(db: SessionDep, _: OperatorDep) -> list[SiteOut]:
    """Locations that hold stations, with their stations (an analytics scope: `?site=`)."""
    sites: dict[str, list[str]] = {}
    rows = db.exec(
        select(Station.location_id, Station.id)
        .where(Station.location_id.is_not(None))  # type: ignore[union-attr]
        .order_by(Station.location_id, Station.id)
    )
    for site_id, station_id in rows.all():
        sites.setdefault(site_id, []).append(station_id)
    return [SiteOut(site_id=site, station_ids=ids) for site, ids in sites.items()]


@router.put("/sites/{site_id}")
def put_site(site_id: str, body: SiteIn, db: SessionDep, who: OperatorDep) -> SiteOut:
    """Set the stations of a site (a station belongs to one location: it moves here); a new
    site id creates a location of that id and name (give it an address at `/locations`)."""
    if db.get(Location, site_id) is None and not LOCATION_ID.fullmatch(site_id):
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            "site_id: 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit",
        )
    stations = sorted(set(body.station_ids))
    known = set(db.exec(select(Station.id).where(Station.id.in_(stations))).all())  # type: ignore[attr-defined]
    if unknown := [s for s in stations if s not in known]:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, f"unknown stations: {', '.join(unknown[:20])}"
        )
    if db.get(Location, site_id) is None:
        db.add(Location(id=site_id, name=site_id, updated_at=datetime.now(UTC)))
        db.flush()
    db.exec(
        update(Station)  # type: ignore[call-overload]
        .where(Station.location_id == site_id, Station.id.not_in(stations))  # type: ignore
        .values(location_id=None)
    )
    if stations:
        db.exec(
            update(Station)  # type: ignore[call-overload]
            .where(Station.id.in_(stations))  # type: ignore[attr-defined]
            .values(location_id=site_id)
        )
    audit(db, who, "site.set_stations", f"location:{site_id}", {"station_ids": stations})
    return SiteOut(site_id=site_id, station_ids=stations)
