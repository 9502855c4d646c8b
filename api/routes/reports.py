"""Reports: the sessions CSV export, monthly reports (listed, downloadable) and their schedule.

The monthly report is the `MonthlyReport` workflow (one activity: query, chart, render HTML,
store in `reports`). A Temporal Schedule, `monthly-report-{task_queue}`, starts it on the 1st
of every month at 02:00 in `report_time_zone` for the month before; `PUT /reports/schedule`
creates it or brings it in line with the settings (idempotent). `POST /reports/monthly` builds
one month now.
"""

from __future__ import annotations

import csv
import io
import logging
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response, status
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field
from sqlalchemy import Engine
from sqlmodel import select
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleCalendarSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleRange,
    ScheduleSpec,
    ScheduleUpdate,
)
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.service import RPCError, RPCStatusCode

from api.deps import OperatorDep, SessionDep, SettingsDep, TemporalDep
from api.inputs import EARLIEST, LATEST, RowId
from api.routes.analytics import ClockDep, period_label, scope_of
from domain.analytics import (
    MONTHLY_REPORT,
    MonthlyReportRequest,
    Scope,
    month_period,
    report_schedule_id,
)
from runtime.settings import Settings
from store.monitoring_tables import Report

router = APIRouter(prefix="/reports", tags=["reports"])
log = logging.getLogger(__name__)

SESSION_COLUMNS = (
    "id",
    "station_id",
    "connector_id",
    "transaction_id",
    "driver_id",
    "state",
    "started_at",
    "stopped_at",
    "energy_wh",
    "duration_s",
    "stop_reason",
    "review_reason",
    "total_amount",
    "currency",
)
_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


# ---- sessions export -----------------------------------------------------------------------


def _session_rows(engine: Engine, scope: Scope, state: str | None) -> Iterator[str]:
    """CSV text in chunks, read with a server-side cursor (any number of sessions)."""
    sql = (
        f"SELECT {', '.join(SESSION_COLUMNS)} FROM sessions "
        "WHERE COALESCE(started_at, created_at) >= %(start)s "
        "AND COALESCE(started_at, created_at) < %(end)s"
    )
    params: dict = {"start": scope.start, "end": scope.end}
    if scope.station_ids is not None:
        sql += " AND station_id = ANY(%(stations)s)"
        params["stations"] = scope.station_ids
    if scope.connector_id is not None:
        sql += " AND connector_id = %(connector)s"
        params["connector"] = scope.connector_id
    if state:
        sql += " AND state = %(state)s"
        params["state"] = state
    sql += " ORDER BY COALESCE(started_at, created_at), id"
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(SESSION_COLUMNS)
    with engine.connect() as conn:
        result = conn.execution_options(stream_results=True, yield_per=2000).exec_driver_sql(
            sql, params
        )
        for partition in result.partitions():
            for row in partition:
                writer.writerow(
                    [
                        "" if v is None else v.isoformat() if isinstance(v, datetime) else v
                        for v in row
                    ]
                )
            yield out.getvalue()
            out.seek(0)
            out.truncate()
    yield out.getvalue()


@router.get(
    "/sessions.csv",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}}}},
)
def sessions_csv(
    request: Request,
    scope: Annotated[Scope, Depends(scope_of)],
    _: OperatorDep,
    state: str | None = None,
) -> StreamingResponse:
    """Every session that started (or was created) in the period, as CSV (default period: the
    last 30 days)."""
    filename = f"sessions_{period_label(scope)}.csv"
    return StreamingResponse(
        _session_rows(request.app.state.db.engine, scope, state),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


# ---- the schedule --------------------------------------------------------------------------


class ScheduleInfo(BaseModel):
    schedule_id: str
    time_zone: str
    next_runs: list[datetime]
    recent_runs: list[str]  # workflow ids


def _schedule(settings: Settings) -> Schedule:
    return Schedule(
        action=ScheduleActionStartWorkflow(
            MONTHLY_REPORT,
            MonthlyReportRequest(),
            id=f"monthly-report-{settings.task_queue}",
            task_queue=settings.task_queue,
            static_summary="Monthly report of the month before",
        ),
        spec=ScheduleSpec(
            calendars=[
                ScheduleCalendarSpec(
                    day_of_month=[ScheduleRange(1)],
                    hour=[ScheduleRange(2)],
                    comment="02:00 on the 1st of every month",
                )
            ],
            time_zone_name=settings.report_time_zone,
        ),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP, catchup_window=timedelta(days=7)),
    )


async def ensure_report_schedule(client: Client, settings: Settings) -> str:
    """Create the monthly report schedule, or update it to match the settings (idempotent)."""
    schedule_id = report_schedule_id(settings.task_queue)
    schedule = _schedule(settings)
    try:
        await client.create_schedule(schedule_id, schedule)
    except ScheduleAlreadyRunningError:
        await client.get_schedule_handle(schedule_id).update(
            lambda _: ScheduleUpdate(schedule=schedule)
        )
    return schedule_id


async def _describe(client: Client, settings: Settings) -> ScheduleInfo:
    schedule_id = report_schedule_id(settings.task_queue)
    described = await client.get_schedule_handle(schedule_id).describe()
    spec = described.schedule.spec
    return ScheduleInfo(
        schedule_id=schedule_id,
        time_zone=spec.time_zone_name or "UTC",
        next_runs=list(described.info.next_action_times),
        recent_runs=[
            getattr(action.action, "workflow_id", "") for action in described.info.recent_actions
        ],
    )


@router.put("/schedule")
async def put_schedule(
    temporal: TemporalDep, settings: SettingsDep, _: OperatorDep
) -> ScheduleInfo:
    """Create (or update) the monthly report schedule."""
    await ensure_report_schedule(temporal, settings)
    return await _describe(temporal, settings)


@router.get("/schedule")
async def get_schedule(
    temporal: TemporalDep, settings: SettingsDep, _: OperatorDep
) -> ScheduleInfo:
    try:
        return await _describe(temporal, settings)
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no report schedule yet") from err
        raise


# ---- monthly reports -----------------------------------------------------------------------


class MonthlyRun(BaseModel):
    month: str = Field(pattern=_MONTH.pattern, description="YYYY-MM")


class RunStarted(BaseModel):
    workflow_id: str
    month: str


@router.post("/monthly", status_code=status.HTTP_202_ACCEPTED)
async def run_monthly(
    body: MonthlyRun, temporal: TemporalDep, settings: SettingsDep, who: OperatorDep, now: ClockDep
) -> RunStarted:
    """Build the report of a month now (the stored report of that month is replaced). The
    current month is reported up to now; a month that has not begun is refused (422)."""
    try:
        start, end = month_period(body.month, settings.report_time_zone)
        in_range = EARLIEST <= start.astimezone(UTC) and end.astimezone(UTC) < LATEST
    except (ValueError, OverflowError):
        in_range = False
    if not in_range:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            f"month: out of range ({EARLIEST:%Y} to {LATEST:%Y})",
        )
    if start > now:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "month: has not begun yet")
    workflow_id = f"monthly-report-{body.month}-{settings.task_queue}"
    await temporal.start_workflow(
        MONTHLY_REPORT,
        MonthlyReportRequest(month=body.month, requested_by=who),
        id=workflow_id,
        task_queue=settings.task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        static_summary=f"Monthly report {body.month}",
    )
    return RunStarted(workflow_id=workflow_id, month=body.month)


class ReportInfo(BaseModel):
    id: int
    kind: str
    label: str
    period_start: datetime
    period_end: datetime
    title: str
    size: int
    workflow_id: str | None
    created_by: str
    created_at: datetime


@router.get("")
def list_reports(
    db: SessionDep, _: OperatorDep, limit: Annotated[int, Query(ge=1, le=500)] = 50
) -> list[ReportInfo]:
    """Newest period first."""
    rows = db.exec(select(Report).order_by(Report.period_start.desc()).limit(limit)).all()
    return [ReportInfo.model_validate(r, from_attributes=True) for r in rows]


@router.get("/{report_id}")
def get_report(report_id: RowId, db: SessionDep, _: OperatorDep) -> ReportInfo:
    return ReportInfo.model_validate(_report(db, report_id), from_attributes=True)


@router.get(
    "/{report_id}/download",
    response_class=Response,
    responses={200: {"content": {"text/html": {}}}},
)
def download_report(report_id: RowId, db: SessionDep, _: OperatorDep) -> Response:
    """The report as a self-contained HTML file (charts embedded)."""
    report = _report(db, report_id)
    filename = f"ampflow-{report.kind}-{report.label}.html"
    return Response(
        report.content,
        media_type=report.content_type,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def _report(db: SessionDep, report_id: int) -> Report:
    report = db.get(Report, report_id)
    if report is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "unknown report")
    return report
