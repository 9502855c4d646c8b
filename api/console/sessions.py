"""Sessions: the list with filters, and a live session page (its own stream), with remote stop,
refund, receipt, payments and a link to the workflow in the Temporal UI."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request

from api.console.inner import Api, seg
from api.console.render import page
from api.console.streams import session_stream, view_of
from api.deps import ID_MAX, PrincipalDep

router = APIRouter(include_in_schema=False)
STATES = ("Authorized", "Pending", "Charging", "Stopped", "Completed", "Rejected", "Expired",
          "PaymentFailed", "NeedsReview")  # fmt: skip
PAGE = 50


@router.get("/console/sessions")
async def sessions_page(
    request: Request,
    caller: PrincipalDep,
    station_id: Annotated[str | None, Query(max_length=48)] = None,
    state: Annotated[str | None, Query(max_length=20)] = None,
    driver_id: Annotated[int | None, Query(ge=1, le=ID_MAX)] = None,
    q: Annotated[str | None, Query(max_length=100)] = None,
    offset: Annotated[int, Query(ge=0, le=ID_MAX)] = 0,
    start: Annotated[date | None, Query(alias="from")] = None,
    end: Annotated[date | None, Query(alias="to")] = None,
):
    api = Api(request, caller)
    if q:  # a session id: straight to it
        found = await api.maybe(f"/sessions/{seg(q.strip())}")
        if found:
            return await session_page(request, found["id"], caller)
    rows = await api.get(
        "/sessions",
        station_id=station_id,
        state=state,
        driver_id=driver_id,
        started_from=f"{start}T00:00:00Z" if start else None,
        started_to=f"{end + timedelta(days=1)}T00:00:00Z" if end else None,  # the whole day
        limit=PAGE,
        offset=offset,
    )
    return page(
        request,
        "sessions.html",
        caller,
        title="Sessions",
        sessions=rows,
        station_id=station_id or "",
        state=state or "",
        driver_id=driver_id or "",
        q=q or "",
        start=start or "",
        end=end or "",
        states=STATES,
        offset=offset,
        limit=PAGE,
        not_found=bool(q),
    )


async def _view(api: Api, session_id: str) -> dict:
    detail = await api.get(f"/sessions/{seg(session_id)}")
    receipt = f"/sessions/{seg(session_id)}/receipt" if detail.get("receipt") else None
    return view_of(detail, receipt_url=receipt, receipt_pdf_url=receipt and receipt + ".pdf")


@router.get("/console/sessions/{session_id}")
async def session_page(request: Request, session_id: str, caller: PrincipalDep):
    api = Api(request, caller)
    detail = await api.get(f"/sessions/{seg(session_id)}")
    return page(
        request,
        "session.html",
        caller,
        title=f"Session {session_id}",
        session=detail,
        view=await _view(api, session_id),
        payments=await api.maybe(f"/sessions/{seg(session_id)}/payments"),
    )


@router.get("/console/sessions/{session_id}/stream")
async def session_page_stream(request: Request, session_id: str, caller: PrincipalDep):
    """The session page's live view (SSE): this session only."""
    api = Api(request, caller)
    await api.get(f"/sessions/{seg(session_id)}")  # 404 / 403 before the stream starts
    return session_stream(request, lambda: _view(api, session_id))
