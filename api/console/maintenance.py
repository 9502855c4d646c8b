"""Maintenance: jobs (diagnostics, firmware updates, rollouts, self-healing) with live progress,
the firmware repository, fleet rollouts with pause/resume/cancel, and maintenance alerts."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from api.console.inner import Api
from api.console.render import page
from api.deps import PrincipalDep

router = APIRouter(include_in_schema=False)


@router.get("/console/maintenance")
async def maintenance_page(
    request: Request,
    caller: PrincipalDep,
    kind: Annotated[str | None, Query(max_length=30)] = None,
    state: Annotated[str | None, Query(max_length=20)] = None,
):
    api = Api(request, caller)
    return page(
        request,
        "maintenance.html",
        caller,
        title="Maintenance",
        jobs=await api.get("/maintenance/jobs", kind=kind, state=state, limit=100),
        firmware=await api.maybe("/firmware", []),
        alerts=await api.maybe("/maintenance/alerts", []),
        kind=kind or "",
        state=state or "",
    )


@router.get("/console/maintenance/{workflow_id}")
async def job_page(request: Request, workflow_id: str, caller: PrincipalDep):
    api = Api(request, caller)
    job = await api.get(f"/maintenance/jobs/{workflow_id}")
    rollout = None
    if job["kind"] == "firmware_rollout":
        name = workflow_id.removeprefix("rollout-")
        rollout = await api.maybe(f"/rollouts/{name}")
    return page(
        request,
        "job.html",
        caller,
        title=f"Job {workflow_id}",
        job=job,
        rollout=rollout,
        rollout_name=workflow_id.removeprefix("rollout-"),
    )
