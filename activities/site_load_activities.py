"""Activities of the `SiteLoad` workflow: read a site's limits, stations, connectors and
running sessions from the store."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import text
from sqlmodel import select
from temporalio import activity

from domain.site_load import SiteLimits, StationLimit
from domain.site_load_messages import (
    ActiveSession,
    ConnectorInfo,
    SiteSnapshot,
    StationInfo,
)
from store.db import Database
from store.site_load_tables import SiteLoadLimit, StationLoadLimit
from store.tables import ConnectorSpec, Location, Station

DEFAULT_MAX_A = 32.0  # a connector without a specification is counted at this (conservative)
_RUNNING = ("Charging", "Pending", "Authorized")
_SESSIONS = text(
    "SELECT s.id, s.station_id, s.connector_id, s.started_at, t.group_id FROM sessions s "
    "LEFT JOIN id_tokens t ON t.token = s.id_token "
    "WHERE s.station_id = ANY(:stations) AND s.state = ANY(:states) "
    "AND s.connector_id IS NOT NULL AND s.started_at IS NOT NULL"
)


def connector_info(spec: ConnectorSpec | None, connector_id: int) -> ConnectorInfo:
    """Phases, site phase (single-phase: as its spec says, else L1) and maximum current."""
    if spec is None:
        return ConnectorInfo(connector_id=connector_id, max_a=DEFAULT_MAX_A)
    phases = 1 if spec.power_type == "AC_1_PHASE" else 3
    max_a = float(spec.max_amperage)
    if spec.max_electric_power and spec.max_voltage:
        max_a = min(max_a, spec.max_electric_power / (spec.max_voltage * phases))
    phase = (spec.phase or 1) if phases == 1 else 1
    return ConnectorInfo(connector_id=connector_id, phases=phases, phase=phase, max_a=max_a)


class SiteLoadActivities:
    def __init__(self, db: Database) -> None:
        self.db = db

    @activity.defn
    def load_site(self, site_id: str) -> SiteSnapshot:
        """The site's limits (None: not managed), stations, connectors and running sessions."""
        now = datetime.now(UTC)
        with self.db.session() as db:
            row = db.get(SiteLoadLimit, site_id)
            location = db.get(Location, site_id)
            if row is None or location is None:
                return SiteSnapshot(site_id=site_id)
            limits = SiteLimits(
                limit_a=row.limit_a,
                limit_w=row.limit_w,
                voltage_v=row.voltage_v,
                schedule=row.schedule,
                time_zone=location.time_zone or "UTC",
                group_priorities=row.group_priorities,
            )
            stations = db.exec(
                select(Station).where(Station.location_id == site_id).order_by(Station.id)
            ).all()
            ids = [s.id for s in stations]
            specs = {
                (s.station_id, s.connector_id): s
                for s in db.exec(
                    select(ConnectorSpec).where(ConnectorSpec.station_id.in_(ids))  # type: ignore[attr-defined]
                ).all()
            }
            infos = [
                StationInfo(
                    station_id=s.id,
                    version=s.connected_version,
                    connected=s.connected,
                    task_queue=s.gateway_queue if s.connected else None,
                    connectors=[
                        connector_info(specs.get((s.id, n)), n)
                        for n in range(1, s.connector_count + 1)
                    ],
                )
                for s in stations
            ]
            own = db.exec(
                select(StationLoadLimit).where(StationLoadLimit.station_id.in_(ids))  # type: ignore[attr-defined]
            ).all()
            station_limits = {
                s.station_id: StationLimit(
                    station_id=s.station_id,
                    limit_a=s.limit_a,
                    limit_w=s.limit_w,
                    until=s.until,
                    reason=s.reason,
                )
                for s in own
                if s.until is None or s.until > now
            }
            rows = db.exec(  # type: ignore[call-overload]
                _SESSIONS, params={"stations": ids, "states": list(_RUNNING)}
            ).all()
            sessions = [
                ActiveSession(
                    session_id=r[0],
                    station_id=r[1],
                    connector_id=r[2],
                    started_at=r[3],
                    group_id=r[4],
                )
                for r in rows
            ]
        return SiteSnapshot(
            site_id=site_id,
            limits=limits,
            stations=infos,
            station_limits=station_limits,
            sessions=sessions,
        )

    @activity.defn
    def session_group(self, session_id: str) -> str | None:
        """The driver group of a session's credential (for priorities)."""
        with self.db.session() as db:
            row = db.exec(  # type: ignore[call-overload]
                text(
                    "SELECT t.group_id FROM sessions s JOIN id_tokens t ON t.token = s.id_token "
                    "WHERE s.id = :id"
                ),
                params={"id": session_id},
            ).first()
        return row[0] if row else None


def site_load_activities(db: Database) -> list:
    """The bound activities, for the worker's list."""
    bound = SiteLoadActivities(db)
    return [bound.load_site, bound.session_group]
