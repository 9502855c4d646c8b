"""Local authorization lists on chargers: enable, sync (full or differential), history, check.

A `LocalListSync` workflow per station pushes the list with SendLocalList; credential changes
call `notify_list_change`, which wakes (or starts) the sync of every station holding a list.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import BaseModel, Field
from sqlmodel import Session, select
from temporalio.client import Client
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.service import RPCError

from api.deps import ID_MAX, PrincipalDep, SessionDep, SettingsDep, TemporalDep
from domain.access import (
    LOCAL_LIST_SYNC,
    SIGNAL_LOCAL_LIST_CHANGED,
    LocalListChanged,
    LocalListSyncInput,
    local_list_workflow_id,
)
from domain.commands import CommandRecord, StationCommand
from runtime.settings import Settings
from store.access_tables import LocalList, LocalListVersion
from store.audit import audit
from store.tables import Station
from workflows import contract

router = APIRouter(prefix="/stations/{station_id}/local-list", tags=["local lists"])
log = logging.getLogger(__name__)


class LocalListSettings(BaseModel):
    enabled: bool = Field(description="hold a local list (true) or clear it from the charger")


class SyncRequest(BaseModel):
    full: bool = Field(default=False, description="send the whole list instead of the changes")


class LocalListVersionPublic(BaseModel):
    id: int
    version: int
    update_type: str
    entries: list
    outcome: str
    status: str | None
    error: str | None
    created_at: datetime
    finished_at: datetime | None


class LocalListStatus(BaseModel):
    station_id: str
    enabled: bool
    version: int = Field(description="the version the station last accepted (0: none)")
    entries: int = Field(description="credentials on the accepted list")
    last_outcome: str | None
    synced_at: datetime | None
    history: list[LocalListVersionPublic]


class ListVersionCheck(BaseModel):
    outcome: str
    station_version: int | None
    server_version: int
    in_sync: bool


@router.get("")
def local_list_status(station_id: str, db: SessionDep, _: PrincipalDep) -> LocalListStatus:
    """Whether the station holds a list, its accepted version and the latest updates."""
    _station(db, station_id)
    return _status(db, station_id)


@router.put("", status_code=status.HTTP_202_ACCEPTED)
async def set_local_list(
    station_id: str,
    body: LocalListSettings,
    db: SessionDep,
    who: PrincipalDep,
    temporal: TemporalDep,
    settings: SettingsDep,
) -> LocalListStatus:
    """Start holding a list (a full push follows) or stop (the list on the charger is cleared)."""
    _station(db, station_id)
    row = db.get(LocalList, station_id) or LocalList(station_id=station_id, enabled=False)
    row.enabled = body.enabled
    row.updated_at = datetime.now(UTC)
    db.add(row)
    action = "local_list.enable" if body.enabled else "local_list.disable"
    audit(db, who.actor, action, f"station:{station_id}")
    db.commit()
    await notify_list_change(db, temporal, settings, who.actor, [station_id], full=True)
    return _status(db, station_id)


@router.post("/sync", status_code=status.HTTP_202_ACCEPTED)
async def sync_local_list(
    station_id: str,
    body: SyncRequest,
    db: SessionDep,
    who: PrincipalDep,
    temporal: TemporalDep,
    settings: SettingsDep,
) -> LocalListStatus:
    """Push the list now (differential unless `full`)."""
    _station(db, station_id)
    row = db.get(LocalList, station_id)
    if row is None or not row.enabled:
        raise HTTPException(status.HTTP_409_CONFLICT, "the station holds no local list")
    audit(db, who.actor, "local_list.sync", f"station:{station_id}", {"full": body.full})
    db.commit()
    await notify_list_change(db, temporal, settings, who.actor, [station_id], full=body.full)
    return _status(db, station_id)


@router.get("/versions")
def local_list_versions(
    station_id: str,
    db: SessionDep,
    _: PrincipalDep,
    before_id: int | None = Query(None, ge=1, le=ID_MAX),
    limit: int = Query(50, ge=1, le=500),
) -> list[LocalListVersionPublic]:
    """Every update sent to the station, newest first (page with `before_id`)."""
    _station(db, station_id)
    return _history(db, station_id, before_id, limit)


@router.post("/check")
async def check_local_list(
    station_id: str,
    db: SessionDep,
    who: PrincipalDep,
    temporal: TemporalDep,
    settings: SettingsDep,
) -> ListVersionCheck:
    """Ask the charger for its list version (GetLocalListVersion) and compare."""
    _station(db, station_id)
    row = db.get(LocalList, station_id)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
    record: CommandRecord = await temporal.execute_workflow(
        contract.STATION_COMMAND,
        StationCommand(
            station_id=station_id, name="get_local_list_version", requested_by=who.actor
        ),
        id=contract.command_workflow_id(station_id, "get_local_list_version", stamp),
        task_queue=settings.task_queue,
        search_attributes=TypedSearchAttributes(
            [SearchAttributePair(contract.STATION_ID, station_id)]
        ),
        result_type=CommandRecord,
    )
    response = record.response or {}
    version = response.get("listVersion", response.get("versionNumber"))
    server = row.version if row else 0
    return ListVersionCheck(
        outcome=record.outcome,
        station_version=version,
        server_version=server,
        in_sync=record.outcome == "ok" and version == server,
    )


async def notify_list_change(
    db: Session,
    temporal: Client,
    settings: Settings,
    requested_by: str,
    station_ids: list[str] | None = None,
    *,
    full: bool = False,
) -> list[str]:
    """Wake the list sync of the given stations (default: all holding a list); call after
    committing the change. A failure is logged: the next change or sync catches up."""
    if station_ids is None:
        station_ids = list(
            db.exec(select(LocalList.station_id).where(LocalList.enabled)).all()  # type: ignore[arg-type]
        )
    for station_id in station_ids:
        try:
            await temporal.start_workflow(
                LOCAL_LIST_SYNC,
                LocalListSyncInput(
                    station_id=station_id,
                    full=full,
                    requested_by=requested_by,
                    retry_s=settings.local_list_retry_s,
                ),
                id=local_list_workflow_id(station_id),
                task_queue=settings.task_queue,
                start_signal=SIGNAL_LOCAL_LIST_CHANGED,
                start_signal_args=[LocalListChanged(full=full, requested_by=requested_by)],
                search_attributes=TypedSearchAttributes(
                    [SearchAttributePair(contract.STATION_ID, station_id)]
                ),
            )
        except RPCError as err:
            log.warning("could not wake the local list sync of %s: %s", station_id, err)
    return station_ids


def _station(db: Session, station_id: str) -> Station:
    station = db.get(Station, station_id)
    if station is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "unknown station")
    return station


def _history(
    db: Session, station_id: str, before_id: int | None, limit: int
) -> list[LocalListVersionPublic]:
    query = select(LocalListVersion).where(LocalListVersion.station_id == station_id)
    if before_id is not None:
        query = query.where(LocalListVersion.id < before_id)
    rows = db.exec(query.order_by(LocalListVersion.id.desc()).limit(limit)).all()
    return [LocalListVersionPublic.model_validate(r, from_attributes=True) for r in rows]


def _status(db: Session, station_id: str) -> LocalListStatus:
    row = db.get(LocalList, station_id)
    return LocalListStatus(
        station_id=station_id,
        enabled=bool(row and row.enabled),
        version=row.version if row else 0,
        entries=len(row.snapshot) if row else 0,
        last_outcome=row.last_outcome if row else None,
        synced_at=row.synced_at if row else None,
        history=_history(db, station_id, None, 10),
    )
