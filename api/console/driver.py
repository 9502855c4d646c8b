"""A signed-in driver's pages: stations with live availability and gross prices, start and stop,
the live session (its own stream), history and receipts — all through the driver API (`/me`)."""

from __future__ import annotations

from fastapi import APIRouter, Request

from api.console.inner import Api, seg
from api.console.render import page
from api.console.streams import session_stream, view_of
from api.deps import PrincipalDep

router = APIRouter(include_in_schema=False)


@router.get("/driver")
async def stations_page(request: Request, caller: PrincipalDep):
    api = Api(request, caller)
    return page(
        request,
        "driver_stations.html",
        caller,
        title="Charge",
        stations=await api.get("/me/stations"),
        profile=await api.get("/me"),
    )


@router.get("/driver/sessions")
async def history_page(request: Request, caller: PrincipalDep):
    api = Api(request, caller)
    return page(
        request,
        "driver_sessions.html",
        caller,
        title="My sessions",
        sessions=await api.get("/me/sessions"),
        tokens=await api.get("/me/tokens"),
        profile=await api.get("/me"),
    )


async def _view(api: Api, session_id: str) -> dict:
    detail = await api.get(f"/me/sessions/{seg(session_id)}")
    receipt = f"/me/sessions/{seg(session_id)}/receipt" if detail.get("has_receipt") else None
    return view_of(detail, receipt_url=receipt, receipt_pdf_url=receipt and receipt + ".pdf")


@router.get("/driver/sessions/{session_id}")
async def session_page(request: Request, session_id: str, caller: PrincipalDep):
    api = Api(request, caller)
    return page(
        request,
        "driver_session.html",
        caller,
        title="My session",
        session=await api.get(f"/me/sessions/{seg(session_id)}"),
        view=await _view(api, session_id),
    )


@router.get("/driver/sessions/{session_id}/stream")
async def session_page_stream(request: Request, session_id: str, caller: PrincipalDep):
    """The driver's own session, live (SSE): the API checks it is theirs."""
    api = Api(request, caller)
    await api.get(f"/me/sessions/{seg(session_id)}")
    return session_stream(request, lambda: _view(api, session_id))


@router.get("/driver/account")
async def account_page(request: Request, caller: PrincipalDep):
    api = Api(request, caller)
    return page(request, "account.html", caller, title="Your account", me=await api.get("/auth/me"))
