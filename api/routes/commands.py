"""Remote operations: send a command to a station through a `StationCommand` workflow."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

from fastapi import APIRouter, HTTPException, Query, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlmodel import select
from temporalio.common import SearchAttributePair, TypedSearchAttributes

from api.deps import OperatorDep, PrincipalDep, SessionDep, SettingsDep, TemporalDep
from api.redaction import shown_model
from domain.commands import COMMAND_NAMES, REPORTED_COMMANDS, CommandRecord, StationCommand
from store.audit import audit
from store.tables import Station, StationCommandLog
from workflows import contract

router = APIRouter(prefix="/stations/{station_id}/commands", tags=["operations"])

# How each outcome is answered over HTTP (the body is always the command record).
_HTTP_STATUS = {
    "ok": status.HTTP_200_OK,
    "offline": status.HTTP_409_CONFLICT,
    "rejected": status.HTTP_502_BAD_GATEWAY,
    "timeout": status.HTTP_504_GATEWAY_TIMEOUT,
    "not_supported": status.HTTP_422_UNPROCESSABLE_CONTENT,
    "error": status.HTTP_500_INTERNAL_SERVER_ERROR,
}


class CommandRequest(BaseModel):
    name: str = Field(description=f"one of: {', '.join(COMMAND_NAMES)}")
    params: dict = Field(default_factory=dict)
    timeout_s: float = Field(default=30.0, gt=0, le=300)


@router.post("", responses={409: {"description": "station offline"}})
async def send_command(
    station_id: str,
    body: CommandRequest,
    db: SessionDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    who: OperatorDep,
) -> CommandRecord:
    """Run the command on the station and return its answer (waits up to `timeout_s`)."""
    if body.name not in COMMAND_NAMES:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"unknown command {body.name}")
    if db.get(Station, station_id) is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "unknown station")
    if body.name in REPORTED_COMMANDS and body.params.get("request_id") is None:
        body.params["request_id"] = secrets.randbelow(2**31 - 1) + 1  # names the report
    audit(db, who, f"station.{body.name}", f"station:{station_id}", body.params)
    db.commit()  # the request is on record even if the station never answers
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
    record: CommandRecord = await temporal.execute_workflow(
        contract.STATION_COMMAND,
        StationCommand(station_id=station_id, requested_by=who, **body.model_dump()),
        id=contract.command_workflow_id(station_id, body.name, stamp),
        task_queue=settings.task_queue,
        search_attributes=TypedSearchAttributes(
            [SearchAttributePair(contract.STATION_ID, station_id)]
        ),
        result_type=CommandRecord,
    )
    shown = shown_model(record)  # the operator's own station password is not echoed
    return JSONResponse(shown.model_dump(mode="json"), status_code=_HTTP_STATUS[record.outcome])


@router.get("")
def list_commands(
    station_id: str, db: SessionDep, caller: PrincipalDep, limit: int = Query(50, ge=1, le=500)
) -> list[CommandRecord]:
    """The station's commands, newest first (station passwords redacted; one-time upload URLs
    only for roles that send commands)."""
    rows = db.exec(
        select(StationCommandLog)
        .where(StationCommandLog.station_id == station_id)
        .order_by(StationCommandLog.id.desc())
        .limit(limit)
    ).all()
    return [
        shown_model(CommandRecord.model_validate(r, from_attributes=True), caller) for r in rows
    ]
