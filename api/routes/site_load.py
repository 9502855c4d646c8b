"""Smart charging: a site's grid connection limit, its live load, station limits, and the
composite schedule a charger reports.

A site is a location (`/locations`, `/sites`). Giving it a load limit makes it managed: a
`SiteLoad` workflow (`site-load-{site}`) shares the limit among its EVs with charging profiles;
removing the limit clears the profiles and ends the workflow. Every change is audited.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi import APIRouter, HTTPException, Query, status
from fastapi.responses import JSONResponse
from pydantic import Field, model_validator
from temporalio.client import Client
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.service import RPCError

from api.deps import OperatorDep, SessionDep, SettingsDep, TemporalDep
from domain import site_load as sl
from domain.commands import CommandRecord, StationCommand
from domain.site_load import Limit, SchedulePeriod
from domain.site_load_messages import LimitsChanged, SiteLoadInput, SiteLoadView
from runtime.settings import Settings
from store.audit import audit
from store.site_load_tables import SiteLoadLimit, StationLoadLimit
from store.tables import Location, Station
from workflows import contract

router = APIRouter(tags=["smart charging"])


class SiteLimitIn(Limit):
    """The site's grid connection: A per phase and/or W, an optional daily schedule."""

    voltage_v: float = Field(default=230.0, gt=0, le=1000)
    schedule: list[SchedulePeriod] = Field(default_factory=list, max_length=48)
    group_priorities: dict[str, int] = Field(default_factory=dict, max_length=100)

    @model_validator(mode="after")
    def _valid(self) -> SiteLimitIn:
        if self.limit_a is None and self.limit_w is None:
            raise ValueError("give limit_a (A per phase) and/or limit_w (W)")
        starts = [p.start for p in self.schedule]
        if len(set(starts)) != len(starts):
            raise ValueError("schedule periods must start at different times")
        return self


class SiteLimitOut(SiteLimitIn):
    site_id: str
    workflow_id: str
    updated_by: str | None = None
    updated_at: datetime | None = None


class StationLimitIn(Limit):
    """A station's own limit; temporary with `until` or `duration_s` (e.g. maintenance)."""

    until: datetime | None = None
    duration_s: int | None = Field(default=None, gt=0, le=30 * 86400)
    reason: str | None = Field(default=None, max_length=255)

    @model_validator(mode="after")
    def _valid(self) -> StationLimitIn:
        if self.limit_a is None and self.limit_w is None:
            raise ValueError("give limit_a (A per phase) and/or limit_w (W)")
        if self.until is not None and self.duration_s is not None:
            raise ValueError("give until or duration_s, not both")
        if self.until is not None and self.until.tzinfo is None:
            raise ValueError("until needs a time zone (e.g. 2026-12-05T18:00:00Z)")
        return self


class StationLimitOut(Limit):
    station_id: str
    until: datetime | None = None
    reason: str | None = None
    site_id: str | None = None


def _limit_out(row: SiteLoadLimit) -> SiteLimitOut:
    return SiteLimitOut(
        site_id=row.location_id,
        workflow_id=sl.site_load_id(row.location_id),
        limit_a=row.limit_a,
        limit_w=row.limit_w,
        voltage_v=row.voltage_v,
        schedule=[SchedulePeriod.model_validate(p) for p in row.schedule],
        group_priorities=row.group_priorities,
        updated_by=row.updated_by,
        updated_at=row.updated_at,
    )


async def _wake(temporal: Client, settings: Settings, site_id: str, by: str) -> None:
    """Signal-with-start the site's workflow: re-read its limits (or end when there are none)."""
    await temporal.start_workflow(
        sl.SITE_LOAD,
        SiteLoadInput(site_id=site_id, rebalance_s=settings.site_load_rebalance_s),
        id=sl.site_load_id(site_id),
        task_queue=settings.task_queue,
        start_signal=sl.SIGNAL_LIMITS,
        start_signal_args=[LimitsChanged(by=by)],
        static_summary=f"Load management of site {site_id}",
    )


def _location(db: SessionDep, site_id: str) -> Location:
    location = db.get(Location, site_id)
    if location is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "unknown site (create it at /locations)")
    return location


@router.put("/sites/{site_id}/load-limit")
async def put_site_limit(
    site_id: str,
    body: SiteLimitIn,
    db: SessionDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    who: OperatorDep,
) -> SiteLimitOut:
    """Set the site's grid connection limit (and schedule): the site becomes managed."""
    _location(db, site_id)
    row = db.get(SiteLoadLimit, site_id) or SiteLoadLimit(location_id=site_id)
    row.limit_a, row.limit_w, row.voltage_v = body.limit_a, body.limit_w, body.voltage_v
    row.schedule = [p.model_dump(mode="json") for p in body.schedule]
    row.group_priorities = body.group_priorities
    row.updated_by, row.updated_at = who, datetime.now(UTC)
    db.add(row)
    audit(db, who, "site.load_limit", f"site:{site_id}", body.model_dump(mode="json"))
    db.commit()
    await _wake(temporal, settings, site_id, who)
    return _limit_out(row)


@router.get("/sites/{site_id}/load-limit")
def get_site_limit(site_id: str, db: SessionDep) -> SiteLimitOut:
    row = db.get(SiteLoadLimit, site_id)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "the site has no load limit")
    return _limit_out(row)


@router.delete("/sites/{site_id}/load-limit", status_code=status.HTTP_204_NO_CONTENT)
async def delete_site_limit(
    site_id: str, db: SessionDep, temporal: TemporalDep, settings: SettingsDep, who: OperatorDep
) -> None:
    """Stop managing the site: its profiles are cleared from the chargers."""
    row = db.get(SiteLoadLimit, site_id)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "the site has no load limit")
    db.delete(row)
    audit(db, who, "site.load_limit_removed", f"site:{site_id}", {})
    db.commit()
    await _wake(temporal, settings, site_id, who)


@router.get("/sites/{site_id}/load")
async def get_site_load(site_id: str, db: SessionDep, temporal: TemporalDep) -> SiteLoadView:
    """The live allocation per connector, the measured site power, and why each connector got
    what it got (the `allocation` query of the site's workflow)."""
    _location(db, site_id)
    if db.get(SiteLoadLimit, site_id) is None:
        return SiteLoadView(site_id=site_id, managed=False)
    handle = temporal.get_workflow_handle(sl.site_load_id(site_id))
    try:
        return await handle.query(sl.QUERY_ALLOCATION, result_type=SiteLoadView)
    except RPCError as err:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE, f"the site's load workflow is not answering: {err}"
        ) from err


@router.put("/stations/{station_id}/load-limit")
async def put_station_limit(
    station_id: str,
    body: StationLimitIn,
    db: SessionDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    who: OperatorDep,
) -> StationLimitOut:
    """A station's own limit within its site, e.g. temporary during maintenance."""
    station = db.get(Station, station_id)
    if station is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "unknown station")
    until = body.until
    if body.duration_s is not None:
        until = datetime.now(UTC) + timedelta(seconds=body.duration_s)
    row = db.get(StationLoadLimit, station_id) or StationLoadLimit(station_id=station_id)
    row.limit_a, row.limit_w, row.until, row.reason = body.limit_a, body.limit_w, until, body.reason
    row.updated_by, row.updated_at = who, datetime.now(UTC)
    db.add(row)
    audit(db, who, "station.load_limit", f"station:{station_id}", body.model_dump(mode="json"))
    db.commit()
    if station.location_id and db.get(SiteLoadLimit, station.location_id) is not None:
        await _wake(temporal, settings, station.location_id, who)
    return StationLimitOut(
        station_id=station_id,
        limit_a=row.limit_a,
        limit_w=row.limit_w,
        until=until,
        reason=row.reason,
        site_id=station.location_id,
    )


@router.delete("/stations/{station_id}/load-limit", status_code=status.HTTP_204_NO_CONTENT)
async def delete_station_limit(
    station_id: str,
    db: SessionDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    who: OperatorDep,
) -> None:
    station = db.get(Station, station_id)
    row = db.get(StationLoadLimit, station_id)
    if station is None or row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "the station has no load limit")
    db.delete(row)
    audit(db, who, "station.load_limit_removed", f"station:{station_id}", {})
    db.commit()
    if station.location_id and db.get(SiteLoadLimit, station.location_id) is not None:
        await _wake(temporal, settings, station.location_id, who)


@router.get("/stations/{station_id}/composite-schedule")
async def composite_schedule(
    station_id: str,
    db: SessionDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    who: OperatorDep,
    connector_id: int = Query(1, ge=0, le=10_000),
    duration_s: int = Query(3600, gt=0, le=86400),
    unit: str | None = Query(None, pattern="^(A|W)$"),
) -> JSONResponse:
    """Ask the charger for its composite schedule (GetCompositeSchedule): what it will allow
    the connector over the next `duration_s`, all profiles combined."""
    if db.get(Station, station_id) is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "unknown station")
    params = {"connector_id": connector_id, "duration_s": duration_s, "unit": unit}
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
    record: CommandRecord = await temporal.execute_workflow(
        contract.STATION_COMMAND,
        StationCommand(
            station_id=station_id,
            name="get_composite_schedule",
            params=params,
            timeout_s=20,
            requested_by=who,
        ),
        id=contract.command_workflow_id(station_id, "get_composite_schedule", stamp),
        task_queue=settings.task_queue,
        search_attributes=TypedSearchAttributes(
            [SearchAttributePair(contract.STATION_ID, station_id)]
        ),
        result_type=CommandRecord,
    )
    codes = {"ok": 200, "offline": 409, "timeout": 504, "not_supported": 422}
    return JSONResponse(record.model_dump(mode="json"), status_code=codes.get(record.outcome, 502))
