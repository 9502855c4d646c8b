"""Activities around station commands that need the store (routing and the command log)."""

from __future__ import annotations

from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col, select
from temporalio import activity

from domain.access import redact_secrets
from domain.commands import (
    CommandRecord,
    FleetRecord,
    StationGroups,
    StationRoute,
    fleet_command_log_id,
)
from store.db import Database
from store.tables import Station, StationCommandLog


class CommandActivities:
    def __init__(self, db: Database) -> None:
        self.db = db

    @activity.defn
    def route_for_station(self, station_id: str) -> StationRoute:
        """Which gateway task queue holds the station's socket (if any)."""
        with self.db.session() as db:
            station = db.get(Station, station_id)
            if station is None:
                return StationRoute(station_id=station_id, connected=False)
            return StationRoute(
                station_id=station_id,
                connected=station.connected and station.gateway_queue is not None,
                task_queue=station.gateway_queue,
                version=station.connected_version,
            )

    @activity.defn
    def group_stations_by_route(self, station_ids: list[str]) -> StationGroups:
        """The stations by the gateway command queue holding their socket (one query)."""
        groups = StationGroups()
        with self.db.session() as db:
            rows = db.exec(  # type: ignore[call-overload]
                select(Station.id, Station.connected, Station.gateway_queue).where(
                    col(Station.id).in_(station_ids)
                )
            ).all()
        known = {station_id: (connected, queue) for station_id, connected, queue in rows}
        for station_id in dict.fromkeys(station_ids):  # once each, in the order given
            if station_id not in known:
                groups.unknown.append(station_id)
                continue
            connected, queue = known[station_id]
            if connected and queue is not None:
                groups.by_queue.setdefault(queue, []).append(station_id)
            else:
                groups.offline.append(station_id)
        return groups

    @activity.defn
    def record_fleet_outcomes(self, fleet: FleetRecord) -> None:
        """Store each station's outcome of a fleet command in the command log (once each)."""
        values = [
            {
                "workflow_id": fleet_command_log_id(fleet.workflow_id, o.station_id),
                "station_id": o.station_id,
                "name": fleet.name,
                "params": redact_secrets(fleet.params),
                "requested_by": fleet.requested_by,
                "outcome": o.outcome,
                "status": o.status,
                "error": o.error,
            }
            for o in fleet.outcomes
        ]
        if not values:
            return
        with self.db.session() as db:
            db.exec(  # type: ignore[call-overload]
                insert(StationCommandLog)
                .values(values)
                .on_conflict_do_nothing(index_elements=["workflow_id"])
            )

    @activity.defn
    def record_command(self, record: CommandRecord) -> None:
        """Store the command and its outcome (once per workflow)."""
        with self.db.session() as db:
            values = record.model_dump(exclude={"finished_at"})
            # Station passwords never reach the log (AuthorizationKey, BasicAuthPassword).
            values["params"] = redact_secrets(values.get("params"))
            values["response"] = redact_secrets(values.get("response"))
            db.exec(  # type: ignore[call-overload]
                insert(StationCommandLog)
                .values(**values)
                .on_conflict_do_nothing(index_elements=["workflow_id"])
            )
