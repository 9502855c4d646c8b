"""The other operator pages: alerts, analytics (with CSV), drivers and cards, tariffs and plans,
the network (locations, sites, maintenance windows), the audit log, operators and API keys."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Path, Query, Request

from api.console.inner import Api
from api.console.render import page
from api.deps import ID_MAX, PrincipalDep

router = APIRouter(include_in_schema=False)
CSV_TABLES = ("usage", "summary", "revenue", "revenue-totals", "session-failures",
              "auth-failures", "utilization", "uptime", "heatmap")  # fmt: skip


@router.get("/console/alerts")
async def alerts_page(
    request: Request,
    caller: PrincipalDep,
    state: Annotated[str, Query(pattern="^(active|open|acknowledged|resolved|all)$")] = "active",
    station_id: Annotated[str | None, Query(max_length=48)] = None,
):
    api = Api(request, caller)
    alerts = await api.get("/alerts", state=state, station_id=station_id, limit=200)
    return page(
        request, "alerts.html", caller, title="Alerts", alerts=alerts, state=state,
        station_id=station_id or "",
    )  # fmt: skip


@router.get("/console/analytics")
async def analytics_page(
    request: Request,
    caller: PrincipalDep,
    start: Annotated[str | None, Query(alias="from", max_length=64)] = None,
    end: Annotated[str | None, Query(alias="to", max_length=64)] = None,
    station_id: Annotated[str | None, Query(max_length=48)] = None,
    bucket: Annotated[str, Query(pattern="^(day|week|month)$")] = "day",
):
    api = Api(request, caller)
    scope = {"from": start, "to": end, "station_id": station_id}
    params = {k: v for k, v in scope.items() if v}
    query = urlencode({**params, "bucket": bucket})
    return page(
        request,
        "analytics.html",
        caller,
        title="Analytics",
        usage=await api.get("/analytics/usage", bucket=bucket, **params),
        summary=await api.maybe("/analytics/summary", None, **params),
        failures=await api.get("/analytics/failures", **params),
        utilization=await api.get("/analytics/utilization", **params),
        uptime=await api.get("/analytics/uptime", **params),
        revenue=await api.maybe("/analytics/revenue", None, bucket=bucket, **params),
        query=query,
        start=start or "",
        end=end or "",
        station_id=station_id or "",
        bucket=bucket,
        tables=CSV_TABLES,
    )


@router.get("/console/drivers")
async def drivers_page(
    request: Request,
    caller: PrincipalDep,
    offset: Annotated[int, Query(ge=0, le=ID_MAX)] = 0,
):
    api = Api(request, caller)
    return page(
        request,
        "drivers.html",
        caller,
        title="Drivers",
        drivers=await api.get("/drivers", limit=100, offset=offset),
        tokens=await api.get("/tokens", limit=200),
        offset=offset,
    )


@router.get("/console/drivers/{driver_id}")
async def driver_page(
    request: Request, driver_id: Annotated[int, Path(ge=1, le=ID_MAX)], caller: PrincipalDep
):
    api = Api(request, caller)
    driver = await api.get(f"/drivers/{driver_id}")
    return page(
        request,
        "driver.html",
        caller,
        title=driver["name"],
        driver=driver,
        account=await api.maybe(f"/drivers/{driver_id}/account"),
        statement=await api.maybe(f"/drivers/{driver_id}/statement"),
        usage=await api.maybe(f"/drivers/{driver_id}/plan/usage"),
        tokens=[t for t in await api.get("/tokens", limit=1000) if t["driver_id"] == driver_id],
        plans=await api.maybe("/plans", []),
        sessions=await api.maybe("/sessions", [], driver_id=driver_id, limit=100),
    )


@router.get("/console/tariffs")
async def tariffs_page(
    request: Request,
    caller: PrincipalDep,
    preview: Annotated[int | None, Query(ge=1, le=ID_MAX)] = None,
    energy_wh: Annotated[int, Query(ge=0, le=10_000_000)] = 20_000,
    duration_min: Annotated[int, Query(ge=0, le=43_200)] = 60,
    edit: Annotated[int | None, Query(ge=1, le=ID_MAX)] = None,
):
    api = Api(request, caller)
    priced = None
    if preview is not None:
        priced = await api.get(
            f"/tariffs/{preview}/preview", energy_wh=energy_wh, duration_s=duration_min * 60
        )
    tariffs = await api.get("/tariffs")
    return page(
        request,
        "tariffs.html",
        caller,
        title="Tariffs and plans",
        tariffs=tariffs,
        editing=next((t for t in tariffs if t["id"] == edit), None),
        plans=await api.get("/plans"),
        preview=preview,
        priced=priced,
        energy_wh=energy_wh,
        duration_min=duration_min,
    )


@router.get("/console/network")
async def network_page(request: Request, caller: PrincipalDep):
    api = Api(request, caller)
    return page(
        request,
        "network.html",
        caller,
        title="Network",
        locations=await api.get("/locations"),
        sites=await api.get("/sites"),
        windows=await api.get("/maintenance-windows"),
        stations=await api.get("/stations", limit=1000),
        tariffs=await api.get("/tariffs"),
        schedule=await api.maybe("/reports/schedule"),
        reports=await api.maybe("/reports", []),
    )


@router.get("/console/audit")
async def audit_page(
    request: Request,
    caller: PrincipalDep,
    actor: Annotated[str | None, Query(max_length=80)] = None,
    action: Annotated[str | None, Query(max_length=80)] = None,
    before_id: Annotated[int | None, Query(ge=1, le=ID_MAX)] = None,
):
    api = Api(request, caller)
    entries = await api.get("/audit", actor=actor, action=action, before_id=before_id, limit=100)
    return page(
        request, "audit.html", caller, title="Audit log", entries=entries, actor=actor or "",
        action=action or "",
    )  # fmt: skip


@router.get("/console/admin")
async def admin_page(request: Request, caller: PrincipalDep):
    api = Api(request, caller)
    return page(
        request,
        "admin.html",
        caller,
        title="Operators and API keys",
        operators=await api.get("/operators"),
        keys=await api.get("/api-keys"),
    )


@router.get("/console/account")
async def account_page(request: Request, caller: PrincipalDep):
    api = Api(request, caller)
    return page(request, "account.html", caller, title="Your account", me=await api.get("/auth/me"))
