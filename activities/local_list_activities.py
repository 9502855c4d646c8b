"""Activities of the `LocalListSync` workflow: plan the next list update, record its outcome.

The plan is computed from the credentials in the store against the list the station last
accepted, and kept as a `local_list_versions` row (the server-side version history). Every
list sent gets a new version number, also the full list that follows a refused differential.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func
from sqlmodel import Session, select
from temporalio import activity

from domain.access import (
    LocalListEntry,
    LocalListNext,
    LocalListOutcome,
    LocalListPlan,
    LocalListPlanRequest,
    list_diff,
    list_entry,
    local_list_params,
    next_step,
    snapshot_of,
)
from store.access_tables import LocalList, LocalListVersion
from store.db import Database
from store.tables import IdToken

_OUTCOME = {
    LocalListNext.DONE: "accepted",
    LocalListNext.RETRY_FULL: "refused",
    LocalListNext.RETRY_LATER: "offline",
    LocalListNext.FAILED: "failed",
}


def wanted_entries(db: Session, now: datetime) -> list[LocalListEntry]:
    """Every credential as a station's local list should hold it now."""
    tokens = db.exec(select(IdToken).order_by(IdToken.id)).all()
    return [
        list_entry(
            t.token, t.token_type, t.status, t.expires_at, t.group_id, now, t.driver_id is not None
        )
        for t in tokens
    ]


def next_version(db: Session, station_id: str, accepted: int) -> int:
    """A number never sent to the station before: above every version planned for it (sent,
    refused or not) and above the one it accepted. The caller holds the `LocalList` row lock."""
    highest = db.exec(
        select(func.max(LocalListVersion.version)).where(LocalListVersion.station_id == station_id)
    ).one()
    return max(highest or 0, accepted) + 1


class LocalListActivities:
    def __init__(self, db: Database) -> None:
        self.db = db

    @activity.defn
    def plan_local_list(self, request: LocalListPlanRequest) -> LocalListPlan:
        """The next update for the station (none when it is in sync or holds no list)."""
        now = datetime.now(UTC)
        with self.db.session() as db:
            row = db.get(LocalList, request.station_id, with_for_update=True)
            nothing = LocalListPlan(station_id=request.station_id)
            if row is None:
                return nothing
            desired = wanted_entries(db, now) if row.enabled else []
            if not row.enabled and not row.snapshot:
                return nothing  # cleared already
            if request.full or row.version == 0 or not row.enabled:
                update_type, entries = "Full", desired
            else:
                update_type, entries = "Differential", list_diff(row.snapshot, desired)
                if not entries:
                    return nothing
            version = LocalListVersion(
                station_id=request.station_id,
                version=next_version(db, request.station_id, row.version),
                update_type=update_type,
                entries=[e.model_dump(mode="json", exclude_none=True) for e in entries],
                snapshot=snapshot_of(desired),
                created_at=now,
            )
            db.add(version)
            db.flush()
            assert version.id is not None
            return LocalListPlan(
                station_id=request.station_id,
                version_id=version.id,
                version=version.version,
                update_type=update_type,
                params=local_list_params(version.version, update_type, entries),
            )

    @activity.defn
    def record_local_list(self, outcome: LocalListOutcome) -> LocalListNext:
        """Store how the station answered; an accepted version becomes the station's list."""
        now = datetime.now(UTC)
        with self.db.session() as db:
            version = db.get(LocalListVersion, outcome.version_id)
            assert version is not None
            step = next_step(version.update_type, outcome.outcome, outcome.status)
            version.outcome = _OUTCOME[step]
            version.status, version.error, version.finished_at = (
                outcome.status,
                outcome.error,
                now,
            )
            db.add(version)
            row = db.get(LocalList, version.station_id, with_for_update=True)
            if row is not None:
                row.last_outcome = version.outcome
                if step == LocalListNext.DONE:
                    row.version, row.snapshot, row.synced_at = (
                        version.version,
                        version.snapshot,
                        now,
                    )
                db.add(row)
            activity.logger.info(
                "local list v%d (%s) for %s: %s",
                version.version,
                version.update_type,
                version.station_id,
                version.outcome,
            )
            return step


def local_list_activities(db: Database) -> list:
    """The bound activities, for the worker's list."""
    bound = LocalListActivities(db)
    return [bound.plan_local_list, bound.record_local_list]
