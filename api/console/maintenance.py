"""Maintenance: jobs (diagnostics, firmware updates, rollouts, self-healing) with live progress,
the firmware repository, fleet rollouts with pause/resume/cancel, and maintenance alerts."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from api.console.inner import Api, seg
from api.console.render import page
from api.console.streams import session_stream
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
    job = await api.get(f"/maintenance/jobs/{seg(workflow_id)}")
    rollout = None
    if job["kind"] == "firmware_rollout":
        name = workflow_id.removeprefix("rollout-")
        rollout = await api.maybe(f"/rollouts/{seg(name)}")
    return page(
        request,
        "job.html",
        caller,
        title=f"Job {workflow_id}",
        job=job,
        rollout=rollout,
        rollout_name=workflow_id.removeprefix("rollout-"),
    )


async def _job_view(api: Api, workflow_id: str) -> dict:
    job = await api.get(f"/maintenance/jobs/{seg(workflow_id)}")
    return {
        "job": workflow_id,
        "station_id": job.get("station_id"),
        "state": job["state"],
        "final": job["state"] != "running",
        "progress": job.get("progress") or {},
    }


@router.get("/console/maintenance/{workflow_id}/stream")
async def job_stream(request: Request, workflow_id: str, caller: PrincipalDep):
    """A job's state and progress, live (SSE): pushed when its station reports, else every few
    seconds until the job ends."""
    api = Api(request, caller)
    await api.get(f"/maintenance/jobs/{seg(workflow_id)}")  # 404 / 403 before the stream starts
    return session_stream(request, lambda: _job_view(api, workflow_id), name="job")
