"""Maintenance for operators: diagnostics, the jobs list, alerts, and friendly remote operations.

Jobs are workflows (Diagnostics, FirmwareUpdate, FirmwareRollout, SelfHealing): the list joins
Temporal's visibility (what runs, what ended how) with the rows the workflows write (state,
reason, who asked, detail); a running job's live progress is its `progress` query.
Reset, unlock, availability and configuration are thin wrappers over the `StationCommand`
workflow (`POST /stations/{id}/commands`), so each is recorded with its outcome and who asked.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request, status
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, Field
from sqlalchemy import text
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import Session, select
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.service import RPCError, RPCStatusCode

from api.deps import OperatorDep, PrincipalDep, SessionDep, SettingsDep, TemporalDep
from api.inputs import INT32_MAX, RowId, UtcDateTime
from api.redaction import shown_model
from api.routes import commands
from api.routes.uploads import file_response
from domain.commands import CommandRecord
from domain.maintenance import (
    DIAGNOSTICS,
    MAINTENANCE_WORKFLOWS,
    QUERY_PROGRESS,
    WORKFLOW_KINDS,
    DeviceModelEntry,
    DiagnosticsRequest,
    JobKind,
    JobState,
    LogType,
    compact_time,
    configuration_entries,
    diagnostics_workflow_id,
)
from store.maintenance_tables import (
    DesiredConfigurationValue,
    DeviceModelVariable,
    DiagnosticsUpload,
    MaintenanceAlert,
    MaintenanceJob,
)
from store.tables import Station
from workflows import contract

router = APIRouter(tags=["maintenance"])

_TEMPORAL_STATES = {
    WorkflowExecutionStatus.RUNNING: JobState.RUNNING,
    WorkflowExecutionStatus.COMPLETED: JobState.SUCCEEDED,
    WorkflowExecutionStatus.CANCELED: JobState.CANCELLED,
    WorkflowExecutionStatus.TERMINATED: JobState.CANCELLED,
}


class JobView(BaseModel):
    """A maintenance job as operators see it."""

    workflow_id: str
    kind: JobKind
    station_id: str | None = None
    state: JobState
    temporal_status: str | None = None  # Running, Completed, Failed, ... (None: not visible yet)
    requested_by: str | None = None
    summary: str | None = None
    reason: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None


class JobDetail(JobView):
    progress: dict[str, Any] = Field(default_factory=dict)  # live (query) or the last recorded


class DiagnosticsCreate(BaseModel):
    log_type: LogType = LogType.DIAGNOSTICS
    oldest: UtcDateTime | None = None
    latest: UtcDateTime | None = None
    attempts: int = Field(default=2, ge=1, le=10)
    retry_delay_s: float = Field(default=30.0, ge=0, le=86_400)
    upload_timeout_s: float = Field(default=900.0, gt=0, le=7 * 86_400)
    command_timeout_s: float = Field(default=30.0, gt=0, le=300)
    station_retries: int | None = Field(default=None, ge=0, le=100)
    station_retry_interval_s: int | None = Field(default=None, ge=0, le=86_400)


class JobStarted(BaseModel):
    workflow_id: str


class AlertView(BaseModel):
    id: int
    station_id: str
    kind: str
    message: str
    workflow_id: str | None
    detail: dict
    created_at: datetime
    resolved_at: datetime | None
    resolved_by: str | None


class ResetRequest(BaseModel):
    type: Literal["Soft", "Hard"] = "Soft"


class UnlockRequest(BaseModel):
    connector_id: int = Field(default=1, ge=1, le=INT32_MAX)


class AvailabilityRequest(BaseModel):
    connector_id: int = Field(default=0, ge=0, le=INT32_MAX, description="0 = the whole station")
    operative: bool


class ConfigurationView(BaseModel):
    command: CommandRecord
    configuration: list[dict] = Field(default_factory=list)  # as the station reported it
    unknown_keys: list[str] = Field(default_factory=list)
    desired: dict[str, str] = Field(default_factory=dict)


class ConfigurationChange(BaseModel):
    values: dict[str, str] = Field(min_length=1)
    remember: bool = Field(default=True, description="keep as the desired configuration")


class ConfigurationResult(BaseModel):
    results: dict[str, CommandRecord]
    desired: dict[str, str]


class DeviceModelRefresh(BaseModel):
    report_base: Literal["FullInventory", "ConfigurationInventory", "SummaryInventory"] = (
        "FullInventory"
    )


def _station(db: Session, station_id: str) -> Station:
    station = db.get(Station, station_id)
    if station is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "unknown station")
    return station


def _quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


async def start_station_job(
    db: Session,
    temporal: Client,
    kind: JobKind,
    station_id: str,
    workflow: str,
    request: BaseModel,
    *,
    workflow_id: str,
    task_queue: str,
    requested_by: str,
    summary: str,
) -> JobStarted:
    """Start a one-per-station job: 409 while another of its kind runs for the station.

    Requests for a station and kind are serialized by an advisory lock, and the job row is
    written here (the workflow updates it), so the next request and the gateway see it at once.
    """
    db.exec(  # type: ignore[call-overload]
        text("SELECT pg_advisory_xact_lock(hashtext(:key))"),
        params={"key": f"maintenance:{kind}:{station_id}"},
    )
    running = db.exec(
        select(MaintenanceJob.workflow_id).where(
            MaintenanceJob.station_id == station_id,
            MaintenanceJob.kind == kind,
            MaintenanceJob.state == JobState.RUNNING,
        )
    ).first()
    if running is not None:
        raise HTTPException(status.HTTP_409_CONFLICT, f"{running} is still running")
    handle = await temporal.start_workflow(
        workflow,
        request,
        id=workflow_id,
        task_queue=task_queue,
        search_attributes=TypedSearchAttributes(
            [SearchAttributePair(contract.STATION_ID, station_id)]
        ),
        static_summary=summary,
    )
    db.add(
        MaintenanceJob(
            workflow_id=workflow_id,
            run_id=handle.first_execution_run_id or handle.result_run_id or "",
            kind=kind,
            station_id=station_id,
            requested_by=requested_by,
            summary=summary,
        )
    )
    db.commit()
    return JobStarted(workflow_id=workflow_id)


# ---- diagnostics -------------------------------------------------------------------------


@router.post("/stations/{station_id}/diagnostics", status_code=status.HTTP_202_ACCEPTED)
async def request_diagnostics(
    station_id: str,
    body: DiagnosticsCreate,
    db: SessionDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    who: OperatorDep,
) -> JobStarted:
    """Start a `Diagnostics` job; the file is at GET /maintenance/jobs/{workflow_id}/file.

    One at a time per station (1.6 status notifications carry no request id)."""
    _station(db, station_id)
    return await start_station_job(
        db,
        temporal,
        JobKind.DIAGNOSTICS,
        station_id,
        DIAGNOSTICS,
        DiagnosticsRequest(
            station_id=station_id,
            upload_base_url=settings.api_base_url,
            max_bytes=settings.diagnostics_max_bytes,
            upload_ttl_s=settings.diagnostics_upload_ttl_s,
            requested_by=who,
            **body.model_dump(),
        ),
        workflow_id=diagnostics_workflow_id(station_id, compact_time(datetime.now(UTC))),
        task_queue=settings.task_queue,
        requested_by=who,
        summary=f"{body.log_type.value} from {station_id}",
    )


# ---- jobs --------------------------------------------------------------------------------


def _row_view(row: MaintenanceJob) -> JobView:
    return JobView.model_validate(row, from_attributes=True)


async def _visible(
    temporal: Client,
    task_queue: str,
    kind: JobKind | None,
    station_id: str | None,
    running: bool,
    limit: int,
) -> dict[str, JobView]:
    """Maintenance workflows on our task queue, as Temporal's visibility lists them."""
    types = [t for t in MAINTENANCE_WORKFLOWS if kind is None or WORKFLOW_KINDS[t] == kind]
    query = f"WorkflowType IN ({', '.join(_quote(t) for t in types)})"
    query += f" AND TaskQueue = {_quote(task_queue)}"
    if station_id is not None:
        query += f" AND StationId = {_quote(station_id)}"
    if running:
        query += " AND ExecutionStatus = 'Running'"
    found: dict[str, JobView] = {}
    async for execution in temporal.list_workflows(query, limit=limit):
        if execution.id in found:
            continue  # an older run of a reused id (healing-{station})
        status_ = execution.status
        found[execution.id] = JobView(
            workflow_id=execution.id,
            kind=WORKFLOW_KINDS[execution.workflow_type],
            station_id=(execution.typed_search_attributes.get(contract.STATION_ID)),
            state=_TEMPORAL_STATES.get(status_, JobState.FAILED) if status_ else JobState.RUNNING,
            temporal_status=status_.name.title() if status_ else None,
            started_at=execution.start_time,
            finished_at=execution.close_time,
        )
    return found


@router.get("/maintenance/jobs")
async def list_jobs(
    db: SessionDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    _: OperatorDep,
    kind: JobKind | None = None,
    station_id: str | None = None,
    state: JobState | None = None,
    limit: int = Query(100, ge=1, le=1000),
) -> list[JobView]:
    """Running and finished jobs, newest first (Temporal visibility joined with the job rows)."""
    statement = select(MaintenanceJob).order_by(MaintenanceJob.started_at.desc()).limit(limit)  # type: ignore[attr-defined]
    if kind is not None:
        statement = statement.where(MaintenanceJob.kind == kind)
    if station_id is not None:
        statement = statement.where(MaintenanceJob.station_id == station_id)
    if state is not None:
        statement = statement.where(MaintenanceJob.state == state)
    rows = db.exec(statement).all()
    running = state == JobState.RUNNING
    visible = await _visible(temporal, settings.task_queue, kind, station_id, running, limit)
    jobs: dict[str, JobView] = {}
    for row in rows:
        if row.workflow_id in jobs:
            continue  # older runs of healing-{station}: the newest row is enough
        view = _row_view(row)
        seen = visible.pop(row.workflow_id, None)
        if seen is not None and seen.started_at and row.started_at <= seen.started_at:
            view.temporal_status = seen.temporal_status
            if view.state == JobState.RUNNING and seen.state != JobState.RUNNING:
                view.state = JobState.FAILED  # ended without recording it (terminated, ...)
                view.reason = view.reason or f"workflow {seen.temporal_status}"
        jobs[row.workflow_id] = view
    for view in visible.values():  # started, not recorded yet (or recorded elsewhere)
        if state is None or view.state == state:
            jobs[view.workflow_id] = view
    ordered = sorted(jobs.values(), key=lambda j: j.started_at or datetime.min.replace(tzinfo=UTC))
    return list(reversed(ordered))[:limit]


@router.get("/maintenance/jobs/{workflow_id}")
async def get_job(
    workflow_id: str, db: SessionDep, temporal: TemporalDep, caller: PrincipalDep
) -> JobDetail:
    """One job with its progress: live from the workflow while it runs, else as recorded."""
    row = db.exec(
        select(MaintenanceJob)
        .where(MaintenanceJob.workflow_id == workflow_id)
        .order_by(MaintenanceJob.started_at.desc())  # type: ignore[attr-defined]
        .limit(1)
    ).first()
    handle = temporal.get_workflow_handle(workflow_id)
    try:
        description = await handle.describe()
    except RPCError as err:
        if err.status != RPCStatusCode.NOT_FOUND:
            raise
        description = None
    if row is None and description is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "unknown job")
    if row is not None:
        detail = JobDetail(**_row_view(row).model_dump(), progress=row.detail)
    else:
        assert description is not None
        if description.workflow_type not in WORKFLOW_KINDS:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "not a maintenance job")
        detail = JobDetail(
            workflow_id=workflow_id,
            kind=WORKFLOW_KINDS[description.workflow_type],
            state=JobState.RUNNING,
            started_at=description.start_time,
        )
    if description is not None and description.status is not None:
        detail.temporal_status = description.status.name.title()
        ended = description.status != WorkflowExecutionStatus.RUNNING
        if ended and detail.state == JobState.RUNNING:  # ended without recording it
            detail.state = _TEMPORAL_STATES.get(description.status, JobState.FAILED)
            detail.reason = detail.reason or f"workflow {detail.temporal_status}"
        if description.status == WorkflowExecutionStatus.RUNNING:
            try:
                progress = await handle.query(QUERY_PROGRESS)
                detail.progress = progress if isinstance(progress, dict) else detail.progress
            except RPCError:
                pass  # no worker right now: the recorded progress will do
    return shown_model(detail, caller)


@router.post("/maintenance/jobs/{workflow_id}/cancel", status_code=status.HTTP_202_ACCEPTED)
async def cancel_job(workflow_id: str, temporal: TemporalDep, _: OperatorDep) -> JobStarted:
    """Cancel a running job (a rollout also cancels its running updates)."""
    if not workflow_id.startswith(("diagnostics-", "firmware-", "rollout-", "healing-")):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "not a maintenance job")
    try:
        await temporal.get_workflow_handle(workflow_id).cancel()
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no such running job") from err
        raise
    return JobStarted(workflow_id=workflow_id)


@router.get("/maintenance/jobs/{workflow_id}/file")
def download_diagnostics(
    workflow_id: str, request: Request, db: SessionDep, _: OperatorDep
) -> StreamingResponse:
    """The diagnostics or log file a `Diagnostics` job received."""
    upload = db.exec(
        select(DiagnosticsUpload)
        .where(DiagnosticsUpload.workflow_id == workflow_id, DiagnosticsUpload.state == "received")
        .order_by(DiagnosticsUpload.id.desc())  # type: ignore[union-attr]
        .limit(1)
    ).first()
    if upload is None or upload.file_id is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no file received for this job")
    return file_response(
        request.app.state.db,
        upload.file_id,
        upload.size or 0,
        upload.file_name or "diagnostics",
        "application/octet-stream",
    )


# ---- alerts ------------------------------------------------------------------------------


@router.get("/maintenance/alerts")
def list_alerts(
    db: SessionDep,
    _: OperatorDep,
    station_id: str | None = None,
    open_only: bool = True,
    limit: int = Query(100, ge=1, le=1000),
) -> list[AlertView]:
    statement = select(MaintenanceAlert).order_by(MaintenanceAlert.id.desc()).limit(limit)  # type: ignore[union-attr]
    if station_id is not None:
        statement = statement.where(MaintenanceAlert.station_id == station_id)
    if open_only:
        statement = statement.where(MaintenanceAlert.resolved_at.is_(None))  # type: ignore
    return [AlertView.model_validate(a, from_attributes=True) for a in db.exec(statement).all()]


@router.post("/maintenance/alerts/{alert_id}/resolve")
def resolve_alert(alert_id: RowId, db: SessionDep, who: OperatorDep) -> AlertView:
    """Close an alert: self-healing acts on the station again."""
    alert = db.get(MaintenanceAlert, alert_id)
    if alert is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "unknown alert")
    if alert.resolved_at is None:
        alert.resolved_at, alert.resolved_by = datetime.now(UTC), who
        db.add(alert)
        db.flush()
    return AlertView.model_validate(alert, from_attributes=True)


# ---- friendly remote operations (StationCommand workflows) --------------------------------


async def _command(
    station_id: str,
    name: str,
    params: dict,
    db: Session,
    temporal: Client,
    settings,
    who: str,
) -> tuple[CommandRecord, int]:
    response = await commands.send_command(
        station_id, commands.CommandRequest(name=name, params=params), db, temporal, settings, who
    )
    return CommandRecord.model_validate(json.loads(response.body)), response.status_code


def _as_response(record: CommandRecord, code: int, body: BaseModel | None = None) -> JSONResponse:
    return JSONResponse((body or record).model_dump(mode="json"), status_code=code)


@router.post("/stations/{station_id}/reset")
async def reset_station(
    station_id: str,
    body: ResetRequest,
    db: SessionDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    who: OperatorDep,
) -> CommandRecord:
    """Soft or hard reset (2.0.1: OnIdle or Immediate)."""
    record, code = await _command(
        station_id, "reset", {"type": body.type}, db, temporal, settings, who
    )
    return _as_response(record, code)  # type: ignore[return-value]


@router.post("/stations/{station_id}/unlock")
async def unlock_connector(
    station_id: str,
    body: UnlockRequest,
    db: SessionDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    who: OperatorDep,
) -> CommandRecord:
    record, code = await _command(
        station_id,
        "unlock_connector",
        {"connector_id": body.connector_id},
        db,
        temporal,
        settings,
        who,
    )
    return _as_response(record, code)  # type: ignore[return-value]


@router.post("/stations/{station_id}/availability")
async def change_availability(
    station_id: str,
    body: AvailabilityRequest,
    db: SessionDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    who: OperatorDep,
) -> CommandRecord:
    """Operative / inoperative; a station busy charging answers `Scheduled`."""
    record, code = await _command(
        station_id, "change_availability", body.model_dump(), db, temporal, settings, who
    )
    return _as_response(record, code)  # type: ignore[return-value]


def _desired(db: Session, station_id: str) -> dict[str, str]:
    rows = db.exec(
        select(DesiredConfigurationValue).where(DesiredConfigurationValue.station_id == station_id)
    ).all()
    return {row.key: row.value for row in rows}


@router.get("/stations/{station_id}/configuration")
async def get_configuration(
    station_id: str,
    db: SessionDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    who: OperatorDep,
    keys: Annotated[list[str] | None, Query()] = None,
) -> ConfigurationView:
    """The station's configuration as it reports it now, and the desired configuration."""
    record, code = await _command(
        station_id, "get_configuration", {"keys": keys} if keys else {}, db, temporal, settings, who
    )
    response = record.response or {}
    view = ConfigurationView(
        command=record,
        configuration=response.get("configurationKey", []),
        unknown_keys=response.get("unknownKey", []),
        desired=_desired(db, station_id),
    )
    return _as_response(record, code, shown_model(view))  # type: ignore[return-value]


@router.put("/stations/{station_id}/configuration")
async def change_configuration(
    station_id: str,
    body: ConfigurationChange,
    db: SessionDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    who: OperatorDep,
) -> ConfigurationResult:
    """Change keys now (one ChangeConfiguration each) and, by default, remember them as
    desired: they are re-applied after every firmware update."""
    _station(db, station_id)
    if body.remember:
        for key, value in body.values.items():
            statement = insert(DesiredConfigurationValue).values(
                station_id=station_id, key=key, value=value, updated_by=who
            )
            db.exec(  # type: ignore[call-overload]
                statement.on_conflict_do_update(
                    index_elements=["station_id", "key"],
                    set_={"value": value, "updated_by": who, "updated_at": datetime.now(UTC)},
                )
            )
        db.commit()
    results: dict[str, CommandRecord] = {}
    for key, value in body.values.items():
        results[key], _ = await _command(
            station_id,
            "change_configuration",
            {"key": key, "value": value},
            db,
            temporal,
            settings,
            who,
        )
    return shown_model(ConfigurationResult(results=results, desired=_desired(db, station_id)))


# ---- device model ------------------------------------------------------------------------


@router.get("/stations/{station_id}/device-model")
def get_device_model(
    station_id: str, db: SessionDep, _: OperatorDep, component: str | None = None
) -> list[DeviceModelEntry]:
    """The stored device model (2.0.1 reports; 1.6 configuration keys)."""
    _station(db, station_id)
    statement = (
        select(DeviceModelVariable)
        .where(DeviceModelVariable.station_id == station_id)
        .order_by(DeviceModelVariable.component_key, DeviceModelVariable.variable_key)
    )
    if component is not None:
        statement = statement.where(DeviceModelVariable.component_key == component)
    rows = db.exec(statement).all()
    return [DeviceModelEntry.model_validate(r, from_attributes=True) for r in rows]


@router.post("/stations/{station_id}/device-model/refresh")
async def refresh_device_model(
    station_id: str,
    body: DeviceModelRefresh,
    db: SessionDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    who: OperatorDep,
) -> CommandRecord:
    """2.0.1: GetBaseReport (the NotifyReport parts are stored as they arrive);
    1.6: GetConfiguration, stored at once."""
    station = _station(db, station_id)
    if station.connected_version == "ocpp2.0.1":
        request_id = int(datetime.now(UTC).timestamp() * 1000) % 2**31
        params = {"request_id": request_id, "report_base": body.report_base}
        record, code = await _command(
            station_id, "get_base_report", params, db, temporal, settings, who
        )
        return _as_response(record, code)  # type: ignore[return-value]
    record, code = await _command(station_id, "get_configuration", {}, db, temporal, settings, who)
    if record.outcome == "ok" and record.response:
        now = datetime.now(UTC)
        for entry in configuration_entries(record.response.get("configurationKey", [])):
            values = {**entry.model_dump(), "station_id": station_id, "updated_at": now}
            statement = insert(DeviceModelVariable).values(**values)
            db.exec(  # type: ignore[call-overload]
                statement.on_conflict_do_update(
                    index_elements=["station_id", "component_key", "variable_key"],
                    set_={k: statement.excluded[k] for k in ("attributes", "updated_at")},
                )
            )
    return _as_response(record, code)  # type: ignore[return-value]
