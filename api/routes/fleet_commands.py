"""Fleet operations: one command for many stations through a `FleetCommand` workflow.

`POST /fleet-commands` starts it (every accepted station, or the ones named) and answers at
once; `GET /fleet-commands/{workflow_id}` shows its progress. Each station's outcome is also in
its own command log (`GET /stations/{id}/commands`).
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel, Field
from sqlmodel import col, select
from temporalio.service import RPCError, RPCStatusCode

from api.deps import OperatorDep, SessionDep, SettingsDep, TemporalDep
from domain.access import redact_secrets
from domain.commands import (
    COMMAND_NAMES,
    FLEET_MAX_STATIONS,
    REPORTED_COMMANDS,
    FleetCommand,
    FleetProgress,
)
from store.audit import audit
from store.tables import Station
from workflows import contract

router = APIRouter(prefix="/fleet-commands", tags=["operations"])

# Commands about one session or one transaction: meaningless for a whole fleet.
_PER_SESSION = frozenset({"remote_start", "remote_stop"})


class FleetCommandRequest(BaseModel):
    name: str = Field(description="a station command name, except remote_start and remote_stop")
    params: dict = Field(default_factory=dict)
    station_ids: list[str] | None = Field(
        default=None,
        max_length=FLEET_MAX_STATIONS,
        description="the stations (default: every station whose registration is Accepted)",
    )
    timeout_s: float = Field(default=30.0, gt=0, le=300)
    retries: int = Field(default=2, ge=0, le=10, description="rounds again for stations offline")
    retry_after_s: float = Field(default=30.0, ge=1, le=600)


class FleetCommandStarted(BaseModel):
    workflow_id: str
    stations: int


@router.post("", status_code=status.HTTP_202_ACCEPTED)
async def start_fleet_command(
    body: FleetCommandRequest,
    db: SessionDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    who: OperatorDep,
) -> FleetCommandStarted:
    """Start the command on many stations; follow it at `GET /fleet-commands/{workflow_id}`."""
    if body.name not in COMMAND_NAMES or body.name in _PER_SESSION:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, f"not a fleet command: {body.name}"
        )
    if redact_secrets(body.params) != body.params:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            "station passwords are set station by station (POST /stations/{id}/commands)",
        )
    station_ids = _stations(db, body.station_ids)
    if not station_ids:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "no station to send it to")
    if len(station_ids) > FLEET_MAX_STATIONS:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            f"{len(station_ids)} stations: at most {FLEET_MAX_STATIONS} per fleet command "
            "(name them in `station_ids`, in parts)",
        )
    if body.name in REPORTED_COMMANDS and body.params.get("request_id") is None:
        body.params["request_id"] = secrets.randbelow(2**31 - 1) + 1  # names the reports
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
    workflow_id = contract.fleet_command_workflow_id(body.name, stamp)
    audit(
        db,
        who,
        f"fleet.{body.name}",
        f"workflow:{workflow_id}",
        {"params": body.params, "stations": len(station_ids)},
    )
    db.commit()  # the request is on record before anything is sent
    await temporal.start_workflow(
        contract.FLEET_COMMAND,
        FleetCommand(
            **body.model_dump(exclude={"station_ids"}),
            station_ids=station_ids,
            requested_by=who,
        ),
        id=workflow_id,
        task_queue=settings.task_queue,
        static_summary=f"{body.name} to {len(station_ids)} stations",
    )
    return FleetCommandStarted(workflow_id=workflow_id, stations=len(station_ids))


@router.get("/{workflow_id}")
async def get_fleet_command(
    workflow_id: str, temporal: TemporalDep, _: OperatorDep
) -> FleetProgress:
    """Progress: how many stations answered how, who was not reached (the first 1,000)."""
    if not workflow_id.startswith("fleet-cmd-"):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "unknown fleet command")
    handle = temporal.get_workflow_handle(workflow_id)
    try:
        progress = await handle.query(contract.QUERY_FLEET_PROGRESS, result_type=FleetProgress)
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "unknown fleet command") from err
        raise
    return progress


def _stations(db, named: list[str] | None) -> list[str]:
    """The stations named (each must exist), or every accepted station."""
    if named is None:
        query = select(Station.id).where(Station.registration_status == "Accepted")
        return list(db.exec(query.order_by(Station.id)).all())
    named = list(dict.fromkeys(named))
    known = set(db.exec(select(Station.id).where(col(Station.id).in_(named))).all())
    unknown = [s for s in named if s not in known]
    if unknown:
        shown = ", ".join(unknown[:10]) + (" …" if len(unknown) > 10 else "")
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"unknown stations: {shown}")
    return named
