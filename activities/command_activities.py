"""Activities around station commands that need the store (routing and the command log)."""

from __future__ import annotations

from sqlalchemy.dialects.postgresql import insert
from temporalio import activity

from domain.access import redact_secrets
from domain.commands import CommandRecord, StationRoute
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
