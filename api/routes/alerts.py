"""Operator alerts: list, detail with history, acknowledge, resolve.

Alerts are raised and resolved automatically (see `domain/alerts.py`); operators acknowledge
them (still open: the cause is not raised again) or resolve them by hand. Every change is an
alert event: on the live stream and, when `alert_webhook_url` is set, POSTed to the webhook.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import BaseModel, Field
from sqlmodel import Session, select
from temporalio.client import Client

from api.deps import OperatorDep, SessionDep, SettingsDep, TemporalDep
from api.inputs import ID_MAX, RowId
from domain.alerts import (
    ALERT_SWEEP,
    SIGNAL_WAKE,
    AlertCause,
    AlertState,
    SweepInput,
    alert_sweep_id,
)
from runtime.settings import Settings
from store.monitoring_tables import ACKNOWLEDGE_ALERT, RESOLVE_ALERT_BY_ID, Alert, AlertEvent

router = APIRouter(prefix="/alerts", tags=["alerts"])
log = logging.getLogger(__name__)


class AlertPublic(BaseModel):
    id: int
    key: str
    cause: str
    severity: str
    state: str
    station_id: str | None
    connector_id: int | None
    session_id: str | None
    message: str
    detail: dict[str, Any]
    opened_at: datetime
    updated_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    resolved_at: datetime | None
    resolved_by: str | None
    resolution_note: str | None


class AlertEventPublic(BaseModel):
    id: int
    event: str
    actor: str
    at: datetime
    delivered_at: datetime | None
    attempts: int
    last_error: str | None


class AlertDetail(AlertPublic):
    events: list[AlertEventPublic]


class AlertNote(BaseModel):
    note: str | None = Field(default=None, max_length=500)


@router.get("")
def list_alerts(
    db: SessionDep,
    _: OperatorDep,
    state: Annotated[str, Query(pattern="^(active|open|acknowledged|resolved|all)$")] = "active",
    cause: AlertCause | None = None,
    station_id: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=ID_MAX)] = 0,
) -> list[AlertPublic]:
    """Newest first. `active` = open or acknowledged (not resolved)."""
    query = select(Alert)
    if state == "active":
        query = query.where(Alert.state != AlertState.RESOLVED.value)
    elif state != "all":
        query = query.where(Alert.state == state)
    if cause is not None:
        query = query.where(Alert.cause == cause.value)
    if station_id:
        query = query.where(Alert.station_id == station_id)
    query = query.order_by(Alert.opened_at.desc(), Alert.id.desc()).offset(offset).limit(limit)
    return [AlertPublic.model_validate(a, from_attributes=True) for a in db.exec(query).all()]


@router.get("/{alert_id}")
def get_alert(alert_id: RowId, db: SessionDep, _: OperatorDep) -> AlertDetail:
    """The alert and its history (raised, acknowledged, resolved; webhook delivery)."""
    alert = db.get(Alert, alert_id)
    if alert is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "unknown alert")
    events = db.exec(
        select(AlertEvent).where(AlertEvent.alert_id == alert_id).order_by(AlertEvent.id)
    ).all()
    return AlertDetail(
        **AlertPublic.model_validate(alert, from_attributes=True).model_dump(),
        events=[AlertEventPublic.model_validate(e, from_attributes=True) for e in events],
    )


async def _transition(
    sql: str,
    alert_id: RowId,
    db: Session,
    who: str,
    note: str | None,
    temporal: Client,
    settings: Settings,
) -> AlertPublic:
    changed = db.connection().exec_driver_sql(sql, {"id": alert_id, "actor": who, "note": note})
    if changed.first() is None:
        alert = db.get(Alert, alert_id)
        if alert is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "unknown alert")
        raise HTTPException(status.HTTP_409_CONFLICT, f"the alert is {alert.state}")
    db.commit()
    if settings.alert_webhook_url:
        await wake_sweep(temporal, settings.task_queue)
    alert = db.get(Alert, alert_id, populate_existing=True)
    return AlertPublic.model_validate(alert, from_attributes=True)


@router.post("/{alert_id}/acknowledge")
async def acknowledge_alert(
    alert_id: RowId,
    db: SessionDep,
    who: OperatorDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    body: AlertNote | None = None,
) -> AlertPublic:
    """Someone is on it: the alert stays active (409 unless it is open)."""
    note = body.note if body else None
    return await _transition(ACKNOWLEDGE_ALERT, alert_id, db, who, note, temporal, settings)


@router.post("/{alert_id}/resolve")
async def resolve_alert(
    alert_id: RowId,
    db: SessionDep,
    who: OperatorDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    body: AlertNote | None = None,
) -> AlertPublic:
    """Close the alert by hand (409 when it is resolved already)."""
    note = body.note if body else None
    return await _transition(RESOLVE_ALERT_BY_ID, alert_id, db, who, note, temporal, settings)


async def wake_sweep(temporal: Client, task_queue: str) -> None:
    """Signal-with-start the alert sweep so the webhook hears of the change now."""
    try:
        await temporal.start_workflow(
            ALERT_SWEEP,
            SweepInput(),
            id=alert_sweep_id(task_queue),
            task_queue=task_queue,
            start_signal=SIGNAL_WAKE,
            static_summary="Time-based alerts and webhook delivery",
        )
    except Exception as err:
        log.warning("could not wake the alert sweep: %s", err)
