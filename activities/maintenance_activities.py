"""Store work of the maintenance workflows: job records, upload slots, sessions, health, alerts."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import Session, select
from temporalio import activity

from domain.maintenance import (
    AlertRequest,
    DesiredConfiguration,
    HealthQuery,
    JobKind,
    JobRecord,
    JobState,
    StationHealth,
    TargetList,
    TargetQuery,
    UploadedFile,
    UploadSlot,
    UploadSlotRequest,
    upload_token_hash,
)
from store.db import Database
from store.maintenance_tables import (
    DesiredConfigurationValue,
    DiagnosticsUpload,
    MaintenanceAlert,
    MaintenanceJob,
)
from store.tables import ChargingSession, Connector, Station

# When did we last hear from a station: boot, heartbeat, or any frame it sent.
LAST_HEARD_SQL = """
SELECT GREATEST(s.last_seen_at, s.last_boot_at, last_in.at)
FROM stations s
LEFT JOIN LATERAL (
    SELECT m.at FROM ocpp_messages m
    WHERE m.station_id = s.id AND m.direction = 'in' ORDER BY m.id DESC LIMIT 1
) last_in ON true
WHERE s.id = :station_id
"""


def _active_session(db: Session, station_id: str) -> str | None:
    return db.exec(
        select(ChargingSession.id)
        .where(ChargingSession.station_id == station_id)
        .where(ChargingSession.state == "Charging")
        .limit(1)
    ).first()


class MaintenanceActivities:
    def __init__(self, db: Database) -> None:
        self.db = db

    @activity.defn
    def record_job(self, job: JobRecord) -> None:
        """Insert or update the job's row (its state as operators and the gateway see it)."""
        values = job.model_dump()
        values["started_at"] = job.started_at or datetime.now(UTC)
        changing = ("state", "summary", "reason", "detail", "finished_at")
        with self.db.session() as db:
            statement = insert(MaintenanceJob).values(**values)
            db.exec(  # type: ignore[call-overload]
                statement.on_conflict_do_update(
                    index_elements=["workflow_id", "run_id"],
                    set_={name: statement.excluded[name] for name in changing},
                )
            )

    @activity.defn
    def find_active_session(self, station_id: str) -> str | None:
        """The id of a session charging at the station, if any."""
        with self.db.session() as db:
            return _active_session(db, station_id)

    @activity.defn
    def open_upload_slot(self, request: UploadSlotRequest) -> UploadSlot:
        """A fresh one-time upload URL for the station (the token is never stored)."""
        token = secrets.token_urlsafe(24)
        expires_at = datetime.now(UTC) + timedelta(seconds=request.ttl_s)
        with self.db.session() as db:
            upload = DiagnosticsUpload(
                token_hash=upload_token_hash(token),
                workflow_id=request.workflow_id,
                station_id=request.station_id,
                max_bytes=request.max_bytes,
                expires_at=expires_at,
            )
            db.add(upload)
            db.flush()
            assert upload.id is not None
            url = f"{request.base_url.rstrip('/')}/uploads/{token}"
            return UploadSlot(upload_id=upload.id, url=url, expires_at=expires_at)

    @activity.defn
    def find_upload(self, upload_id: int) -> UploadedFile | None:
        """The file received on an upload slot, if it has arrived."""
        with self.db.session() as db:
            upload = db.get(DiagnosticsUpload, upload_id)
            if upload is None or upload.state != "received":
                return None
            return UploadedFile(
                upload_id=upload_id,
                file_name=upload.file_name or "diagnostics",
                size=upload.size or 0,
                sha256=upload.sha256 or "",
                received_at=upload.received_at or datetime.now(UTC),
            )

    @activity.defn
    def load_desired_configuration(self, station_id: str) -> DesiredConfiguration:
        with self.db.session() as db:
            rows = db.exec(
                select(DesiredConfigurationValue)
                .where(DesiredConfigurationValue.station_id == station_id)
                .order_by(DesiredConfigurationValue.key)
            ).all()
        return DesiredConfiguration(station_id=station_id, values={r.key: r.value for r in rows})

    @activity.defn
    def select_rollout_targets(self, query: TargetQuery) -> TargetList:
        """Stations matching the targets, minus those already on the expected version."""
        targets = query.targets
        statement = select(Station).order_by(Station.id)
        if targets.station_ids is not None:
            statement = statement.where(Station.id.in_(targets.station_ids))  # type: ignore
        if targets.vendor is not None:
            statement = statement.where(Station.vendor == targets.vendor)
        if targets.model is not None:
            statement = statement.where(Station.model == targets.model)
        if targets.current_versions is not None:
            statement = statement.where(
                Station.firmware_version.in_(targets.current_versions)  # type: ignore
            )
        with self.db.session() as db:
            stations = db.exec(statement).all()
        chosen: list[str] = []
        skipped: dict[str, str] = {}
        for station in stations:
            if query.expected_version and station.firmware_version == query.expected_version:
                skipped[station.id] = f"already on {query.expected_version}"
            else:
                chosen.append(station.id)
        for missing in sorted(set(targets.station_ids or ()) - {s.id for s in stations}):
            skipped[missing] = "unknown station or not matching the filters"
        return TargetList(station_ids=chosen, skipped=skipped)

    @activity.defn
    def check_station_health(self, query: HealthQuery) -> StationHealth:
        """Connected? Silent? Faulted connectors? A session charging? An alert already open?"""
        now = datetime.now(UTC)
        with self.db.session() as db:
            station = db.get(Station, query.station_id)
            if station is None:
                return StationHealth(station_id=query.station_id, connected=False, silent=False)
            heard = db.exec(  # type: ignore[call-overload]
                text(LAST_HEARD_SQL), params={"station_id": query.station_id}
            ).scalar_one_or_none()
            faulted = db.exec(
                select(Connector.connector_id)
                .where(Connector.station_id == query.station_id)
                .where(Connector.status == "Faulted")
                .order_by(Connector.connector_id)
            ).all()
            alert = db.exec(
                select(MaintenanceAlert.id)
                .where(MaintenanceAlert.station_id == query.station_id)
                .where(MaintenanceAlert.resolved_at.is_(None))  # type: ignore[union-attr]
                .limit(1)
            ).first()
            charging = _active_session(db, query.station_id)
            recent = len(
                db.exec(
                    select(MaintenanceJob.workflow_id)
                    .where(MaintenanceJob.station_id == query.station_id)
                    .where(MaintenanceJob.kind == JobKind.SELF_HEALING)
                    .where(MaintenanceJob.state != JobState.RUNNING)
                    .where(MaintenanceJob.started_at > now - timedelta(days=1))  # type: ignore
                ).all()
            )
        silent = station.connected and (
            heard is None or (now - heard).total_seconds() > query.silent_after_s
        )
        return StationHealth(
            station_id=query.station_id,
            connected=station.connected,
            silent=silent,
            faulted_connectors=list(faulted),
            charging_session=charging,
            open_alert_id=alert,
            last_seen_at=heard,
            recent_runs=recent,
        )

    @activity.defn
    def open_alert(self, request: AlertRequest) -> int:
        """Open an operator alert (once per workflow and kind) and return its id."""
        with self.db.session() as db:
            if request.workflow_id is not None:
                existing = db.exec(
                    select(MaintenanceAlert.id)
                    .where(MaintenanceAlert.workflow_id == request.workflow_id)
                    .where(MaintenanceAlert.kind == request.kind)
                ).first()
                if existing is not None:
                    return existing
            alert = MaintenanceAlert(**request.model_dump())
            db.add(alert)
            db.flush()
            assert alert.id is not None
            return alert.id


def maintenance_activities(db: Database) -> list:
    """The bound activity methods a worker registers."""
    acts = MaintenanceActivities(db)
    return [
        acts.record_job,
        acts.find_active_session,
        acts.open_upload_slot,
        acts.find_upload,
        acts.load_desired_configuration,
        acts.select_rollout_targets,
        acts.check_station_health,
        acts.open_alert,
    ]
