"""Fleet and station pages: live connector status (SSE from `GET /live`), the pending inbox,
a station's connectors, message log, configuration, commands, sessions, alerts and jobs."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from api.console.inner import Api, ApiError, seg
from api.console.render import page
from api.deps import ID_MAX, PrincipalDep

router = APIRouter(include_in_schema=False)

STATUS_FILTERS = ("online", "offline", "charging", "faulted", "pending")


def _matches(station: dict, q: str | None, status: str | None) -> bool:
    if q:
        text = " ".join(str(station.get(k) or "") for k in ("id", "vendor", "model", "location_id"))
        if q.lower() not in text.lower():
            return False
    statuses = {c["status"] for c in station["connectors"]}
    return {
        None: True,
        "": True,
        "online": station["connected"],
        "offline": not station["connected"],
        "charging": "Charging" in statuses,
        "faulted": "Faulted" in statuses,
        "pending": station["registration_status"] == "Pending",
    }.get(status, True)


@router.get("/console")
async def fleet_page(
    request: Request,
    caller: PrincipalDep,
    q: Annotated[str | None, Query(max_length=100)] = None,
    status: Annotated[str | None, Query(max_length=20)] = None,
):
    api = Api(request, caller)
    stations = await api.get("/stations", limit=1000)
    snapshot = await api.get("/live")
    power: dict[str, float] = {}
    for live in snapshot["sessions"]:
        key = f"{live['station_id']}/{live['connector_id']}"
        power[key] = live["power_w"] or 0
    shown = [s for s in stations if _matches(s, q, status)]
    pending = [s for s in stations if s["registration_status"] == "Pending"]
    return page(
        request,
        "fleet.html",
        caller,
        title="Fleet",
        stations=shown,
        total=len(stations),
        pending=pending,
        fleet=snapshot["fleet"],
        power=power,
        q=q or "",
        status=status or "",
        status_filters=STATUS_FILTERS,
    )


@router.get("/console/stations/{station_id}")
async def station_page(
    request: Request,
    station_id: str,
    caller: PrincipalDep,
    before_id: Annotated[int | None, Query(ge=1, le=ID_MAX)] = None,
    action: Annotated[str | None, Query(max_length=60)] = None,
    direction: Annotated[str | None, Query(pattern="^(in|out)?$")] = None,
    config: bool = False,
):
    api = Api(request, caller)
    station = await api.get(f"/stations/{seg(station_id)}")
    messages = await api.get(
        f"/stations/{seg(station_id)}/messages",
        order="desc",
        before_id=before_id,
        action=action,
        direction=direction or None,
        limit=50,
    )
    live = await api.get("/live", station_id=station_id)
    power = {s["connector_id"]: s for s in live["sessions"] if s["station_id"] == station_id}
    return page(
        request,
        "station.html",
        caller,
        title=f"Station {station_id}",
        station=station,
        messages=messages,
        msg_action=action or "",
        direction=direction or "",
        live_sessions=power,
        sessions=await api.maybe("/sessions", [], station_id=station_id, limit=20),
        alerts=await api.maybe("/alerts", [], station_id=station_id, state="all", limit=20),
        jobs=await api.maybe("/maintenance/jobs", [], station_id=station_id, limit=20),
        commands=await api.maybe(f"/stations/{seg(station_id)}/commands", []),
        firmware=await api.maybe("/firmware", []),
        local_list=await api.maybe(f"/stations/{seg(station_id)}/local-list"),
        device_model=await api.maybe(f"/stations/{seg(station_id)}/device-model"),
        configuration=await _configuration(api, station) if config else None,
        config=config,
    )


async def _configuration(api: Api, station: dict) -> dict | None:
    """The charger's configuration, asked live (only roles that may, only when online)."""
    if not station["connected"] or api.caller.role.value not in ("admin", "technician"):
        return None
    try:
        return await api.get(f"/stations/{seg(station['id'])}/configuration")
    except ApiError as err:
        return {"error": err.message}
